"""Rendered feeds cache: Flask-Caching behind a small in-process layer.

Keys carry the scope's version, so an entry never goes stale; both layers can keep it until evicted.
``FEEDSVC_CACHE_URL``: "simple" (default, in-process, needs no server), "filesystem:///path",
"redis://host:port/db", or "null" (no caching).
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from typing import Any

from flask import Flask, current_app
from flask_caching import Cache

log = logging.getLogger(__name__)


def cache_config(url: str, instance_path: str) -> dict[str, Any]:
    if url in {"null", "none", "off"}:
        return {"CACHE_TYPE": "NullCache"}
    if url in {"simple", "memory"}:
        return {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": 2000}
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url, "CACHE_KEY_PREFIX": "feedsvc:"}
    if url.startswith("filesystem:"):
        path = url.removeprefix("filesystem:").removeprefix("//") or f"{instance_path}/cache"
        return {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": path, "CACHE_THRESHOLD": 5000}
    raise ValueError(
        f"FEEDSVC_CACHE_URL: unsupported cache {url!r} (use simple, filesystem:, redis:// or null)"
    )


class FeedCache:
    """Two layers: a bounded in-process LRU (no network, no unpickling) over the shared backend.

    ``backend`` is the store Flask-Caching configured (cachelib), held directly so that the feed fast
    path can use it outside an application context.
    """

    def __init__(self, backend: Any, enabled: bool, local_entries: int = 256) -> None:
        self.backend = backend
        self.enabled = enabled
        self._local: OrderedDict[str, bytes] = OrderedDict()
        self._local_max = local_entries

    def get(self, key: str) -> bytes | None:
        if not self.enabled:
            return None
        body = self._local.get(key)
        if body is not None:
            with contextlib.suppress(KeyError):  # another thread evicted it meanwhile
                self._local.move_to_end(key)
            return body
        try:
            body = self.backend.get(key)
        except Exception as exc:  # a cache outage must cost a render, not an error
            log.warning("feed cache read failed: %s", exc)
            return None
        if body is not None:
            self._remember(key, body)
        return body

    def set(self, key: str, body: bytes) -> None:
        if not self.enabled:
            return
        self._remember(key, body)
        try:
            self.backend.set(key, body)
        except Exception as exc:
            log.warning("feed cache write failed: %s", exc)

    def _remember(self, key: str, body: bytes) -> None:
        self._local[key] = body
        if len(self._local) > self._local_max:
            with contextlib.suppress(KeyError):
                self._local.popitem(last=False)

    def ping(self) -> bool:
        """True when the shared backend answers (readiness check)."""
        if not self.enabled:
            return True
        self.backend.set("feedsvc:ping", b"1", timeout=10)
        return self.backend.get("feedsvc:ping") == b"1"


def init_app(app: Flask) -> None:
    config = cache_config(app.config["CACHE_URL"], app.instance_path)
    if config["CACHE_TYPE"] == "NullCache":
        app.extensions["feedsvc.cache"] = FeedCache(None, enabled=False)
        return
    cache = Cache(app, config={**config, "CACHE_DEFAULT_TIMEOUT": app.config["CACHE_DEFAULT_TIMEOUT"]})
    with app.app_context():
        store = cache.cache
    app.extensions["feedsvc.cache"] = FeedCache(store, enabled=True)


def feed_cache() -> FeedCache:
    return current_app.extensions["feedsvc.cache"]
