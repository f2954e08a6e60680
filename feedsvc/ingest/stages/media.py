"""A partner item's media files: RSS ``<enclosure>``, Atom ``link rel="enclosure"``, Media RSS
(``media:content``, ``media:group``, ``media:thumbnail``, ``media:credit``) and JSON Feed
``attachments``, as one ordered list of ``Enclosure`` with their thumbnails and credits.

feedparser flattens Media RSS (every ``media:content`` of every group in one list, thumbnails and
credits detached from what they describe), so when a document uses the Media RSS namespace its
items are read again with lxml and matched to feedparser's entries by position. A group is one
media object in several renditions: its default rendition (``isDefault``, else the first) is kept,
with the group's thumbnail and credits.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from feedsvc.ingest.item import Credit, Enclosure, Media, Thumbnail
from feedsvc.ingest.stages.normalise import absolute_http_url
from feedsvc.text import clean_title

MEDIA_NS = "http://search.yahoo.com/mrss/"
MAX_ENCLOSURES = 20
MAX_CREDITS = 20
MEDIUMS = ("image", "audio", "video", "document", "executable")
_M = f"{{{MEDIA_NS}}}"
# Entries of every XML format feedparser reads, in document order.
_ITEM_TAGS = (
    "item",
    "{http://purl.org/rss/1.0/}item",
    "{http://my.netscape.com/rdf/simple/0.9/}item",
    "{http://www.w3.org/2005/Atom}entry",
    "{http://purl.org/atom/ns#}entry",
)
_MIME_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,60}/[A-Za-z0-9!#$&^_.+-]{1,60}$")
_ROLE_RE = re.compile(r"^[a-z0-9][a-z0-9 ._/-]{0,63}$")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[!-~]{1,200}$")


# ----------------------------------------------------------------------------- values


def _str(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _int(value: object) -> int | None:
    text = value.strip() if isinstance(value, str) else str(value) if isinstance(value, int) else ""
    if isinstance(value, bool) or not re.fullmatch(r"[0-9]{1,15}", text):
        return None
    number = int(text)
    return number if number > 0 else None


def _url(value: object, base: str | None) -> str | None:
    joined = absolute_http_url(value, base)
    # A media URL with white space in it is a broken attribute, not a file to link to.
    return None if joined is None or any(c in joined for c in " \n\t") else joined


def _medium(declared: str | None, mime: str | None) -> str:
    if declared and declared.lower() in MEDIUMS:
        return declared.lower()
    top = (mime or "").split("/", 1)[0]
    return top if top in ("image", "audio", "video") else "document"


def make_enclosure(
    url: object,
    mime_type: object,
    length: object,
    base: str | None,
    *,
    medium: object = None,
    width: object = None,
    height: object = None,
    thumbnail: Thumbnail | None = None,
    credits: tuple[Credit, ...] = (),
) -> Enclosure | None:
    absolute = _url(url, base)
    if absolute is None:
        return None
    mime = (_str(mime_type) or "").lower()
    if not _MIME_RE.match(mime):
        mime = mimetypes.guess_type(urlsplit(absolute).path)[0] or ""
    declared = _str(medium)
    if not mime:
        # medium="image" without a type: a JPEG is what readers assume; anything else stays opaque.
        mime = "image/jpeg" if (declared or "").lower() == "image" else "application/octet-stream"
    return Enclosure(
        url=absolute,
        mime_type=mime,
        length=_int(length) or 0,
        medium=_medium(declared, mime),
        width=_int(width),
        height=_int(height),
        thumbnail=thumbnail,
        credits=credits,
    )


def make_credit(name: object, role: object = None, scheme: object = None) -> Credit | None:
    text = clean_title(_str(name))
    if not text:
        return None
    role_text = clean_title(_str(role)).lower() or None
    scheme_text = _str(scheme)
    return Credit(
        text,
        role_text if role_text and _ROLE_RE.match(role_text) else None,
        scheme_text if scheme_text and _SCHEME_RE.match(scheme_text) else None,
    )


def clean_rights(value: object) -> str | None:
    return clean_title(_str(value)) or None


def merge(enclosures: Iterable[Enclosure | None]) -> tuple[Enclosure, ...]:
    """One enclosure per URL, in first-seen order; what a later mention adds fills the gaps
    (an RSS enclosure gives the length, the same file's media:content its medium and size)."""
    by_url: dict[str, Enclosure] = {}
    for enclosure in enclosures:
        if enclosure is None:
            continue
        seen = by_url.get(enclosure.url)
        if seen is None:
            if len(by_url) < MAX_ENCLOSURES:
                by_url[enclosure.url] = enclosure
            continue
        by_url[enclosure.url] = replace(
            seen,
            mime_type=seen.mime_type if seen.mime_type != "application/octet-stream" else enclosure.mime_type,
            length=seen.length or enclosure.length,
            medium=enclosure.medium if seen.medium == "document" else seen.medium,
            width=seen.width or enclosure.width,
            height=seen.height or enclosure.height,
            thumbnail=seen.thumbnail or enclosure.thumbnail,
            credits=seen.credits or enclosure.credits,
        )
    return tuple(by_url.values())


# ----------------------------------------------------------------------------- XML feeds


def item_elements(document: bytes, count: int) -> list[etree._Element] | None:
    """The document's items in order, if lxml finds as many as feedparser did (else None: the
    pairing by position would be a guess)."""
    parser = etree.XMLParser(
        recover=True, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(document, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root is None:
        return None
    items = [el for el in root.iter(*_ITEM_TAGS)]
    return items if len(items) == count else None


def _credits(element: etree._Element) -> tuple[Credit, ...]:
    found = (make_credit(c.text, c.get("role"), c.get("scheme")) for c in element.iterchildren(f"{_M}credit"))
    return tuple(dict.fromkeys(c for c in found if c is not None))[:MAX_CREDITS]


def _thumbnail(element: etree._Element, base: str | None) -> Thumbnail | None:
    for thumb in element.iterchildren(f"{_M}thumbnail"):
        url = _url(thumb.get("url"), base)
        if url:
            return Thumbnail(url, _int(thumb.get("width")), _int(thumb.get("height")))
    return None


def _content(
    element: etree._Element, base: str | None, thumbnail: Thumbnail | None, credits: tuple[Credit, ...]
) -> Enclosure | None:
    return make_enclosure(
        element.get("url"),
        element.get("type"),
        element.get("fileSize"),
        base,
        medium=element.get("medium"),
        width=element.get("width"),
        height=element.get("height"),
        thumbnail=_thumbnail(element, base) or thumbnail,
        credits=_credits(element) or credits,
    )


def media_rss(element: etree._Element, base: str | None) -> tuple[list[Enclosure], tuple[Credit, ...]]:
    """Enclosures and item-level credits from an item's Media RSS elements (thumbnails and credits
    of a group or the item apply to the media objects that have none of their own)."""
    item_thumbnail = _thumbnail(element, base)
    found: list[Enclosure | None] = []
    for child in element:
        if child.tag == f"{_M}content":
            found.append(_content(child, base, None, ()))
        elif child.tag == f"{_M}group":
            renditions = list(child.iterchildren(f"{_M}content"))
            default = next((r for r in renditions if r.get("isDefault") == "true"), None)
            for rendition in ([default] if default is not None else []) + renditions:
                chosen = _content(rendition, base, _thumbnail(child, base), _credits(child))
                if chosen is not None:
                    found.append(chosen)
                    break
    enclosures = [e for e in found if e is not None]
    if item_thumbnail is not None:
        enclosures = [e if e.thumbnail else replace(e, thumbnail=item_thumbnail) for e in enclosures]
    return enclosures, _credits(element)


def from_entry(entry: Mapping[str, Any], element: etree._Element | None, base: str | None) -> Media:
    """An XML entry's media: RSS/Atom enclosures as feedparser read them, Media RSS from ``element``
    (the same item read by lxml) or, without it, from feedparser's flattened lists."""
    found: list[Enclosure | None] = []
    for link in entry.get("enclosures") or []:
        if isinstance(link, Mapping):
            found.append(make_enclosure(link.get("href"), link.get("type"), link.get("length"), base))
    credits: tuple[Credit, ...] = ()
    if element is not None:
        media, credits = media_rss(element, base)
        found += media
    else:
        for content in entry.get("media_content") or []:
            if isinstance(content, Mapping):
                found.append(
                    make_enclosure(
                        content.get("url"),
                        content.get("type"),
                        content.get("filesize") or content.get("fileSize"),
                        base,
                        medium=content.get("medium"),
                        width=content.get("width"),
                        height=content.get("height"),
                    )
                )
        flat = (
            make_credit(c.get("content"), c.get("role"), c.get("scheme"))
            for c in entry.get("media_credit") or []
            if isinstance(c, Mapping)
        )
        credits = tuple(dict.fromkeys(c for c in flat if c is not None))[:MAX_CREDITS]
    enclosures = merge(found)
    if not enclosures and element is not None and (thumbnail := _thumbnail(element, base)):
        # A picture of the item and nothing else: it is the item's image.
        image = make_enclosure(thumbnail.url, None, None, None, medium="image", width=thumbnail.width,
                               height=thumbnail.height)  # fmt: skip
        enclosures = merge([image])
    return Media(enclosures, credits, clean_rights(entry.get("rights")))


# ----------------------------------------------------------------------------- JSON Feed


def from_json_item(item: Mapping[str, Any], base: str | None) -> Media:
    found: list[Enclosure | None] = []
    attachments = item.get("attachments")
    if isinstance(attachments, list):
        for attachment in attachments:
            if isinstance(attachment, Mapping):
                url, mime = attachment.get("url"), attachment.get("mime_type")
                found.append(make_enclosure(url, mime, attachment.get("size_in_bytes"), base))
    return Media(merge(found))
