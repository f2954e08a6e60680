"""Atom 1.0 writer, built with feedgen plus a small extension for what feedgen lacks.

feedgen writes the feed head and each entry's id, title, updated, published, author, content,
main alternate link, summary, categories and rights. feedgen's entry ``source()`` is RSS-only, so
everything else comes from an extension registered with ``FeedGenerator.register_extension`` (its
public API for elements it lacks): xml:lang on entries of a mixed feed, translations as hreflang
alternates, every enclosure (an enclosure link with type and length, and Media RSS with medium,
size, thumbnail and credits), a complete atom:source for partner items (id, title, updated, self and
home page links), and type="html" on text constructs that look like markup.

feedgen builds Atom elements without a namespace and puts xmlns="…Atom" on the root, so the
elements added here are un-namespaced as well; only Media RSS has a prefix.
"""

from __future__ import annotations

from typing import ClassVar

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.feeds import channel
from feedsvc.feeds.base import (
    HTML_TYPE,
    MEDIA_NS,
    XML_LANG,
    EntryCache,
    FeedWriter,
    PlainText,
    PreparedFeed,
    PreparedItem,
    assemble_xml,
    canonical_id,
    escape_html,
    finish,
    looks_like_markup,
    media_elements,
    prepare,
    rfc3339,
)
from feedsvc.feeds.model import Feed

_EXTENSION = "feedsvc"
_ATOM_SELF_TYPE = "application/atom+xml"


def _text_construct(element: etree._Element, text: str) -> None:
    """Fill an Atom text construct, as escaped HTML when plain text would be misread as markup."""
    if looks_like_markup(text):
        element.text = escape_html(text)
        element.set("type", "html")
    else:
        element.text = text


def _text_type(text: str) -> tuple[str, str | None]:
    """Value and type for feedgen's text constructs (see :func:`_text_construct`)."""
    if looks_like_markup(text):
        return escape_html(text), "html"
    return text, None


class _FeedExtension(BaseExtension):
    prepared: PreparedFeed

    def extend_ns(self) -> dict[str, str]:
        return {"media": MEDIA_NS}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        # feedgen has no type for the feed's title and subtitle.
        if looks_like_markup(self.prepared.title):
            _text_construct(feed.find("title"), self.prepared.title)
        if looks_like_markup(self.prepared.description):
            _text_construct(feed.find("subtitle"), self.prepared.description)
        return feed


class _EntryExtension(BaseEntryExtension):
    item: PreparedItem
    plain: PlainText

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        item = self.item
        if item.mark_language:
            entry.set(XML_LANG, item.language)
        if looks_like_markup(item.title):
            # feedgen has no type for titles.
            _text_construct(entry.find("title"), item.title)
        main_link = next(entry.iterchildren("link"))
        # feedgen 1.0 writes entry links with their href only (it reads the other attributes
        # back from the new element), so the main alternate is completed here.
        main_link.set("rel", "alternate")
        main_link.set("type", HTML_TYPE)
        if item.language:
            main_link.set("hreflang", item.language)
        for alternate in item.alternates:
            link = etree.SubElement(entry, "link", rel="alternate", type=HTML_TYPE)
            link.set("hreflang", alternate.language)
            if alternate.title:
                link.set("title", self.plain(alternate.title))
            link.set("href", alternate.url)
        if item.alternates:
            # Most readers take the first alternate, feedparser the last: the post's own link
            # closes the list again, without hreflang so that no (type, hreflang) pair repeats.
            etree.SubElement(entry, "link", rel="alternate", type=HTML_TYPE, href=item.url)
        for enclosure in item.enclosures:
            link = etree.SubElement(entry, "link", rel="enclosure", type=enclosure.mime_type)
            if enclosure.length > 0:
                # Optional in Atom, so an unknown size is left out rather than written as 0.
                link.set("length", str(enclosure.length))
            link.set("href", enclosure.url)
        media_elements(entry, item, self.plain)
        if item.rights and looks_like_markup(item.rights):
            _text_construct(entry.find("rights"), item.rights)
        if item.source is not None:
            # A source needs id, title and updated; the partner's own feed data is not kept,
            # so its URL serves as id and the item's update time as the last known update.
            source = etree.SubElement(entry, "source")
            etree.SubElement(source, "id").text = canonical_id(item.source.url)
            _text_construct(etree.SubElement(source, "title"), item.source.name)
            etree.SubElement(source, "updated").text = rfc3339(item.updated)
            etree.SubElement(source, "link", rel="self", href=item.source.url)
            if item.source.home_url:
                etree.SubElement(source, "link", rel="alternate", type=HTML_TYPE, href=item.source.home_url)
        return entry


class AtomWriter(FeedWriter):
    name = "atom"
    suffix = "atom"
    content_type: ClassVar[str] = "application/atom+xml; charset=utf-8"

    def render(self, feed: Feed, entries: EntryCache | None = None) -> bytes:
        prepared = prepare(feed)
        return assemble_xml(
            lambda items: self._build(prepared, items),
            prepared,
            entries,
            self.suffix,
            entry_start=b"\n  <entry",
            entry_end=b"  </entry>\n",
            container_end=b"</feed>",
        )

    def _build(self, prepared: PreparedFeed, items: tuple[PreparedItem, ...]) -> bytes:
        """The feed and ``items``, through feedgen's public API."""
        plain = PlainText()

        fg = FeedGenerator()
        fg.register_extension(_EXTENSION, _FeedExtension, _EntryExtension, atom=True, rss=False)
        feed_extension: _FeedExtension = getattr(fg, _EXTENSION)
        feed_extension.prepared = prepared
        fg.id(prepared.feed_id)
        fg.title(prepared.title)
        fg.subtitle(prepared.description)
        fg.updated(prepared.updated)  # feedgen's default would be "now"
        # Not every entry has an author, so the feed names one for all of them.
        fg.author(name=plain(prepared.title))
        alternate = {"href": prepared.home_url, "rel": "alternate", "type": HTML_TYPE}
        if prepared.language:
            alternate["hreflang"] = prepared.language
            fg.language(prepared.language)  # xml:lang on <feed>
        fg.link(alternate)
        fg.link(href=prepared.self_url, rel="self", type=_ATOM_SELF_TYPE)
        for hub in prepared.hubs:
            fg.link(href=hub, rel="hub")
        fg.generator(prepared.generator)
        if prepared.icon_url:
            fg.icon(prepared.icon_url)
        if prepared.logo_url:
            fg.logo(prepared.logo_url)
        channel.register(fg, prepared, atom=True)

        for item in items:
            # feedgen prepends by default; the caller's order (newest first) is the feed's order.
            entry = fg.add_entry(order="append")
            entry.id(item.guid)
            entry.title(item.title)
            entry.updated(item.updated)
            entry.published(item.published)
            if item.author:
                entry.author(name=plain(item.author))
            if item.content_html:
                entry.content(item.content_html, type="html")
            entry.link(href=item.url, rel="alternate")
            entry.summary(*_text_type(item.summary))
            if item.rights:
                entry.rights(item.rights)
            if item.categories:
                entry.category(
                    [{"term": c.term, "scheme": c.scheme, "label": plain(c.label)} for c in item.categories]
                )
            extension: _EntryExtension = getattr(entry, _EXTENSION)
            extension.item = item
            extension.plain = plain

        return finish(fg.atom_str(pretty=True), plain.char_refs)
