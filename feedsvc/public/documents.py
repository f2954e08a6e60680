"""Documents served like feeds besides the feeds themselves: sitemaps, the Google News sitemap, robots.txt,
the Yandex feed and feed archives (RFC 5005).

Each kind is one entry of the registry ``FeedServer`` consults: a path pattern, the version scope the
document follows (a ``feed_states`` row, so validators, 304, HEAD, gzip, caching and stale copies work
exactly as for feeds), a renderer and a content type.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import select

from feedsvc import reach
from feedsvc.feedquery import archive_items, count_shown
from feedsvc.feeds import FORMATS, Feed, FeedLink
from feedsvc.feeds.yandex import YandexItem, YandexWriter
from feedsvc.models import FeedState
from feedsvc.public.request import FeedRequest, Problem
from feedsvc.scopes import Scope, archive_scope, reach_scope

if TYPE_CHECKING:
    from feedsvc.feedstate import State
    from feedsvc.public.serving import FeedServer

ARCHIVE_PAGE = 100  # posts per archive page
IMMUTABLE = "public, max-age=31536000, immutable"
_MAX_PAGE = 10_000_000


@dataclass(frozen=True, slots=True)
class Found:
    """What a document path names: its scope, version scope and the part (page) of the document."""

    scope: Scope
    key: str
    part: str = ""


class Document(ABC):
    kind: ClassVar[str]  # also the request's "format" (ETag and cache-key part)
    content_type: ClassVar[str]

    @abstractmethod
    def match(self, server: FeedServer, path: str) -> Found | Problem | None: ...

    @abstractmethod
    def render(self, server: FeedServer, conn: Any, req: FeedRequest, state: State) -> bytes | Problem: ...

    def cache_control(self, req: FeedRequest) -> str | None:
        """A Cache-Control other than the feeds' one, or None."""
        return None


def _problem(status: int, message: str) -> Problem:
    return Problem(status, "not_found" if status == 404 else "bad_request", message)


def _language(server: FeedServer, language: str | None) -> Problem | None:
    if language is not None and language not in server.languages:
        return _problem(404, f"unknown language {language[:40]!r}")
    return None


class Robots(Document):
    kind = "robots"
    content_type = "text/plain; charset=utf-8"

    def match(self, server: FeedServer, path: str) -> Found | Problem | None:
        return Found(Scope(), "robots") if path == "/robots.txt" else None

    def render(self, server: FeedServer, conn: Any, req: FeedRequest, state: State) -> bytes | Problem:
        return reach.robots(server.site)


class SitemapIndex(Document):
    """/sitemap.xml: every page of the post sitemap with its last change. It follows the whole-site
    feed's version: it changes exactly when a shown post does."""

    kind = "sitemapindex"
    content_type = reach.SITEMAP_TYPE

    def match(self, server: FeedServer, path: str) -> Found | Problem | None:
        return Found(Scope(), "*") if path == "/sitemap.xml" else None

    def render(self, server: FeedServer, conn: Any, req: FeedRequest, state: State) -> bytes | Problem:
        return reach.sitemap_index(server.site, reach.sitemap_pages(conn, server.clock()))


class SitemapPage(Document):
    kind = "sitemap"
    content_type = reach.SITEMAP_TYPE
    _path = re.compile(r"/sitemaps/posts-([1-9][0-9]{0,8})\.xml")

    def match(self, server: FeedServer, path: str) -> Found | Problem | None:
        m = self._path.fullmatch(path)
        if m is None:
            return _problem(404, "no such sitemap") if path.startswith("/sitemaps/") else None
        return Found(Scope(), "*", m.group(1))

    def render(self, server: FeedServer, conn: Any, req: FeedRequest, state: State) -> bytes | Problem:
        body = reach.sitemap_page(conn, server.site, int(req.part), server.clock())
        return body if body is not None else _problem(404, f"sitemap page {req.part} is empty")


class NewsSitemap(Document):
    """The Google News sitemap of all or one language: its reach scope also moves with time."""

    kind = "news-sitemap"
    content_type = reach.SITEMAP_TYPE
    _path = re.compile(r"/(?:([^/]+)/)?news-sitemap\.xml")

    def match(self, server: FeedServer, path: str) -> Found | Problem | None:
        m = self._path.fullmatch(path)
        if m is None:
            return None
        language = m.group(1)
        return _language(server, language) or Found(Scope(language), reach_scope(language))

    def render(self, server: FeedServer, conn: Any, req: FeedRequest, state: State) -> bytes | Problem:
        return reach.news_sitemap(
            conn, server.site, req.scope.language, server.clock(), server.config["NEWS_PUBLICATION_NAME"]
        )


