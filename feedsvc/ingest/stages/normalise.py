"""``RawItem`` → ``ParsedItem``: URLs absolute, HTML sanitized (``clean``), titles plain
(``feedsvc.text.clean_title``), dates read (``dates``), identity (``identity``).

Each item is normalised on its own: one that cannot be read is skipped and named in the feed's
warnings; it never costs the other items.
"""

from __future__ import annotations

import html
import logging
import mimetypes
import re
from collections.abc import Iterable
from datetime import datetime, tzinfo
from posixpath import basename, splitext
from urllib.parse import unquote, urljoin, urlsplit

from feedsvc.ingest.item import Image, ParsedItem, RawItem
from feedsvc.ingest.stages.clean import clean_partner_html, fragment_to_text
from feedsvc.ingest.stages.dates import absurd_date, resolve_date
from feedsvc.ingest.stages.identity import disambiguate, item_key, link_title_key, sha256
from feedsvc.text import clean_title, first_sentence, summarize, xml_safe
from feedsvc.urls import WEB_SCHEMES

log = logging.getLogger(__name__)
MAX_CATEGORIES = 20
MAX_WARNINGS = 20
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")
_SLUG_WORDS_RE = re.compile(r"[-_+.]+")


def as_str(value: object) -> str | None:
    """``value`` stripped, if it is a string with something XML can carry; else None (partner
    data has every type possible, and a GUID of control characters is no GUID)."""
    if isinstance(value, str):
        value = xml_safe(value).strip()
        return value or None
    return None


def as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value.strip()):
        return int(value.strip())
    return None


def absolute_http_url(value: object, base: str | None) -> str | None:
    """Absolute http(s) URL, or None (relative resolved against ``base``; other schemes dropped)."""
    text = as_str(value)
    if text is None:
        return None
    try:
        joined = urljoin(base, text) if base else text
        parts = urlsplit(joined)
    except ValueError:
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.netloc:
        return None
    return joined


def make_image(url: object, mime_type: object, length: object, base: str | None) -> Image | None:
    absolute = absolute_http_url(url, base)
    if absolute is None:
        return None
    mime = as_str(mime_type)
    if mime is None:
        mime = mimetypes.guess_type(urlsplit(absolute).path)[0]
    return Image(absolute, mime.lower() if mime else None, as_int(length))


def _looks_like_image(image: Image) -> bool:
    if image.mime_type:
        return image.mime_type.startswith("image/")
    return urlsplit(image.url).path.lower().endswith(_IMAGE_EXTENSIONS)


def _text_to_html(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


def _dedupe(values: Iterable[str], limit: int) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        cleaned = clean_title(value)
        if cleaned and cleaned.casefold() not in seen:
            seen[cleaned.casefold()] = cleaned
    return tuple(seen.values())[:limit]


def link_title(link: str) -> str:
    """Words of the link's last path segment ("/2026/03/metro-yunusabad-opened.html" → "Metro
    yunusabad opened"), or "" when it has none (numeric ids, index pages)."""
    path = urlsplit(link).path.rstrip("/")
    stem = splitext(unquote(basename(path)))[0]
    words = _SLUG_WORDS_RE.sub(" ", stem).strip()
    if sum(ch.isalpha() for ch in words) < 3:
        return ""
    return first_sentence(words[:1].upper() + words[1:])


def derive_title(text: str, link: str | None) -> str:
    """An untitled item's title: its content's first sentence, else its link's words, else its URL."""
    return clean_title(first_sentence(text)) or (link_title(link) if link else "") or (link or "")


def normalise(
    raw: RawItem, feed_base: str, default_tz: tzinfo, now: datetime, warnings: list[str]
) -> ParsedItem | None:
    link = absolute_http_url(raw.link, raw.base_url or feed_base)
    base = raw.base_url or link or feed_base
    if raw.content_html:
        content_html = clean_partner_html(raw.content_html, base)
    elif raw.content_text:
        content_html = _text_to_html(xml_safe(raw.content_text))
    else:
        content_html = ""
    if raw.summary_html:
        summary_html = clean_partner_html(raw.summary_html, base)
    elif raw.summary_text:
        summary_html = _text_to_html(xml_safe(raw.summary_text))
    else:
        summary_html = ""
    text = fragment_to_text(summary_html or content_html)
    summary = summarize(text)
    title = clean_title(raw.title) or derive_title(fragment_to_text(content_html) or text, link)
    guid = as_str(raw.guid)
    if not (title or link or content_html or guid):
        return None  # nothing a reader could see or we could identify
    published = resolve_date(raw.published, raw.published_parsed, default_tz=default_tz) or resolve_date(
        raw.updated, raw.updated_parsed, default_tz=default_tz
    )
    updated = resolve_date(raw.updated, raw.updated_parsed, default_tz=default_tz)
    given = raw.published or raw.updated
    problem = absurd_date(published, now) if published else ("unreadable" if given else None)
    if problem is not None:
        # The store dates it when first seen; the operator should know the partner's dates are off.
        warnings.append(f"item {guid or link or title!r}: date {given!r} is {problem}")
    images = [image for image in raw.images if _looks_like_image(image)]
    image = images[0] if images else None
    author = clean_title(raw.author) or None
    # Dates are left out: a partner that re-dates every item on each build has not changed them.
    content_hash = sha256(
        title, link or "", content_html, summary_html, author or "", *(i.url for i in raw.images)
    )
    if media_digest := raw.media.digest():
        content_hash = sha256(content_hash, media_digest)  # items without media keep their hash
    return ParsedItem(
        key=item_key(guid, link, title, published, content_html),
        guid=guid,
        link=link,
        title=title,
        content_html=content_html,
        summary_html=summary_html,
        summary=summary,
        author=author,
        categories=_dedupe(raw.categories, MAX_CATEGORIES),
        published=published,
        updated=updated,
        image=image,
        content_hash=content_hash,
        link_key=link_title_key(link, title),
        enclosures=raw.media.enclosures,
        credits=raw.media.credits,
        rights=raw.media.rights,
    )


def build_items(
    raw_items: Iterable[RawItem],
    feed_base: str,
    *,
    default_tz: tzinfo,
    now: datetime,
    warnings: list[str] | None = None,
) -> list[ParsedItem]:
    warnings = [] if warnings is None else warnings
    items: list[ParsedItem] = []
    for n, raw in enumerate(raw_items):
        try:
            item = normalise(raw, feed_base, default_tz, now, warnings)
        except Exception as exc:  # partner data: one unreadable item must not cost the others
            log.info("item %s skipped: %r", n + 1, exc)
            warnings.append(f"item {n + 1} skipped: {type(exc).__name__}: {exc}"[:300])
            continue
        if item is not None:
            items.append(item)
    del warnings[MAX_WARNINGS:]
    return disambiguate(items)
