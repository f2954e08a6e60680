"""RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 text → ``ParsedFeed``, read by feedparser.

A document feedparser only half reads (an invalid character reference, a stray ``&`` in one
item: "bozo" with fewer entries than the document has) is re-serialized by lxml's recovering
parser and read again; the reading with more entries wins, so one broken item costs at most itself.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any

import feedparser
import lxml.etree

from feedsvc.ingest import ParseError
from feedsvc.ingest.item import FeedHints, Image, ParsedFeed, RawItem
from feedsvc.ingest.stages import decode, media
from feedsvc.ingest.stages.clean import clean_title, fragment_to_text
from feedsvc.ingest.stages.normalise import absolute_http_url, as_int, as_str, build_items, make_image
from feedsvc.text import summarize, xml_safe

_UPDATE_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000, "yearly": 31536000}
_XML_CHAR_CONTROLS = (0x9, 0xA, 0xD)
_CHAR_REF_RE = re.compile(r"&#([xX][0-9a-fA-F]{1,8}|[0-9]{1,10});")
_ENTRY_START_RE = re.compile(r"<(?:[A-Za-z0-9_]+:)?(?:item|entry)[\s>]")


def _bozo_text(exc: object) -> str:
    message = str(exc).strip() or type(exc).__name__
    return xml_safe(f"{type(exc).__name__}: {message}")[:500]


def _entry_to_raw(
    entry: Mapping[str, Any], feed_base: str, element: lxml.etree._Element | None = None
) -> RawItem:
    raw = RawItem()
    raw.guid = as_str(entry.get("id"))
    raw.link = as_str(entry.get("link"))
    raw.title = as_str(entry.get("title"))
    contents = [c for c in entry.get("content") or [] if isinstance(c, Mapping) and as_str(c.get("value"))]
    # Prefer an HTML body over a plain-text one when a feed offers both.
    contents.sort(key=lambda c: 0 if "html" in (as_str(c.get("type")) or "text/html") else 1)
    if contents:
        chosen = contents[0]
        raw.base_url = absolute_http_url(chosen.get("base"), feed_base)
        if "html" in (as_str(chosen.get("type")) or "text/html"):
            raw.content_html = chosen.get("value")
        else:
            raw.content_text = chosen.get("value")
    # feedparser copies the content into ``summary`` when there is none; only a real summary
    # comes with its own ``summary_detail``.
    detail = entry.get("summary_detail")
    summary = as_str(entry.get("summary"))
    if isinstance(detail, Mapping) and summary is not None:
        if "html" in (as_str(detail.get("type")) or "text/html"):
            raw.summary_html = summary
        else:
            raw.summary_text = summary
        raw.base_url = raw.base_url or absolute_http_url(detail.get("base"), feed_base)
    author_detail = entry.get("author_detail")
    if isinstance(author_detail, Mapping):
        raw.author = as_str(author_detail.get("name"))
    raw.author = raw.author or as_str(entry.get("author"))
    for tag in entry.get("tags") or []:
        if isinstance(tag, Mapping) and (term := as_str(tag.get("term")) or as_str(tag.get("label"))):
            raw.categories.append(term)
    raw.published = as_str(entry.get("published")) or as_str(entry.get("created"))
    raw.published_parsed = entry.get("published_parsed") or entry.get("created_parsed")
    # dict.get: FeedParserDict answers "updated" with "published" when there is no update date.
    raw.updated = as_str(dict.get(entry, "updated")) if isinstance(entry, dict) else None
    raw.updated_parsed = dict.get(entry, "updated_parsed") if isinstance(entry, dict) else None
    base = raw.base_url or feed_base
    candidates: list[Image | None] = []
    for enclosure in entry.get("enclosures") or []:
        if isinstance(enclosure, Mapping):
            candidates.append(
                make_image(enclosure.get("href"), enclosure.get("type"), enclosure.get("length"), base)
            )
    for content in entry.get("media_content") or []:
        if isinstance(content, Mapping):
            size = content.get("filesize") or content.get("fileSize")
            image = make_image(content.get("url"), content.get("type"), size, base)
            if image and image.mime_type is None and content.get("medium") == "image":
                image = replace(image, mime_type="image/jpeg")  # medium="image" without a type
            candidates.append(image)
    for thumb in entry.get("media_thumbnail") or []:
        if isinstance(thumb, Mapping):
            image = make_image(thumb.get("url"), None, None, base)
            # Thumbnail URLs often have no extension; media:thumbnail is an image by definition.
            candidates.append(Image(image.url, image.mime_type or "image/jpeg") if image else None)
    artwork = entry.get("image")  # itunes:image of a podcast episode
    if isinstance(artwork, Mapping) and (image := make_image(artwork.get("href"), None, None, base)):
        candidates.append(Image(image.url, image.mime_type or "image/jpeg"))
    raw.images = [c for c in candidates if c is not None]
    raw.media = media.from_entry(entry, element, base)
    return raw


def _hints(feed: Mapping[str, Any], text: str) -> FeedHints:
    ttl = as_int(feed.get("ttl"))
    period = _UPDATE_PERIODS.get((as_str(feed.get("sy_updateperiod")) or "").lower())
    frequency = as_int(feed.get("sy_updatefrequency"))
    interval = None
    if period or frequency:
        # Syndication module defaults: period "daily", frequency 1.
        interval = (period or _UPDATE_PERIODS["daily"]) // max(frequency or 1, 1)
    hub = None
    for link in feed.get("links") or []:
        if isinstance(link, Mapping) and link.get("rel") == "hub":
            hub = absolute_http_url(link.get("href"), None)
            break
    return FeedHints(ttl, interval, websub_hub=hub)


def _feedparser(document: bytes, headers: dict[str, str]) -> Any:
    try:
        # A file object, never bytes/str: feedparser opens strings that look like paths or URLs.
        return feedparser.parse(
            io.BytesIO(document),
            response_headers=headers,
            # Both done by clean_partner_html, against the content's xml:base that feedparser
            # still reports; its own URI pass over the HTML would cost more than the parse.
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # third-party boundary: whatever it raises, the input was unusable
        raise ParseError(f"could not parse the document: {_bozo_text(exc)}") from exc


def _valid_reference(match: re.Match[str]) -> str:
    digits = match.group(1)
    try:
        code = int(digits[1:], 16) if digits[:1] in "xX" else int(digits)
    except ValueError:
        return ""
    allowed = 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0xFFFF < code < 0x110000
    if allowed or code in _XML_CHAR_CONTROLS:
        return match.group(0)
    # A surrogate or control character: no XML parser accepts it (feedparser raises), and
    # feedsvc.text.xml_safe would remove it from what we store anyway.
    return ""


def _drop_invalid_references(text: str) -> str:
    """Character references to what XML cannot carry (``&#xD800;``, ``&#0;``) are dropped."""
    return _CHAR_REF_RE.sub(_valid_reference, text) if "&#" in text else text


def _recovered(text: str) -> bytes | None:
    """The document as lxml's recovering parser reads it (broken references and markup dropped)."""
    parser = lxml.etree.XMLParser(
        recover=True, resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True
    )
    try:
        root = lxml.etree.fromstring(decode.utf8_document(text), parser)
    except (lxml.etree.LxmlError, ValueError):
        return None
    if root is None:
        return None
    return lxml.etree.tostring(root, encoding="utf-8", xml_declaration=True)


def parse_xml_feed(
    text: str,
    encoding: str,
    headers: Mapping[str, str],
    url: str,
    *,
    default_tz: tzinfo,
    now: datetime,
    max_items: int,
) -> ParsedFeed:
    # No Content-Location on purpose: feedparser would resolve GUIDs against it as if they were
    # URLs ("123" → "https://partner/123"), changing item keys whenever the feed URL changes.
    # Links and content are made absolute against ``url`` here instead.
    feed_headers = {"content-type": "application/xml; charset=utf-8"}
    if headers.get("content-language"):
        feed_headers["content-language"] = headers["content-language"]
    text = _drop_invalid_references(text)
    document = decode.utf8_document(text)  # the bytes feedparser read, for the Media RSS pass too
    try:
        result = _feedparser(document, feed_headers)
    except ParseError as exc:
        recovered = _recovered(text)
        if recovered is None:
            raise
        result, document = _feedparser(recovered, feed_headers), recovered
        result["bozo"], result["bozo_exception"] = 1, exc
    if result.get("bozo") and len(result.get("entries") or []) < len(_ENTRY_START_RE.findall(text)):
        recovered = _recovered(text)
        if recovered is not None:
            second = _feedparser(recovered, feed_headers)
            if len(second.get("entries") or []) > len(result.get("entries") or []):
                second["bozo"], second["bozo_exception"] = 1, result.get("bozo_exception")
                result, document = second, recovered
    feed = result.get("feed") or {}
    entries = result.get("entries") or []
    version = result.get("version") or ""
    bozo = _bozo_text(result.get("bozo_exception")) if result.get("bozo") else None
    if not version and not entries:
        head = text[:2048].lower()
        if "<html" in head or "<!doctype html" in head:
            raise ParseError("not a feed: the document is an HTML page")
        raise ParseError(f"not a feed: no RSS, Atom or JSON Feed content found ({bozo or 'unknown format'})")
    feed_base = absolute_http_url(feed.get("link"), url) or url
    warnings: list[str] = []
    raw_items = []
    # Media RSS needs the document's own structure (see stages.media); read only when it is used.
    elements = media.item_elements(document, len(entries)) if media.MEDIA_NS in text else None
    for n, entry in enumerate(entries[:max_items]):
        try:
            raw_items.append(_entry_to_raw(entry, url, elements[n] if elements else None))
        except Exception as exc:  # one unreadable entry must not cost the others
            warnings.append(f"item {n + 1} skipped: {type(exc).__name__}: {exc}"[:300])
    items = build_items(raw_items, url, default_tz=default_tz, now=now, warnings=warnings)
    self_url = None
    for link in feed.get("links") or []:
        if isinstance(link, Mapping) and link.get("rel") == "self":
            self_url = absolute_http_url(link.get("href"), url)
            break
    image = feed.get("image")
    icon = absolute_http_url(image.get("href") if isinstance(image, Mapping) else None, feed_base)
    icon = icon or absolute_http_url(feed.get("icon") or feed.get("logo"), feed_base)
    return ParsedFeed(
        format=version or "unknown",
        title=clean_title(feed.get("title")),
        link=absolute_http_url(feed.get("link"), url),
        self_url=self_url,
        description=summarize(fragment_to_text(xml_safe(as_str(feed.get("subtitle")) or ""))),
        language=as_str(feed.get("language")),
        icon=icon,
        hints=_hints(feed, text),
        bozo=bozo,
        items=items,
        encoding=encoding,
        truncated=max(0, len(entries) - max_items),
        warnings=tuple(warnings),
    )
