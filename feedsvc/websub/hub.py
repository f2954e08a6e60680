"""Our WebSub hub's subscription endpoint, ``POST /websub`` (W3C WebSub, section 5.1).

The request is checked and recorded here, answered 202 Accepted, and nothing else: the callback is
verified (section 5.3) and content is delivered by the worker (``feedsvc.websub.work``), never inside
a web request, so a slow or hostile callback cannot hold a web worker.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request
from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from feedsvc import db
from feedsvc.api import error_response
from feedsvc.models import Category, WebSubRateLimit, WebSubSubscription, utcnow
from feedsvc.public.request import FeedRequest, Problem
from feedsvc.public.serving import FeedServer
from feedsvc.websub.settings import HUB_PATH, WebSubSettings

bp = Blueprint("websub_hub", __name__)
MAX_URL = 2000
MAX_SECRET_BYTES = 199  # the Recommendation: "less than 200 bytes"
_RATE = WebSubRateLimit.__table__


class HubError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.retry_after = status, message, field, retry_after


@dataclass(frozen=True)
class Topic:
    url: str  # as the subscriber gave it: verification and deliveries name it verbatim
    scope: str
    fmt: str
    limit: int


def subscription_key(callback: str, topic: str) -> str:
    return hashlib.sha256(f"{callback}\n{topic}".encode()).hexdigest()


def parse_topic(server: FeedServer, base_url: str, topic: str) -> Topic | str:
    """The feed a topic URL names, or why it names none of ours."""
    if not topic.startswith(base_url + "/"):
        return f"not a feed of this site: topics start with {base_url}/"
    parts = urlsplit(topic)
    if parts.fragment:
        return "a topic has no #fragment"
    environ = {"PATH_INFO": parts.path, "QUERY_STRING": parts.query, "REQUEST_METHOD": "GET"}
    extra = {name for name, _, _ in (p.partition("=") for p in parts.query.split("&") if p)} - {"limit"}
    if extra:
        return f"unknown query parameter(s) {', '.join(sorted(extra))}; only limit= is allowed"
    parsed = server.parse(environ)
    if parsed is None or (isinstance(parsed, FeedRequest) and parsed.fmt == "opml"):
        return "not a feed URL: use …/feed.rss, …/feed.atom or …/feed.json"
    if isinstance(parsed, Problem):
        return parsed.message if parsed.field is None else f"{parsed.field}: {parsed.message}"
    return Topic(topic, parsed.scope.key, parsed.fmt, parsed.limit)


def _field(name: str, *, required: bool = True) -> str | None:
    value = request.form.get(name)
    if value is None or value == "":
        if required:
            raise HubError(400, f"{name} is required", name)
        return None
    return value


def _check_callback(callback: str) -> str:
    if len(callback) > MAX_URL:
        raise HubError(400, f"longer than {MAX_URL} characters", "hub.callback")
    parts = urlsplit(callback)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise HubError(400, "must be an absolute http or https URL", "hub.callback")
    if parts.fragment:
        raise HubError(400, "must not have a #fragment", "hub.callback")
    return parts.hostname.lower()


def _lease(settings: WebSubSettings) -> int:
    raw = _field("hub.lease_seconds", required=False)
    if raw is None:
        return settings.lease_default
    if not raw.isascii() or not raw.isdigit():
        raise HubError(400, "must be a whole number of seconds", "hub.lease_seconds")
    return max(settings.lease_min, min(settings.lease_max, int(raw)))


def _count(session: Session, key: str, window: datetime) -> int:
    """Hits of ``key`` in the current one-minute window, this request included."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(_RATE).values(key=key[:300], window_start=window, hits=1)
    same = _RATE.c.window_start == stmt.excluded.window_start
    stmt = stmt.on_conflict_do_update(
        index_elements=[_RATE.c.key],
        set_={
            "hits": case((same, _RATE.c.hits + 1), else_=1),
            "window_start": stmt.excluded.window_start,
        },
    ).returning(_RATE.c.hits)
    return int(session.execute(stmt).scalar_one())


