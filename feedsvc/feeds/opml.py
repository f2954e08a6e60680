"""OPML 2.0 subscription lists (http://opml.org/spec2.opml): the catalogue of the site's feeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from feedsvc.feeds.base import as_uri, clean_line, rfc822, serialize

OPML_CONTENT_TYPE = "text/x-opml; charset=utf-8"


@dataclass(frozen=True, slots=True)
class OpmlOutline:
    """A feed (``xml_url`` set) or a heading grouping ``children``.

    ``category`` is an OPML category path such as "/events"; leave it None for a feed of a
    whole language.
    """

    text: str
    title: str | None = None  # defaults to text
    xml_url: str | None = None
    html_url: str | None = None
    language: str | None = None
    category: str | None = None
    children: tuple[OpmlOutline, ...] = ()


def _outline(parent: etree._Element, outline: OpmlOutline) -> None:
    text = clean_line(outline.text) or clean_line(outline.title or "") or (outline.xml_url or "")
    element = etree.SubElement(parent, "outline")
    if outline.xml_url:
        element.set("type", "rss")  # OPML's type for any feed subscription, Atom included
        element.set("text", text)
        element.set("title", clean_line(outline.title or "") or text)
        element.set("xmlUrl", as_uri(outline.xml_url))
        if outline.html_url:
            element.set("htmlUrl", as_uri(outline.html_url))
        if outline.language:
            element.set("language", outline.language)
        if outline.category:
            element.set("category", outline.category)
    else:
        # Headings carry text only: any other attribute would call for a type.
        element.set("text", text)
    for child in outline.children:
        _outline(element, child)


def render_opml(
    title: str,
    date: datetime,
    outlines: Sequence[OpmlOutline],
    owner_name: str | None = None,
    docs_url: str | None = None,
) -> bytes:
    """An OPML 2.0 document listing ``outlines``; ``date`` becomes dateCreated.

    ``docs_url`` writes OPML 2.0's optional <docs>, which the W3C validator does not know and
    reports as an undefined element, so leave it None for a validator-clean document.
    """
    if not outlines:
        raise ValueError("an OPML body needs at least one outline")
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = clean_line(title)
    etree.SubElement(head, "dateCreated").text = rfc822(date)
    if owner_name:
        etree.SubElement(head, "ownerName").text = clean_line(owner_name)
    if docs_url:
        etree.SubElement(head, "docs").text = as_uri(docs_url)
    body = etree.SubElement(root, "body")
    for outline in outlines:
        _outline(body, outline)
    return serialize(root)
