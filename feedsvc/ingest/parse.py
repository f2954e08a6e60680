"""Feed bytes → ``ParsedFeed``: RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 via feedparser, JSON Feed via
``jsonfeed``. Everything partner-controlled is normalised here: text decoded (``encoding``),
entity tricks refused (``xmlguard``), HTML sanitized (``clean``), dates in UTC (``dates``).

``parse_feed`` raises only ``ParseError``. An ill-formed feed is read as far as possible and the
problem recorded in ``ParsedFeed.bozo``.

Item identity (``ParsedItem.key``), stable across fetches of the same document:

* the GUID / Atom id / JSON Feed id, verbatim (hashed as ``guid-sha256:…`` if over 512 chars);
  never resolved against the feed URL, so a feed that moves keeps its keys;
* no GUID: ``link-sha256:`` + sha256 of the absolute link;
* no GUID, no link: ``title-sha256:`` + sha256 of title and date (or content when undated);
* one key shared by several *different* items of a document (a CMS template that puts the
  site URL in every ``<guid>``, a feed that links every item to its home page): each of them
  gets ``<key>#`` + 16 hex of sha256(link) when their links differ, else of link + title +
  date. None is lost, and the result does not depend on the order of the items;
* items still sharing a key are the same item listed twice: the first one is kept.
"""

from __future__ import annotations

import hashlib
import html
import io
import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from time import struct_time
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from lxml import etree

from feedsvc.ingest import ParseError, encoding, xmlguard
from feedsvc.ingest import media as mediafiles
from feedsvc.ingest.clean import clean_partner_html, clean_title, fragment_to_text
from feedsvc.ingest.dates import resolve_date
from feedsvc.ingest.media import Credit, Enclosure, Media
from feedsvc.text import summarize, xml_safe

__all__ = [
    "FeedHints",
    "Image",
    "ParseError",
    "ParsedFeed",
    "ParsedItem",
    "RawItem",
    "build_items",
    "parse_feed",
]

MAX_ITEMS = 500
MAX_GUID_LENGTH = 512
MAX_CATEGORIES = 20
_UPDATE_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000, "yearly": 31536000}
_SKIP_HOURS_RE = re.compile(r"<skipHours\b[^>]*>(.*?)</skipHours>", re.IGNORECASE | re.DOTALL)
_SKIP_DAYS_RE = re.compile(r"<skipDays\b[^>]*>(.*?)</skipDays>", re.IGNORECASE | re.DOTALL)
_HOUR_RE = re.compile(r"<hour>\s*([0-9]{1,2})\s*</hour>", re.IGNORECASE)
_DAY_RE = re.compile(r"<day>\s*([A-Za-z]+)\s*</day>", re.IGNORECASE)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")


@dataclass(frozen=True)
class Image:
    url: str  # absolute http(s)
    mime_type: str | None = None  # as given, else guessed from the URL
    length: int | None = None  # bytes, when the feed says


@dataclass(frozen=True)
class FeedHints:
    """What the feed says about how often to poll it."""

    ttl_minutes: int | None = None  # RSS <ttl>
    update_interval: int | None = None  # seconds, from sy:updatePeriod / sy:updateFrequency
    skip_hours: tuple[int, ...] = ()  # RSS <skipHours>, hours 0–23 (GMT)
    skip_days: tuple[str, ...] = ()  # RSS <skipDays>, "Monday" …
    websub_hub: str | None = None  # rel="hub" link (Atom/RSS) or JSON Feed hubs
    expired: bool = False  # JSON Feed "expired": the partner says it will never update again


@dataclass(frozen=True)
class ParsedItem:
    key: str  # identity within the source, see the module docstring
    guid: str | None  # as in the feed
    link: str | None  # absolute http(s) URL of the article
    title: str  # plain text; derived from the summary when the feed has none
    content_html: str  # sanitized; "" when the feed only has a summary
    summary_html: str  # sanitized; "" when the feed has none
    summary: str  # plain text, at most feedsvc.text.SUMMARY_LENGTH characters
    author: str | None
    categories: tuple[str, ...]  # the partner's own terms, for the category map
    published: datetime | None  # aware UTC; the update date if that is all there is; else None
    updated: datetime | None  # aware UTC
    image: Image | None
    content_hash: str  # sha256 over title, link, content, summary, dates, image URL (and media)
    enclosures: tuple[Enclosure, ...] = ()  # every media file, in the partner's order
    credits: tuple[Credit, ...] = ()  # Media RSS credits of the item as a whole
    rights: str | None = None  # plain text: dc:rights, item <copyright>, atom:rights


