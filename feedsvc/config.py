"""Configuration: defaults, then ``instance/config.py``, then ``FEEDSVC_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedsvc.sanitize import DEFAULT_EMBED_HOSTS


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


# Name in the environment (FEEDSVC_<NAME>) → (config key, converter).
_ENV: dict[str, tuple[str, Any]] = {
    "DATABASE_URL": ("DATABASE_URL", str),
    "CACHE_URL": ("CACHE_URL", str),
    "BASE_URL": ("BASE_URL", str),
    "LANGUAGES": ("LANGUAGES", str),
    "SITE_NAME": ("SITE_NAME", str),
    "TIMEZONE": ("TIMEZONE", str),
    "FEED_MAX_AGE": ("FEED_MAX_AGE", int),
    "MAX_BODY_BYTES": ("MAX_CONTENT_LENGTH", int),
    "ALLOW_PRIVATE_SOURCES": ("ALLOW_PRIVATE_SOURCES", lambda v: v.strip().lower() in {"1", "true", "yes"}),
    "SECRET_KEY": ("SECRET_KEY", str),
    "LOG_LEVEL": ("LOG_LEVEL", str),
    "LOG_FORMAT": ("LOG_FORMAT", str),
    "SCHEDULE_HORIZON_DAYS": ("SCHEDULE_HORIZON_DAYS", int),
    "SOURCE_DEFAULT_INTERVAL": ("SOURCE_DEFAULT_INTERVAL", int),
    "SOURCE_MIN_INTERVAL": ("SOURCE_MIN_INTERVAL", int),
    "SOURCE_MAX_ERRORS": ("SOURCE_MAX_ERRORS", int),
    "SOURCE_MAX_INTERVAL": ("SOURCE_MAX_INTERVAL", int),
    "FETCH_PER_HOST": ("FETCH_PER_HOST", int),
    "FETCH_MAX_CONCURRENT": ("FETCH_MAX_CONCURRENT", int),
    "WEBSUB_LEASE_SECONDS": ("WEBSUB_LEASE_SECONDS", int),
    "SOURCE_BACKOFF_CAP": ("SOURCE_BACKOFF_CAP", int),
    "FETCH_MAX_BYTES": ("FETCH_MAX_BYTES", int),
    "FETCH_TIMEOUT": ("FETCH_TIMEOUT", float),
    "FETCH_CONNECT_TIMEOUT": ("FETCH_CONNECT_TIMEOUT", float),
    "DB_CONNECT_TIMEOUT": ("DB_CONNECT_TIMEOUT", float),
    "DB_POLL_TIMEOUT": ("DB_POLL_TIMEOUT", float),
    "DB_STATEMENT_TIMEOUT": ("DB_STATEMENT_TIMEOUT", float),
    "DB_BREAKER_SECONDS": ("DB_BREAKER_SECONDS", float),
    "DB_RETRY_AFTER": ("DB_RETRY_AFTER", int),
    "REDIS_TIMEOUT": ("REDIS_TIMEOUT", float),
    "REDIS_BREAKER_SECONDS": ("REDIS_BREAKER_SECONDS", float),
    "RENDER_LOCK_WAIT": ("RENDER_LOCK_WAIT", float),
    "FEED_STALE_WHILE_REVALIDATE": ("FEED_STALE_WHILE_REVALIDATE", int),
    "FEED_STALE_IF_ERROR": ("FEED_STALE_IF_ERROR", int),
    "WEBSUB_HUB": ("WEBSUB_HUB", _flag),
    "WEBSUB_HUBS": ("WEBSUB_HUBS", _list),
    "WEBSUB_LEASE_MIN": ("WEBSUB_LEASE_MIN", int),
    "WEBSUB_LEASE_MAX": ("WEBSUB_LEASE_MAX", int),
    "WEBSUB_LEASE_DEFAULT": ("WEBSUB_LEASE_DEFAULT", int),
    "WEBSUB_QUIET": ("WEBSUB_QUIET", float),
    "WEBSUB_MAX_DELAY": ("WEBSUB_MAX_DELAY", float),
    "WEBSUB_RATE_LIMIT": ("WEBSUB_RATE_LIMIT", int),
    "WEBSUB_MAX_FAILURES": ("WEBSUB_MAX_FAILURES", int),
    "WEBSUB_RETRY_BASE": ("WEBSUB_RETRY_BASE", float),
    "WEBSUB_RETRY_CAP": ("WEBSUB_RETRY_CAP", float),
    "WEBSUB_TIMEOUT": ("WEBSUB_TIMEOUT", float),
    "WEBSUB_CONCURRENCY": ("WEBSUB_CONCURRENCY", int),
    "PURGE_URL": ("PURGE_URL", str),
    "PURGE_METHOD": ("PURGE_METHOD", str),
    "PURGE_WAIT": ("PURGE_WAIT", float),
    "TRUSTED_PROXIES": ("TRUSTED_PROXIES", int),
    "NEWS_PUBLICATION_NAME": ("NEWS_PUBLICATION_NAME", str),
    "YANDEX_MAX_AGE_HOURS": ("YANDEX_MAX_AGE_HOURS", int),
    "YANDEX_MAX_ITEMS": ("YANDEX_MAX_ITEMS", int),
    "FEED_ICON_URL": ("FEED_ICON_URL", str),
    "FEED_LOGO_URL": ("FEED_LOGO_URL", str),
    "FAVICON_URL": ("FAVICON_URL", str),
    "FEED_IMAGE_SIZE": ("FEED_IMAGE_SIZE", str),
    # Networks a partner may live on although private, e.g. "10.20.0.0/16,192.168.5.7/32".
    # The variable carries the config key's name, as the README documents it.
    "FETCH_ALLOW_NETWORKS": (
        "FETCH_ALLOW_NETWORKS",
        lambda v: tuple(p.strip() for p in v.split(",") if p.strip()),
    ),
    # Hosts whose iframes partner HTML keeps (sandboxed), e.g. "www.youtube.com,player.vimeo.com".
    "EMBED_HOSTS": ("EMBED_HOSTS", str),
}

DEFAULTS: dict[str, Any] = {
    "BASE_URL": "http://127.0.0.1:5000",
    "LANGUAGES": "en,ru,uz",
    "SITE_NAME": "Tashkent News",
    "TIMEZONE": "Asia/Tashkent",
    "CACHE_URL": "simple",
    "FEED_MAX_AGE": 300,
    "FEED_DEFAULT_LIMIT": 50,
    "FEED_MAX_LIMIT": 200,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "ALLOW_PRIVATE_SOURCES": False,
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",  # or "json": one object per line
    # How far ahead a post may be scheduled (published_at), in days.
    "SCHEDULE_HORIZON_DAYS": 366,
    # Feeds never go stale by time (keys carry a version); the timeout only evicts old versions.
    "CACHE_DEFAULT_TIMEOUT": 24 * 3600,
    "API_TITLE": "feedsvc admin API",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
    "JSON_SORT_KEYS": False,
    # Partner feeds (seconds, bytes).
    "SOURCE_DEFAULT_INTERVAL": 900,
    "SOURCE_MIN_INTERVAL": 60,
    "SOURCE_MAX_INTERVAL": 6 * 3600,  # the slowest a quiet partner is polled (and a pushing one)
    "SOURCE_MAX_ERRORS": 10,  # in a row; then the source is disabled until the operator re-enables it
    "FETCH_PER_HOST": 1,  # fetches of one host at once, across every worker
    "FETCH_MAX_CONCURRENT": 0,  # fetches at once, across every worker; 0: no cap
    "WEBSUB_LEASE_SECONDS": 10 * 86400,  # the lease asked of partners' hubs; renewed before it ends
    "SOURCE_BACKOFF_CAP": 6 * 3600,
    "FETCH_MAX_BYTES": 10 * 1024 * 1024,
    "FETCH_TIMEOUT": 30.0,
    "FETCH_CONNECT_TIMEOUT": 5.0,
    "FETCH_ALLOW_NETWORKS": (),
    # Failing dependencies (seconds). libpq and psycopg wait at least 2 s for a connection.
    "DB_CONNECT_TIMEOUT": 2.0,
    "DB_POLL_TIMEOUT": 0.3,  # the feed version read of a poll
    "DB_STATEMENT_TIMEOUT": 3.0,  # renders, pages, API requests: server-side and client-side
    "DB_BREAKER_SECONDS": 1.0,  # after a failure, how long nothing waits on the database
    "DB_RETRY_AFTER": 5,  # Retry-After of the 503s while the database is unavailable
    "REDIS_TIMEOUT": 0.05,  # connect and socket timeout of every Redis call
    "REDIS_BREAKER_SECONDS": 2.0,
    "RENDER_LOCK_WAIT": 0.5,  # how long a poll waits for another process's render of the same version
    "EMBED_HOSTS": ",".join(DEFAULT_EMBED_HOSTS),
    # Caches in front: Cache-Control extensions of every feed answer (seconds).
    "FEED_STALE_WHILE_REVALIDATE": 60,
    "FEED_STALE_IF_ERROR": 86400,
    # WebSub (feedsvc.websub): our own hub at /websub, and external hubs to ping.
    "WEBSUB_HUB": True,
    "WEBSUB_HUBS": (),
    "WEBSUB_LEASE_MIN": 300,
    "WEBSUB_LEASE_MAX": 864000,
    "WEBSUB_LEASE_DEFAULT": 86400,
    "WEBSUB_QUIET": 1.0,  # a scope's changes are sent once it has been quiet this long (coalescing)
    "WEBSUB_MAX_DELAY": 10.0,  # ... or at the latest this long after its oldest unsent change
    "WEBSUB_RATE_LIMIT": 30,  # subscription requests per minute per callback host and per client IP
    "WEBSUB_MAX_FAILURES": 12,  # consecutive failed deliveries (backoff spans hours) → subscription dropped
    "WEBSUB_RETRY_BASE": 5.0,
    "WEBSUB_RETRY_CAP": 3600.0,
    "WEBSUB_TIMEOUT": 10.0,  # per delivery, verification or ping
    "WEBSUB_CONCURRENCY": 16,  # deliveries in flight per worker process
    # Purges of the cache in front after each change; off unless PURGE_URL is set, e.g.
    # "http://127.0.0.1:6081/purge{path}" ({path}: the feed's path, {url}: its absolute URL).
    "PURGE_URL": "",
    "PURGE_METHOD": "PURGE",
    # How long an API write's answer waits for those purges (0: it does not wait), seconds.
    "PURGE_WAIT": 2.0,
    # Proxies in front whose X-Forwarded-For / -Proto are believed (1: nginx on this host); 0: none.
    "TRUSTED_PROXIES": 0,
    # Aggregators. The news sitemap's publication name defaults to SITE_NAME.
    "NEWS_PUBLICATION_NAME": None,
    "YANDEX_MAX_AGE_HOURS": 192,  # eight days
    "YANDEX_MAX_ITEMS": 100,
    # Channel branding (absolute URLs); absent parts are left out of the feeds.
    "FEED_ICON_URL": None,  # Atom icon, JSON Feed icon (square)
    "FEED_LOGO_URL": None,  # Atom logo, RSS <image> (else the icon)
    "FAVICON_URL": None,  # JSON Feed favicon
    "FEED_IMAGE_SIZE": None,  # RSS <image> "WIDTHxHEIGHT", at most 144x400
}


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (key, convert) in _ENV.items():
        raw = environ.get(f"FEEDSVC_{name}")
        if raw is not None and raw != "":
            out[key] = convert(raw)
    return out


def finalize(config: dict[str, Any], instance_path: str) -> None:
    """Fill derived values and reject settings that cannot work, with a clear message."""
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{Path(instance_path) / 'feedsvc.sqlite3'}"
    config["DATABASE_URL"] = normalize_database_url(config["DATABASE_URL"])
    langs = config["LANGUAGES"]
    if isinstance(langs, str):
        langs = [part.strip().lower() for part in langs.split(",") if part.strip()]
    if not langs:
        raise ValueError("FEEDSVC_LANGUAGES must name at least one language")
    config["LANGUAGE_LIST"] = tuple(langs)
    config["BASE_URL"] = str(config["BASE_URL"]).rstrip("/")
    if not config["BASE_URL"].startswith(("http://", "https://")):
        raise ValueError("FEEDSVC_BASE_URL must be an absolute http(s) URL")
    try:
        config["ZONE"] = ZoneInfo(config["TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"FEEDSVC_TIMEZONE: unknown time zone {config['TIMEZONE']!r}") from exc
    config.setdefault("SECRET_KEY", os.urandom(16).hex())
    hosts = config["EMBED_HOSTS"]
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    config["EMBED_HOST_LIST"] = tuple(h.strip().lower() for h in hosts if h.strip())
    if isinstance(config["WEBSUB_HUBS"], str):
        config["WEBSUB_HUBS"] = _list(config["WEBSUB_HUBS"])
    for hub in config["WEBSUB_HUBS"]:
        if not hub.startswith(("http://", "https://")):
            raise ValueError(f"FEEDSVC_WEBSUB_HUBS: {hub!r} is not an absolute http(s) URL")
    if not config["WEBSUB_LEASE_MIN"] <= config["WEBSUB_LEASE_DEFAULT"] <= config["WEBSUB_LEASE_MAX"]:
        raise ValueError("FEEDSVC_WEBSUB_LEASE_*: need MIN <= DEFAULT <= MAX")
    config["NEWS_PUBLICATION_NAME"] = config.get("NEWS_PUBLICATION_NAME") or config["SITE_NAME"]
    for key in ("FEED_ICON_URL", "FEED_LOGO_URL", "FAVICON_URL"):
        value = config.get(key)
        if value and not str(value).startswith(("http://", "https://")):
            raise ValueError(f"FEEDSVC_{key} must be an absolute http(s) URL")
    config["FEED_IMAGE_SIZE"] = _image_size(config.get("FEED_IMAGE_SIZE"))
    for key in ("YANDEX_MAX_AGE_HOURS", "YANDEX_MAX_ITEMS"):
        if int(config[key]) < 1:
            raise ValueError(f"FEEDSVC_{key} must be at least 1")


def _image_size(value: Any) -> tuple[int, int] | None:
    """RSS <image> width and height: RSS allows at most 144 by 400 pixels."""
    if not value:
        return None
    if isinstance(value, str):
        width_text, _, height_text = value.lower().partition("x")
        try:
            value = (int(width_text), int(height_text))
        except ValueError:
            raise ValueError("FEEDSVC_FEED_IMAGE_SIZE must look like 144x144") from None
    width, height = value
    if not (0 < width <= 144 and 0 < height <= 400):
        raise ValueError("FEEDSVC_FEED_IMAGE_SIZE: RSS allows at most 144 wide and 400 high")
    return width, height


def normalize_database_url(url: str) -> str:
    # psycopg 3 is the PostgreSQL driver; accept the plain scheme operators usually write.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
