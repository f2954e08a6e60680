"""The Yandex news feed: RSS 2.0 with the yandex namespace (genre and full text), written with feedgen.

feedgen writes the channel and each item's title, link, description, category, enclosure and pubDate;
the extension adds the author by name (RSS's own author element wants an e-mail address),
yandex:genre and yandex:full-text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.feeds import rss as _rss  # noqa: F401 (installs the locale-free date formatter in feedgen)
from feedsvc.feeds.base import (
    MEDIA_NS,
    PlainText,
    PreparedItem,
    clean_block,
    escape_html,
    prepare,
    serialize,
)
from feedsvc.feeds.model import Feed

YANDEX_NS = "http://news.yandex.ru"
GENRES = ("message", "article", "interview")
_EXTENSION = "yandex"


@dataclass(frozen=True, slots=True)
class YandexItem:
    genre: str  # one of GENRES
    full_text: str  # plain text, paragraphs separated by blank lines


class _YandexChannel(BaseExtension):
    def extend_ns(self) -> dict[str, str]:
        return {"yandex": YANDEX_NS, "media": MEDIA_NS}


class _YandexItem(BaseEntryExtension):
    item: PreparedItem
    extra: YandexItem
    plain: PlainText

    def extend_rss(self, entry: etree._Element) -> etree._Element:
        if self.item.author:
            etree.SubElement(entry, "author").text = self.plain(self.item.author)
        etree.SubElement(entry, f"{{{YANDEX_NS}}}genre").text = self.extra.genre
        text = clean_block(self.extra.full_text) or self.item.summary
        etree.SubElement(entry, f"{{{YANDEX_NS}}}full-text").text = self.plain(text)
        return entry

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        return entry


class YandexWriter:
    name = "yandex"
    content_type: ClassVar[str] = "application/rss+xml; charset=utf-8"

    def render(self, feed: Feed, extras: list[YandexItem], updated: datetime | None = None) -> bytes:
        prepared = prepare(feed)
        plain = PlainText()
        fg = FeedGenerator()
        fg.register_extension(_EXTENSION, _YandexChannel, _YandexItem, atom=False, rss=True)
        title = plain(prepared.title)
        fg.title(title)
        fg.description(plain(prepared.description))
        fg.link(href=prepared.self_url, rel="self", type="application/rss+xml")
        fg.link(href=prepared.home_url, rel="alternate")
        if prepared.language:
            fg.language(prepared.language)
        fg.updated(updated or prepared.updated)
        fg.generator(prepared.generator)
        if prepared.logo_url or prepared.icon_url:
            fg.image(url=prepared.logo_url or prepared.icon_url, title=title, link=prepared.home_url)
        for item, extra in zip(prepared.items, extras, strict=True):
            entry = fg.add_entry(order="append")
            entry.guid(item.guid, permalink=False)
            entry.title(plain(item.title))
            entry.link(href=item.url)
            entry.description(escape_html(item.summary))
            if item.categories:
                # Yandex takes one category: the post's first (by slug, a stable order), by its label
                # in the feed's language.
                first = item.categories[0]
                entry.category({"term": first.term, "label": plain(first.label)})
            if item.image is not None:
                entry.enclosure(item.image.url, str(item.image.length), item.image.mime_type)
            entry.published(item.published)
            extension: _YandexItem = getattr(entry, _EXTENSION)
            extension.item, extension.extra, extension.plain = item, extra, plain
        root, _ = fg._create_rss()
        return serialize(root, char_refs=plain.char_refs)
