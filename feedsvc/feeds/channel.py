"""Channel-level additions shared by the RSS and Atom writers: archive navigation (RFC 5005) and the
archive marker. Kept apart from the item code so that item-level changes do not meet these."""

from __future__ import annotations

from feedgen.ext.base import BaseExtension
from lxml import etree

from feedsvc.feeds.base import ATOM_NS, PreparedFeed

FH_NS = "http://purl.org/syndication/history/1.0"
EXTENSION = "feedsvc_channel"


class ChannelExtension(BaseExtension):
    """Writes ``feed.links`` as atom:link and marks archive documents with fh:archive."""

    feed: PreparedFeed | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH_NS} if self.feed is not None and self.feed.archive else {}

    def _extend(self, parent: etree._Element, link_tag: str) -> None:
        feed = self.feed
        if feed is None:
            return
        # Feed metadata goes before the first entry (Atom) or item (RSS, by convention).
        at = next((i for i, child in enumerate(parent) if child.tag in ("entry", "item")), len(parent))
        added: list[etree._Element] = []
        # SubElement first, so the elements use the root's namespace declarations; then moved into place.
        if feed.archive:
            added.append(etree.SubElement(parent, f"{{{FH_NS}}}archive"))
        for link in feed.links:
            added.append(etree.SubElement(parent, link_tag, rel=link.rel, href=link.href))
        for offset, element in enumerate(added):
            parent.insert(at + offset, element)

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        self._extend(feed, "link")  # feedgen's Atom elements carry the default namespace
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        self._extend(feed[0], f"{{{ATOM_NS}}}link")
        return feed


def register(fg: object, feed: PreparedFeed, *, atom: bool) -> None:
    fg.register_extension(EXTENSION, ChannelExtension, None, atom=atom, rss=not atom)  # type: ignore[attr-defined]
    getattr(fg, EXTENSION).feed = feed
