"""Partner lists as OPML: the way operators move subscriptions between tools."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from feedsvc.errors import InvalidInput
from feedsvc.feeds.opml import OpmlOutline, render_opml
from feedsvc.ingest import ParseError
from feedsvc.ingest.stages import guard as xmlguard
from feedsvc.models import Source, utcnow

MAX_OUTLINES = 5000


@dataclass(frozen=True)
class ImportedFeed:
    url: str
    name: str | None
    language: str | None
    category: str | None  # our slug, from category="/events"


def read_opml(body: bytes) -> list[ImportedFeed]:
    """Every feed outline (any depth) of an OPML document; entity tricks and non-OPML refused."""
    try:
        text = (
            body.decode("utf-8-sig")
            if body[:3] == b"\xef\xbb\xbf" or body.isascii()
            else body.decode("utf-8")
        )
    except UnicodeDecodeError:
        text = body.decode("utf-8", "replace")
    try:
        xmlguard.check(text)
    except ParseError as exc:
        raise InvalidInput(f"refused: {exc}", field="opml") from exc
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"not well-formed XML: {exc}", field="opml") from exc
    if root.tag != "opml" or root.find("body") is None:
        raise InvalidInput("not an OPML document (no <opml><body>)", field="opml")
    feeds = []
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if not url:
            continue
        category = (outline.get("category") or "").split(",")[0].strip().strip("/") or None
        feeds.append(
            ImportedFeed(
                url.strip(),
                outline.get("title") or outline.get("text"),
                outline.get("language"),
                category.split("/")[-1] if category else None,
            )
        )
        if len(feeds) > MAX_OUTLINES:
            raise InvalidInput(f"more than {MAX_OUTLINES} feeds in one file", field="opml")
    if not feeds:
        raise InvalidInput("the OPML lists no feeds (outlines with xmlUrl)", field="opml")
    return feeds


def write_opml(title: str, sources: list[Source], category_slugs: dict[int, str]) -> bytes:
    outlines = [
        OpmlOutline(
            text=s.name,
            title=s.name,
            xml_url=s.url,
            language=s.language,
            category=f"/{category_slugs[s.category_id]}" if s.category_id in category_slugs else None,
        )
        for s in sources
    ] or [OpmlOutline(text="No partner sources yet")]
    return render_opml(title, utcnow(), outlines)
