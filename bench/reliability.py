"""Fault injection on the real service: feeds and the admin API while PostgreSQL or Redis fails.

    python bench/reliability.py            # three faults of 20 s each (~2 min)
    python bench/reliability.py --quick    # 5 s faults, a check that the harness works

Private PostgreSQL and Redis servers, gunicorn (2 sync workers), ``feedsvc demo --posts N``. A set
of feeds is rendered first (a few scopes x rss/atom/json, gzip and identity); then, for each fault
(PostgreSQL stopped, PostgreSQL frozen with SIGSTOP, Redis frozen), a bounded load runs: pollers with
plain and conditional GETs (If-None-Match from earlier answers) and a writer POSTing /api/posts about
every 250 ms. Reported per fault: feed requests and errors (not 2xx/304, or no answer within the
client timeout), p50/p99 latency of the pre-rendered feeds, the API's answers and slowest answer, and
the seconds from the dependency's return until a fresh write shows in a feed and /readyz says 200.
JSON to bench/results/reliability-<timestamp>.json. Exit 0 when every target is met, 1 otherwise,
2 when the harness itself failed.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from procs import Gunicorn, PrivatePostgres, PrivateRedis

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
FORMATS = ("rss", "atom", "json")
GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}
# The writer files its posts in English without a category, so it changes only these scopes' feeds;
# the pre-rendered set is taken from other scopes and stays valid through every fault.
WRITER_SCOPES = ("/", "/en/")
TARGETS = {
    "feed_errors": 0,
    "prerendered_p99_ms": 100.0,
    "api_max_ms": 1000.0,
    "recovery_s": 2.0,
}


@dataclass
class Settings:
    quick: bool
    fault_seconds: float
    baseline_seconds: float
    posts: int
    pollers: int
    poll_pause: float
    write_interval: float
    client_timeout: float
    recovery_timeout: float
    workers: int


def parse_args(argv: list[str] | None) -> Settings:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="5 s faults, fewer posts")
    p.add_argument("--fault-seconds", type=float, default=None, help="length of each fault (default 20)")
    p.add_argument("--posts", type=int, default=None, help="synthetic posts (default 5000, quick 1000)")
    p.add_argument("--pollers", type=int, default=4, help="concurrent feed pollers")
    p.add_argument(
        "--poll-pause", type=float, default=0.02, help="seconds each poller waits between requests"
    )
    p.add_argument("--write-interval", type=float, default=0.25, help="seconds between API writes")
    p.add_argument("--client-timeout", type=float, default=10.0, help="per request, seconds")
    p.add_argument("--recovery-timeout", type=float, default=30.0, help="give up measuring recovery after")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    return Settings(
        quick=a.quick,
        fault_seconds=a.fault_seconds or (5.0 if a.quick else 20.0),
        baseline_seconds=1.0 if a.quick else 3.0,
        posts=a.posts if a.posts is not None else (1000 if a.quick else 5000),
        pollers=a.pollers,
        poll_pause=a.poll_pause,
        write_interval=a.write_interval,
        client_timeout=a.client_timeout,
        recovery_timeout=a.recovery_timeout,
        workers=a.workers,
    )


def say(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Sample:
    phase: str  # "before", "fault" or "after": when the request was sent
    kind: str  # "feed" (pre-rendered), "live" (a feed the writer changes) or "api"
    status: str  # HTTP status, or "timeout" / "connect error" / "other error"
    ms: float
    retry_after: bool = False


@dataclass
class Fault:
    name: str
    what: str
    inject: Callable[[], None]
    restore: Callable[[], None]
    database: bool  # the admin API cannot work without it: 503 expected


@dataclass
class FaultResult:
    name: str
    what: str
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    recovery_s: float | None = None
    recovery_note: str = ""

    def of(self, kind: str, phase: str = "fault") -> list[Sample]:
        return [s for s in self.samples if s.kind == kind and s.phase == phase]

    def summary(self) -> dict[str, Any]:
        feeds = self.of("feed") + self.of("live")
        ok = {"200", "304"}
        errors = [s for s in feeds if s.status not in ok]
        pre_ms = [s.ms for s in self.of("feed")]
        before_ms = [s.ms for s in self.of("feed", "before")]
        api = self.of("api")
        api_status = Counter(
            s.status + ("" if s.retry_after or s.status != "503" else " no Retry-After") for s in api
        )
        return {
            "feed_requests": len(feeds),
            "feed_errors": len(errors),
            "feed_error_kinds": dict(Counter(s.status for s in errors)),
            "prerendered_requests": len(pre_ms),
            "prerendered_p50_ms": pct(pre_ms, 0.5),
            "prerendered_p99_ms": pct(pre_ms, 0.99),
            "prerendered_p99_ms_before_fault": pct(before_ms, 0.99),
            "live_requests": len(self.of("live")),
            "live_errors": sum(1 for s in self.of("live") if s.status not in ok),
            "api_answers": dict(api_status),
            "api_max_ms": max((s.ms for s in api), default=None),
            "recovery_s": self.recovery_s,
            "recovery_note": self.recovery_note,
        }

    def judge(self, database: bool) -> dict[str, bool]:
        s = self.summary()
        api_ok = all(
            k in ("200", "201") or (k == "503" and database) for k in s["api_answers"]
        )  # "503 no Retry-After", 500, timeouts: missed
        return {
            "0 feed errors": s["feed_errors"] == TARGETS["feed_errors"],
            "pre-rendered p99 < 100 ms": s["prerendered_p99_ms"] is not None
            and s["prerendered_p99_ms"] < TARGETS["prerendered_p99_ms"],
            "API 503+Retry-After (never 500) within 1 s": api_ok
            and (s["api_max_ms"] or 0) < TARGETS["api_max_ms"],
            "recovery < 2 s": s["recovery_s"] is not None and s["recovery_s"] < TARGETS["recovery_s"],
        }


class Load:
    """Pollers and a writer against the service until stopped; every request tagged with its phase."""

    def __init__(
        self, s: Settings, base: str, token: str, feeds: list[tuple[str, dict[str, str], str]]
    ) -> None:
        self.s = s
        self.base = base
        self.token = token
        self.feeds = feeds  # (path, headers, kind)
        self.phase = "before"
        self.samples: list[Sample] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.etags: dict[tuple[str, str], str] = {}
        self.threads: list[threading.Thread] = []

    def record(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def timed(
        self, client: httpx.Client, kind: str, method: str, path: str, **kw: Any
    ) -> httpx.Response | None:
        phase = self.phase
        t0 = time.perf_counter()
        try:
            r = client.request(method, path, **kw)
        except httpx.TimeoutException:
            self.record(Sample(phase, kind, "timeout", (time.perf_counter() - t0) * 1000))
            return None
        except httpx.ConnectError:
            self.record(Sample(phase, kind, "connect error", (time.perf_counter() - t0) * 1000))
            return None
        except httpx.HTTPError as exc:
            self.record(
                Sample(phase, kind, f"other error ({type(exc).__name__})", (time.perf_counter() - t0) * 1000)
            )
            return None
        ms = (time.perf_counter() - t0) * 1000
        self.record(Sample(phase, kind, str(r.status_code), ms, "retry-after" in r.headers))
        return r

    def poller(self, k: int) -> None:
        rng = random.Random(k)
        with httpx.Client(base_url=self.base, timeout=self.s.client_timeout) as client:
            while not self.stop.is_set():  # ends when the fault run ends
                path, headers, kind = rng.choice(self.feeds)
                enc = headers.get("Accept-Encoding", "")
                etag = self.etags.get((path, enc))
                h = dict(headers)
                if etag and rng.random() < 0.5:
                    h["If-None-Match"] = etag
                r = self.timed(client, kind, "GET", path, headers=h)
                if r is not None and r.status_code == 200 and "etag" in r.headers:
                    self.etags[(path, enc)] = r.headers["etag"]
                self.stop.wait(self.s.poll_pause)

    def writer(self) -> None:
        with httpx.Client(base_url=self.base, timeout=self.s.client_timeout) as client:
            while not self.stop.is_set():  # ends when the fault run ends
                t0 = time.monotonic()
                mark = uuid.uuid4().hex[:10]
                self.timed(
                    client,
                    "api",
                    "POST",
                    "/api/posts",
                    headers={"Authorization": f"Bearer {self.token}"},
                    json={
                        "title": f"Reliability {mark}",
                        "content": f"<p>{mark}</p>",
                        "language": "en",
                        "categories": [],
                    },
                )
                self.stop.wait(max(0.0, self.s.write_interval - (time.monotonic() - t0)))

    def start(self) -> None:
        self.threads = [
            threading.Thread(target=self.poller, args=(k,), daemon=True) for k in range(self.s.pollers)
        ]
        self.threads.append(threading.Thread(target=self.writer, daemon=True))
        for t in self.threads:
            t.start()

    def finish(self) -> list[Sample]:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=self.s.client_timeout + 5)  # a request in flight ends within its timeout
        with self.lock:
            return list(self.samples)


def recovery(s: Settings, base: str, token: str) -> tuple[float | None, str]:
    """Seconds until a fresh write is visible in a feed and /readyz answers 200 (measured from now)."""
    started = time.monotonic()
    deadline = started + s.recovery_timeout
    guid = None
    last = "no answer"
    with httpx.Client(base_url=base, timeout=min(s.client_timeout, 5.0)) as client:
        while time.monotonic() < deadline:  # bounded by the deadline
            try:
                if guid is None:
                    mark = uuid.uuid4().hex[:10]
                    r = client.post(
                        "/api/posts",
                        headers={"Authorization": f"Bearer {token}"},
                        json={
                            "title": f"Recovery {mark}",
                            "content": "<p>back</p>",
                            "language": "en",
                            "categories": [],
                        },
                    )
                    last = f"write {r.status_code}"
                    if r.status_code == 201:
                        guid = r.json()["guid"]
                if guid is not None:
                    feed = client.get("/en/feed.json", headers={**IDENTITY, "Connection": "close"})
                    ready = client.get("/readyz")
                    last = f"feed {feed.status_code}, readyz {ready.status_code}"
                    if feed.status_code == 200 and guid in feed.text and ready.status_code == 200:
                        return time.monotonic() - started, ""
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.05)
    return None, f"not recovered after {s.recovery_timeout:.0f} s (last: {last})"


def pick_feeds(base: str) -> list[tuple[str, dict[str, str], str]]:
    """Pre-rendered set: ru, uz and one category of each, x 3 formats x gzip/identity; plus the
    writer's feeds ("live"), which change under the load."""
    cats = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for lang in ("ru", "uz"):
            for slug in ("politics", "economy", "events", "sport", "culture", "technology", "society"):
                r = client.get(f"/{lang}/{slug}/feed.json", headers=IDENTITY)
                if r.status_code == 200 and r.json().get("items"):
                    cats.append(f"/{lang}/{slug}/")
                    break
    scopes = ["/ru/", "/uz/", *cats]
    feeds = [(f"{sc}feed.{fmt}", h, "feed") for sc in scopes for fmt in FORMATS for h in (GZIP, IDENTITY)]
    feeds += [(f"{sc}feed.{fmt}", IDENTITY, "live") for sc in WRITER_SCOPES for fmt in ("rss", "json")]
    return feeds