@dataclass(frozen=True)
class ParsedFeed:
    format: str  # feedparser's version ("rss20", "atom10", "rss10" …) or "json10"/"json11"
    title: str
    link: str | None  # the partner's home page
    self_url: str | None  # the feed's own URL as it states it
    description: str  # plain text
    language: str | None
    icon: str | None
    hints: FeedHints
    bozo: str | None  # what was wrong with the document, when it was ingested despite it
    items: list[ParsedItem]
    encoding: str  # how the body was decoded, e.g. "utf-8", "cp1251", "koi8-r"
    truncated: int = 0  # items beyond max_items, not returned


@dataclass
class RawItem:
    """An entry as a format parser found it, before normalisation (shared with ``jsonfeed``)."""

    guid: str | None = None
    link: str | None = None
    title: str | None = None
    content_html: str | None = None
    content_text: str | None = None
    summary_html: str | None = None
    summary_text: str | None = None
    author: str | None = None
    categories: list[str] = field(default_factory=list)
    published: str | None = None
    published_parsed: struct_time | None = None
    updated: str | None = None
    updated_parsed: struct_time | None = None
    images: list[Image] = field(default_factory=list)
    base_url: str | None = None
    media: Media = field(default_factory=Media)


# ----------------------------------------------------------------------------- helpers


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
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
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


