"""The production front end to end: nginx (deploy/nginx.conf) in front of gunicorn
(deploy/gunicorn.conf.py, 2 workers) and the ingestion worker, on the suite's backend (SQLite + the
in-process cache by default, PostgreSQL + Redis when the environment names them).

Every process is started here on 127.0.0.1, on ports of this suite's range, and stopped by its PID.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from feedsvc.db import make_engine
from tests.feedcheck import assert_valid
from tests.helpers import start_post_ids_at, wipe
from tests.procs import render_nginx

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
NGINX_PORTS = range(59000, 59050)
GUNICORN_PORTS = range(59050, 59100)
FORMAT_OF = {"rss": "rss", "atom": "atom", "json": "json"}
FIXTURES = Path(__file__).parent / "fixtures" / "partners"


def port_in(ports: range) -> int:
    """A free port of this suite's range (others may be taken by colleagues' runs)."""
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip(f"no free port in {ports.start}-{ports.stop - 1}")


def wait_until(check: object, seconds: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.TransportError:
            pass
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {seconds} s")


@dataclass
class Front:
    url: str  # nginx
    app_url: str  # gunicorn, directly
    env: dict[str, str]
    editor: str
    scraper: str
    metrics_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: Path = Path()

    def get(self, path: str, **kw: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kw)  # type: ignore[arg-type]

    def scrape(self, base: str | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        r = httpx.get(
            (base or self.url) + "/metrics", headers={"Authorization": f"Bearer {self.scraper}"}, timeout=10
        )
        assert r.status_code == 200, r.text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text)
            for s in family.samples
        }

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM if name != "nginx" else signal.SIGQUIT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def tail(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def feedsvc(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "feedsvc"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"feedsvc {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout.strip()


@pytest.fixture(scope="module")
def front(backend: dict[str, str]) -> Iterator[Front]:
    if NGINX is None:
        pytest.skip("nginx is not installed (make nginx installs it)")
    # A directory of its own, readable by nginx's unprivileged workers (pytest's are private to root).
    base = Path(tempfile.mkdtemp(prefix="feedsvc-front-"))
    base.chmod(0o755)
    nginx_port, app_port = port_in(NGINX_PORTS), port_in(GUNICORN_PORTS)
    metrics_dir = base / "metrics"
    metrics_dir.mkdir()
    logs = base / "logs-app"
    logs.mkdir()
    env = {
        **os.environ,
        "FEEDSVC_DATABASE_URL": backend["DATABASE_URL"],
        "FEEDSVC_CACHE_URL": backend["CACHE_URL"],
        "FEEDSVC_BASE_URL": f"http://127.0.0.1:{nginx_port}",
        "FEEDSVC_ALLOW_PRIVATE_SOURCES": "1",  # the partner feed below is on 127.0.0.1
        # After each change the app asks nginx to fetch the changed feeds anew (deploy/nginx-site.conf).
        "FEEDSVC_PURGE_URL": f"http://127.0.0.1:{nginx_port}{{path}}",
        "FEEDSVC_PURGE_METHOD": "REFRESH",
        "FEEDSVC_TRUSTED_PROXIES": "1",  # nginx; the client's address comes from X-Forwarded-For
        "FEEDSVC_LOG_FORMAT": "json",  # the app's access lines, read by the tests below
        # Shared by gunicorn's workers and the ingestion worker: one scrape shows them all.
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    engine = make_engine(backend["DATABASE_URL"])
    wipe(engine)  # demo data goes into an empty database
    front = Front(f"http://127.0.0.1:{nginx_port}", f"http://127.0.0.1:{app_port}", env, "", "", metrics_dir)
    front.logs = logs
    try:
        feedsvc(env, "init-db")
        feedsvc(env, "demo")
        # Post ids of six digits: the post keys of ?limit=200 outgrow nginx's default header buffer,
        # and the feeds' header sizes spread over both sides of one TCP segment (1,460 bytes).
        start_post_ids_at(backend["DATABASE_URL"], 100_000)
        feedsvc(env, "demo", "--posts", "3000")
        front.editor = feedsvc(env, "tokens", "create", "front-editor").splitlines()[-1]
        front.scraper = feedsvc(
            env, "tokens", "create", "front-prometheus", "--right", "metrics"
        ).splitlines()[-1]

        def start(name: str, argv: list[str]) -> None:
            out = (logs / f"{name}.log").open("wb")
            front.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

        start(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "-c",
                str(DEPLOY / "gunicorn.conf.py"),
                "-b",
                f"127.0.0.1:{app_port}",
                "-w",
                "2",
            ],
        )
        start("worker", [str(BIN / "feedsvc"), "worker", "--idle-sleep", "0.2"])
        prefix = base / "nginx"
        prefix.mkdir(mode=0o755)
        conf = render_nginx(prefix, nginx_port, f"127.0.0.1:{app_port}")
        tested = subprocess.run(
            [NGINX, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True
        )
        assert tested.returncode == 0, tested.stderr
        start("nginx", [NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"])
        try:
            wait_until(
                lambda: httpx.get(front.app_url + "/healthz", timeout=1).status_code == 200, 30, "gunicorn"
            )
            wait_until(lambda: front.get("/healthz").status_code == 200, 10, "nginx")
        except AssertionError:
            errors = (
                (prefix / "logs" / "error.log").read_text()
                if (prefix / "logs" / "error.log").exists()
                else ""
            )
            pytest.fail("the front did not start:\n" + front.tail("gunicorn") + front.tail("nginx") + errors)
        yield front
    finally:
        for name in ("nginx", "worker", "gunicorn"):
            front.stop(name)
        wipe(engine)
        engine.dispose()
        shutil.rmtree(base, ignore_errors=True)


def feed_urls(front: Front) -> list[str]:
    opml = front.get("/feeds.opml")
    assert opml.status_code == 200
    assert_valid("opml", opml.content)
    urls = [o.get("xmlUrl") for o in etree.fromstring(opml.content).iter("outline") if o.get("xmlUrl")]
    assert all(u.startswith(front.url + "/") for u in urls)
    return urls


def test_every_feed_through_nginx_is_valid(front: Front) -> None:
    urls = feed_urls(front)
    assert len(urls) >= 3 * 4 * 3  # every language, with and without a category, in three formats
    for url in urls:
        r = httpx.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
        assert r.status_code == 200, url
        assert r.headers["ETag"].startswith('W/"') and r.headers["Vary"] == "Accept-Encoding"
        assert r.headers["Cache-Control"].startswith("public, max-age=300, stale-while-revalidate=")
        assert "Content-Encoding" not in r.headers  # nginx compresses nothing itself
        assert_valid(FORMAT_OF[url.rsplit(".", 1)[1]], r.content, self_url=url)
    # gzip as the app made it, stored as a variant of its own, with the same validators.
    plain = front.get("/ru/feed.atom", headers={"Accept-Encoding": "identity"})
    for _ in range(2):
        zipped = httpx.get(front.url + "/ru/feed.atom", headers={"Accept-Encoding": "gzip"}, timeout=10)
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert zipped.headers["ETag"] == plain.headers["ETag"]
    assert zipped.content == plain.content  # httpx decodes it
    refused = httpx.get(front.url + "/ru/feed.atom", headers={"Accept-Encoding": "gzip;q=0, br"}, timeout=10)
    assert "Content-Encoding" not in refused.headers


def test_nginx_answers_conditional_polls_and_revalidates(front: Front) -> None:
    first = front.get("/uz/feed.rss")
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    before = front.scrape(front.app_url)
    polls = 0
    deadline = time.monotonic() + 6.5  # longer than nginx's 5 s validity: a revalidation happens
    statuses: set[str] = set()
    while time.monotonic() < deadline:
        for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
            r = front.get("/uz/feed.rss", headers=headers)
            assert r.status_code == 304 and r.content == b""
            assert r.headers["ETag"] == etag
            statuses.add(r.headers["X-Cache-Status"])
            polls += 1
        time.sleep(0.02)
    after = front.scrape(front.app_url)
    app_304 = value(after, "feedsvc_requests_total", kind="feed", format="rss", status="304") - value(
        before, "feedsvc_requests_total", kind="feed", format="rss", status="304"
    )
    app_200 = value(after, "feedsvc_requests_total", kind="feed", format="rss", status="200") - value(
        before, "feedsvc_requests_total", kind="feed", format="rss", status="200"
    )
    assert "HIT" in statuses
    # nginx answered the polls itself and asked the app a few times, conditionally (the app's 304s).
    assert 1 <= app_304 <= 8 and app_200 == 0, (polls, app_304, app_200)
    assert polls > 4 * app_304


def test_a_write_is_visible_at_nginx_on_the_first_poll_after_its_201(front: Front) -> None:
    headers = {"Authorization": f"Bearer {front.editor}"}
    timings = []
    with httpx.Client(timeout=10) as client:
        for n in range(4):
            for encoding in ("identity", "gzip"):  # both variants cached at nginx
                assert (
                    client.get(front.url + "/ru/feed.json", headers={"Accept-Encoding": encoding}).status_code
                    == 200
                )
            title = f"Срочно {n} {time.time_ns()}"
            sent = time.monotonic()
            created = client.post(
                front.url + "/api/posts",
                json={"title": title, "content": "<p>Текст</p>", "language": "ru", "categories": []},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            assert created.headers.get("X-Cache-Status") is None  # the API is not cached
            timings.append(time.monotonic() - sent)
            # The 201 came once nginx held the new copies: the very first poll shows the write.
            for encoding in ("identity", "gzip"):
                first = client.get(front.url + "/ru/feed.json", headers={"Accept-Encoding": encoding})
                assert title in first.text, (n, encoding, first.headers.get("X-Cache-Status"))
                assert first.headers["X-Cache-Status"] == "HIT"
    print(f"POST → 201 (nginx refreshed): {', '.join(f'{t:.2f}' for t in timings)} s")
    assert max(timings) < 2.0, timings


def quiet_scrape(front: Front) -> dict:
    """A scrape once the app's own refresh requests (after earlier writes: at once, then the
    worker's durable ones after the 1 s quiet period) have settled."""
    deadline = time.monotonic() + 15
    last = front.scrape()
    while time.monotonic() < deadline:
        time.sleep(2.0)
        now = front.scrape()

        def feeds(samples: dict) -> dict:
            return {
                k: v
                for k, v in samples.items()
                if k[0] == "feedsvc_requests_total" and ("kind", "feed") in k[1]
            }

        if feeds(now) == feeds(last):
            return now
        last = now
    raise AssertionError("the app kept receiving requests for 15 s")


