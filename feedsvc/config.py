"""Configuration: defaults, then ``instance/config.py``, then ``FEEDSVC_*`` environment variables.

``SETTINGS`` is the one list of every ``FEEDSVC_*`` variable: the app reads the environment through it
only, an unknown ``FEEDSVC_*`` name stops the app from starting, and tests/test_settings.py checks that
the README's configuration table and deploy/feedsvc.env.sample name exactly these. A new setting is one
``Setting(...)`` line here, one README row and one line in the sample.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedsvc.sanitize import DEFAULT_EMBED_HOSTS

PREFIX = "FEEDSVC_"


class ConfigError(ValueError):
    """A setting that cannot work; the message names the variable."""


def flag(value: str) -> bool:
    text = value.strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def networks(value: str) -> tuple[str, ...]:
    parts = csv(value)
    for part in parts:
        ipaddress.ip_network(part, strict=False)  # ValueError names the bad one
    return parts


@dataclass(frozen=True)
class Setting:
    """One ``FEEDSVC_<name>`` variable."""

    name: str  # without the prefix
    default: Any
    parse: Callable[[str], Any]
    meaning: str
    key: str = ""  # the Flask config key, when it differs from ``name``; "" for the name itself
    app: bool = True  # False: read before or outside the app (the CLI, gunicorn.conf.py)

    @property
    def env(self) -> str:
        return PREFIX + self.name

    @property
    def config_key(self) -> str:
        return self.key or self.name


S = Setting
# fmt: off
SETTINGS: tuple[Setting, ...] = (
    # storage
    S("DATABASE_URL", None, str, "SQLAlchemy URL; `postgresql://…` uses psycopg 3; unset: a SQLite file under `instance/`"),
    S("CACHE_URL", "simple", str, "rendered-feed cache: `simple` (in-process), `redis://host:port/db`, `filesystem:///path`, `null`"),
    # the site
    S("BASE_URL", "http://127.0.0.1:5000", str, "absolute public URL used in every link (the address the front serves)"),
    S("LANGUAGES", "en,ru,uz", str, "configured languages, comma-separated"),
    S("SITE_NAME", "Tashkent News", str, "feed titles: site name + language or category name"),
    S("TIMEZONE", "Asia/Tashkent", str, "display zone of the HTML pages; stored times are UTC"),
    S("FEED_MAX_AGE", 300, int, "`Cache-Control: public, max-age=…` of feeds, seconds"),
    S("FEED_STALE_WHILE_REVALIDATE", 60, int, "`Cache-Control` stale-while-revalidate of feeds, seconds"),
    S("FEED_STALE_IF_ERROR", 86400, int, "`Cache-Control` stale-if-error of feeds, seconds"),
    S("MAX_BODY_BYTES", 1024 * 1024, int, "largest API request body, bytes", key="MAX_CONTENT_LENGTH"),
    S("SCHEDULE_HORIZON_DAYS", 366, int, "a post's `published_at` may lie at most this many days ahead (never before 1970)"),
    S("SECRET_KEY", None, str, "Flask secret key; random per process when unset (nothing depends on it across restarts)"),
    S("NEWS_PUBLICATION_NAME", None, str, "`news:name` of the Google News sitemap; unset: the site name"),
    S("YANDEX_MAX_AGE_HOURS", 192, int, "oldest post in the Yandex feed, hours"),
    S("YANDEX_MAX_ITEMS", 100, int, "most items in the Yandex feed"),
    S("FEED_ICON_URL", None, str, "Atom icon, JSON Feed icon (square), absolute URL; unset: left out"),
    S("FEED_LOGO_URL", None, str, "Atom logo, RSS `<image>` (else the icon), absolute URL; unset: left out"),
    S("FAVICON_URL", None, str, "JSON Feed favicon, absolute URL; unset: left out"),
    S("FEED_IMAGE_SIZE", None, str, "RSS `<image>` width and height, e.g. `144x60` (at most 144x400)"),
    # partner feeds
    S("SOURCE_DEFAULT_INTERVAL", 900, int, "seconds between fetches of a partner feed"),
    S("SOURCE_MIN_INTERVAL", 60, int, "no fetch interval goes below this, seconds"),
    S("SOURCE_MAX_INTERVAL", 6 * 3600, int, "no interval goes above this (feed hints aside); pushing sources are polled at it"),
    S("SOURCE_MAX_ERRORS", 10, int, "failures in a row before a source is disabled"),
    S("SOURCE_BACKOFF_CAP", 6 * 3600, int, "longest backoff after failures, seconds"),
    S("FETCH_PER_HOST", 1, int, "fetches of one host at once, across every worker"),
    S("FETCH_MAX_CONCURRENT", 0, int, "fetches at once across every worker (`0`: no cap)"),
    S("FETCH_MAX_BYTES", 10 * 1024 * 1024, int, "largest partner feed, bytes, counted after decompression"),
    S("FETCH_TIMEOUT", 30.0, float, "deadline of a whole partner fetch, seconds"),
    S("FETCH_CONNECT_TIMEOUT", 5.0, float, "connecting to a partner, seconds"),
    S("ALLOW_PRIVATE_SOURCES", False, flag, "`1` lets partner and callback URLs resolve to loopback/private addresses (local testing only)"),
    S("FETCH_ALLOW_NETWORKS", (), networks, "private networks partners and callbacks may live on nevertheless, e.g. `10.20.0.0/16,192.168.5.7/32`"),
    S("WEBSUB_LEASE_SECONDS", 10 * 86400, int, "lease asked of partners' WebSub hubs, seconds; renewed before it ends"),
    S("EMBED_HOSTS", ",".join(DEFAULT_EMBED_HOSTS), str, "hosts whose iframes partner HTML keeps, sandboxed; other iframes become links"),
    # failing dependencies
    S("DB_CONNECT_TIMEOUT", 2.0, float, "seconds to connect to PostgreSQL (libpq and psycopg allow no less than 2)"),
    S("DB_POLL_TIMEOUT", 0.3, float, "seconds a poll waits for the feed's version before serving its last copy"),
    S("DB_STATEMENT_TIMEOUT", 3.0, float, "seconds any other database work may take (server-side `statement_timeout` and a client-side deadline)"),
    S("DB_BREAKER_SECONDS", 1.0, float, "after a database failure, how long nothing waits on it (a background probe checks)"),
    S("DB_RETRY_AFTER", 5, int, "`Retry-After` of the 503s while the database is unavailable, seconds"),
    S("REDIS_TIMEOUT", 0.05, float, "connect and socket timeout of each Redis call, seconds (no retries)"),
    S("REDIS_BREAKER_SECONDS", 2.0, float, "after a Redis failure, how long the process keeps off Redis, seconds"),
    S("RENDER_LOCK_WAIT", 0.5, float, "how long a poll waits for another process's render of the same new version, seconds"),
    # WebSub and the cache in front
    S("WEBSUB_HUB", True, flag, "our own hub at `/websub`"),
    S("WEBSUB_HUBS", (), csv, "comma-separated external hubs to advertise and ping"),
    S("WEBSUB_LEASE_MIN", 300, int, "shortest lease our hub grants, seconds"),
    S("WEBSUB_LEASE_MAX", 864000, int, "longest lease our hub grants, seconds"),
    S("WEBSUB_LEASE_DEFAULT", 86400, int, "lease when a subscriber asks for none, seconds"),
    S("WEBSUB_QUIET", 1.0, float, "a scope's changes go out once it has been quiet this long, seconds (coalescing)"),
    S("WEBSUB_MAX_DELAY", 10.0, float, "… or at the latest this long after its oldest unsent change, seconds"),
    S("WEBSUB_RATE_LIMIT", 30, int, "subscription requests a minute per callback host and per client address"),
    S("WEBSUB_MAX_FAILURES", 12, int, "failed deliveries in a row before a subscription is dropped"),
    S("WEBSUB_RETRY_BASE", 5.0, float, "first backoff of deliveries, pings and purges, seconds (doubling)"),
    S("WEBSUB_RETRY_CAP", 3600.0, float, "longest backoff of deliveries, pings and purges, seconds"),
    S("WEBSUB_TIMEOUT", 10.0, float, "per delivery, verification, ping or purge, seconds"),
    S("WEBSUB_CONCURRENCY", 16, int, "deliveries in flight per worker process"),
    S("PURGE_URL", "", str, "purge or refresh endpoint of the cache in front, `{path}` or `{url}` filled in, e.g. `http://127.0.0.1{path}`; unset: none"),
    S("PURGE_METHOD", "PURGE", str, "method of those requests: `PURGE`, or `REFRESH` (a GET nginx answers by re-fetching the feed)"),
    S("PURGE_WAIT", 2.0, float, "seconds an API write's answer waits for its purges (sent side by side); `0`: it does not wait"),
    S("TRUSTED_PROXIES", 0, int, "proxies in front whose `X-Forwarded-For` / `-Proto` the app believes (werkzeug's ProxyFix); `1` behind deploy/'s nginx"),
    # logs
    S("LOG_LEVEL", "INFO", str, "level of the service's own loggers (other libraries log warnings and up)"),
    S("LOG_FORMAT", "text", str, "`text`, or `json` (one object per line: time, level, logger, message, exc_info)"),
    # outside the app
    S("ENV_FILE", None, str, "env file the `feedsvc` command reads (as `--env-file`), in the systemd `EnvironmentFile` format", app=False),
    S("APP_DIR", None, str, "where `wsgi.py` is, for `deploy/gunicorn.conf.py`; unset: next to `deploy/`", app=False),
)
# fmt: on
del S

BY_ENV: dict[str, Setting] = {s.env: s for s in SETTINGS}

# Flask keys no variable sets (instance/config.py may).
_INTERNAL: dict[str, Any] = {
    "FEED_DEFAULT_LIMIT": 50,
    "FEED_MAX_LIMIT": 200,
    # Feeds never go stale by time (keys carry a version); the timeout only evicts old versions.
    "CACHE_DEFAULT_TIMEOUT": 24 * 3600,
    "API_TITLE": "feedsvc admin API",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
    "JSON_SORT_KEYS": False,
}

DEFAULTS: dict[str, Any] = {
    **{s.config_key: s.default for s in SETTINGS if s.app and s.default is not None},
    # Unset optional values are present as None, so that code may index them.
    **{s.config_key: None for s in SETTINGS if s.app and s.default is None and s.name != "SECRET_KEY"},
    **_INTERNAL,
}
DEFAULTS.pop("DATABASE_URL", None)  # finalize() fills it in from the instance path


def unknown_names(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """Every ``FEEDSVC_*`` name of ``environ`` that no setting has, with the closest valid name."""
    valid = list(BY_ENV)
    out = []
    for name in sorted(environ):
        if name.startswith(PREFIX) and name not in BY_ENV:
            out.append((name, difflib.get_close_matches(name, valid, n=1, cutoff=0.0)[0]))
    return out


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse an environment with a misspelt or retired ``FEEDSVC_*`` name: ignoring it silently
    would run with a default the operator meant to change."""
    unknown = unknown_names(environ)
    if unknown:
        lines = [f"unknown setting {name} (did you mean {best}?)" for name, best in unknown]
        raise ConfigError("; ".join(lines) + "; every setting is listed in deploy/feedsvc.env.sample")


