"""The production front measured: nginx (deploy/nginx.conf) in front of feedsvc against the same
nginx serving the same bytes as a static file, the share of cache HITs under that load (nginx's
``cache=`` log field), and freshness from the 201: after each write's 201, is the first poll through
nginx fresh, and how long from the POST until the feed at nginx shows it.

Starts its own PostgreSQL and Redis (bench/procs.py), 2 gunicorn workers (deploy/gunicorn.conf.py),
the ingestion worker and nginx, all on 127.0.0.1, and stops them by PID. Prints the figures and
writes them to bench/results/front-<time>.json; bench/run.py runs it as one of its phases.

    python bench/front.py [--seconds 3] [--rounds 5] [--writes 50] [--posts 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
FEEDS = ("/ru/feed.rss", "/en/feed.atom")
FEED = FEEDS[0]  # polled for freshness
TARGETS = {"front_vs_static": 0.8, "hit_share": 0.95, "stale_first_polls": 0, "freshness_p99_s": 1.0}


def cache_outcomes(log: Path, start: int) -> tuple[dict[str, int], int]:
    """Counts of nginx's cache= field in the access log from byte ``start``; the new end."""
    counts: dict[str, int] = {}
    with log.open("rb") as f:
        f.seek(start)
        data = f.read()
    for found in re.finditer(rb" cache=(\S+)", data):
        outcome = found.group(1).decode()
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts, start + len(data)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=3, help="seconds per wrk run")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds of front and static, per feed")
    p.add_argument("--writes", type=int, default=50, help="writes for the freshness figure")
    p.add_argument("--posts", type=int, default=2000)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--quick", action="store_true", help="1 s runs, 2 rounds, 10 writes")
    a = p.parse_args(argv)
    if a.quick:
        a.seconds, a.rounds, a.writes = 1, 2, 10
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
            env={
                "FEEDSVC_PURGE_URL": front_url + "{path}",
                "FEEDSVC_PURGE_METHOD": "REFRESH",
                "FEEDSVC_TRUSTED_PROXIES": "1",
            },
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
        access_log = prefix / "logs" / "access.log"
        per_feed: dict[str, dict] = {}
        hits: dict[str, int] = {}
        for feed in FEEDS:
            body = httpx.get(front_url + feed, headers={"Accept-Encoding": "identity"}, timeout=10).content
            name = "feed" + feed.replace("/", "-")
            (static_root / name).write_bytes(body)
            static_body = httpx.get(f"{static_url}/{name}", timeout=10).content
            assert static_body == body, "the static copy differs from the feed"
            front_rounds, static_rounds = [], []
            for _ in range(a.rounds):  # alternating: the machine's drift hits both alike
                start = access_log.stat().st_size
                front_rounds.append(
                    load.run(
                        front_url + feed,
                        connections=a.connections,
                        threads=2,
                        duration=a.seconds,
                        headers={"Accept-Encoding": "identity"},
                    )
                )
                counts, _ = cache_outcomes(access_log, start)
                for outcome, n in counts.items():
                    hits[outcome] = hits.get(outcome, 0) + n
                static_rounds.append(
                    load.run(f"{static_url}/{name}", connections=a.connections, threads=2, duration=a.seconds)
                )
            front_load, static_load = combine(front_rounds), combine(static_rounds)
            # Each front round against the static round right after it: the machine's load (shared
            # cores) drifts from second to second, and a pair sees about the same.
            pairs = [f.rps / st.rps for f, st in zip(front_rounds, static_rounds, strict=True) if st.rps]
            per_feed[feed] = {
                "body_bytes": len(body),
                "front": front_load.as_dict(),
                "static": static_load.as_dict(),
                "round_ratios": pairs,
                "front_vs_static": statistics.median(pairs) if pairs else None,
            }
        ratios = [r for f in per_feed.values() for r in f["round_ratios"]]
        answered = sum(hits.values())

        # Freshness from the 201: poll at once after each write's answer, as a client would.
        latencies: list[float] = []
        acks: list[float] = []
        stale_first = 0
        with httpx.Client(timeout=10) as client:
            for _ in range(a.writes):
                client.get(front_url + FEED, headers={"Accept-Encoding": "identity"})  # a cached copy
                title = f"Front {uuid.uuid4().hex[:10]}"
                sent = time.monotonic()
                created = client.post(
                    front_url + "/api/posts",
                    headers=service.auth,
                    json={"title": title, "content": "<p>x</p>", "language": "ru", "categories": []},
                )
                created.raise_for_status()
                acks.append(time.monotonic() - sent)
                first = True
                while True:
                    seen = client.get(front_url + FEED, headers={"Accept-Encoding": "identity"})
                    if seen.status_code == 200 and title.encode() in seen.content:
                        latencies.append(time.monotonic() - sent)
                        break
                    stale_first += first
                    first = False
                    if time.monotonic() - sent > 10:
                        latencies.append(float("inf"))
                        break
                    time.sleep(0.005)
        result = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "feed": ", ".join(FEEDS),
            "feeds": per_feed,
            "front_vs_static": statistics.median(ratios) if ratios else None,
            "cache_outcomes": hits,
            "hit_share": hits.get("HIT", 0) / answered if answered else None,
            "stale_first_polls": stale_first,
            "freshness_feed": FEED,
            "freshness_s": {
                "writes": len(latencies),
                "ack_p50": statistics.median(acks),
                "ack_p99": percentile(acks, 0.99),
                "p50": statistics.median(latencies),
                "p99": percentile(latencies, 0.99),
                "max": max(latencies),
            },
            "targets": TARGETS,
        }
        ratio, fresh, share = result["front_vs_static"], result["freshness_s"], result["hit_share"]
        for feed, f in per_feed.items():
            print(
                f"FRONT  {feed} ({f['body_bytes']:,} B): nginx in front {f['front']['rps']:,.0f} req/s "
                f"(p99 {f['front']['p99_ms']:.2f} ms), static file {f['static']['rps']:,.0f} req/s "
                f"(p99 {f['static']['p99_ms']:.2f} ms); paired rounds "
                f"{', '.join(f'{r:.2f}' for r in f['round_ratios'])}: median {f['front_vs_static']:.2f}"
            )
        print(
            f"       ratio, median of all {len(ratios)} paired rounds: {ratio:.2f} "
            f"(target >= {TARGETS['front_vs_static']})"
        )
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(hits.items()))
        print(
            f"HITS   {share:.2%} of {answered:,} answers under load were cache HITs ({outcomes}) "
            f"(target >= {TARGETS['hit_share']:.0%})"
        )
        print(
            f"FRESH  {stale_first} stale first polls after the 201 in {len(latencies)} writes "
            f"(target {TARGETS['stale_first_polls']}); POST -> 201 p50 {fresh['ack_p50'] * 1000:.0f} ms, "
            f"p99 {fresh['ack_p99'] * 1000:.0f} ms; POST -> new item at nginx "
            f"p50 {fresh['p50'] * 1000:.0f} ms, p99 {fresh['p99'] * 1000:.0f} ms "
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
            and share is not None
            and share >= TARGETS["hit_share"]
            and stale_first <= TARGETS["stale_first_polls"]
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
