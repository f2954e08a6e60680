"""The production front measured: nginx (deploy/nginx.conf) in front of feedsvc against the same
nginx serving the same bytes as a static file, and how soon a write is visible through the front.

Starts its own PostgreSQL and Redis (bench/procs.py), 2 gunicorn workers (deploy/gunicorn.conf.py),
the ingestion worker and nginx, all on 127.0.0.1, and stops them by PID. Prints the figures and
writes them to bench/results/front-<time>.json; bench/run.py runs it as one of its phases.

    python bench/front.py [--seconds 4] [--rounds 3] [--writes 40] [--posts 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from loadgen import LoadGenerator, combine  # noqa: E402
from procs import Gunicorn, PrivatePostgres, PrivateRedis, free_port_in, render_nginx  # noqa: E402

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
FEED = "/ru/feed.rss"
TARGETS = {"front_vs_static": 0.5, "freshness_p99_s": 1.0}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=4, help="seconds per wrk run")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of front and static")
    p.add_argument("--writes", type=int, default=40, help="writes for the freshness figure")
    p.add_argument("--posts", type=int, default=2000)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--quick", action="store_true", help="1 s runs, 1 round, 10 writes")
    a = p.parse_args(argv)
    if a.quick:
        a.seconds, a.rounds, a.writes = 1, 1, 10
    if NGINX is None:
        print("nginx is not installed (make nginx installs it)", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="feedsvc-front-bench-"))
    base.chmod(0o755)
    load = LoadGenerator(base)
    procs: list[subprocess.Popen[bytes]] = []
    pg, redis = PrivatePostgres(), PrivateRedis()
    service: Gunicorn | None = None
    try:
        pg.start()
        redis.start()
        nginx_port, static_port = free_port_in(range(59400, 59450)), free_port_in(range(59450, 59500))
        front_url, static_url = f"http://127.0.0.1:{nginx_port}", f"http://127.0.0.1:{static_port}"
        service = Gunicorn(
            database_url=pg.url,
            cache_url=redis.url,
            base_url=front_url,
            # The purge hook refreshes nginx's copy of every changed feed at once.
            env={"FEEDSVC_PURGE_URL": front_url + "{path}", "FEEDSVC_PURGE_METHOD": "REFRESH"},
        )
        service.prepare(posts=a.posts, token_name="front-bench")
        service.start()
        procs.append(
            subprocess.Popen(
                [str(Path(sys.executable).parent / "feedsvc"), "worker", "--idle-sleep", "0.2"],
                cwd=ROOT,
                env=service.env,
                stdout=(base / "worker.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        static_root = base / "static"
        static_root.mkdir(mode=0o755)
        prefix = base / "nginx"
        prefix.mkdir(mode=0o755)
        upstream = service.url.removeprefix("http://")
        conf = render_nginx(prefix, nginx_port, upstream, static=(static_port, static_root))
        procs.append(
            subprocess.Popen(
                [NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
                stdout=(base / "nginx.out").open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(front_url + FEED, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        body = httpx.get(front_url + FEED, headers={"Accept-Encoding": "identity"}, timeout=10).content
        (static_root / "feed.rss").write_bytes(body)
        static_body = httpx.get(static_url + "/feed.rss", timeout=10).content
        assert static_body == body, "the static copy differs from the feed"

        front_rounds, static_rounds = [], []
        for _ in range(a.rounds):  # alternating: the machine's drift hits both alike
            front_rounds.append(
                load.run(front_url + FEED, connections=a.connections, threads=2, duration=a.seconds)
            )
            static_rounds.append(
                load.run(static_url + "/feed.rss", connections=a.connections, threads=2, duration=a.seconds)
            )
        front_load, static_load = combine(front_rounds), combine(static_rounds)

        latencies: list[float] = []
        with httpx.Client(timeout=10) as client:
            for _ in range(a.writes):
                title = f"Front {uuid.uuid4().hex[:10]}"
                created = client.post(
                    front_url + "/api/posts",
                    headers=service.auth,
                    json={"title": title, "content": "<p>x</p>", "language": "ru", "categories": []},
                )
                created.raise_for_status()
                written = time.monotonic()
                while True:
                    seen = client.get(front_url + FEED, headers={"Accept-Encoding": "identity"})
                    if seen.status_code == 200 and title.encode() in seen.content:
                        latencies.append(time.monotonic() - written)
                        break
                    if time.monotonic() - written > 10:
                        latencies.append(float("inf"))
                        break
                    time.sleep(0.005)
        result = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "feed": FEED,
            "body_bytes": len(body),
            "front": front_load.as_dict(),
            "static": static_load.as_dict(),
            "front_vs_static": front_load.rps / static_load.rps if static_load.rps else None,
            "freshness_s": {
                "writes": len(latencies),
                "p50": statistics.median(latencies),
                "p99": percentile(latencies, 0.99),
                "max": max(latencies),
            },
            "targets": TARGETS,
        }
        ratio, fresh = result["front_vs_static"], result["freshness_s"]
        print(
            f"FRONT  nginx in front of feedsvc {front_load.rps:,.0f} req/s (p99 {front_load.p99_ms:.2f} ms)"
        )
        print(
            f"       nginx static file        {static_load.rps:,.0f} req/s (p99 {static_load.p99_ms:.2f} ms)"
        )
        print(f"       ratio {ratio:.2f} (target >= {TARGETS['front_vs_static']})")
        print(
            f"FRESH  write -> first 200 at nginx with the new item: p50 {fresh['p50'] * 1000:.0f} ms, "
            f"p99 {fresh['p99'] * 1000:.0f} ms over {fresh['writes']} writes "
            f"(target p99 <= {TARGETS['freshness_p99_s']} s)"
        )
        out = BENCH / "results"
        out.mkdir(exist_ok=True)
        path = out / f"front-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"results: {path}")
        met = (
            ratio is not None
            and ratio >= TARGETS["front_vs_static"]
            and fresh["p99"] <= TARGETS["freshness_p99_s"]
        )
        return 0 if met else 1
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT if proc.args[0] == NGINX else signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if service is not None:
            service.close()
        redis.close()
        pg.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
