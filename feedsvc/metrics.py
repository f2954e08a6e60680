"""Operational metrics in the Prometheus text format, and the one log line per request and per fetch.

Counters are module-level prometheus_client objects; the hot path only calls ``inc()``/``observe()``
on label children bound in advance. Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` (set by
``deploy/gunicorn.conf.py`` before this module is imported) makes every process write its values to
files in that directory, and ``/metrics`` adds them up across workers (and the ingestion worker, when
it is given the same directory). ``/metrics`` needs a bearer token with the ``metrics`` right.

Log lines go to the ``feedsvc.access`` and ``feedsvc.fetch`` loggers with their fields as record
attributes (``extra``), for a JSON formatter to emit; this module configures no logging.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, exposition, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from werkzeug.exceptions import Forbidden, ServiceUnavailable, Unauthorized

from feedsvc.feeds import FORMATS

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
# The classic text format: what every Prometheus version scrapes.
CONTENT_TYPE = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", exposition.CONTENT_TYPE_LATEST)
KINDS = ("feed", "opml", "page", "api", "health", "metrics")
NO_FORMAT = "-"

access_log = logging.getLogger("feedsvc.access")
fetch_log = logging.getLogger("feedsvc.fetch")

# -- definitions -------------------------------------------------------------------------------------

REQUESTS = Counter(
    "feedsvc_requests",
    "HTTP requests answered, by kind of endpoint, feed format and status",
    ["kind", "format", "status"],
)
FEED_CACHE = Counter(
    "feedsvc_feed_cache",
    "Feed bodies served: hit (from the cache), miss (rendered), stale (last copy, database unavailable)",
    ["outcome"],
)
RENDER_SECONDS = Histogram(
    "feedsvc_render_seconds",
    "Time to render one feed or the OPML list (database reads included)",
    ["format"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DEPENDENCY_ERRORS = Counter(
    "feedsvc_dependency_errors",
    "Failed calls to a dependency (database; cache: the shared feed cache, Redis in production)",
    ["dependency"],
)
BREAKER_OPEN = Gauge(
    "feedsvc_breaker_open",
    "1 while a dependency's circuit breaker is open in any live process",
    ["dependency"],
    multiprocess_mode="livemax",
)
FETCHES = Counter("feedsvc_ingest_fetches", "Partner feed fetches, by outcome", ["outcome"])
ITEMS = Counter("feedsvc_ingest_items", "Partner items stored, by change (new, updated)", ["change"])
FETCH_SECONDS = Histogram(
    "feedsvc_ingest_fetch_seconds",
    "Time of one partner fetch, end to end (fetch, parse, store)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
DELIVERIES = Counter(
    "feedsvc_hub_deliveries", "WebSub hub deliveries to subscribers, by outcome", ["outcome"]
)

# Label children bound once, so that a poll costs a dict lookup and an ``inc()``.
CACHE_HIT = FEED_CACHE.labels("hit")
CACHE_MISS = FEED_CACHE.labels("miss")
CACHE_STALE = FEED_CACHE.labels("stale")
RENDER = {fmt: RENDER_SECONDS.labels(fmt) for fmt in (*FORMATS, "opml")}
_requests: dict[tuple[str, str, int], Any] = {}
_requests_guard = threading.Lock()


def _request_child(kind: str, fmt: str, status: int) -> Any:
    key = (kind, fmt, status)
    child = _requests.get(key)
    if child is None:
        with _requests_guard:
            child = _requests.setdefault(key, REQUESTS.labels(kind, fmt, str(status)))
    return child


for _fmt in FORMATS:
    for _status in (200, 304):
        _request_child("feed", _fmt, _status)
_request_child("opml", "opml", 200)
_request_child("opml", "opml", 304)

# -- what the rest of the service calls ---------------------------------------------------------------


def observe_render(fmt: str, seconds: float) -> None:
    child = RENDER.get(fmt)
    if child is not None:
        child.observe(seconds)


def fetch_done(
    outcome: str,
    seconds: float,
    new: int = 0,
    updated: int = 0,
    *,
    source_id: int | None = None,
    status: int | None = None,
    error: str | None = None,
) -> None:
    """One partner fetch finished (called once per fetch by the ingestion run)."""
    FETCHES.labels(outcome).inc()
    FETCH_SECONDS.observe(seconds)
    if new:
        ITEMS.labels("new").inc(new)
    if updated:
        ITEMS.labels("updated").inc(updated)
    if fetch_log.isEnabledFor(logging.INFO):
        fetch_log.info(
            "source %s: %s (new %d, updated %d) %.0f ms",
            source_id,
            outcome,
            new,
            updated,
            seconds * 1000,
            extra={
                "event": "fetch",
                "source_id": source_id,
                "outcome": outcome,
                "http_status": status,
                "new": new,
                "updated": updated,
                "duration_ms": round(seconds * 1000, 1),
                "error": error,
            },
        )


def delivery_done(outcome: str) -> None:
    """One WebSub delivery to a subscriber finished: e.g. "ok", "failed", "gone" (for the hub)."""
    DELIVERIES.labels(outcome).inc()


def watch_breaker(breaker: Any, dependency: str) -> None:
    """Count the breaker's failures and mirror its state in ``feedsvc_breaker_open``."""
    errors = DEPENDENCY_ERRORS.labels(dependency)
    state = BREAKER_OPEN.labels(dependency)
    state.set(1 if breaker.is_open else 0)

    def observe(what: str) -> None:
        if what == "failure":
            errors.inc()
        else:
            state.set(1 if what == "open" else 0)

    breaker.observers.append(observe)


