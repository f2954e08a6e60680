"""What search engines and aggregators read: sitemaps (sitemaps.org), the Google News sitemap, and the
posts of the Yandex feed. Queries are indexed and bounded; documents are written with lxml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree
from sqlalchemy import Connection, func, select

from feedsvc.feedquery import ITEM_COLUMNS, decorate
from feedsvc.feeds.base import as_uri, clean_line, serialize
from feedsvc.feeds.model import Item
from feedsvc.models import Post, Source
from feedsvc.sanitize import html_to_text
from feedsvc.scopes import NEWS_WINDOW
from feedsvc.site import Site

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
SITEMAP_TYPE = "application/xml; charset=utf-8"
SITEMAP_PAGE = 10_000  # URLs per sitemap file (the protocol allows 50,000)
NEWS_LIMIT = 1_000  # Google News reads at most 1,000 URLs per news sitemap

_P = Post.__table__.c
_S = Source.__table__.c
# Our own pages only: a sitemap may only list URLs of its own site, so posts that link elsewhere are out.
_OWN_SHOWN = (_P.visible.is_(True), _P.url.is_(None))


def w3c(moment: datetime) -> str:
    """W3C datetime (a profile of ISO 8601) in UTC, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


# -- sitemaps.org --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SitemapPage:
    number: int  # 1-based; page n holds the posts with ids (n-1)*SITEMAP_PAGE+1 … n*SITEMAP_PAGE
    lastmod: datetime


