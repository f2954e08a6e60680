"""The one item model every stage reads and writes: what a format parser found (``RawItem``),
what normalisation made of it (``ParsedItem``), and the document around them (``ParsedFeed``).

New per-item fields (enclosures, credits …) are added here and nowhere else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from time import struct_time


@dataclass(frozen=True)
class Image:
    url: str  # absolute http(s)
    mime_type: str | None = None  # as given, else guessed from the URL
    length: int | None = None  # bytes, when the feed says


@dataclass(frozen=True)
class FeedHints:
    """What the feed says about how often to poll it, and where it pushes."""

    ttl_minutes: int | None = None  # RSS <ttl>
    update_interval: int | None = None  # seconds, from sy:updatePeriod / sy:updateFrequency
    websub_hub: str | None = None  # rel="hub" link (Atom/RSS) or JSON Feed hubs
    expired: bool = False  # JSON Feed "expired": the partner says it will never update again


@dataclass(frozen=True)
class Credit:
    name: str  # plain text
    role: str | None = None  # lower case, as Media RSS wants it ("photographer", "producer" …)
    scheme: str | None = None  # the role vocabulary; Media RSS's default is "urn:ebu"


@dataclass(frozen=True)
class Thumbnail:
    url: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Enclosure:
    url: str  # absolute http(s)
    mime_type: str  # as given, else guessed from the URL or the medium
    length: int = 0  # bytes; 0 when unknown
    medium: str = "document"  # one of MEDIUMS
    width: int | None = None
    height: int | None = None
    thumbnail: Thumbnail | None = None
    credits: tuple[Credit, ...] = ()


@dataclass(frozen=True)
class Media:
    """What an item carries besides its text."""

    enclosures: tuple[Enclosure, ...] = ()
    credits: tuple[Credit, ...] = ()  # Media RSS credits of the item as a whole
    rights: str | None = None  # plain text

    def digest(self) -> str:
        """Part of the item's content hash; "" when the item has none of it (its hash stays as it was)."""
        if not (self.enclosures or self.credits or self.rights):
            return ""
        return hashlib.sha256(repr(self).encode("utf-8", "surrogatepass")).hexdigest()



@dataclass
class RawItem:
    """An entry as a format parser found it, before normalisation."""

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


@dataclass(frozen=True)
class ParsedItem:
    key: str  # identity within the source, see ``stages.identity``
    guid: str | None  # as in the feed
    link: str | None  # absolute http(s) URL of the article
    title: str  # plain text as a reader sees it; derived from content or link when the feed has none
    content_html: str  # sanitized; "" when the feed only has a summary
    summary_html: str  # sanitized; "" when the feed has none
    summary: str  # plain text, at most feedsvc.text.SUMMARY_LENGTH characters
    author: str | None
    categories: tuple[str, ...]  # the partner's own terms, for the category map
    # Aware UTC as the partner wrote it, possibly in the future or before 1970 (the store decides
    # what to keep: the first-seen time replaces absurd dates once, when the item is new); else None.
    published: datetime | None
    updated: datetime | None  # aware UTC
    image: Image | None
    content_hash: str  # sha256 over title, link, content, summary, author, media: never dates
    link_key: str | None = None  # hash of the link without tracking parameters and the title
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
    # Items skipped or repaired (unreadable entry, absurd date): recorded on the source.
    warnings: tuple[str, ...] = ()
