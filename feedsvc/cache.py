"""Rendered feeds cache: Flask-Caching behind a small in-process layer and a circuit breaker.

Keys carry the scope's version, so an entry never goes stale; both layers can keep it until evicted.
``FEEDSVC_CACHE_URL``: "simple" (default, in-process, needs no server), "filesystem:///path",
"redis://host:port/db", or "null" (no caching). Redis calls have short connect and socket timeouts
and no retries; after a failure the breaker keeps the process off Redis for a while, so a hung Redis
costs one timeout per window, and feeds come from the in-process layer or are rendered.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app
from flask_caching import Cache

from feedsvc.breaker import Breaker
from feedsvc.config import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")


def cache_config(url: str, instance_path: str, timeout: float = 0.05) -> dict[str, Any]:
    if url in {"null", "none", "off"}:
        return {"CACHE_TYPE": "NullCache"}
    if url in {"simple", "memory"}:
        return {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": 2000}
    if url.startswith(("redis://", "rediss://", "unix://")):
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return {
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_URL": url,
            "CACHE_KEY_PREFIX": "feedsvc:",
            "CACHE_OPTIONS": {
                "socket_connect_timeout": timeout,
                "socket_timeout": timeout,
                "retry": Retry(NoBackoff(), 0),  # the breaker decides when to try again
                "health_check_interval": 0,
            },
        }
    if url.startswith("filesystem:"):
        path = url.removeprefix("filesystem:").removeprefix("//") or f"{instance_path}/cache"
        return {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": path, "CACHE_THRESHOLD": 5000}
    raise ConfigError(
        f"FEEDSVC_CACHE_URL: unsupported cache {url!r} (use simple, filesystem:, redis:// or null)"
    )


class FeedCache:
    """Two layers: a bounded in-process LRU (no network, no unpickling) over the shared backend.

    ``backend`` is the store Flask-Caching configured (cachelib), held directly so that the feed fast
    path can use it outside an application context.
    """

    def __init__(
        self, backend: Any, enabled: bool, local_entries: int = 256, breaker_window: float = 2.0
    ) -> None:
        self.backend = backend
        self.enabled = enabled
        self._local: OrderedDict[str, bytes] = OrderedDict()
        self._local_max = local_entries
        self.breaker = Breaker("feed cache", breaker_window)

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """One call to the shared backend, unless its breaker is open; failures open it."""
        if not self.breaker.allow():
            return None
        try:
            result = fn(*args, **kwargs)
        except Exception as error:  # a cache outage must cost a render, not an error
            self.breaker.failure(f"{what}: {type(error).__name__}")
            return None
        self.breaker.success()
        return result

    def get(self, key: str) -> bytes | None:
        if not self.enabled:
            return None
        body = self._local.get(key)
        if body is not None:
            with contextlib.suppress(KeyError):  # another thread evicted it meanwhile
                self._local.move_to_end(key)
            return body
        body = self._call("read", self.backend.get, key)
        if body is not None:
            self._remember(key, body)
        return body

    def set(self, key: str, body: bytes) -> None:
        if not self.enabled:
            return
        self._remember(key, body)
        self._call("write", self.backend.set, key, body)

    def get_shared(self, key: str) -> bytes | None:
        """From the shared backend only (other processes' copies)."""
        return self._call("read", self.backend.get, key) if self.enabled else None

    def set_shared(self, key: str, value: bytes) -> None:
        if self.enabled:
            self._call("write", self.backend.set, key, value)

    def claim(self, key: str, timeout: int) -> bool:
        """Take a short-lived lock shared by every process (add-if-absent); True without a backend."""
        if not self.enabled:
            return True
        taken = self._call("lock", self.backend.add, key, b"1", timeout=timeout)
        return True if taken is None else bool(taken)

    def release(self, key: str) -> None:
        if self.enabled:
            self._call("unlock", self.backend.delete, key)

    def _remember(self, key: str, body: bytes) -> None:
        self._local[key] = body
        if len(self._local) > self._local_max:
            with contextlib.suppress(KeyError):
                self._local.popitem(last=False)

    def ping(self) -> bool:
        """True when the shared backend answers (readiness check); it bypasses the breaker."""
        if not self.enabled:
            return True
        try:
            self.backend.set("feedsvc:ping", b"1", timeout=10)
            ok = self.backend.get("feedsvc:ping") == b"1"
        except Exception as error:
            self.breaker.failure(f"ping: {type(error).__name__}")
            return False
        if ok:
            self.breaker.success()
        return ok


def init_app(app: Flask) -> None:
    config = cache_config(app.config["CACHE_URL"], app.instance_path, float(app.config["REDIS_TIMEOUT"]))
    if config["CACHE_TYPE"] == "NullCache":
        app.extensions["feedsvc.cache"] = FeedCache(None, enabled=False)
        return
    cache = Cache(app, config={**config, "CACHE_DEFAULT_TIMEOUT": app.config["CACHE_DEFAULT_TIMEOUT"]})
    with app.app_context():
        store = cache.cache
    app.extensions["feedsvc.cache"] = FeedCache(
        store, enabled=True, breaker_window=float(app.config["REDIS_BREAKER_SECONDS"])
    )


def feed_cache() -> FeedCache:
    return current_app.extensions["feedsvc.cache"]