def warm(base: str, feeds: list[tuple[str, dict[str, str], str]], per_feed: int = 16) -> None:
    """Render every feed and get it into both workers' memory (concurrent requests keep both busy)."""
    errors: list[str] = []

    def fetch(chunk: list[tuple[str, dict[str, str], str]]) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for path, headers, _ in chunk:
                for _ in range(per_feed // 4):
                    r = client.get(path, headers={**headers, "Connection": "close"})
                    if r.status_code != 200:
                        errors.append(f"{path}: {r.status_code}")

    threads = [threading.Thread(target=fetch, args=(feeds,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise RuntimeError(f"warming failed: {errors[:5]}")


def wait_ready(base: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def run_fault(
    s: Settings, fault: Fault, service: Gunicorn, feeds: list[tuple[str, dict[str, str], str]]
) -> FaultResult:
    result = FaultResult(fault.name, fault.what, s.fault_seconds)
    load = Load(s, service.url, service.token, feeds)
    load.start()
    try:
        load.stop.wait(s.baseline_seconds)
        say(f"  {fault.what} for {s.fault_seconds:g} s")
        load.phase = "fault"
        fault.inject()
        try:
            load.stop.wait(s.fault_seconds)
        finally:
            fault.restore()
        load.phase = "after"
        result.recovery_s, result.recovery_note = recovery(s, service.url, service.token)
    finally:
        result.samples = load.finish()
    return result


def fmt(v: float | None, spec: str = ".0f") -> str:
    return "-" if v is None else format(v, spec)


def render(results: list[FaultResult], faults: dict[str, Fault]) -> str:
    lines = [
        "",
        "RELIABILITY (requests sent while the dependency was failing; latencies include failed requests)",
        f"{'fault':14} {'feed req':>8} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'API max ms':>10} "
        f"{'recovery s':>10}  API answers",
    ]
    for r in results:
        m = r.summary()
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(m["api_answers"].items())) or "none"
        p50, p99 = fmt(m["prerendered_p50_ms"], ".1f"), fmt(m["prerendered_p99_ms"], ".1f")
        api_max, rec = fmt(m["api_max_ms"]), fmt(m["recovery_s"], ".2f")
        lines.append(
            f"{r.name:14} {m['feed_requests']:>8} {m['feed_errors']:>7} {p50:>8} {p99:>8} {api_max:>10} "
            f"{rec:>10}  {answers}"
        )
    lines.append(
        f"{'target':14} {'':>8} {0:>7} {'':>8} {'< 100':>8} {'< 1000':>10} {'< 2':>10}  "
        "503 + Retry-After while PostgreSQL is down, never 500; 2xx otherwise"
    )
    lines.append("")
    for r in results:
        m = r.summary()
        if m["feed_error_kinds"]:
            kinds = ", ".join(f"{k}: {v}" for k, v in sorted(m["feed_error_kinds"].items()))
            lines.append(
                f"{r.name}: feed errors {kinds}; live feeds {m['live_errors']}/{m['live_requests']} failed"
            )
        if r.recovery_note:
            lines.append(f"{r.name}: {r.recovery_note}")
    lines.append("")
    lines.append("TARGETS")
    for r in results:
        verdicts = r.judge(faults[r.name].database)
        lines.append(
            f"{r.name:14} " + "; ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in verdicts.items())
        )
    return "\n".join(lines)


def code_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted": git("status", "--porcelain", "--", "feedsvc"),
    }


def main(argv: list[str] | None = None) -> int:
    s = parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: list[FaultResult] = []
    errors: list[str] = []
    faults: dict[str, Fault] = {}
    started = time.monotonic()
    pg = PrivatePostgres()
    redis = PrivateRedis()
    service: Gunicorn | None = None
    try:
        pg.start()
        redis.start()
        service = Gunicorn(database_url=pg.url, cache_url=redis.url, workers=s.workers)
        say(f"PostgreSQL :{pg.port}, Redis :{redis.port}; feedsvc demo --posts {s.posts}")
        service.prepare(posts=s.posts)
        service.start()
        say(f"service {service.url} ({s.workers} sync workers, gunicorn timeout {service.timeout} s)")
        feeds = pick_feeds(service.url)
        for fault in (
            Fault("pg-stopped", "PostgreSQL stopped (fast shutdown)", pg.stop, pg.start, True),
            Fault(
                "pg-hung",
                "PostgreSQL frozen (SIGSTOP on the postmaster and every backend)",
                pg.hang,
                pg.resume,
                True,
            ),
            Fault("redis-hung", "Redis frozen (SIGSTOP)", redis.hang, redis.resume, False),
        ):
            faults[fault.name] = fault
            if not wait_ready(service.url):
                raise RuntimeError(f"service not ready before {fault.name}")
            warm(service.url, [f for f in feeds if f[2] == "feed"])
            rendered = sum(f[2] == "feed" for f in feeds)
            say(
                f"{fault.name}: {rendered} feeds rendered; load: {s.pollers} pollers, "
                f"a write every {s.write_interval * 1000:.0f} ms"
            )
            try:
                result = run_fault(s, fault, service, feeds)
            except Exception as exc:
                errors.append(f"{fault.name}: {type(exc).__name__}: {exc}")
                say("".join(traceback.format_exception(exc)))
                pg.heal()
                redis.heal()
                continue
            results.append(result)
            m = result.summary()
            rec = fmt(m["recovery_s"], ".2f")
            say(f"  {m['feed_requests']} feed requests, {m['feed_errors']} errors; recovery {rec} s")
    except KeyboardInterrupt:
        errors.append("interrupted")
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        say("".join(traceback.format_exception(exc)))
    finally:
        if service is not None:
            service.close()
        redis.close()
        pg.close()
    report = render(results, faults)
    out = RESULTS / f"reliability-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "started_utc": stamp,
                "elapsed_s": time.monotonic() - started,
                "settings": s.__dict__,
                "targets": TARGETS,
                "code": code_state(),
                "python": platform.python_version(),
                "faults": [
                    {
                        "name": r.name,
                        "what": r.what,
                        "seconds": r.seconds,
                        **r.summary(),
                        "verdicts": r.judge(faults[r.name].database),
                    }
                    for r in results
                ],
                "errors": errors,
            },
            indent=2,
            default=str,
        )
    )
    print(report)
    for e in errors:
        print(f"ERROR: {e}")
    print(f"\nresults: {out.relative_to(ROOT)}")
    met = sum(ok for r in results for ok in r.judge(faults[r.name].database).values())
    judged = sum(len(r.judge(faults[r.name].database)) for r in results)
    print(
        f"SUMMARY: {met}/{judged} targets met over {len(results)} fault(s) in "
        f"{(time.monotonic() - started) / 60:.1f} min" + (f"; {len(errors)} error(s)" if errors else ""),
        flush=True,
    )
    if errors or len(results) < 3:
        return 2
    return 0 if met == judged else 1


if __name__ == "__main__":
    sys.exit(main())
