"""What a feed holds, independent of the format it is written in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Image:
    url: str
    mime_type: str  # e.g. "image/jpeg"; always known, guessed from the URL when not given
    length: int = 0  # bytes; 0 when unknown


@dataclass(frozen=True, slots=True)
class Credit:
    """Media RSS credit: who made a media object (or the item), in which role."""

    name: str
    role: str | None = None  # lower case: "photographer", "producer" …
    scheme: str | None = None  # role vocabulary; Media RSS's default is "urn:ebu"


@dataclass(frozen=True, slots=True)
class Thumbnail:
    url: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A media file of an item: audio, video, image or document."""

    url: str
    mime_type: str
    length: int = 0  # bytes; 0 when unknown
    medium: str = "document"  # Media RSS medium: image, audio, video, document, executable
    width: int | None = None
    height: int | None = None
    thumbnail: Thumbnail | None = None
    credits: tuple[Credit, ...] = ()


@dataclass(frozen=True, slots=True)
class Alternate:
    """The same post in another language."""

    language: str
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class Category:
    slug: str  # "events"
    label: str  # the name in the item's language
    scheme: str  # absolute URL of the category's page, used as Atom scheme/RSS domain


@dataclass(frozen=True, slots=True)
class SourceRef:
    """The partner site an ingested item came from."""

    name: str
    url: str  # the partner's feed URL
    home_url: str | None = None  # the partner's site


@dataclass(frozen=True, slots=True)
class Item:
    guid: str  # stable for life: "urn:uuid:…"
    url: str  # absolute; the partner's URL for ingested items
    title: str  # plain text
    summary: str  # plain text
    content_html: str  # sanitized HTML
    published: datetime  # aware, UTC
    updated: datetime  # aware, UTC
    language: str  # "en" | "ru" | "uz"
    author: str | None = None
    categories: tuple[Category, ...] = ()
    image: Image | None = None
    alternates: tuple[Alternate, ...] = ()
    source: SourceRef | None = None
    # Media files beyond ``image`` (a post with enclosures lists its image among them), in order.
    enclosures: tuple[Enclosure, ...] = ()
    rights: str | None = None  # the partner's rights statement, plain text
    credits: tuple[Credit, ...] = ()  # Media RSS credits of the item as a whole


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A link of the whole feed beyond self and home page (RFC 5005 archive navigation)."""

    rel: str  # "prev-archive", "next-archive", "current"
    href: str


@dataclass(frozen=True, slots=True)
class Feed:
    title: str
    description: str
    home_url: str  # absolute HTML page of the feed's scope
    self_url: str  # absolute URL of this very document (format-specific)
    language: str | None  # None for a feed of every language: items then carry their own
    updated: datetime  # aware, UTC: when anything the feed shows last changed
    feed_id: str  # stable Atom id of the feed
    generator: str = "feedsvc"
    icon_url: str | None = None
    items: list[Item] = field(default_factory=list)
    hubs: tuple[str, ...] = ()  # WebSub hubs that announce this feed's changes
    # Channel branding and history (RFC 5005); absent parts are left out of the document.
    logo_url: str | None = None
    favicon_url: str | None = None
    image_size: tuple[int, int] | None = None  # RSS <image> width, height
    links: tuple[FeedLink, ...] = ()
    archive: bool = False  # an archive document (fh:archive), not the current feed
