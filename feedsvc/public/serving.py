"""Answering a feed request: the one place that does it, for the WSGI fast path and the Flask views.

A request is parsed once (document, format, limit, encoding, validators), the feed's version is read,
304 or 200 is decided with werkzeug's conditional-request helpers, the body is found in the cache or
rendered, and the headers are built in a real ``Headers`` object. While the database cannot be
reached or does not answer in time, a feed rendered before is served from its last rendered copy
with its own validators (stale-if-error), marked with ``Age`` and ``X-Feedsvc-Stale``.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import Headers
from werkzeug.http import http_date, is_resource_modified, parse_accept_header, quote_etag

from feedsvc import feedstate, metrics, write
from feedsvc.cache import FeedCache
from feedsvc.db import Database, Unreachable
from feedsvc.feedquery import build_feed
from feedsvc.feeds import FORMATS, OPML_CONTENT_TYPE, Feed, FeedLink, Item, OpmlOutline, render_opml
from feedsvc.feeds.base import EntryCache
from feedsvc.models import Category, utcnow
from feedsvc.public import documents
from feedsvc.public.request import FeedRequest, Problem
from feedsvc.scopes import MAX_CATEGORY_SLUG, Scope, valid_segment
from feedsvc.site import Site
from feedsvc.websub.settings import HUB_PATH, surrogate_key

log = logging.getLogger(__name__)

_CATEGORY = select(Category.id, Category.names).where(Category.slug == bindparam("slug"))
_CATEGORIES = select(Category.slug, Category.names).order_by(Category.slug)
OPML_PATH = "/feeds.opml"
STALE_HEADER = "X-Feedsvc-Stale"


def _path_pattern() -> re.Pattern[str]:
    """Feed paths, from the format registry: /feed.rss, /ru/feed.atom, /ru/events/feed.json."""
    suffixes = "|".join(re.escape(s) for s in FORMATS)
    return re.compile(rf"/(?:([^/]+)/(?:([^/]+)/)?)?feed\.({suffixes})")


FEED_PATH = _path_pattern()
_FEED_LIKE = re.compile(r"/(?:[^/]+/(?:[^/]+/)?)?feed\.[^/]*")


@dataclass(slots=True)
class Answer:
    status: int
    headers: Headers
    body: bytes
    cache: str | None = None  # hit, miss or stale: where a feed body came from (for the access log)

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTPStatus(self.status).phrase}"


@dataclass(frozen=True, slots=True)
class _Copy:
    """A rendered body with the version it was rendered for."""

    state: feedstate.State
    body: bytes


class FeedServer:
    """Owns every answer to a feed request; holds its dependencies, needs no app context."""

    def __init__(self, config: Mapping[str, Any], site: Site, database: Database, cache: FeedCache) -> None:
        self.site = site
        self.db = database
        self.cache = cache
        self.default_limit: int = config["FEED_DEFAULT_LIMIT"]
        self.max_limit: int = config["FEED_MAX_LIMIT"]
        self.max_age: int = config["FEED_MAX_AGE"]
        # Caches in front may serve a copy this much past max-age while they revalidate, or on errors.
        self.cache_control = (
            f"public, max-age={self.max_age}, "
            f"stale-while-revalidate={config['FEED_STALE_WHILE_REVALIDATE']}, "
            f"stale-if-error={config['FEED_STALE_IF_ERROR']}"
        )
        self.hubs: tuple[str, ...] = ((site.url(HUB_PATH),) if config["WEBSUB_HUB"] else ()) + tuple(
            config["WEBSUB_HUBS"]
        )
        self._hub_links = "".join(f'<{hub}>; rel="hub", ' for hub in self.hubs)
        self.render_wait: float = config["RENDER_LOCK_WAIT"]
        self.languages = frozenset(site.languages)
        # Entries rendered before, so a render after a write builds only what changed; none when
        # caching is off, so that every render then starts from scratch.
        self.entries: EntryCache | None = EntryCache() if cache.enabled else None
        self.config = config
        self.documents: tuple[documents.Document, ...] = documents.REGISTRY
        # What "now" is for scheduled posts and time windows; tests move it.
        self.clock: Callable[[], datetime] = utcnow
        self.branding: dict[str, Any] = {
            "icon_url": config.get("FEED_ICON_URL") or None,
            "logo_url": config.get("FEED_LOGO_URL") or None,
            "favicon_url": config.get("FAVICON_URL") or None,
            "image_size": config.get("FEED_IMAGE_SIZE") or None,
        }
        # Last good copy of each representation, for stale-if-error (bounded).
        self._last: OrderedDict[str, _Copy] = OrderedDict()
        self._last_max = 512
        self._render_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- parsing ----------------------------------------------------------------------------------

    def match(self, path: str) -> tuple[Scope, str] | Problem | None:
        """(scope, format) for a feed path, a Problem for a feed path that names nothing, or None."""
        if path == OPML_PATH:
            return Scope(), "opml"
        m = FEED_PATH.fullmatch(path)
        if m is None:
            if _FEED_LIKE.fullmatch(path):
                return Problem(
                    404, "not_found", f"no such feed; use {', '.join(f'feed.{s}' for s in FORMATS)}"
                )
            return None
        language, category, fmt = m.groups()
        if language is not None and language not in self.languages:
            return Problem(404, "not_found", f"unknown language {language[:40]!r}")
        if category is not None and not valid_segment(category, MAX_CATEGORY_SLUG):
            return Problem(404, "not_found", f"unknown category {category[:40]!r}")
        return Scope(language, category), fmt

    def parse(self, environ: Mapping[str, Any]) -> FeedRequest | Problem | None:
        document = self._parse_document(environ)
        if document is not None:
            return document
        found = self.match(environ.get("PATH_INFO", ""))
        if found is None or isinstance(found, Problem):
            return found
        scope, fmt = found
        limit = self.default_limit
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        if "archive" in query and fmt != "opml":
            return self._parse_archive(environ, scope, fmt, query["archive"])
        raw = query.get("limit")
        if raw is not None and fmt != "opml":
            if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_limit:
                return Problem(
                    400, "bad_request", f"must be a whole number from 1 to {self.max_limit}", "limit"
                )
            limit = int(raw)
        accept = environ.get("HTTP_ACCEPT_ENCODING") or ""
        zipped = "gzip" in accept and parse_accept_header(accept)["gzip"] > 0
        head = environ.get("REQUEST_METHOD") == "HEAD"
        return FeedRequest(scope, fmt, limit if fmt != "opml" else 0, zipped, head, environ)

    # -- registered documents (sitemaps, Yandex, archives) ----------------------------------------

    def _parse_document(self, environ: Mapping[str, Any]) -> FeedRequest | Problem | None:
        path = environ.get("PATH_INFO", "")
        for doc in self.documents:
            found = doc.match(self, path)
            if found is None:
                continue
            if isinstance(found, Problem):
                return found
            return self._document_request(environ, doc, found, doc.kind)
        return None

    def _parse_archive(
        self, environ: Mapping[str, Any], scope: Scope, fmt: str, raw: str
    ) -> FeedRequest | Problem:
        if documents.Archive.parse_part(raw) is None:
            return Problem(400, "bad_request", "an archive page number (as the feeds link it)", "archive")
        found = documents.ARCHIVE.found(scope)
        return self._document_request(environ, documents.ARCHIVE, replace(found, part=raw), fmt)

    @staticmethod
    def _document_request(
        environ: Mapping[str, Any], doc: documents.Document, found: documents.Found, fmt: str
    ) -> FeedRequest:
        accept = environ.get("HTTP_ACCEPT_ENCODING") or ""
        zipped = "gzip" in accept and parse_accept_header(accept)["gzip"] > 0
        head = environ.get("REQUEST_METHOD") == "HEAD"
        return FeedRequest(found.scope, fmt, 0, zipped, head, environ, doc, found.key, found.part)

    def _document_headers(self, req: FeedRequest, headers: Headers) -> Headers:
        if req.doc is not None and (control := req.doc.cache_control(req)) is not None:
            headers["Cache-Control"] = control
        return headers

    def _come_due(self, req: FeedRequest, state: feedstate.State) -> feedstate.State:
        """Time made the scope's content change (a scheduled post is due): bump every due scope through
        the write path, once across all pollers, then serve the new version."""
        now = self.clock()
        if state.next_due_at is None or state.next_due_at > now:
            return state
        self.db.write(lambda session: write.come_due(session, now))
        return self.db.state(req.state_key) or state

    # -- answering --------------------------------------------------------------------------------

    def answer_environ(self, environ: Mapping[str, Any]) -> Answer | None:
        """The answer for a WSGI request, or None when it is not a feed request."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return None
        parsed = self.parse(environ)
        if parsed is None:
            return None
        if isinstance(parsed, Problem):
            return self.error(parsed)
        return self.answer(parsed)

    def answer(self, req: FeedRequest) -> Answer:
        try:
            state = self.db.state(req.state_key)
            if state is None:
                state = self._first_version(req)
                if isinstance(state, Problem):
                    return self.error(state)
            state = self._come_due(req, state)
            return self._fresh(req, state)
        except Unreachable:
            return self._stale(req)
        except _RenderProblem as gone:  # the category was deleted between the version and the render
            return self.error(gone.problem)

    def _fresh(self, req: FeedRequest, state: feedstate.State) -> Answer:
        headers = self._document_headers(req, self._validators(req, state))
        key = self._cache_key(req, state)
        if not self._modified(req, headers, state):
            self._add_post_keys(req, headers, key)
            return Answer(304, headers, b"")
        body = self.cache.get(key)
        if body is None:
            metrics.CACHE_MISS.inc()
            body = self._render_once(req, state, key)
            outcome = "miss"
        else:
            metrics.CACHE_HIT.inc()
            outcome = "hit"
        self._remember(req, state, body)
        self._add_post_keys(req, headers, key)
        answer = self._ok(req, headers, body, key)
        answer.cache = outcome
        return answer

    def _stale(self, req: FeedRequest) -> Answer:
        copy = self._last_copy(req)
        if copy is None:
            return self.error(
                Problem(503, "unavailable", "the feed is not available right now; retry shortly"),
                retry_after=self.db.retry_after(),
            )
        headers = self._document_headers(req, self._validators(req, copy.state))
        age = max(0, int(time.time() - copy.state.modified_at.timestamp()))
        headers["Age"] = str(age)
        headers[STALE_HEADER] = "database-unavailable"
        metrics.CACHE_STALE.inc()
        if not self._modified(req, headers, copy.state):
            return Answer(304, headers, b"", "stale")
        answer = self._ok(req, headers, copy.body, None)
        answer.cache = "stale"
        return answer

    def _ok(self, req: FeedRequest, headers: Headers, body: bytes, key: str | None) -> Answer:
        if req.gzip:
            zipped = self.cache.get(key + ":gz") if key else None
            if zipped is None:
                zipped = gzip.compress(body, compresslevel=6, mtime=0)
                if key:
                    self.cache.set(key + ":gz", zipped)
            body = zipped
            headers["Content-Encoding"] = "gzip"
        headers["Content-Type"] = self._content_type(req.fmt, req.doc)
        headers["Content-Length"] = str(len(body))
        return Answer(200, headers, body)  # a HEAD's body is dropped by whoever sends the answer

    def _validators(self, req: FeedRequest, state: feedstate.State) -> Headers:
        """The headers every answer for this representation carries, 200 and 304 alike."""
        headers = Headers(
            [
                ("ETag", quote_etag(f"{state.token}.{req.fmt}.{req.limit}", weak=True)),
                ("Last-Modified", http_date(state.modified_at)),
                ("Cache-Control", self.cache_control),
                ("Vary", "Accept-Encoding"),
            ]
        )
        if req.fmt != "opml":
            headers["Link"] = f'{self._hub_links}<{self.self_url(req)}>; rel="self"'
            keys = surrogate_key(req.scope.key)
            headers["Surrogate-Key"] = keys
            headers["xkey"] = keys
        return headers

    def self_url(self, req: FeedRequest) -> str:
        """The one self URL of a feed document: its path, and ``?limit=`` unless the default."""
        query = f"?limit={req.limit}" if req.limit != self.default_limit else ""
        return self.site.url(f"{req.scope.path}feed.{req.fmt}{query}")

    def _add_post_keys(self, req: FeedRequest, headers: Headers, key: str) -> None:
        """Name the posts the document shows among its surrogate keys (kept beside the cached body),
        on 304 as on 200, since caches replace the stored headers with a 304's."""
        if req.fmt == "opml":
            return
        posts = self.cache.get(key + ":sk")
        if posts:
            keys = f"{headers['Surrogate-Key']} {posts.decode()}"
            headers["Surrogate-Key"] = keys
            headers["xkey"] = keys

    @staticmethod
    def _modified(req: FeedRequest, headers: Headers, state: feedstate.State) -> bool:
        return is_resource_modified(
            dict(req.environ),
            etag=headers["ETag"],
            last_modified=state.modified_at,  # type: ignore[arg-type]
        )

    def _content_type(self, fmt: str, doc: documents.Document | None = None) -> str:
        if doc is not None and doc.content_type:
            return doc.content_type
        return OPML_CONTENT_TYPE if fmt == "opml" else FORMATS[fmt].content_type

    def _cache_key(self, req: FeedRequest, state: feedstate.State) -> str:
        key = f"feed:{req.state_key}:{state.token}:{req.fmt}:{req.limit}"
        return f"{key}:{req.part}" if req.part else key

    # -- rendering --------------------------------------------------------------------------------

    def _first_version(self, req: FeedRequest) -> feedstate.State | Problem:
        """First poll of a scope that was never written: give it a version (or 404 if it is none)."""

        def create(session: Session) -> Problem | None:
            category = req.scope.category
            if category is not None and session.execute(_CATEGORY, {"slug": category}).first() is None:
                return Problem(404, "not_found", f"unknown category {category!r}")
            write.ensure_state(session, req.state_key)
            return None

        problem = self.db.write(create)
        if problem is not None:
            return problem
        state = self.db.state(req.state_key)
        if state is None:  # pragma: no cover - it was committed just now
            raise RuntimeError("feed version vanished after it was written")
        return state

    def _render_once(self, req: FeedRequest, state: feedstate.State, key: str) -> bytes:
        """Render, at most once per version across threads and processes: the others wait briefly
        for the first one's body, else serve the previous copy, else render themselves."""
        with self._locks_guard:
            local = self._render_locks.setdefault(key, threading.Lock())
        with local:
            body = self.cache.get(key)
            if body is not None:
                return body
            if self.cache.claim(f"lock:{key}", timeout=max(1, int(self.render_wait * 4))):
                try:
                    return self._render_and_store(req, state, key)
                finally:
                    self.cache.release(f"lock:{key}")
            deadline = time.monotonic() + self.render_wait
            while time.monotonic() < deadline:
                time.sleep(0.01)
                body = self.cache.get(key)
                if body is not None:
                    return body
            return self._render_and_store(req, state, key)

    def _render_and_store(self, req: FeedRequest, state: feedstate.State, key: str) -> bytes:
        post_ids: list[int] = []
        started = time.perf_counter()
        body = self.db.read(lambda conn: self._render(conn, req, state, post_ids))
        metrics.observe_render(req.fmt, time.perf_counter() - started)
        if isinstance(body, Problem):
            raise _RenderProblem(body)
        if post_ids:
            self.cache.set(key + ":sk", " ".join(f"post:{i}" for i in post_ids).encode())
        self.cache.set(key, body)
        self.cache.set_shared(f"last:{req.variant}", _pack(state, body))
        with self._locks_guard:
            if len(self._render_locks) > 4 * self._last_max:
                self._render_locks.clear()
        return body

    def _render(
        self, conn: Any, req: FeedRequest, state: feedstate.State, post_ids: list[int] | None = None
    ) -> bytes | Problem:
        if req.doc is not None:
            return req.doc.render(self, conn, req, state)
        if req.fmt == "opml":
            return self._render_opml(conn, state)
        context = self.feed_context(conn, req.scope)
        if not isinstance(context, tuple):
            return context
        feed = self.build(conn, req, state, *context, post_ids=post_ids)
        links = documents.current_links(conn, self, req.scope, context[0], req.fmt, len(feed.items))
        return FORMATS[req.fmt].render(replace(feed, links=links) if links else feed, self.entries)

    def feed_context(self, conn: Any, scope: Scope) -> tuple[int | None, str | None] | Problem:
        """(category id, category label) of a scope, or the 404 of a category that does not exist."""
        if scope.category is None:
            return None, None
        row = conn.execute(_CATEGORY, {"slug": scope.category}).first()
        if row is None:
            return Problem(404, "not_found", f"unknown category {scope.category!r}")
        return row.id, self.site.category_label(row.names, scope.language, scope.category)

    def build(
        self,
        conn: Any,
        req: FeedRequest,
        state: feedstate.State,
        category_id: int | None,
        category_name: str | None,
        *,
        items: list[Item] | None = None,
        links: tuple[FeedLink, ...] = (),
        archive: bool = False,
        post_ids: list[int] | None = None,
    ) -> Feed:
        """The feed of a scope (or, given ``items``, one archive page of it), with the site's branding.
        ``post_ids`` (when given) receives the ids of the posts it shows."""
        scope = req.scope
        if archive:
            self_url = self.site.url(f"{scope.path}feed.{req.fmt}?archive={req.part}")
        else:
            self_url = self.self_url(req)
        feed = build_feed(
            conn,
            self.site,
            scope,
            self_url=self_url,
            feed_id=self.site.url(f"{scope.path}feed.atom"),
            limit=0 if items is not None else req.limit,
            updated=state.modified_at,
            category_id=category_id,
            category_name=category_name,
            hubs=self.hubs,
            post_ids=post_ids,
            now=self.clock(),
        )
        if items is not None:
            feed = replace(feed, items=items)
        return replace(feed, links=links, archive=archive, **self.branding)

    def _render_opml(self, conn: Any, state: feedstate.State) -> bytes:
        the_site = self.site
        categories = list(conn.execute(_CATEGORIES))
        outlines: list[OpmlOutline] = []
        groups: list[tuple[Scope, str | None]] = [(Scope(), None)]
        for lang in the_site.languages:
            groups.append((Scope(lang), None))
            groups += [
                (Scope(lang, c.slug), the_site.category_label(c.names, lang, c.slug)) for c in categories
            ]
        for scope, label in groups:
            title = the_site.title(scope.language, label)
            for writer in FORMATS.values():
                outlines.append(
                    OpmlOutline(
                        text=f"{title} ({writer.name})",
                        title=f"{title} ({writer.name})",
                        xml_url=the_site.url(f"{scope.path}feed.{writer.suffix}"),
                        html_url=the_site.url(scope.path),
                        language=scope.language,
                        category=f"/{scope.category}" if scope.category else None,
                    )
                )
        return render_opml(f"{the_site.name} feeds", state.modified_at, outlines, owner_name=the_site.name)

    # -- last good copies -------------------------------------------------------------------------

    def _remember(self, req: FeedRequest, state: feedstate.State, body: bytes) -> None:
        known = self._last.get(req.variant)
        if known is not None and known.state == state:
            return
        self._last[req.variant] = _Copy(state, body)
        self._last.move_to_end(req.variant)
        while len(self._last) > self._last_max:
            self._last.popitem(last=False)

    def _last_copy(self, req: FeedRequest) -> _Copy | None:
        copy = self._last.get(req.variant)
        if copy is not None:
            return copy
        packed = self.cache.get_shared(f"last:{req.variant}")
        return _unpack(packed) if packed is not None else None

    # -- errors -----------------------------------------------------------------------------------

    def error(self, problem: Problem, retry_after: int | None = None) -> Answer:
        """The service's one JSON error shape, as the API gives it."""
        detail: dict[str, Any] = {"status": problem.status, "code": problem.code, "message": problem.message}
        if problem.field:
            detail["fields"] = {problem.field: [problem.message]}
        body = (json.dumps({"error": detail}, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return Answer(problem.status, headers, body)


class _RenderProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _pack(state: feedstate.State, body: bytes) -> bytes:
    return f"{state.token}\n{state.modified_at.isoformat()}\n".encode() + body


def _unpack(packed: bytes) -> _Copy | None:
    try:
        token, modified, body = packed.split(b"\n", 2)
        return _Copy(feedstate.State(token.decode(), datetime.fromisoformat(modified.decode())), body)
    except ValueError:
        return None


def serve_wsgi(server: FeedServer, wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """The fast path: feed requests are answered before Flask is entered; the rest go on to Flask."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            answer = server.answer_environ(environ)
        except Exception:  # a defect: logged with its traceback, answered in the error shape
            log.exception("unhandled error on %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            answer = server.error(Problem(500, "internal_error", "internal error"))
        if answer is None:
            return wsgi_app(environ, start_response)
        environ["feedsvc.cache"] = answer.cache
        start_response(answer.status_line, answer.headers.to_wsgi_list())
        if environ.get("REQUEST_METHOD") == "HEAD" or not answer.body:
            return []
        return [answer.body]

    return app
