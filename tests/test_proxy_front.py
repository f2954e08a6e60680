"""The app behind its cache in front: the client's address through trusted proxies (ProxyFix), and the
refreshes of the cache after a write, sent side by side and awaited by the write's answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask

from tests.helpers import Api, make_token

BASE = "http://news.example"


def subscribe(client, callback: str, forwarded: str | None):  # type: ignore[no-untyped-def]
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    data = {"hub.callback": callback, "hub.mode": "subscribe", "hub.topic": f"{BASE}/feed.rss"}
    return client.post("/websub", data=data, headers=headers)


@pytest.mark.parametrize("trusted", [0, 1])
def test_per_client_limits_see_the_client_behind_trusted_proxies(
    app_factory: Callable[..., Flask], trusted: int
) -> None:
    app = app_factory(BASE_URL=BASE, WEBSUB_RATE_LIMIT=2, TRUSTED_PROXIES=trusted)
    client = app.test_client()
    # Another callback host each time: only the client address can reach the limit.
    first = [subscribe(client, f"http://203.0.113.{n}/cb", "198.51.100.1").status_code for n in range(3)]
    assert first == [202, 202, 429]
    other = subscribe(client, "http://203.0.113.50/cb", "198.51.100.2")
    # Behind one trusted proxy another client has a bucket of its own; trusting none, every client
    # is the proxy's address, one bucket for all.
    assert other.status_code == (202 if trusted else 429)
    # Only the last hop (the one our proxy added) is believed: a client cannot pick its address.
    spoofed = subscribe(client, "http://203.0.113.51/cb", "198.51.100.9, 198.51.100.1")
    assert spoofed.status_code == 429


@dataclass
class SlowCache:
    """A cache in front that takes ``delay`` seconds per refresh, recording each and the overlap."""

    delay: float
    seen: list[tuple[str, str]] = field(default_factory=list)
    in_flight: int = 0
    most: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def slow_cache() -> Iterator[tuple[SlowCache, str]]:
    state = SlowCache(delay=0.25)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.in_flight += 1
                state.most = max(state.most, state.in_flight)
            time.sleep(state.delay)
            with state.lock:
                state.in_flight -= 1
                state.seen.append((self.path, self.headers.get("Accept-Encoding", "")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write(app: Flask) -> float:
    api = Api(app.test_client(), make_token(app))
    started = time.monotonic()
    created = api.post(
        "/api/posts", {"title": "Срочно", "content": "<p>x</p>", "language": "ru", "categories": []}
    )
    assert created.status_code == 201, created.get_json()
    return time.monotonic() - started


def test_refreshes_go_out_together_before_the_write_is_acknowledged(
    app_factory: Callable[..., Flask], slow_cache: tuple[SlowCache, str]
) -> None:
    state, url = slow_cache
    app = app_factory(BASE_URL=BASE, PURGE_URL=url + "{path}", PURGE_METHOD="REFRESH", PURGE_WAIT=10)
    took = write(app)
    with state.lock:
        seen = list(state.seen)
    # Every changed feed (all languages and ru, three formats), both encodings, done before the 201.
    paths = {p for p, _ in seen}
    assert paths == {f"{s}feed.{f}" for s in ("/", "/ru/") for f in ("rss", "atom", "json")}, seen
    assert sorted(seen) == sorted({(p, e) for p in paths for e in ("identity", "gzip")})
    # Side by side: one after another would take 12 x 0.25 s.
    assert state.most >= 4, state.most
    assert took < 12 * state.delay / 2, took


def test_the_wait_for_refreshes_is_bounded(
    app_factory: Callable[..., Flask], slow_cache: tuple[SlowCache, str]
) -> None:
    state, url = slow_cache
    state.delay = 1.5
    app = app_factory(BASE_URL=BASE, PURGE_URL=url + "{path}", PURGE_METHOD="REFRESH", PURGE_WAIT=0.3)
    took = write(app)
    assert 0.3 <= took < 1.4, took  # answered after the wait, before the refreshes ended
    with state.lock:
        assert state.seen == []
    deadline = time.monotonic() + 10
    while len(state.seen) < 12 and time.monotonic() < deadline:  # they still complete
        time.sleep(0.05)
    assert len(state.seen) == 12
