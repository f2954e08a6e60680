"""Feeds keep flowing when a dependency fails: breakers, stale-if-error copies, 503s with Retry-After.

The fast tier drives the real breakers and a real unreachable Redis port; the slow tier
(tests/test_faults.py) stops and hangs real PostgreSQL and Redis servers under gunicorn.
"""

from __future__ import annotations

import socket
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feedsvc.breaker import Breaker
from feedsvc.cache import FeedCache, cache_config
from feedsvc.public.serving import STALE_HEADER
from tests.helpers import Api


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_waits_then_lets_one_probe_through() -> None:
    clock = Clock()
    breaker = Breaker("thing", window=2.0, clock=clock)
    assert breaker.allow()
    breaker.failure("boom")
    assert breaker.is_open and not breaker.allow()
    assert breaker.retry_after() == 2
    clock.now += 2.5
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.failure("still")
    assert not breaker.allow()
    clock.now += 2.5
    assert breaker.allow()
    breaker.success()
    assert not breaker.is_open and breaker.allow() and breaker.opened == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_redis_costs_one_attempt_per_window() -> None:
    """Calls to a Redis that is not there fail fast, once; then the breaker keeps callers off it."""
    import redis

    config = cache_config(f"redis://127.0.0.1:{_closed_port()}/0", "/tmp", timeout=0.05)
    from cachelib.redis import RedisCache

    client = redis.Redis.from_url(config["CACHE_REDIS_URL"], **config["CACHE_OPTIONS"])
    cache = FeedCache(RedisCache(host=client), enabled=True, breaker_window=60)
    attempts = 0
    real_get = cache.backend.get

    def counted(key: str) -> object:
        nonlocal attempts
        attempts += 1
        return real_get(key)

    cache.backend.get = counted
    cache.set("k", b"body")  # kept in the process even though Redis failed
    t0 = time.monotonic()
    for _ in range(50):
        assert cache.get("other") is None
    assert time.monotonic() - t0 < 0.5
    assert attempts == 0  # the failed write already opened the breaker
    assert cache.get("k") == b"body"
    assert cache.claim("lock:k", timeout=1)  # without a backend the caller renders itself


def _post(api: Api, title: str = "Новость") -> dict:
    r = api.post("/api/posts", {"title": title, "content": "<p>x</p>", "language": "ru", "categories": []})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.fixture
def database(app: Flask):  # type: ignore[no-untyped-def]
    database = app.extensions["feedsvc.database"]
    yield database
    database.breaker.success()


def test_feeds_come_from_their_last_copy_while_the_database_is_out(
    client: FlaskClient, api: Api, database
) -> None:  # type: ignore[no-untyped-def]
    _post(api)
    first = client.get("/ru/feed.rss")
    zipped = client.get("/ru/feed.rss", headers={"Accept-Encoding": "gzip"})
    database.breaker.failure("test outage")  # what a failed or timed-out query does
    stale = client.get("/ru/feed.rss")
    assert stale.status_code == 200 and stale.data == first.data
    assert stale.headers["ETag"] == first.headers["ETag"]
    assert stale.headers[STALE_HEADER] == "database-unavailable" and stale.headers["Age"].isdigit()
    assert client.get("/ru/feed.rss", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    again = client.get("/ru/feed.rss", headers={"Accept-Encoding": "gzip"})
    assert again.status_code == 200 and again.data == zipped.data
    # A feed never rendered has no copy: 503 with Retry-After, in the error shape.
    never = client.get("/uz/feed.json?limit=7")
    assert never.status_code == 503 and never.headers["Retry-After"].isdigit()
    assert never.get_json()["error"]["code"] == "unavailable"


def test_api_answers_503_with_retry_after_while_the_database_is_out(api: Api, database) -> None:  # type: ignore[no-untyped-def]
    database.breaker.failure("test outage")
    r = api.post("/api/posts", {"title": "T", "content": "<p>x</p>", "language": "ru", "categories": []})
    assert r.status_code == 503
    assert r.headers["Retry-After"].isdigit()
    assert r.get_json()["error"]["code"] == "unavailable"
    assert api.get("/api/posts").status_code == 503


def test_database_back_closes_the_breaker(client: FlaskClient, api: Api, database) -> None:  # type: ignore[no-untyped-def]
    _post(api)
    client.get("/ru/feed.rss")
    clock = Clock()
    database.breaker.clock = clock
    database.breaker.failure("test outage")
    assert client.get("/ru/feed.rss").headers.get(STALE_HEADER) == "database-unavailable"
    clock.now += database.breaker.window + 0.1  # past the window: the next call starts the probe
    client.get("/ru/feed.rss")
    deadline = time.monotonic() + 3
    while database.breaker.is_open and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not database.breaker.is_open
    fresh = _post(api, "Снова")
    assert fresh["guid"] in client.get("/ru/feed.rss").get_data(as_text=True)
