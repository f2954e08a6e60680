"""WebSub benchmark against the real service: gunicorn (wsgi:app) plus ``feedsvc websub-worker``.

    python bench/websub.py                 # 100 posts, 1,000 subscribers, SQLite in a temp dir
    python bench/websub.py --quick         # 20 posts, 200 subscribers, 1 round
    python bench/websub.py --posts 50 --subscribers 500 --quiet 1.0

Two figures:

* latency: time from ``POST /api/posts`` (sent) to the signed delivery of the feed that shows the
  post at a local subscriber, p50 and p99 over ``--posts`` posts written one after another. It
  includes the hub's quiet period (``FEEDSVC_WEBSUB_QUIET``, default 1 s), which coalesces bursts;
* fan-out: deliveries per second to ``--subscribers`` subscribers of one feed (one local threaded
  server with a distinct callback path per subscriber), from the first to the last delivery.

Every delivery's X-Hub-Signature is checked. The subscriber runs in this process.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from procs import kill_group, spawn, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
FEEDSVC = str(Path(sys.executable).with_name("feedsvc"))
BASE_URL = "https://news.example.uz"
SECRET = b"bench-secret"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: the default 5 drops connections of a fan-out burst


class Subscriber:
    """Answers verifications; records (arrival time, path, body) of every correctly signed delivery."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: list[tuple[float, str, bytes]] = []
        self.bad_signatures = 0
        self.verified = 0
        me = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                with me.lock:
                    me.verified += 1
                self._answer(200, query.get("hub.challenge", [""])[0].encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
                with me.lock:
                    if hmac.compare_digest(self.headers.get("X-Hub-Signature", ""), expected):
                        me.deliveries.append((now, urlsplit(self.path).path, body))
                    else:
                        me.bad_signatures += 1
                self._answer(204)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def since(self, index: int) -> list[tuple[float, str, bytes]]:
        with self.lock:
            return self.deliveries[index:]


def wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {what}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def subscribe(client: httpx.Client, base: str, callback: str, topic: str) -> None:
    r = client.post(
        base + "/websub",
        data={
            "hub.mode": "subscribe",
            "hub.callback": callback,
            "hub.topic": topic,
            "hub.secret": SECRET.decode(),
        },
    )
    if r.status_code != 202:
        raise SystemExit(f"subscribe refused: {r.status_code} {r.text}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20 posts, 200 subscribers, 1 round")
    parser.add_argument("--posts", type=int, default=None, help="default 100, quick 20")
    parser.add_argument("--subscribers", type=int, default=None, help="default 1000, quick 200")
    parser.add_argument("--rounds", type=int, default=None, help="fan-out rounds, one post each (3; quick 1)")
    parser.add_argument(
        "--quiet", type=float, default=None, help="FEEDSVC_WEBSUB_QUIET (default: the service's)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    args.posts = args.posts or (20 if args.quick else 100)
    args.subscribers = args.subscribers or (200 if args.quick else 1000)
    args.rounds = args.rounds or (1 if args.quick else 3)

    tmp = Path(tempfile.mkdtemp(prefix="feedsvc-websub-bench-"))
    env = {
        **os.environ,
        "FEEDSVC_DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "FEEDSVC_CACHE_URL": "simple",
        "FEEDSVC_BASE_URL": BASE_URL,
        "FEEDSVC_FETCH_ALLOW_NETWORKS": "127.0.0.0/8",  # the subscriber is local
        "FEEDSVC_WEBSUB_RATE_LIMIT": str(10 * args.subscribers),
    }
    if args.quiet is not None:
        env["FEEDSVC_WEBSUB_QUIET"] = str(args.quiet)
    subprocess.run([FEEDSVC, "init-db"], env=env, cwd=ROOT, check=True, capture_output=True)
    token = subprocess.run(
        [FEEDSVC, "tokens", "create", "bench"], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    server = start_gunicorn(
        "service", "wsgi:app", env=env, cwd=ROOT, log=tmp / "gunicorn.log", workers=args.workers
    )
    worker = spawn(
        [FEEDSVC, "websub-worker", "--interval", "0.05"], env=env, cwd=ROOT, log=tmp / "worker.log"
    )
    subscriber = Subscriber()
    headers = {"Authorization": f"Bearer {token}"}
    results: dict[str, Any] = {"posts": args.posts, "subscribers": args.subscribers}
    try:
        with httpx.Client(timeout=10, headers=headers) as client:
            base = server.base
            r = client.post(base + "/api/categories", json={"slug": "events", "names": {"ru": "События"}})
            assert r.status_code == 201, r.text

            # Latency: one subscriber, one post at a time.
            topic = f"{BASE_URL}/ru/events/feed.atom"
            subscribe(client, base, subscriber.url("/latency"), topic)
            wait(lambda: subscriber.verified >= 1, 10, "verification")
            time.sleep(0.5)  # the activation is written after the answer
            latencies = []
            for n in range(args.posts):
                title = f"latency probe {n} {time.time_ns()}"
                seen = len(subscriber.since(0))
                started = time.monotonic()
                r = client.post(
                    base + "/api/posts",
                    json={"title": title, "content": "<p>x</p>", "language": "ru", "categories": ["events"]},
                )
                assert r.status_code == 201, r.text
                marker = title.encode()
                wait(
                    lambda seen=seen, marker=marker: any(marker in b for _, _, b in subscriber.since(seen)),
                    30,
                    "a delivery",
                )
                arrived = next(at for at, _, body in subscriber.since(seen) if marker in body)
                latencies.append(arrived - started)
            results["latency_p50_s"] = round(statistics.median(latencies), 3)
            results["latency_p99_s"] = round(percentile(latencies, 0.99), 3)
            results["latency_max_s"] = round(max(latencies), 3)

            # Fan-out: many subscribers of one feed.
            topic = f"{BASE_URL}/ru/feed.json"
            before = subscriber.verified
            started = time.monotonic()
            for n in range(args.subscribers):
                subscribe(client, base, subscriber.url(f"/fan/{n}"), topic)
            wait(lambda: subscriber.verified - before >= args.subscribers, 120, "verifications")
            results["verifications_per_s"] = round(args.subscribers / (time.monotonic() - started), 1)
            time.sleep(1.0)
            rates = []
            for n in range(args.rounds):
                title = f"fan-out probe {n} {time.time_ns()}"
                seen = len(subscriber.since(0))
                r = client.post(
                    base + "/api/posts",
                    json={"title": title, "content": "<p>x</p>", "language": "ru", "categories": ["events"]},
                )
                assert r.status_code == 201, r.text
                marker = title.encode()

                def fanned(seen: int = seen, marker: bytes = marker) -> bool:
                    paths = {
                        p for _, p, body in subscriber.since(seen) if p.startswith("/fan/") and marker in body
                    }
                    return len(paths) >= args.subscribers

                wait(fanned, 300, "fan-out")
                times = [
                    at for at, p, body in subscriber.since(seen) if p.startswith("/fan/") and marker in body
                ]
                rates.append(len(times) / max(1e-6, max(times) - min(times)))
            results["fanout_deliveries_per_s"] = [round(x) for x in rates]
            results["fanout_deliveries_per_s_median"] = round(statistics.median(rates))
            results["bad_signatures"] = subscriber.bad_signatures
    finally:
        kill_group(worker)
        server.stop()
        subscriber.server.shutdown()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
