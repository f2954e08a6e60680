"""Feed writers: one format-independent model, one writer per syndication format.

``FORMATS`` maps a URL suffix ("rss", "atom", "json") to its writer; writers are stateless and
shared between threads.
"""

from __future__ import annotations

from feedsvc.feeds.atom import AtomWriter
from feedsvc.feeds.base import FeedWriter
from feedsvc.feeds.jsonfeed import JsonFeedWriter
from feedsvc.feeds.model import (
    Alternate,
    Category,
    Credit,
    Enclosure,
    Feed,
    FeedLink,
    Image,
    Item,
    SourceRef,
    Thumbnail,
)
from feedsvc.feeds.opml import OPML_CONTENT_TYPE, OpmlOutline, render_opml
from feedsvc.feeds.rss import RssWriter

FORMATS: dict[str, FeedWriter] = {
    writer.suffix: writer for writer in (RssWriter(), AtomWriter(), JsonFeedWriter())
}


def writer_for(suffix: str) -> FeedWriter | None:
    """The writer for a URL suffix such as "rss" or ".atom", or None for an unknown one."""
    return FORMATS.get(suffix.strip().lstrip(".").lower())


__all__ = [
    "FORMATS",
    "OPML_CONTENT_TYPE",
    "Alternate",
    "AtomWriter",
    "Category",
    "Credit",
    "Enclosure",
    "Feed",
    "FeedLink",
    "FeedWriter",
    "Image",
    "Item",
    "JsonFeedWriter",
    "OpmlOutline",
    "RssWriter",
    "SourceRef",
    "Thumbnail",
    "render_opml",
    "writer_for",
]