def _sha256(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8", errors="replace")).hexdigest()


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _dedupe(values: Iterable[str], limit: int) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        cleaned = clean_title(value)
        if cleaned and cleaned.casefold() not in seen:
            seen[cleaned.casefold()] = cleaned
    return tuple(seen.values())[:limit]


# ----------------------------------------------------------------------------- normalisation


def _normalise(raw: RawItem, feed_base: str, default_tz: tzinfo, now: datetime) -> ParsedItem | None:
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
    summary = summarize(fragment_to_text(summary_html or content_html))
    title = clean_title(raw.title) or clean_title(summarize(summary, 100))  # untitled posts
    guid = as_str(raw.guid)
    if not (title or link or content_html or guid):
        return None  # nothing a reader could see or we could identify
    published = (
        resolve_date(raw.published, raw.published_parsed, default_tz=default_tz, now=now)
        or resolve_date(raw.updated, raw.updated_parsed, default_tz=default_tz, now=now)
    )  # fmt: skip
    updated = resolve_date(raw.updated, raw.updated_parsed, default_tz=default_tz, now=now)
    images = [image for image in raw.images if _looks_like_image(image)]
    image = images[0] if images else None
    content_hash = _sha256(
        title,
        link or "",
        content_html,
        summary_html,
        _iso(published),
        _iso(updated),
        image.url if image else "",
    )
    if media_digest := raw.media.digest():
        content_hash = _sha256(content_hash, media_digest)  # items without media keep their hash
    if guid is not None:
        key = guid if len(guid) <= MAX_GUID_LENGTH else "guid-sha256:" + _sha256(guid)
    elif link is not None:
        key = "link-sha256:" + _sha256(link)
    else:
        key = "title-sha256:" + _sha256(title, _iso(published) or _sha256(content_html))
    return ParsedItem(
        key=key,
        guid=guid,
        link=link,
        title=title,
        content_html=content_html,
        summary_html=summary_html,
        summary=summary,
        author=clean_title(raw.author) or None,
        categories=_dedupe(raw.categories, MAX_CATEGORIES),
        published=published,
        updated=updated,
        image=image,
        content_hash=content_hash,
        enclosures=raw.media.enclosures,
        credits=raw.media.credits,
        rights=raw.media.rights,
    )


def _disambiguate(items: list[ParsedItem]) -> list[ParsedItem]:
    """Apply the colliding-key and duplicate rules from the module docstring."""
    groups: dict[str, list[ParsedItem]] = {}
    for item in items:
        groups.setdefault(item.key, []).append(item)
    renamed: dict[int, str] = {}
    for key, group in groups.items():
        # Exact repeats (same content hash) are one item listed twice: they collapse below.
        distinct = list({item.content_hash: item for item in group}.values())
        if len(distinct) < 2:
            continue
        links = [item.link for item in distinct]
        by_link = all(links) and len(set(links)) == len(links)
        for item in group:
            if by_link:
                basis = _sha256(item.link or "")
            else:
                basis = _sha256(item.link or "", item.title, _iso(item.published))
            renamed[id(item)] = f"{key}#{basis[:16]}"
    result: list[ParsedItem] = []
    seen: set[str] = set()
    for item in items:
        key = renamed.get(id(item), item.key)
        if key in seen:
            continue
        seen.add(key)
        result.append(item if key == item.key else replace(item, key=key))
    return result


def build_items(
    raw_items: Iterable[RawItem], feed_base: str, *, default_tz: tzinfo, now: datetime
) -> list[ParsedItem]:
    items = [item for raw in raw_items if (item := _normalise(raw, feed_base, default_tz, now)) is not None]
    return _disambiguate(items)


# ----------------------------------------------------------------------------- XML feeds


def _bozo_text(exc: object) -> str:
    message = str(exc).strip() or type(exc).__name__
    return xml_safe(f"{type(exc).__name__}: {message}")[:500]


def _entry_to_raw(entry: Mapping[str, Any], feed_base: str, element: etree._Element | None = None) -> RawItem:
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
    for media in entry.get("media_content") or []:
        if isinstance(media, Mapping):
            size = media.get("filesize") or media.get("fileSize")
            image = make_image(media.get("url"), media.get("type"), size, base)
            if image and image.mime_type is None and media.get("medium") == "image":
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
    raw.media = mediafiles.from_entry(entry, element, base)
    return raw


def _hints(feed: Mapping[str, Any], text: str) -> FeedHints:
    ttl = as_int(feed.get("ttl"))
    period = _UPDATE_PERIODS.get((as_str(feed.get("sy_updateperiod")) or "").lower())
    frequency = as_int(feed.get("sy_updatefrequency"))
    interval = None
    if period or frequency:
        # Syndication module defaults: period "daily", frequency 1.
        interval = (period or _UPDATE_PERIODS["daily"]) // max(frequency or 1, 1)
    skip_hours: tuple[int, ...] = ()
    if match := _SKIP_HOURS_RE.search(text):
        skip_hours = tuple(sorted({h for h in map(int, _HOUR_RE.findall(match.group(1))) if 0 <= h <= 24}))
    skip_days: tuple[str, ...] = ()
    if match := _SKIP_DAYS_RE.search(text):
        named = {d.capitalize() for d in _DAY_RE.findall(match.group(1))}
        skip_days = tuple(d for d in _WEEKDAYS if d in named)
    hub = None
    for link in feed.get("links") or []:
        if isinstance(link, Mapping) and link.get("rel") == "hub":
            hub = absolute_http_url(link.get("href"), None)
            break
    return FeedHints(ttl, interval, skip_hours, skip_days, hub)


def _parse_xml(
    text: str,
    decoded: encoding.Decoded,
    headers: Mapping[str, str],
    url: str,
    *,
    default_tz: tzinfo,
    now: datetime,
    max_items: int,
) -> ParsedFeed:
    xmlguard.check(text)
    # No Content-Location on purpose: feedparser would resolve GUIDs against it as if they were
    # URLs ("123" → "https://partner/123"), changing item keys whenever the feed URL changes.
    # Links and content are made absolute against ``url`` here instead.
    feed_headers = {"content-type": "application/xml; charset=utf-8"}
    if headers.get("content-language"):
        feed_headers["content-language"] = headers["content-language"]
    try:
        # A file object, never bytes/str: feedparser opens strings that look like paths or URLs.
        result = feedparser.parse(
            io.BytesIO(encoding.utf8_document(text)),
            response_headers=feed_headers,
            # Both done by clean_partner_html, against the content's xml:base that feedparser
            # still reports; its own URI pass over the HTML would cost more than the parse.
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # third-party boundary: whatever it raises, the input was unusable
        raise ParseError(f"could not parse the document: {_bozo_text(exc)}") from exc
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
    kept = entries[:max_items]
    # Media RSS needs the document's own structure (see feedsvc.ingest.media); only read it again
    # when the namespace is used.
    elements = (
        mediafiles.item_elements(encoding.utf8_document(text), len(entries))
        if mediafiles.MEDIA_NS in text
        else None
    )
    raw_items = [
        _entry_to_raw(entry, url, elements[i] if elements else None)
        for i, entry in enumerate(kept)
        if isinstance(entry, Mapping)
    ]
    items = build_items(raw_items, url, default_tz=default_tz, now=now)
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
        encoding=decoded.encoding,
        truncated=max(0, len(entries) - max_items),
    )


# ----------------------------------------------------------------------------- entry point


def _is_json(text: str, content_type: str) -> bool:
    first = text[:1]
    if first == "{" or first == "[":
        return True
    return first != "<" and "json" in content_type


def parse_feed(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    *,
    default_tz: tzinfo = UTC,
    now: datetime | None = None,
    max_items: int = MAX_ITEMS,
) -> ParsedFeed:
    """Parse a fetched feed. ``url`` is the final URL (base for relative links); ``default_tz``
    is the source's zone for dates without one; ``now`` bounds future dates."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    content_type = lowered.get("content-type", "").lower()
    if not body or not body.strip():
        raise ParseError("empty document")
    decoded = encoding.decode(body, content_type)
    text = xml_safe(decoded.text).lstrip("\ufeff \t\r\n")
    if not text:
        raise ParseError("empty document")
    max_items = max(1, max_items)
    if _is_json(text, content_type):
        from feedsvc.ingest.jsonfeed import parse_json_feed  # late: jsonfeed builds on this module

        return parse_json_feed(
            text, url, default_tz=default_tz, now=now, max_items=max_items, encoding=decoded.encoding
        )
    return _parse_xml(text, decoded, lowered, url, default_tz=default_tz, now=now, max_items=max_items)