def _rate_limit(session: Session, settings: WebSubSettings, host: str, client: str, now: datetime) -> None:
    window = now.replace(second=0, microsecond=0)
    over = [
        what
        for what, key in (("callback host", f"host:{host}"), ("client address", f"ip:{client}"))
        if _count(session, key, window) > settings.rate_limit
    ]
    if over:
        session.commit()  # the hits count even when refused
        retry = max(1, int((window + timedelta(minutes=1) - now).total_seconds()) + 1)
        raise HubError(
            429,
            f"too many subscription requests for this {over[0]}: at most {settings.rate_limit} a minute",
            retry_after=retry,
        )


def _record(session: Session, settings: WebSubSettings, data: dict[str, Any], now: datetime) -> None:
    key = subscription_key(data["callback"], data["topic"].url)
    sub = session.execute(
        select(WebSubSubscription).where(WebSubSubscription.key == key).with_for_update()
    ).scalar_one_or_none()
    if data["mode"] == "unsubscribe":
        if sub is None or sub.state not in {"active", "pending"}:
            return  # nothing to end; the answer is the same, so it tells nothing about others
        sub.pending_mode, sub.pending_lease, sub.pending_secret = "unsubscribe", None, None
    else:
        if sub is None:
            topic: Topic = data["topic"]
            sub = WebSubSubscription(
                key=key,
                callback=data["callback"],
                callback_host=data["host"],
                topic=topic.url,
                scope=topic.scope,
                fmt=topic.fmt,
                limit=topic.limit,
                state="pending",
                lease_seconds=data["lease"],
                verify_attempts=0,
                failures=0,
                created_at=now,
            )
            session.add(sub)
        sub.pending_mode, sub.pending_lease, sub.pending_secret = "subscribe", data["lease"], data["secret"]
    sub.verify_due_at = now
    sub.verify_attempts = 0
    sub.updated_at = now


def _category_exists(session: Session, scope: str) -> bool:
    _, _, slug = scope.partition("/")
    return not slug or session.scalar(select(Category.id).where(Category.slug == slug)) is not None


@bp.route(HUB_PATH, methods=["POST"])
def subscribe() -> Response:
    settings: WebSubSettings = current_app.extensions["feedsvc.websub"]
    server: FeedServer = current_app.extensions["feedsvc.server"]
    try:
        callback = _field("hub.callback") or ""
        host = _check_callback(callback)
        mode = _field("hub.mode")
        if mode not in {"subscribe", "unsubscribe"}:
            raise HubError(400, "must be subscribe or unsubscribe", "hub.mode")
        topic = parse_topic(server, server.site.base_url, _field("hub.topic") or "")
        if isinstance(topic, str):
            raise HubError(400, topic, "hub.topic")
        secret = _field("hub.secret", required=False)
        if secret is not None and len(secret.encode()) > MAX_SECRET_BYTES:
            raise HubError(400, "must be less than 200 bytes", "hub.secret")
        data = {
            "callback": callback,
            "host": host,
            "mode": mode,
            "topic": topic,
            "lease": _lease(settings),
            "secret": secret,
        }

        def work(session: Session) -> None:
            now = utcnow()
            _rate_limit(session, settings, host, request.remote_addr or "-", now)
            if not _category_exists(session, topic.scope):
                raise HubError(400, f"no such feed: unknown category in {topic.url}", "hub.topic")
            _record(session, settings, data, now)

        db.database().write(work)
    except HubError as error:
        fields = {error.field: [error.message]} if error.field else None
        message = f"{error.field}: {error.message}" if error.field else error.message
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
        return error_response(error.status, _CODES.get(error.status, "error"), message, fields, headers)
    except db.Unreachable:
        database = db.database()
        return error_response(
            503,
            "unavailable",
            "the hub is unavailable; retry later",
            None,
            {"Retry-After": str(database.retry_after())},
        )
    return Response(status=202)


_CODES = {400: "bad_request", 429: "too_many_requests"}