def sitemap_pages(conn: Connection, now: datetime) -> list[SitemapPage | None]:
    """Pages keyed by id range, so a post stays on its page for good; empty ranges are left out.
    Page 1 is always there: it also lists the home pages (a sitemap index needs one sitemap)."""
    block = ((_P.id - 1) // SITEMAP_PAGE).label("block")  # integer division in SQL
    rows = conn.execute(
        select(block, func.max(_P.updated_at).label("lastmod"))
        .where(*_OWN_SHOWN, _P.published_at <= now)
        .group_by(block)
        .order_by(block)
    )
    pages = [SitemapPage(int(r.block) + 1, _aware(r.lastmod)) for r in rows]
    return pages if pages and pages[0].number == 1 else [None, *pages]


def sitemap_index(site: Site, pages: list[SitemapPage | None]) -> bytes:
    root = etree.Element(f"{{{SITEMAP_NS}}}sitemapindex", nsmap={None: SITEMAP_NS})
    for page in pages:
        entry = etree.SubElement(root, f"{{{SITEMAP_NS}}}sitemap")
        number = page.number if page is not None else 1
        etree.SubElement(entry, f"{{{SITEMAP_NS}}}loc").text = site.url(f"/sitemaps/posts-{number}.xml")
        if page is not None:  # page 1 with home pages only has no change time to state
            etree.SubElement(entry, f"{{{SITEMAP_NS}}}lastmod").text = w3c(page.lastmod)
    return serialize(root)


def _home_pages(root: etree._Element, site: Site, languages: tuple[str, ...]) -> None:
    for path in ["/", *(f"/{lang}/" for lang in languages)]:
        url = etree.SubElement(root, f"{{{SITEMAP_NS}}}url")
        etree.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = as_uri(site.url(path))


def sitemap_page(conn: Connection, site: Site, number: int, now: datetime) -> bytes | None:
    """The URLs of page ``number``, or None when that id range holds no post."""
    low = (number - 1) * SITEMAP_PAGE
    rows = list(
        conn.execute(
            select(_P.language, _P.slug, _P.updated_at)
            .where(*_OWN_SHOWN, _P.published_at <= now, _P.id > low, _P.id <= low + SITEMAP_PAGE)
            .order_by(_P.id)
        )
    )
    if not rows and number != 1:
        return None
    root = etree.Element(f"{{{SITEMAP_NS}}}urlset", nsmap={None: SITEMAP_NS})
    if number == 1:
        _home_pages(root, site, site.languages)
    for r in rows:
        url = etree.SubElement(root, f"{{{SITEMAP_NS}}}url")
        etree.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = as_uri(site.post_url(r.language, r.slug))
        etree.SubElement(url, f"{{{SITEMAP_NS}}}lastmod").text = w3c(_aware(r.updated_at))
    return serialize(root)


# -- Google News -----------------------------------------------------------------------------------


def news_sitemap(
    conn: Connection, site: Site, language: str | None, now: datetime, publication: str
) -> bytes:
    """Posts of the last 48 hours that go to aggregators, newest first, at most 1,000."""
    stmt = select(_P.language, _P.slug, _P.title, _P.published_at).where(
        *_OWN_SHOWN,
        _P.aggregate.is_(True),
        _P.published_at <= now,
        _P.published_at > now - NEWS_WINDOW,
    )
    if language is not None:
        stmt = stmt.where(_P.language == language)
    rows = list(conn.execute(stmt.order_by(_P.published_at.desc(), _P.id.desc()).limit(NEWS_LIMIT)))
    root = etree.Element(f"{{{SITEMAP_NS}}}urlset", nsmap={None: SITEMAP_NS, "news": NEWS_NS})
    if not rows:
        # The schema wants at least one URL: the home page, without news data, when no news is fresh.
        url = etree.SubElement(root, f"{{{SITEMAP_NS}}}url")
        etree.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = site.url(f"/{language}/" if language else "/")
    name = clean_line(publication) or site.name
    for r in rows:
        url = etree.SubElement(root, f"{{{SITEMAP_NS}}}url")
        etree.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = as_uri(site.post_url(r.language, r.slug))
        news = etree.SubElement(url, f"{{{NEWS_NS}}}news")
        pub = etree.SubElement(news, f"{{{NEWS_NS}}}publication")
        etree.SubElement(pub, f"{{{NEWS_NS}}}name").text = name
        etree.SubElement(pub, f"{{{NEWS_NS}}}language").text = r.language
        etree.SubElement(news, f"{{{NEWS_NS}}}publication_date").text = w3c(_aware(r.published_at))
        etree.SubElement(news, f"{{{NEWS_NS}}}title").text = clean_line(r.title) or r.slug
    return serialize(root)


def robots(site: Site) -> bytes:
    return (
        "User-agent: *\n"
        "Allow: /\n"
        f"Sitemap: {site.url('/sitemap.xml')}\n"
        f"Sitemap: {site.url('/news-sitemap.xml')}\n"
    ).encode()


# -- Yandex ------------------------------------------------------------------------------------------


def yandex_items(
    conn: Connection, site: Site, language: str, now: datetime, max_age: timedelta, limit: int
) -> list[tuple[Item, str]]:
    """(item, genre) of the language's aggregated posts inside the age window, newest first."""
    rows = list(
        conn.execute(
            select(*ITEM_COLUMNS)
            .outerjoin(Source.__table__, _S.id == _P.source_id)
            .where(
                _P.visible.is_(True),
                _P.aggregate.is_(True),
                _P.language == language,
                _P.published_at <= now,
                _P.published_at > now - max_age,
            )
            .order_by(_P.published_at.desc(), _P.id.desc())
            .limit(limit)
        )
    )
    genres = {r.id: r.genre for r in rows}
    ids = [r.id for r in rows]
    return [(item, genres[pid]) for item, pid in zip(decorate(conn, site, rows), ids, strict=True)]


# A leading dateline: a place in capitals, a day and a month (either order), then a dash.
_DATELINE = re.compile(
    r"^\s*[A-ZА-ЯЁЎҚҒҲ‘'ʻ\- ]{3,40},\s*"
    r"(?:\d{1,2}[-\s]?[^\W\d_]+\.?|[^\W\d_]+\.?\s+\d{1,2})"
    r"(?:\s+\d{4})?\s*[—–-]\s*"
)
# Trailing credits: photo, video or source lines.
_CREDIT = re.compile(
    r"^\s*(?:Фото|Видео|Источник|Photo|Photos|Video|Source|Foto|Video|Manba)\s*:", re.IGNORECASE
)
_BLOCK_SPLIT = re.compile(r"(?i)<br\s*/?>|</(?:p|div|h[1-6]|li|blockquote|figure|figcaption|pre|tr)>")


def full_text(content_html: str) -> str:
    """The article as plain text for yandex:full-text: paragraphs kept, without the dateline and the
    credit lines at its end."""
    paragraphs = [text for chunk in _BLOCK_SPLIT.split(content_html) if (text := html_to_text(chunk))]
    while paragraphs and _CREDIT.match(paragraphs[-1]):
        paragraphs.pop()
    if paragraphs:
        paragraphs[0] = _DATELINE.sub("", paragraphs[0], count=1)
        if paragraphs[0]:
            paragraphs[0] = paragraphs[0][0].upper() + paragraphs[0][1:]
        else:
            paragraphs.pop(0)
    return "\n\n".join(paragraphs)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
