"""The real service under gunicorn while its dependencies fail: acceptance tests of the reliability work.

Private PostgreSQL and Redis servers (tests/procs.py) are stopped or frozen with SIGSTOP. Every
request has a client timeout, so a hang fails the test instead of stalling the run.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.procs import Stack, wait_until

pytestmark = pytest.mark.slow

FEED = "/ru/feed.rss"
GZIP_FEED = "/ru/events/feed.atom"
TIMEOUT = 3.0  # per request: far above every target, far below "hung"


def timed_get(url: str, **headers: str) -> tuple[httpx.Response, float]:
    t0 = time.monotonic()
    # A fresh connection each time: the two sync workers take them in turn, both get asked.
    r = httpx.get(url, headers={"Connection": "close", **headers}, timeout=TIMEOUT)
    return r, time.monotonic() - t0


def write(stack: Stack, timeout: float = TIMEOUT) -> tuple[httpx.Response, float]:
    t0 = time.monotonic()
    r = httpx.post(
        stack.url + "/api/posts",
        headers=stack.service.auth,
        json={
            "title": f"Fault {uuid.uuid4().hex[:8]}",
            "content": "<p>x</p>",
            "language": "ru",
            "categories": [],
        },
        timeout=timeout,
    )
    return r, time.monotonic() - t0


def rendered(stack: Stack) -> dict[str, str]:
    return stack.warm([(FEED, {"Accept-Encoding": "identity"}), (GZIP_FEED, {"Accept-Encoding": "gzip"})])


def assert_feeds_served(stack: Stack, etags: dict[str, str], limit_s: float = 1.0) -> None:
    for _ in range(6):
        r, took = timed_get(stack.url + FEED, **{"Accept-Encoding": "identity"})
        assert r.status_code == 200 and took < limit_s, (r.status_code, took, r.text[:200])
        r, took = timed_get(stack.url + FEED, **{"If-None-Match": etags[FEED]})
        assert r.status_code == 304 and took < limit_s, (r.status_code, took)
        r, took = timed_get(stack.url + GZIP_FEED, **{"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and took < limit_s, (r.status_code, took)


def assert_api_unavailable(stack: Stack) -> None:
    r, took = write(stack)
    assert r.status_code == 503, (r.status_code, r.text[:300])
    assert took < 1.0, took
    assert r.headers.get("Retry-After", "").isdigit(), r.headers


def assert_ready_names_database(stack: Stack) -> None:
    t0 = time.monotonic()
    r = httpx.get(stack.url + "/readyz", timeout=TIMEOUT)
    assert time.monotonic() - t0 < 1.0
    assert r.status_code == 503
    assert "database" in r.text
    # Names the dependency, gives away nothing about where it lives or what the driver said.
    for leak in ("127.0.0.1", str(stack.pg.port), "Error", "psycopg", "connection", "Traceback"):
        assert leak not in r.text, f"/readyz shows {leak!r}: {r.text[:300]}"


def assert_write_works_within(stack: Stack, seconds: float) -> None:
    took = wait_until(lambda: write(stack, timeout=seconds)[0].status_code == 201, seconds, interval=0.05)
    assert took is not None, f"no successful write within {seconds} s of the database's return"


def test_writers_keep_database_and_feeds_consistent(healthy_stack: Stack) -> None:
    """Four concurrent admin writers for 8 s: no 5xx, and database, API and feeds agree."""
    from writers import print_report, run_check

    report = run_check(healthy_stack.url, healthy_stack.service.token, healthy_stack.pg.url, seconds=8)
    print_report(report)
    # A deadlock the database broke is retried by the write path: none may reach a client.
    assert report.ok, report.as_dict()


def test_postgres_stopped(healthy_stack: Stack) -> None:
    stack = healthy_stack
    etags = rendered(stack)
    stack.pg.stop()
    assert_feeds_served(stack, etags)
    assert_api_unavailable(stack)
    assert_ready_names_database(stack)
    stack.pg.start()
    assert_write_works_within(stack, 2.0)


def test_postgres_hung(healthy_stack: Stack) -> None:
    stack = healthy_stack
    etags = rendered(stack)
    stack.pg.hang()
    assert_feeds_served(stack, etags)
    assert_api_unavailable(stack)
    assert_ready_names_database(stack)
    stack.pg.resume()
    assert_write_works_within(stack, 2.0)


def test_redis_hung(healthy_stack: Stack) -> None:
    stack = healthy_stack
    etags = rendered(stack)
    stack.redis.hang()
    assert_feeds_served(stack, etags, limit_s=0.5)
    # A write changes the feed: its next render cannot come from the frozen cache, yet must be fast.
    r, took = write(stack)
    assert r.status_code == 201 and took < 1.0, (r.status_code, took)
    for _ in range(4):
        fresh, took = timed_get(stack.url + FEED)
        assert fresh.status_code == 200 and took < 0.5, (fresh.status_code, took)
        assert r.json()["guid"] in fresh.text
    t0 = time.monotonic()
    ready = httpx.get(stack.url + "/readyz", timeout=TIMEOUT)
    assert time.monotonic() - t0 < 1.0
    if ready.status_code == 503:
        assert "cache" in ready.text and str(stack.redis.port) not in ready.text