def read(setting: Setting, environ: Mapping[str, str]) -> Any:
    """The setting's value from ``environ``, or its default when unset or empty."""
    raw = environ.get(setting.env)
    if raw is None or raw == "":
        return setting.default
    try:
        return setting.parse(raw)
    except ValueError as exc:
        kind = {int: "an integer", float: "a number", str: "text"}.get(setting.parse)  # type: ignore[call-overload]
        detail = f"expected {kind}" if kind else str(exc)
        raise ConfigError(f"{setting.env}={raw!r}: {detail}") from None


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Flask config values of the variables set in ``environ``, after refusing unknown names."""
    check_environment(environ)
    out: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if setting.app and raw is not None and raw != "":
            out[setting.config_key] = read(setting, environ)
    return out


def env_value(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting read outside the app (``name`` without the prefix), e.g. before it exists."""
    return read(BY_ENV[PREFIX + name], os.environ if environ is None else environ)


def finalize(config: dict[str, Any], instance_path: str) -> None:
    """Fill derived values and reject settings that cannot work, with a clear message."""
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{Path(instance_path) / 'feedsvc.sqlite3'}"
    config["DATABASE_URL"] = normalize_database_url(config["DATABASE_URL"])
    langs = config["LANGUAGES"]
    if isinstance(langs, str):
        langs = [part.strip().lower() for part in langs.split(",") if part.strip()]
    if not langs:
        raise ConfigError("FEEDSVC_LANGUAGES must name at least one language")
    config["LANGUAGE_LIST"] = tuple(langs)
    config["BASE_URL"] = str(config["BASE_URL"]).rstrip("/")
    if not config["BASE_URL"].startswith(("http://", "https://")):
        raise ConfigError("FEEDSVC_BASE_URL must be an absolute http(s) URL")
    try:
        config["ZONE"] = ZoneInfo(config["TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"FEEDSVC_TIMEZONE: unknown time zone {config['TIMEZONE']!r}") from exc
    config.setdefault("SECRET_KEY", os.urandom(16).hex())
    hosts = config["EMBED_HOSTS"]
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    config["EMBED_HOST_LIST"] = tuple(h.strip().lower() for h in hosts if h.strip())
    if isinstance(config["WEBSUB_HUBS"], str):
        config["WEBSUB_HUBS"] = csv(config["WEBSUB_HUBS"])
    for hub in config["WEBSUB_HUBS"]:
        if not hub.startswith(("http://", "https://")):
            raise ConfigError(f"FEEDSVC_WEBSUB_HUBS: {hub!r} is not an absolute http(s) URL")
    if not config["WEBSUB_LEASE_MIN"] <= config["WEBSUB_LEASE_DEFAULT"] <= config["WEBSUB_LEASE_MAX"]:
        raise ConfigError("FEEDSVC_WEBSUB_LEASE_MIN <= FEEDSVC_WEBSUB_LEASE_DEFAULT <= FEEDSVC_WEBSUB_LEASE_MAX is needed")
    config["NEWS_PUBLICATION_NAME"] = config.get("NEWS_PUBLICATION_NAME") or config["SITE_NAME"]
    for key in ("FEED_ICON_URL", "FEED_LOGO_URL", "FAVICON_URL"):
        value = config.get(key)
        if value and not str(value).startswith(("http://", "https://")):
            raise ConfigError(f"FEEDSVC_{key} must be an absolute http(s) URL")
    config["FEED_IMAGE_SIZE"] = _image_size(config.get("FEED_IMAGE_SIZE"))
    for key in ("YANDEX_MAX_AGE_HOURS", "YANDEX_MAX_ITEMS"):
        if int(config[key]) < 1:
            raise ConfigError(f"FEEDSVC_{key} must be at least 1")


def _image_size(value: Any) -> tuple[int, int] | None:
    """RSS <image> width and height: RSS allows at most 144 by 400 pixels."""
    if not value:
        return None
    if isinstance(value, str):
        width_text, _, height_text = value.lower().partition("x")
        try:
            value = (int(width_text), int(height_text))
        except ValueError:
            raise ConfigError("FEEDSVC_FEED_IMAGE_SIZE must look like 144x144") from None
    width, height = value
    if not (0 < width <= 144 and 0 < height <= 400):
        raise ConfigError("FEEDSVC_FEED_IMAGE_SIZE: RSS allows at most 144 wide and 400 high")
    return width, height


def normalize_database_url(url: str) -> str:
    # psycopg 3 is the PostgreSQL driver; accept the plain scheme operators usually write.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