# -- the per-request middleware -----------------------------------------------------------------------

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_FEED_SUFFIXES = {f"/feed.{suffix}": suffix for suffix in FORMATS}
_HEALTH = frozenset(("/healthz", "/readyz"))


def classify(path: str) -> tuple[str, str]:
    """(kind, format) of a request path, from a fixed set: labels must not grow with the URLs seen."""
    if path.startswith("/api/"):
        return "api", NO_FORMAT
    if path in _HEALTH:
        return "health", NO_FORMAT
    if path == "/metrics":
        return "metrics", NO_FORMAT
    if path == "/feeds.opml":
        return "opml", "opml"
    slash = path.rfind("/")
    fmt = _FEED_SUFFIXES.get(path[slash:]) if slash >= 0 else None
    if fmt is not None:
        return "feed", fmt
    return "page", NO_FORMAT


def instrument(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the whole app: request id (``X-Request-Id`` taken or made, and echoed), the request counter,
    and one ``feedsvc.access`` line per request, built only when that logger is enabled."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        request_id = environ.get("HTTP_X_REQUEST_ID")
        if request_id is None or not _REQUEST_ID.fullmatch(request_id):
            request_id = os.urandom(8).hex()
            environ["HTTP_X_REQUEST_ID"] = request_id  # so that the views and their logs see the same id
        seen: list[Any] = [500, None]

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[0], seen[1] = status, headers
            return start_response(status, [*headers, ("X-Request-Id", request_id)], exc_info)

        try:
            return wsgi_app(environ, start)
        finally:
            path = environ.get("PATH_INFO", "")
            kind, fmt = classify(path)
            status = seen[0]
            code = int(status[:3]) if isinstance(status, str) else status
            _request_child(kind, fmt, code).inc()
            if access_log.isEnabledFor(logging.INFO):
                _log_request(environ, request_id, kind, fmt, code, seen[1], time.perf_counter() - started)

    return app


def _log_request(
    environ: dict[str, Any],
    request_id: str,
    kind: str,
    fmt: str,
    status: int,
    headers: list[tuple[str, str]] | None,
    seconds: float,
) -> None:
    size = None
    for name, value in headers or ():
        if name.lower() == "content-length":
            size = int(value) if value.isdigit() else None
            break
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("PATH_INFO", "")
    duration_ms = round(seconds * 1000, 2)
    access_log.info(
        "%s %s %s %s B %.2f ms",
        method,
        path,
        status,
        size if size is not None else "-",
        duration_ms,
        extra={
            "event": "request",
            "request_id": request_id,
            "method": method,
            "path": path,
            "query": environ.get("QUERY_STRING") or None,
            "route": kind,
            "format": None if fmt == NO_FORMAT else fmt,
            "status": status,
            "duration_ms": duration_ms,
            "bytes": size,
            "cache": environ.get("feedsvc.cache"),
            "remote_addr": environ.get("REMOTE_ADDR"),
        },
    )


# -- scraping -----------------------------------------------------------------------------------------


class _Process(Collector):
    """This process's own registry, for a scrape without the multiprocess directory."""

    def collect(self) -> Iterable[Metric]:
        return PROCESS_REGISTRY.collect()


class _Ingestion(Collector):
    """Read at scrape time: disabled sources and hosts that asked us to wait. One short query, and
    none at all while the database breaker is open (the scrape must not wait on a dead database)."""

    def __init__(self, database: Any) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        from feedsvc.db import Unreachable, deadline
        from feedsvc.models import Source, SourceHost, utcnow

        up = GaugeMetricFamily(
            "feedsvc_scrape_database_up", "1 when the scrape-time ingestion gauges could be read"
        )
        if not self.database.available():
            up.add_metric([], 0)
            yield up
            return
        query = select(
            select(func.count()).select_from(Source).where(Source.enabled.is_(False)).scalar_subquery(),
            select(func.count())
            .select_from(SourceHost)
            .where(SourceHost.retry_after_until > utcnow())
            .scalar_subquery(),
        )
        try:
            with deadline(1.0):
                disabled, held = self.database.read(lambda conn: conn.execute(query).one())
        except Unreachable:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "feedsvc_sources_disabled",
            "Partner sources disabled (gone, or too many failures)",
            value=disabled,
        )
        yield GaugeMetricFamily(
            "feedsvc_source_hosts_held_back",
            "Partner hosts whose Retry-After still holds their fetches back",
            value=held,
        )


