"""Feed endpoints: a poll costs one primary-key read, plus a cache lookup when it is not a 304."""

from __future__ import annotations

import gzip

from flask import Blueprint, Response, current_app, request
from sqlalchemy import bindparam, select

from feedsvc import db, feedstate
from feedsvc.cache import feed_cache
from feedsvc.conditional import accepts_gzip, not_modified, validators
from feedsvc.db import state_reader
from feedsvc.errors import NotFound, ServiceError
from feedsvc.feedquery import build_feed
from feedsvc.feeds import FORMATS
from feedsvc.models import Category
from feedsvc.scopes import MAX_CATEGORY_SLUG, Scope, valid_segment
from feedsvc.site import site

bp = Blueprint("feeds", __name__)
_CATEGORY = select(Category.id, Category.names).where(Category.slug == bindparam("slug"))


@bp.get("/feed.<fmt>")
def site_feed(fmt: str) -> Response:
    return serve(Scope(), fmt)


@bp.get("/<lang>/feed.<fmt>")
def language_feed(lang: str, fmt: str) -> Response:
    return serve(Scope(lang), fmt)


@bp.get("/<lang>/<category>/feed.<fmt>")
def category_feed(lang: str, category: str, fmt: str) -> Response:
    return serve(Scope(lang, category), fmt)


def _limit() -> int:
    raw = request.args.get("limit")
    default, maximum = current_app.config["FEED_DEFAULT_LIMIT"], current_app.config["FEED_MAX_LIMIT"]
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ServiceError(f"must be a whole number from 1 to {maximum}", field="limit")
    return int(raw)


def serve(scope: Scope, fmt: str) -> Response:
    writer = FORMATS.get(fmt)
    the_site = site()
    if writer is None:
        raise NotFound(f"no feed format {fmt!r}; use rss, atom or json")
    if scope.language is not None and scope.language not in the_site.languages:
        raise NotFound(f"unknown language {scope.language!r}")
    # Segment check before any query: PostgreSQL refuses NUL in a parameter, and junk names no feed.
    if scope.category is not None and not valid_segment(scope.category, MAX_CATEGORY_SLUG):
        raise NotFound("unknown category")
    limit = _limit()
    state = state_reader().read(scope.key) or _create_state(scope)
    headers = validators(state.token, state.modified_at, fmt, limit, current_app.config["FEED_MAX_AGE"])
    if not_modified(
        request.headers.get("If-None-Match"),
        request.headers.get("If-Modified-Since"),
        headers[0][1],
        state.modified_at,
    ):
        return Response(status=304, headers=headers)
    key = cache_key(scope, state, fmt, limit)
    cache = feed_cache()
    body = cache.get(key)
    if body is None:
        with db.engine().connect() as conn:
            body = _render(conn, scope, fmt, limit, state)
        cache.set(key, body)
    if accepts_gzip(request.headers.get("Accept-Encoding")):
        zipped = cache.get(key + ":gz")
        if zipped is None:
            zipped = gzip.compress(body, compresslevel=6, mtime=0)
            cache.set(key + ":gz", zipped)
        body = zipped
        headers.append(("Content-Encoding", "gzip"))
    return Response(body, headers=headers, content_type=writer.content_type)


def cache_key(scope: Scope, state: feedstate.State, fmt: str, limit: int) -> str:
    return f"feed:{scope.key}:{state.token}:{fmt}:{limit}"


def _create_state(scope: Scope) -> feedstate.State:
    """First poll of a scope that has never been written: give it a version (or 404 if it is no scope)."""
    with db.new_session() as s:
        if (
            scope.category is not None
            and s.scalar(select(Category.id).where(Category.slug == scope.category)) is None
        ):
            raise NotFound(f"unknown category {scope.category!r}")
        feedstate.bump(s, [scope.key])
        s.commit()
        state = feedstate.read(s, scope.key)
    assert state is not None
    return state


def _render(conn, scope: Scope, fmt: str, limit: int, state: feedstate.State) -> bytes:  # type: ignore[no-untyped-def]
    the_site = site()
    category_id = category_name = None
    if scope.category is not None:
        row = conn.execute(_CATEGORY, {"slug": scope.category}).first()
        if row is None:
            raise NotFound(f"unknown category {scope.category!r}")
        category_id = row.id
        category_name = row.names.get(scope.language) or scope.category
    path = f"{scope.path}feed.{fmt}"
    query = f"?limit={limit}" if limit != current_app.config["FEED_DEFAULT_LIMIT"] else ""
    feed = build_feed(
        conn,
        the_site,
        scope,
        self_url=the_site.url(path + query),
        feed_id=the_site.url(f"{scope.path}feed.atom"),
        limit=limit,
        updated=state.modified_at,
        category_id=category_id,
        category_name=category_name,
    )
    return FORMATS[fmt].render(feed)
