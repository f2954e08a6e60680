"""Configuration: defaults, then ``instance/config.py``, then ``FEEDSVC_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    # Networks a partner may live on although private, e.g. "10.20.0.0/16,192.168.5.7/32".
    "ALLOW_NETWORKS": ("FETCH_ALLOW_NETWORKS", lambda v: tuple(p.strip() for p in v.split(",") if p.strip())),
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


def normalize_database_url(url: str) -> str:
    # psycopg 3 is the PostgreSQL driver; accept the plain scheme operators usually write.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
