"""RSS 2.0 writer, built with feedgen plus a small extension for what feedgen lacks.

feedgen writes the channel and each item's title, link, description, content:encoded, guid,
categories, enclosure, pubDate and source. The extension adds Dublin Core creator, language and
rights, atom:updated, Media RSS (every enclosure as media:content with its thumbnail and credits)
and the translations.

RSS allows one <enclosure> per item (RSS Profile): it is the first enclosure that is not an image,
else the first image (``feedsvc.feeds.base.rss_enclosure``).

Translations are atom:link rel="related" with hreflang and title, not rel="alternate": RSS
readers such as SimplePie and feedparser let any atom:link alternate replace the item's <link>,
so an alternate would send readers to the translation instead of the post.
"""

from __future__ import annotations

import re
from typing import ClassVar

import feedgen.entry
import feedgen.feed
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.feeds import channel
from feedsvc.feeds.base import (
    ATOM_NS,
    DC_NS,
    HTML_TYPE,
    MEDIA_NS,
    EntryCache,
    FeedWriter,
    PlainText,
    PreparedFeed,
    PreparedItem,
    assemble_xml,
    escape_html,
    finish,
    media_elements,
    prepare,
    rfc822,
    rfc3339,
)
from feedsvc.feeds.model import Feed

# feedgen formats RFC 822 dates by switching the process-wide locale with locale.setlocale(),
# which races between the threads of a worker. Every date feedgen writes goes through this
# locale-free formatter instead (it only ever receives aware datetimes from this module).
feedgen.feed.formatRFC2822 = rfc822
feedgen.entry.formatRFC2822 = rfc822

_EXTENSION = "feedsvc"
_RSS_SELF_TYPE = "application/rss+xml"
# The validator only accepts an RSS channel image whose URL looks like a GIF, JPEG or PNG.
_IMAGE_EXTENSION = re.compile(r"\.(\w+)$")
_RSS_IMAGE_EXTENSIONS = frozenset({"gif", "jpg", "jpeg", "png"})


def _rss_image_ok(url: str) -> bool:
    match = _IMAGE_EXTENSION.search(url.rsplit("/", 1)[-1].split("?", 1)[0])
    return match is None or match.group(1).lower() in _RSS_IMAGE_EXTENSIONS


class _ChannelExtension(BaseExtension):
    """Declares the namespaces once, on the root element; writes the hub links."""

    hubs: tuple[str, ...] = ()

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS, "media": MEDIA_NS}

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        # feedgen accepts rel="hub" links but writes only the self link into RSS.
        channel = feed.find("channel")
        self_link = channel.find(f"{{{ATOM_NS}}}link")
        at = list(channel).index(self_link) + 1 if self_link is not None else len(channel)
        for offset, hub in enumerate(self.hubs):
            link = etree.Element(f"{{{ATOM_NS}}}link", href=hub, rel="hub")
            channel.insert(at + offset, link)
        return feed


class _ItemExtension(BaseEntryExtension):
    """Writes the item elements feedgen has no API for."""

    item: PreparedItem
    plain: PlainText

    def extend_rss(self, entry: etree._Element) -> etree._Element:
        item = self.item
        if item.author:
            etree.SubElement(entry, f"{{{DC_NS}}}creator").text = self.plain(item.author)
        if item.mark_language:
            # RSS has no per-item language; Dublin Core's is the one validators accept.
            etree.SubElement(entry, f"{{{DC_NS}}}language").text = item.language
        etree.SubElement(entry, f"{{{ATOM_NS}}}updated").text = rfc3339(item.updated)
        for alternate in item.alternates:
            link = etree.SubElement(entry, f"{{{ATOM_NS}}}link", rel="related", type=HTML_TYPE)
            link.set("hreflang", alternate.language)
            if alternate.title:
                link.set("title", self.plain(alternate.title))
            link.set("href", alternate.url)
        if item.rights:
            etree.SubElement(entry, f"{{{DC_NS}}}rights").text = self.plain(item.rights)
        # <enclosure> names one file and not what it is; Media RSS lists them all, with medium.
        media_elements(entry, item, self.plain)
        return entry

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        return entry


class RssWriter(FeedWriter):
    name = "rss"
    suffix = "rss"
    content_type: ClassVar[str] = "application/rss+xml; charset=utf-8"

    def render(self, feed: Feed, entries: EntryCache | None = None) -> bytes:
        prepared = prepare(feed)
        return assemble_xml(
            lambda items: self._build(prepared, items),
            prepared,
            entries,
            self.suffix,
            entry_start=b"\n    <item>",
            entry_end=b"    </item>\n",
            container_end=b"  </channel>",
        )

    def _build(self, prepared: PreparedFeed, items: tuple[PreparedItem, ...]) -> bytes:
        """The channel and ``items``, through feedgen's public API."""
        plain = PlainText()
        title = plain(prepared.title)

        fg = FeedGenerator()
        fg.register_extension(_EXTENSION, _ChannelExtension, _ItemExtension, atom=False, rss=True)
        fg.title(title)
        fg.description(plain(prepared.description))
        # feedgen uses the last link added as the channel <link>: self first, home page last.
        fg.link(href=prepared.self_url, rel="self", type=_RSS_SELF_TYPE)
        fg.link(href=prepared.home_url, rel="alternate")
        channel_extension: _ChannelExtension = getattr(fg, _EXTENSION)
        channel_extension.hubs = prepared.hubs
        if prepared.language:
            fg.language(prepared.language)
        fg.updated(prepared.updated)  # lastBuildDate; feedgen's default would be "now"
        fg.generator(prepared.generator)
        image_url = prepared.logo_url or prepared.icon_url
        if image_url and _rss_image_ok(image_url):
            width, height = prepared.image_size or (None, None)
            fg.image(
                url=image_url,
                title=title,
                link=prepared.home_url,
                width=str(width) if width else None,
                height=str(height) if height else None,
            )
        channel.register(fg, prepared, atom=False)

        for item in items:
            # feedgen prepends by default; the caller's order (newest first) is the feed's order.
            entry = fg.add_entry(order="append")
            entry.guid(item.guid, permalink=False)
            entry.title(plain(item.title))
            entry.link(href=item.url)
            # RSS description is HTML: the plain-text summary is escaped, not interpreted.
            entry.description(escape_html(item.summary))
            if item.content_html:
                entry.content(item.content_html)
            if item.categories:
                entry.category(
                    [{"term": c.term, "label": plain(c.label), "scheme": c.scheme} for c in item.categories]
                )
            if item.enclosure is not None:
                # Length 0 is RSS's "unknown"; the validator rejects a missing or negative one.
                enclosure = item.enclosure
                entry.enclosure(enclosure.url, str(enclosure.length), enclosure.mime_type)
            entry.published(item.published)
            if item.source is not None:
                entry.source(url=item.source.url, title=plain(item.source.name))
            extension: _ItemExtension = getattr(entry, _EXTENSION)
            extension.item = item
            extension.plain = plain

        return finish(fg.rss_str(pretty=True), plain.char_refs)