def registry_for(database: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS_DIR:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
    else:
        registry.register(_Process())
    registry.register(_Ingestion(database))
    return registry


bp = Blueprint("metrics", __name__)
_VERIFIED_FOR = 600.0  # seconds a verified token stays accepted while the database is unavailable
_verified: dict[str, float] = {}


def _authorize() -> None:
    """A token with the ``metrics`` right, checked against the database; while the database is
    unavailable, a token this process verified in the last ten minutes is accepted, so that monitoring
    keeps seeing the outage."""
    from feedsvc import db
    from feedsvc.api.auth import current_rights, hash_token

    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token> (a token with the 'metrics' right)")
    digest = hash_token(token.strip())
    database = db.database()
    try:
        if not database.available():
            raise db.Unreachable("database breaker open")
        with db.deadline(None if database.sqlite else database.statement_timeout):
            rights = current_rights()
    except Exception as error:
        if not db.is_outage(error):
            raise
        if time.monotonic() - _verified.get(digest, -_VERIFIED_FOR) < _VERIFIED_FOR:
            return
        raise ServiceUnavailable("the database is unavailable: the token cannot be checked") from error
    if "metrics" not in rights:
        raise Forbidden("this token lacks the 'metrics' right")
    _verified[digest] = time.monotonic()


@bp.get("/metrics")
def scrape() -> Response:
    _authorize()
    from feedsvc import db

    body = generate_latest(registry_for(db.database_of(current_app)))
    return Response(body, 200, {"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    from feedsvc import db

    app.register_blueprint(bp)
    watch_breaker(db.database_of(app).breaker, "database")
    watch_breaker(app.extensions["feedsvc.cache"].breaker, "cache")


if MULTIPROCESS_DIR:

    @atexit.register
    def _gone() -> None:
        # A clean exit drops this process's live gauges (gunicorn's child_exit does it for killed workers).
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), MULTIPROCESS_DIR)