class Yandex(Document):
    kind = "yandex"
    content_type = YandexWriter.content_type
    _path = re.compile(r"/([^/]+)/yandex\.rss")
    writer = YandexWriter()

    def match(self, server: FeedServer, path: str) -> Found | Problem | None:
        m = self._path.fullmatch(path)
        if m is None:
            return None
        language = m.group(1)
        return _language(server, language) or Found(Scope(language), reach_scope(language))

    def render(self, server: FeedServer, conn: Any, req: FeedRequest, state: State) -> bytes | Problem:
        site, language = server.site, req.scope.language
        assert language is not None
        found = reach.yandex_items(
            conn,
            site,
            language,
            server.clock(),
            timedelta(hours=server.config["YANDEX_MAX_AGE_HOURS"]),
            server.config["YANDEX_MAX_ITEMS"],
        )
        feed = Feed(
            title=site.title(language),
            description=site.description(language),
            home_url=site.url(req.scope.path),
            self_url=site.url(f"/{language}/yandex.rss"),
            language=language,
            updated=state.modified_at,
            feed_id=site.url(f"/{language}/yandex.rss"),
            items=[item for item, _ in found],
            **server.branding,
        )
        extras = [YandexItem(genre, reach.full_text(item.content_html)) for item, genre in found]
        return self.writer.render(feed, extras)


class Archive(Document):
    """Archive pages of a feed (RFC 5005), ``?archive=<n>`` on any feed URL.

    Posts are counted from the oldest in the scope's order (published_at, id): page n holds ranks
    (n-1)*100+1 … n*100. Adding posts never moves an old post's rank, so a page, once closed (full and
    older than any current feed can reach: more than FEED_MAX_LIMIT newer posts exist), never changes
    unless one of its posts does; its version is the scope's "#archive" scope, which the write path
    bumps for every change but additions at the newest end. The posts between the newest closed page
    and a current feed's oldest item are one open page, ``?archive=<n>-<rank>``: it ends at the rank
    just before that feed's window, so it never repeats what the feed showed, however many posts
    arrive meanwhile.
    """

    kind = "archive"
    content_type = ""  # the feed format's

    @staticmethod
    def parse_part(raw: str) -> tuple[int, int | None] | None:
        number, sep, upto = raw.partition("-")
        if not number.isascii() or not number.isdigit() or not 1 <= int(number) <= _MAX_PAGE:
            return None
        if not sep:
            return int(number), None
        if not upto.isascii() or not upto.isdigit() or len(upto) > 12:
            return None
        return int(number), int(upto)

    def match(self, server: FeedServer, path: str) -> Found | Problem | None:
        return None  # archive requests are feed paths with ?archive=; FeedServer.parse finds them

    def found(self, scope: Scope) -> Found:
        return Found(scope, archive_scope(scope.key))

    def cache_control(self, req: FeedRequest) -> str | None:
        return IMMUTABLE if "-" not in req.part else None

    def render(self, server: FeedServer, conn: Any, req: FeedRequest, state: State) -> bytes | Problem:
        parsed = self.parse_part(req.part)
        assert parsed is not None
        number, upto = parsed
        context = server.feed_context(conn, req.scope)
        if not isinstance(context, tuple):
            return context
        category_id, category_name = context
        now = server.clock()
        total = count_shown(conn, req.scope, category_id, now)
        closed = closed_pages(total, server.max_limit)
        start = (number - 1) * ARCHIVE_PAGE
        if upto is None:
            if number > closed:
                return _problem(404, f"archive page {number} is not closed yet; the feed links its newest")
            size = ARCHIVE_PAGE
        else:
            size = upto - start
            if not 0 < size <= ARCHIVE_PAGE + server.max_limit:
                return _problem(404, "no such archive page")
        items = archive_items(conn, server.site, req.scope, category_id, now, offset=start, limit=size)
        current = server.site.url(f"{req.scope.path}feed.{req.fmt}")
        links = [FeedLink("current", current)]
        if number > 1:
            links.append(FeedLink("prev-archive", archive_url(current, number - 1)))
        if upto is None and number + 1 <= closed:
            links.append(FeedLink("next-archive", archive_url(current, number + 1)))
        feed = server.build(
            conn, req, state, category_id, category_name, items=items, links=tuple(links), archive=True
        )
        return FORMATS[req.fmt].render(feed)


def closed_pages(total: int, max_limit: int) -> int:
    return max(0, total - max_limit) // ARCHIVE_PAGE


def archive_url(current: str, number: int, upto: int | None = None) -> str:
    return f"{current}?archive={number}" + (f"-{upto}" if upto is not None else "")


def current_links(
    conn: Any, server: FeedServer, scope: Scope, category_id: int | None, fmt: str, shown: int
) -> tuple[FeedLink, ...]:
    """The current feed's link to its newest archive page (none while it shows every post)."""
    # Counted when the version was bumped (see feedstate.count_shown); older rows count here.
    total = conn.execute(select(FeedState.shown).where(FeedState.scope == scope.key)).scalar()
    if total is None:
        total = count_shown(conn, scope, category_id, server.clock())
    older = total - shown  # posts older than the feed's window
    if older <= 0:
        return ()
    current = server.site.url(f"{scope.path}feed.{fmt}")
    closed = closed_pages(total, server.max_limit)
    if older > closed * ARCHIVE_PAGE:
        return (FeedLink("prev-archive", archive_url(current, closed + 1, older)),)
    return (FeedLink("prev-archive", archive_url(current, closed)),)


ARCHIVE = Archive()
REGISTRY: tuple[Document, ...] = (Robots(), SitemapIndex(), SitemapPage(), NewsSitemap(), Yandex())