def test_metrics_add_up_across_workers_and_the_ingestion_worker(front: Front, httpserver: HTTPServer) -> None:
    before = quiet_scrape(front)
    n = 40
    for _ in range(n):  # straight to gunicorn, a new connection each time: both workers answer
        r = httpx.get(front.app_url + "/en/feed.atom", headers={"Connection": "close"}, timeout=10)
        assert r.status_code == 200
    polled = front.scrape()  # before the ingestion below, whose refreshes of nginx reach the app too
    rss = (FIXTURES / "ru_rss20_utf8.xml").read_bytes()
    httpserver.expect_request("/partner.rss").respond_with_data(rss, content_type="application/rss+xml")
    created = httpx.post(
        front.url + "/api/sources",
        json={"url": httpserver.url_for("/partner.rss"), "language": "ru"},
        headers={"Authorization": f"Bearer {front.editor}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    fetched = "feedsvc_ingest_fetches_total"

    def ingested() -> bool:
        return value(front.scrape(), fetched, outcome="new") > value(before, fetched, outcome="new")

    wait_until(ingested, 15, "the ingestion worker's fetch in the scrape", interval=0.2)
    after = front.scrape()
    requests = "feedsvc_requests_total"
    labels = {"kind": "feed", "format": "atom", "status": "200"}
    assert value(polled, requests, **labels) - value(before, requests, **labels) == n
    assert (
        value(after, "feedsvc_ingest_items_total", change="new")
        - value(before, "feedsvc_ingest_items_total", change="new")
        == 3
    )
    assert value(after, "feedsvc_breaker_open", dependency="database") == 0
    # Each process writes its own files; the sum above came from more than one gunicorn worker.
    gunicorn = front.procs["gunicorn"].pid
    children = Path(f"/proc/{gunicorn}/task/{gunicorn}/children").read_text().split()
    writers = {
        int(m.group(1)) for p in front.metrics_dir.glob("counter_*.db") if (m := re.search(r"_(\d+)", p.name))
    }
    assert len(writers & {int(c) for c in children}) == 2
    assert front.procs["worker"].pid in writers


def app_log_entries(front: Front) -> list[dict]:
    entries = []
    for line in (front.logs / "gunicorn.log").read_text(errors="replace").splitlines():
        if line.startswith("{") and '"event": "request"' in line:
            entries.append(json.loads(line))
    return entries


def timed_gets(port: int, path: str, n: int) -> tuple[float, int, int]:
    """``n`` GETs of ``path`` one after another on one keep-alive connection, each body read in full
    (by Content-Length), as a poller does; the median seconds, the header and the body size."""
    times: list[float] = []
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept-Encoding: identity\r\n\r\n".encode()
    head_size = body_size = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        buffer = b""
        for _ in range(n):
            started = time.perf_counter()
            sock.sendall(request)
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                assert chunk, "nginx closed the connection"
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 200"), head[:100]
            assert b"X-Cache-Status: HIT" in head, head
            length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            while len(buffer) < length:
                chunk = sock.recv(65536)
                assert chunk, "nginx closed the connection"
                buffer += chunk
            buffer = buffer[length:]
            times.append(time.perf_counter() - started)
            head_size, body_size = len(head) + 4, length
    return statistics.median(times), head_size, body_size


def test_cached_answers_leave_at_once_on_a_keep_alive_connection(front: Front) -> None:
    """Under tcp_nopush a cached 200 whose header was under one TCP segment (1,460 bytes) and whose
    body was over about 64 KB waited for the client's delayed ACK (~40 ms): 25 answers/s per
    connection. Measured here: /ru/feed.atom?limit=30 (header 1,253 B, body 70 KB) took 44 ms."""
    port = int(front.url.rsplit(":", 1)[1])
    # Header sizes grow with the post keys (24 bytes a post): these spread over the sizes that stalled.
    paths = [
        f"/{lang}/feed.{fmt}?limit={limit}"
        for lang, fmt in (("en", "rss"), ("ru", "atom"), ("uz", "json"))
        for limit in (1, 3, 5, 10, 20, 25, 30, 35, 40, 50, 100, 200)
    ]
    sizes = []
    for path in paths:
        deadline = time.monotonic() + 5
        while front.get(path, headers={"Accept-Encoding": "identity"}).headers["X-Cache-Status"] != "HIT":
            assert time.monotonic() < deadline, path
            time.sleep(0.02)
        median, head, body = timed_gets(port, path, 10)
        sizes.append((path, head, body, median))
    print("\n".join(f"{p}: header {h} B, body {b} B, median {m * 1000:.2f} ms" for p, h, b, m in sizes))
    # nginx sends a cached feed in about a millisecond; the stall is 40 ms and more.
    slow = [(p, h, b, round(m * 1000, 1)) for p, h, b, m in sizes if m > 0.02]
    assert not slow, slow


def test_the_largest_pages_pass_nginx(front: Front) -> None:
    for path in ("/feed.rss?limit=200", "/ru/feed.atom?limit=150", "/en/feed.json?limit=200"):
        r = front.get(path, headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200, (path, r.status_code)
        assert_valid(FORMAT_OF[path.split("?")[0].rsplit(".", 1)[1]], r.content, self_url=front.url + path)
    big = front.get("/feed.rss?limit=200")
    # Over nginx's default 4 KB header buffer: the post keys of 200 posts.
    assert sum(len(k) + len(v) + 4 for k, v in big.headers.raw) > 4096


def test_query_strings_the_app_does_not_read_neither_split_the_cache_nor_reach_the_app(front: Front) -> None:
    base = "/uz/feed.atom?limit=7"
    deadline = time.monotonic() + 5
    first = front.get(base)
    while first.headers["X-Cache-Status"] != "HIT":
        assert time.monotonic() < deadline
        time.sleep(0.02)
        first = front.get(base)
    for variant in (
        "/uz/feed.atom?limit=7&x=1",
        "/uz/feed.atom?utm_source=a&limit=7&x=2",
        "/uz/feed.atom?x&limit=7",
    ):
        r = front.get(variant)
        assert r.status_code == 200 and r.headers["X-Cache-Status"] == "HIT", variant
        assert r.content == first.content and r.headers["ETag"] == first.headers["ETag"]
    plain = front.get("/uz/feed.atom")
    junk = front.get("/uz/feed.atom?nocache=12345")
    assert junk.headers["X-Cache-Status"] in {"HIT", "UPDATING", "STALE"} and junk.content == plain.content
    # A bad limit still reaches the app and gets its 400; only unread arguments are dropped.
    assert front.get("/uz/feed.atom?limit=0&x=1").status_code == 400
    queries = [e.get("query") or "" for e in app_log_entries(front)]
    assert not [q for q in queries if re.search(r"(^|&)(x|utm_source|nocache)(=|&|$)", q)], queries


def test_request_id_and_client_address_reach_the_app_from_every_location(front: Front) -> None:
    """The feed location sets headers of its own, which cancel the server's: it repeats them."""
    paths = {
        "/ru/feed.rss?limit=23": {},  # cached location, a first request: nginx asks the app
        "/api/posts": {"Authorization": f"Bearer {front.editor}"},
        "/metrics": {"Authorization": f"Bearer {front.scraper}"},
        "/websub": {},
        "/healthz": {},
        "/readyz": {},
    }
    sent = {}
    # From another loopback address, with a forged X-Forwarded-For: the app must see 127.0.0.2,
    # the address nginx saw (one trusted proxy), neither the forged one nor nginx's 127.0.0.1.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=10) as client:
        for path, headers in paths.items():
            request_id = f"front-{os.urandom(6).hex()}"
            r = client.get(
                front.url + path,
                headers={**headers, "X-Request-Id": request_id, "X-Forwarded-For": "203.0.113.9"},
            )
            assert r.status_code < 500, (path, r.status_code)
            assert r.headers["X-Request-Id"] == request_id
            sent[request_id] = path
    deadline = time.monotonic() + 5
    while True:
        seen = {e["request_id"]: e for e in app_log_entries(front) if e.get("request_id") in sent}
        if len(seen) == len(sent) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {sent[i] for i in seen} == set(paths), sorted(set(paths) - {sent[i] for i in seen})
    assert {e["remote_addr"] for e in seen.values()} == {"127.0.0.2"}, seen


# Last: it stops gunicorn.
def test_nginx_serves_feeds_while_the_app_is_down(front: Front) -> None:
    paths = [u.removeprefix(front.url) for u in feed_urls(front)][:12]
    last = {}
    for path in paths:
        for encoding in ("identity", "gzip"):
            # A HIT is the cached copy of the current version (a STALE one may be older).
            r = front.get(path, headers={"Accept-Encoding": encoding})
            deadline = time.monotonic() + 5
            while r.headers["X-Cache-Status"] != "HIT" and time.monotonic() < deadline:
                time.sleep(0.02)
                r = front.get(path, headers={"Accept-Encoding": encoding})
            assert r.status_code == 200 and r.headers["X-Cache-Status"] == "HIT"
            last[path, encoding] = (r.content, r.headers["ETag"])
    front.stop("gunicorn")
    with pytest.raises(httpx.TransportError):
        httpx.get(front.app_url + "/healthz", timeout=1)
    stale_seen = False
    deadline = time.monotonic() + 6.5  # past nginx's 5 s validity: the copies are stale, and still served
    while time.monotonic() < deadline:
        for (path, encoding), (body, etag) in last.items():
            r = front.get(path, headers={"Accept-Encoding": encoding})
            assert r.status_code == 200, (path, r.status_code)
            assert r.content == body and r.headers["ETag"] == etag
            stale_seen |= r.headers["X-Cache-Status"] == "STALE"
            conditional = front.get(path, headers={"Accept-Encoding": encoding, "If-None-Match": etag})
            assert conditional.status_code == 304
        time.sleep(0.05)
    assert stale_seen
    assert front.get("/api/posts").status_code == 502  # nothing to serve for the uncached API
    assert front.get("/readyz").status_code == 502
