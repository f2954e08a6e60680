"""feedsvc benchmark: the service as production runs it, against a ceiling measured in the same run.

    python bench/run.py            # full: N = 10k, 100k, 1M posts, 3 x 4 s per figure (~35 min)
    python bench/run.py --quick    # routine check, under two minutes
    python bench/run.py --help     # sizes, durations, backends, ...

For each backend (SQLite file + in-process "simple" cache; PostgreSQL + Redis) and each N: a fresh
database loaded with ``feedsvc demo --posts N``, gunicorn ``wsgi:app`` with sync workers, wrk on
127.0.0.1 against three feeds (cached 200, 304, uncached renders, render latency at concurrency 1), the
same against ``bench/ceiling.py`` serving the recorded bytes from memory, a write-then-poll loop over
the API, worker peak RSS per phase; per backend, an ingestion pass over local partner feeds. Prints
tables and a summary line; writes everything to ``bench/results/<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
from loadgen import LoadGenerator, LoadResult, combine, wrk_version
from procs import (
    Interference,
    MemoryWatch,
    PrivatePostgres,
    PrivateRedis,
    Server,
    free_port,
    kill_group,
    register,
    spawn,
    start_gunicorn,
    tail,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
FEEDSVC = str(Path(sys.executable).with_name("feedsvc"))
FEED_TEMPLATES = ("/{lang}/{category}/feed.atom", "/{lang}/feed.rss", "/feed.json")
# One database per run (the pid names it), so a run never touches anyone else's data; stale ones
# left by a killed run are dropped by the next.
BENCH_DB_PREFIX = "feedsvc_bench_"
BENCH_DB = f"{BENCH_DB_PREFIX}{os.getpid()}"
LOCK_FILE = Path(tempfile.gettempdir()) / "feedsvc-bench.lock"
# wrk sends no Accept-Encoding, so the measured responses are uncompressed; every check asks the same.
IDENTITY = {"Accept-Encoding": "identity"}
# Response headers that belong to the connection or the moment, not to the feed.
_HOP_HEADERS = {"date", "server", "connection", "content-length", "transfer-encoding", "keep-alive"}

TARGETS = {
    "cached_200_vs_ceiling": 0.8,
    "r304_vs_ceiling": 0.9,
    "uncached_vs_ceiling": 0.16,
    "render_c1_p50_ms": 5.0,
    "render_growth": 1.2,
    "memory_growth": 1.2,
    "ingest_overhead": 1.5,
    "ingest_304_pass_s": 1.0,
    "after_write_vs_ceiling": 0.3,
}
AFTER_WRITE_FEED = "/{lang}/feed.rss"  # 50 items; each write below adds one


# ------------------------------------------------------------------------------------- settings


@dataclass
class Settings:
    quick: bool
    sizes: list[int]
    duration: int
    rounds: int
    connections: int
    threads: int
    workers: int
    backends: list[str]
    language: str
    category: str
    wp_iterations: int
    wp_seconds: float
    wp_threads: int
    after_write_iterations: int
    front: bool
    others: bool
    ingest_sources: int
    ingest_items: int
    ingest: bool
    pg_url: str | None  # None: a private cluster
    redis_url: str | None  # None: a private redis-server
    base_url: str
    force_python_load: bool
    profile_ingest: bool
    max_foreign_cpu: float
    max_retries: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def parse_args(argv: list[str] | None) -> Settings:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small N, 1 s runs, fewer partner feeds (< 2 min)")
    p.add_argument("--sizes", default=None, help="comma-separated post counts (default 10000,100000,1000000)")
    p.add_argument("--duration", type=int, default=None, help="seconds per wrk run (default 4, quick 1)")
    p.add_argument(
        "--rounds", type=int, default=None, help="runs per figure, medians reported (default 3, quick 1)"
    )
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (service and ceiling)")
    p.add_argument("--backends", default="sqlite,postgres", help="sqlite and/or postgres")
    p.add_argument("--language", default="ru")
    p.add_argument("--category", default="events", help="category of the category feed")
    p.add_argument("--wp-iterations", type=int, default=None, help="write-then-poll bound (default 200)")
    p.add_argument("--wp-seconds", type=float, default=None, help="write-then-poll time bound (default 20)")
    p.add_argument("--wp-threads", type=int, default=4, help="concurrent write-then-poll clients")
    p.add_argument("--ingest-sources", type=int, default=None, help="partner feeds (default 50, quick 10)")
    p.add_argument("--ingest-items", type=int, default=50)
    p.add_argument("--no-ingest", action="store_true")
    p.add_argument("--no-front", action="store_true", help="skip nginx in front (bench/front.py)")
    p.add_argument(
        "--no-others",
        action="store_true",
        help="skip the other figures: faults (reliability.py), partner corpus, hub delivery latency",
    )
    p.add_argument("--profile-ingest", action="store_true", help="pyinstrument profile of the ingest pass")
    p.add_argument(
        "--pg-url",
        default=None,
        help="maintenance db of a PostgreSQL server where the run may create and drop a database "
        f"{BENCH_DB_PREFIX}<pid> (default: a private throw-away cluster)",
    )
    p.add_argument(
        "--redis-url",
        default=None,
        help="a Redis database the run FLUSHES, e.g. redis://127.0.0.1:6379/3 "
        "(default: a private redis-server)",
    )
    p.add_argument("--base-url", default="https://news.example.uz")
    p.add_argument("--python-load", action="store_true", help="use the Python load generator, not wrk")
    p.add_argument(
        "--max-foreign-cpu",
        type=float,
        default=10.0,
        help="repeat a run when other processes used more than this %% of the CPUs (default 10)",
    )
    p.add_argument(
        "--max-retries", type=int, default=None, help="repeats of a disturbed run (default 2, quick 0)"
    )
    a = p.parse_args(argv)
    quick = a.quick
    sizes = [int(s.replace("_", "")) for s in a.sizes.split(",")] if a.sizes else None
    backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgres"}
    if unknown:
        p.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    return Settings(
        quick=quick,
        sizes=sizes or ([2_000] if quick else [10_000, 100_000, 1_000_000]),
        duration=a.duration or (1 if quick else 4),
        rounds=a.rounds or (1 if quick else 3),
        connections=a.connections,
        threads=a.threads,
        workers=a.workers,
        backends=backends,
        language=a.language,
        category=a.category,
        wp_iterations=a.wp_iterations or (40 if quick else 200),
        wp_seconds=a.wp_seconds or (4.0 if quick else 20.0),
        wp_threads=a.wp_threads,
        after_write_iterations=10 if quick else 40,
        front=not a.no_front,
        others=not a.no_others,
        ingest_sources=a.ingest_sources or (10 if quick else 50),
        ingest_items=a.ingest_items,
        ingest=not a.no_ingest,
        pg_url=a.pg_url,
        redis_url=a.redis_url,
        base_url=a.base_url,
        force_python_load=a.python_load,
        profile_ingest=a.profile_ingest,
        max_foreign_cpu=a.max_foreign_cpu,
        max_retries=a.max_retries if a.max_retries is not None else (0 if quick else 2),
    )


# ------------------------------------------------------------------------------------- helpers


def say(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def fmt_n(n: int) -> str:
    return (
        f"{n // 1_000_000}M"
        if n >= 1_000_000 and n % 1_000_000 == 0
        else (f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n))
    )


def run_cli(args: list[str], env: dict[str, str], timeout: float, progress: bool = False) -> str:
    """Run the real ``feedsvc`` command; returns stdout. Progress lines (stderr) are echoed sparingly."""
    proc = subprocess.Popen(
        [FEEDSVC, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    register(proc)
    timer = threading.Timer(timeout, kill_group, args=(proc,))
    timer.start()
    out: list[str] = []
    # stdout is drained by a thread so neither pipe can fill up and stall the command.
    reader = threading.Thread(
        target=lambda: out.append(proc.stdout.read() if proc.stdout else ""), daemon=True
    )
    reader.start()
    err_lines: list[str] = []
    try:
        last = 0.0
        assert proc.stderr is not None
        for line in proc.stderr:  # ends when the command exits (or the timer kills it)
            err_lines.append(line.rstrip())
            if progress and time.monotonic() - last > 5:
                last = time.monotonic()
                say(f"  feedsvc {args[0]}: {line.strip()}")
        proc.wait(timeout=60)
        reader.join(timeout=60)
    finally:
        timer.cancel()
        kill_group(proc, grace=1.0)
    if proc.returncode != 0:
        raise RuntimeError(
            f"feedsvc {' '.join(args)} failed ({proc.returncode}):\n" + "\n".join(err_lines[-20:])
        )
    return "".join(out)


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update(extra)
    return env


def feed_headers(headers: httpx.Headers) -> dict[str, str]:
    """The feed's own headers, names spelled as the service sent them."""
    pairs = ((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw)
    return {k: v for k, v in pairs if k.lower() not in _HOP_HEADERS}


def count_items(path: str, body: bytes) -> int:
    if path.endswith(".json"):
        return len(json.loads(body).get("items", []))
    return (
        body.count(b"<entry>") + body.count(b"<entry ") if path.endswith(".atom") else body.count(b"<item>")
    )


# ------------------------------------------------------------------------------------- backends


class Backend:
    name = ""
    label = ""

    def available(self) -> str | None:
        """None when usable, else why not."""
        return None

    def fresh(self, n: int) -> dict[str, str]:
        """Environment for a service on an empty database."""
        raise NotImplementedError

    def after_load(self) -> None:
        return

    def drop(self) -> None:
        return

    def versions(self) -> dict[str, str]:
        return {}


class SqliteBackend(Backend):
    name = "sqlite"
    label = "SQLite + simple"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.path: Path | None = None

    def fresh(self, n: int) -> dict[str, str]:
        self.drop()
        self.path = self.workdir / f"feedsvc-{n}.sqlite3"
        return {"FEEDSVC_DATABASE_URL": f"sqlite:///{self.path}", "FEEDSVC_CACHE_URL": "simple"}

    def drop(self) -> None:
        if self.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            self.path = None

    def versions(self) -> dict[str, str]:
        import sqlite3

        return {"sqlite": sqlite3.sqlite_version}


def postgres_backend(s: Settings, private: contextlib.ExitStack) -> PostgresBackend:
    """The servers named on the command line, else private throw-away ones: a run never creates a
    database or flushes a Redis database on a server nobody named."""
    pg_url = s.pg_url
    if pg_url is None:
        pg = private.enter_context(PrivatePostgres())
        pg_url = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        say(f"PostgreSQL: a private throw-away cluster on 127.0.0.1:{pg.port} (--pg-url names another)")
    else:
        say(f"PostgreSQL: {pg_url} as named; the run creates and drops database {BENCH_DB} there")
    redis_url = s.redis_url
    if redis_url is None:
        redis_server = private.enter_context(PrivateRedis())
        redis_url = redis_server.url
        say(
            f"Redis: a private throw-away redis-server on 127.0.0.1:{redis_server.port} "
            "(--redis-url names another)"
        )
    else:
        say(f"Redis: {redis_url} as named; the run FLUSHES that database")
    return PostgresBackend(pg_url, redis_url)


class PostgresBackend(Backend):
    """A dedicated database created through the maintenance db and dropped at the end; Redis db flushed."""

    name = "postgres"
    label = "PostgreSQL + Redis"

    def __init__(self, maintenance_url: str, redis_url: str) -> None:
        self.maintenance_url = maintenance_url
        self.redis_url = redis_url
        base = maintenance_url.rsplit("/", 1)[0]
        self.db_url = f"{base}/{BENCH_DB}"

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.maintenance_url, autocommit=True, connect_timeout=5)

    def _redis(self) -> Any:
        import redis

        return redis.Redis.from_url(self.redis_url, socket_timeout=5)

    def available(self) -> str | None:
        try:
            with self._admin() as conn:
                conn.execute("SELECT 1")
                self._drop_stale(conn)
        except Exception as exc:
            return f"PostgreSQL unavailable at {self.maintenance_url}: {exc}"
        try:
            self._redis().ping()
        except Exception as exc:
            return f"Redis unavailable at {self.redis_url}: {exc}"
        return None

    @staticmethod
    def _drop_stale(conn: Any) -> None:
        """Databases of earlier runs whose process is gone (killed before it could drop them)."""
        names = [
            r[0]
            for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'feedsvc\\_bench\\_%'")
        ]
        for name in names:
            pid = name.removeprefix(BENCH_DB_PREFIX)
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def fresh(self, n: int) -> dict[str, str]:
        assert BENCH_DB.startswith(BENCH_DB_PREFIX)
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
        self._redis().flushdb()
        return {"FEEDSVC_DATABASE_URL": self.db_url, "FEEDSVC_CACHE_URL": self.redis_url}

    def after_load(self) -> None:
        # A bulk load leaves no planner statistics; autovacuum would gather them within a minute in
        # production, so the steady state is measured rather than the first minute after a load.
        import psycopg

        with psycopg.connect(
            self.db_url.replace("postgresql+psycopg", "postgresql"), autocommit=True
        ) as conn:
            conn.execute("ANALYZE")

    def drop(self) -> None:
        with contextlib.suppress(Exception), self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            self._redis().flushdb()

    def versions(self) -> dict[str, str]:
        out = {}
        with contextlib.suppress(Exception), self._admin() as conn:
            out["postgresql server"] = conn.execute("SHOW server_version").fetchone()[0]
        with contextlib.suppress(Exception):
            out["redis server"] = self._redis().info("server")["redis_version"]
        return out


# ------------------------------------------------------------------------------------- measuring


@dataclass
class FeedResult:
    path: str
    body_bytes: int
    items: int
    etag: str
    cached: LoadResult | None = None
    ceiling: LoadResult | None = None
    r304: LoadResult | None = None
    ceiling_304: LoadResult | None = None
    uncached: LoadResult | None = None
    uncached_c1: LoadResult | None = None
    checks: list[str] = field(default_factory=list)

    def ratio(self, what: str) -> float | None:
        value = getattr(self, what)
        base = self.ceiling_304 if what == "r304" else self.ceiling
        if value is None or base is None or not base.rps:
            return None
        return value.rps / base.rps

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "body_bytes": self.body_bytes,
            "items": self.items,
            "etag": self.etag,
            "checks": self.checks,
        }
        for key in ("cached", "ceiling", "r304", "ceiling_304", "uncached", "uncached_c1"):
            value = getattr(self, key)
            out[key] = value.as_dict() if value else None
        out["ratios"] = {k: self.ratio(k) for k in ("cached", "r304", "uncached")}
        return out


@dataclass
class SizeRun:
    backend: str
    n: int
    load_seconds: float = 0.0
    category: str = ""
    category_note: str = ""
    feeds: list[FeedResult] = field(default_factory=list)
    memory_kib: dict[str, int] = field(default_factory=dict)
    write_poll: dict[str, Any] = field(default_factory=dict)
    after_write: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "n": self.n,
            "load_seconds": self.load_seconds,
            "category": self.category,
            "category_note": self.category_note,
            "feeds": [f.as_dict() for f in self.feeds],
            "worker_peak_rss_kib": self.memory_kib,
            "write_poll": self.write_poll,
            "after_write": self.after_write,
        }


class Bench:
    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.s = settings
        self.workdir = workdir
        self.load = LoadGenerator(workdir, force_python=settings.force_python_load)
        self.interference = Interference(BENCH_DB)
        self.disturbed_in_a_row = 0
        self.runs: list[SizeRun] = []
        self.ingestion: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.errors: list[str] = []
        self.others: dict[str, Any] = {}

    def other_figures(self) -> None:
        """The round's other benches, each as its own process with its own servers: nginx in
        front, the fault run, the partner corpus, hub delivery. Their printed figures are kept."""
        quick = ["--quick"] if self.s.quick else []
        plan: list[tuple[str, list[str], bool]] = [
            ("front", ["front.py", *quick], self.s.front),
            ("reliability", ["reliability.py", *quick], self.s.others),
            ("corpus", ["corpus.py"], self.s.others),
            ("websub", ["websub.py", *quick], self.s.others),
        ]
        for name, argv, wanted in plan:
            if not wanted or not (BENCH / argv[0]).exists():
                continue
            say(f"== {name}: python bench/{' '.join(argv)}")
            try:
                done = subprocess.run(
                    [sys.executable, str(BENCH / argv[0]), *argv[1:]],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=1800,
                )
            except subprocess.TimeoutExpired as exc:
                self.fail(name, exc)
                continue
            lines = [line for line in done.stdout.splitlines() if line.strip()]
            figures: dict[str, Any] = {"exit": done.returncode, "printed": lines[-40:]}
            for line in lines:
                if line.startswith("results: "):
                    path = ROOT / line.removeprefix("results: ").strip()
                    if not path.exists():
                        path = Path(line.removeprefix("results: ").strip())
                    with contextlib.suppress(OSError, ValueError):
                        figures["result"] = json.loads(path.read_text())
            if done.returncode not in (0, 1):
                self.errors.append(f"{name}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
            self.others[name] = figures

    # -- load runs ---------------------------------------------------------------------------

    def wrk(self, url: str, *, headers: dict[str, str] | None = None, c1: bool = False) -> LoadResult:
        """One load run; repeated (bounded) when other processes took a noticeable share of the CPUs."""
        s = self.s
        conns, threads = (1, 1) if c1 else (s.connections, s.threads)
        # Under lasting foreign load repeating is pointless: after three disturbed runs in a row, stop.
        retries = s.max_retries if self.disturbed_in_a_row < 3 else 0
        for attempt in range(retries + 1):
            begun = self.interference.start()
            result = self.load.run(
                url, connections=conns, threads=threads, duration=s.duration, headers=headers
            )
            result.foreign_cpu_pct = self.interference.stop(begun)
            result.retries = attempt
            if result.foreign_cpu_pct <= s.max_foreign_cpu:
                self.disturbed_in_a_row = 0
                break
            self.disturbed_in_a_row += 1
            say(
                f"    other processes used {result.foreign_cpu_pct:.0f}% of the CPUs during the run; "
                + ("repeating it" if attempt < retries else "keeping it, flagged")
            )
            if attempt < retries:
                time.sleep(2)
        return result

    def measured(
        self, run: SizeRun, phase: str, server: Server, work: Callable[[], LoadResult]
    ) -> LoadResult:
        with MemoryWatch(server).phase() as mem:
            result = work()
        run.memory_kib[phase] = max(run.memory_kib.get(phase, 0), mem.peak_kib)
        return result

    # -- one backend, one size ---------------------------------------------------------------

    def fail(self, where: str, exc: BaseException) -> None:
        detail = "".join(traceback.format_exception(exc)).rstrip()
        self.errors.append(f"{where}: {type(exc).__name__}: {exc}")
        say(f"ERROR in {where}:\n{detail}")

    def size_run(self, backend: Backend, n: int, with_ingest: bool) -> SizeRun:
        s = self.s
        run = SizeRun(backend.name, n)
        self.runs.append(run)  # partial results are reported too
        say(f"== {backend.label}, N = {n:,}: fresh database")
        env = clean_env({**backend.fresh(n), "FEEDSVC_BASE_URL": s.base_url})
        run_cli(["init-db"], env, timeout=300)
        started = time.perf_counter()
        say(f"  feedsvc demo --posts {n}")
        run_cli(["demo", "--posts", str(n)], env, timeout=3600, progress=True)
        run.load_seconds = time.perf_counter() - started
        backend.after_load()
        say(f"  loaded {n:,} posts in {run.load_seconds:.1f} s")
        token = run_cli(["tokens", "create", f"bench-{uuid.uuid4().hex[:8]}"], env, timeout=120).strip()
        token = token.splitlines()[-1].strip()

        logs = self.workdir / f"{backend.name}-{n}"
        logs.mkdir(exist_ok=True)
        service = start_gunicorn(
            "service", "wsgi:app", env=env, cwd=ROOT, log=logs / "service.log", workers=s.workers
        )
        ceiling: Server | None = None
        uncached: Server | None = None
        try:
            run.category, run.category_note = self.pick_category(service, token)
            paths = [t.format(lang=s.language, category=run.category) for t in FEED_TEMPLATES]
            manifest = self.record(service, paths, run, logs)
            ceiling = start_gunicorn(
                "ceiling",
                "ceiling:app",
                env={**clean_env({}), "BENCH_CEILING_MANIFEST": str(manifest)},
                cwd=ROOT,
                log=logs / "ceiling.log",
                workers=s.workers,
                extra=["--pythonpath", str(BENCH)],
            )
            self.verify_ceiling(ceiling, run)
            for feed in run.feeds:
                self.cached_phase(run, feed, service, ceiling)

            uncached = start_gunicorn(
                "service-uncached",
                "wsgi:app",
                env={**env, "FEEDSVC_CACHE_URL": "null"},
                cwd=ROOT,
                log=logs / "uncached.log",
                workers=s.workers,
            )
            for feed in run.feeds:
                self.uncached_phase(run, feed, uncached)
            run.after_write = self.render_after_write(service, uncached, ceiling, token)
            ceiling.stop()
            ceiling = None
            uncached.stop()
            uncached = None

            run.write_poll = self.write_then_poll(run, service, token, paths)
        finally:
            for server in (ceiling, uncached, service):
                if server is not None:
                    server.stop()
        self.print_size(run)
        if with_ingest and s.ingest:
            try:
                self.ingestion[backend.name] = self.ingest(env, logs)
            except Exception as exc:
                self.fail(f"{backend.name} ingestion", exc)
        return run

    def pick_category(self, service: Server, token: str) -> tuple[str, str]:
        """The asked category, unless the synthetic data files no post in it for the language."""
        s = self.s
        path = FEED_TEMPLATES[0].format(lang=s.language, category=s.category)
        r = httpx.get(service.base + path, timeout=30, headers=IDENTITY)
        if r.status_code == 200 and count_items(path, r.content) > 0:
            return s.category, ""
        r = httpx.get(
            f"{service.base}/api/posts",
            params={"language": s.language, "limit": 1},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        r.raise_for_status()
        items = r.json()["items"]
        if not items or not items[0]["categories"]:
            return s.category, f"{path} is empty and no {s.language} post has a category"
        other = items[0]["categories"][0]
        note = (
            f"{path} has 0 items: `feedsvc demo --posts` files {s.language} posts only under some categories "
            f"(language and category both derive from the post id); measuring {other!r} instead"
        )
        say(f"  note: {note}")
        return other, note

    def record(self, service: Server, paths: list[str], run: SizeRun, logs: Path) -> Path:
        """Fetch each feed (warming every worker's cache) and record bytes and headers for the ceiling."""
        manifest: dict[str, Any] = {}
        with httpx.Client(base_url=service.base, timeout=60, headers=IDENTITY) as client:
            for i, path in enumerate(paths):
                r = client.get(path)
                r.raise_for_status()
                for _ in range(8 * self.s.workers):  # sync workers: each request lands on any worker
                    again = client.get(path)
                    if again.content != r.content:
                        raise RuntimeError(f"{path}: two fetches returned different bytes")
                etag = r.headers["etag"]
                r304 = client.get(path, headers={**IDENTITY, "If-None-Match": etag})
                if r304.status_code != 304:
                    raise RuntimeError(f"{path}: If-None-Match {etag} answered {r304.status_code}, not 304")
                body_file = logs / f"feed{i}.body"
                body_file.write_bytes(r.content)
                manifest[path] = {
                    "body": str(body_file),
                    "headers": feed_headers(r.headers),
                    "headers_304": feed_headers(r304.headers),
                }
                feed = FeedResult(path, len(r.content), count_items(path, r.content), etag)
                feed.checks.append(f"sample If-None-Match → {r304.status_code}, {len(r304.content)} bytes")
                run.feeds.append(feed)
        path = logs / "ceiling.json"
        path.write_text(json.dumps(manifest))
        return path

    def verify_ceiling(self, ceiling: Server, run: SizeRun) -> None:
        manifest = json.loads((self.workdir / f"{run.backend}-{run.n}" / "ceiling.json").read_text())
        with httpx.Client(base_url=ceiling.base, timeout=30, headers=IDENTITY) as client:
            for feed in run.feeds:
                r = client.get(feed.path)
                expected = Path(manifest[feed.path]["body"]).read_bytes()
                if r.status_code != 200 or r.content != expected:
                    raise RuntimeError(f"ceiling serves different bytes for {feed.path}")
                if client.get(feed.path, headers={**IDENTITY, "If-None-Match": feed.etag}).status_code != 304:
                    raise RuntimeError(f"ceiling does not answer 304 for {feed.path}")

    def cached_phase(self, run: SizeRun, feed: FeedResult, service: Server, ceiling: Server) -> None:
        inm = {"If-None-Match": feed.etag}
        svc, ceil = service.base + feed.path, ceiling.base + feed.path
        got: dict[str, list[LoadResult]] = {"cached": [], "ceiling": [], "r304": [], "ceiling_304": []}
        # Service and ceiling alternate in short rounds: the machine's drift hits both alike.
        for _ in range(self.s.rounds):
            got["cached"].append(self.measured(run, "cached 200", service, lambda: self.wrk(svc)))
            got["ceiling"].append(self.wrk(ceil))
            got["r304"].append(self.measured(run, "304", service, lambda: self.wrk(svc, headers=inm)))
            got["ceiling_304"].append(self.wrk(ceil, headers=inm))
        feed.cached, feed.ceiling = combine(got["cached"]), combine(got["ceiling"])
        feed.r304, feed.ceiling_304 = combine(got["r304"]), combine(got["ceiling_304"])
        after = httpx.get(service.base + feed.path, headers={**IDENTITY, **inm}, timeout=30)
        feed.checks.append(f"after the 304 run: {after.status_code}, {len(after.content)} bytes")
        if after.status_code != 304:
            raise RuntimeError(f"{feed.path}: the 304 run was not answered 304 ({after.status_code})")
        if feed.r304.bytes_per_request > 1000:
            feed.checks.append(f"WARNING: {feed.r304.bytes_per_request:.0f} bytes per 304 response")
        if feed.cached.bytes_per_request < feed.body_bytes:
            feed.checks.append(f"WARNING: {feed.cached.bytes_per_request:.0f} bytes per 200 response")
        say(
            f"  {feed.path}: cached {feed.cached.rps:,.0f}/s (ceiling {feed.ceiling.rps:,.0f}), "
            f"304 {feed.r304.rps:,.0f}/s (ceiling {feed.ceiling_304.rps:,.0f})"
        )

    def uncached_phase(self, run: SizeRun, feed: FeedResult, server: Server) -> None:
        url = server.base + feed.path
        with httpx.Client(timeout=60, headers=IDENTITY) as client:
            for _ in range(4 * self.s.workers):
                r = client.get(url)
                r.raise_for_status()
        items = count_items(feed.path, r.content)
        feed.checks.append(f"uncached sample: {r.status_code}, {len(r.content)} bytes, {items} items")
        many: list[LoadResult] = []
        one: list[LoadResult] = []
        for _ in range(self.s.rounds):
            many.append(self.measured(run, "uncached", server, lambda: self.wrk(url)))
            one.append(self.measured(run, "uncached", server, lambda: self.wrk(url, c1=True)))
        feed.uncached, feed.uncached_c1 = combine(many), combine(one)
        say(
            f"  {feed.path}: uncached {feed.uncached.rps:,.0f}/s, "
            f"one render at c1 p50 {feed.uncached_c1.p50_ms:.2f} ms"
        )

    def render_after_write(
        self, service: Server, scratch: Server, ceiling: Server, token: str
    ) -> dict[str, Any]:
        """The render that follows a write: one new post, then the first GET of a 50-item feed,
        timed at concurrency 1 on the service (entries rendered before come from its entry
        cache) and on the uncached service (from scratch), beside the ceiling's answer at c1."""
        s = self.s
        path = AFTER_WRITE_FEED.format(lang=s.language)
        ceil = combine([self.wrk(ceiling.base + path, c1=True) for _ in range(s.rounds)])
        after: list[float] = []
        scratch_ms: list[float] = []
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=30, headers=IDENTITY) as client:
            for i in range(s.after_write_iterations):
                client.post(
                    service.base + "/api/posts",
                    headers=headers,
                    json={"title": f"After {i}", "content": "<p>x</p>", "language": s.language},
                ).raise_for_status()
                for target, into in ((service, after), (scratch, scratch_ms)):
                    t0 = time.perf_counter()
                    client.get(target.base + path).raise_for_status()
                    into.append((time.perf_counter() - t0) * 1000)
        result = {
            "path": path,
            "writes": len(after),
            "after_write_p50_ms": statistics.median(after),
            "scratch_p50_ms": statistics.median(scratch_ms),
            "ceiling_c1_p50_ms": ceil.p50_ms,
        }
        result["after_write_vs_ceiling"] = ceil.p50_ms / result["after_write_p50_ms"]
        result["scratch_vs_ceiling"] = ceil.p50_ms / result["scratch_p50_ms"]
        say(
            f"  {path}: render after one write p50 {result['after_write_p50_ms']:.2f} ms, from scratch "
            f"{result['scratch_p50_ms']:.2f} ms, ceiling c1 {ceil.p50_ms:.2f} ms "
            f"(ratios {result['after_write_vs_ceiling']:.2f} / {result['scratch_vs_ceiling']:.2f})"
        )
        return result

    def write_then_poll(self, run: SizeRun, service: Server, token: str, paths: list[str]) -> dict[str, Any]:
        """Each client: POST a post, then poll one affected feed and check the new item is in it."""
        s = self.s
        lock = threading.Lock()
        stats: dict[str, Any] = {
            "writes": 0,
            "polls": 0,
            "failures": 0,
            "errors": [],
            "write_ms": [],
            "poll_ms": [],
        }
        budget = [s.wp_iterations]
        deadline = time.monotonic() + s.wp_seconds

        def client_loop(k: int) -> None:
            with httpx.Client(base_url=service.base, timeout=30) as client:
                i = 0
                while time.monotonic() < deadline:  # bounded in time and in count
                    with lock:
                        if budget[0] <= 0:
                            return
                        budget[0] -= 1
                    mark = uuid.uuid4().hex[:12]
                    t0 = time.perf_counter()
                    w = client.post(
                        "/api/posts",
                        headers={"Authorization": f"Bearer {token}"},
                        json={
                            "title": f"Проверка записи {mark}",
                            "content": f"<p>Запись {mark}: текст для проверки, что лента обновилась.</p>",
                            "language": s.language,
                            "categories": [run.category],
                        },
                    )
                    t1 = time.perf_counter()
                    if w.status_code not in (200, 201):
                        with lock:
                            stats["failures"] += 1
                            stats["errors"].append(f"write {w.status_code}: {w.text[:200]}")
                        continue
                    guid = w.json()["guid"]
                    path = paths[(k + i) % len(paths)]
                    i += 1
                    p = client.get(path)
                    t2 = time.perf_counter()
                    ok = p.status_code == 200 and guid.encode() in p.content
                    with lock:
                        stats["writes"] += 1
                        stats["polls"] += 1
                        stats["write_ms"].append((t1 - t0) * 1000)
                        stats["poll_ms"].append((t2 - t1) * 1000)
                        if not ok:
                            stats["failures"] += 1
                            stats["errors"].append(
                                f"poll {path} after writing {guid}: {p.status_code}, item missing"
                            )

        with MemoryWatch(service).phase() as mem:
            started = time.perf_counter()
            clients = [
                threading.Thread(target=client_loop, args=(k,), daemon=True) for k in range(s.wp_threads)
            ]
            for t in clients:
                t.start()
            for t in clients:
                t.join(timeout=s.wp_seconds + 60)
            elapsed = time.perf_counter() - started
        run.memory_kib["write-then-poll"] = mem.peak_kib
        ops = stats["writes"] + stats["polls"]
        out = {
            "clients": s.wp_threads,
            "iterations": stats["writes"],
            "failures": stats["failures"],
            "errors": stats["errors"][:10],
            "seconds": elapsed,
            "ops_per_s": ops / elapsed if elapsed else 0.0,
            "write_p50_ms": statistics.median(stats["write_ms"]) if stats["write_ms"] else None,
            "poll_p50_ms": statistics.median(stats["poll_ms"]) if stats["poll_ms"] else None,
        }
        say(
            f"  write-then-poll: {out['iterations']} writes, {out['failures']} failures, "
            f"{out['ops_per_s']:.1f} ops/s ({s.wp_threads} clients)"
        )
        return out

    # -- ingestion ---------------------------------------------------------------------------

    def ingest(self, env: dict[str, str], logs: Path) -> dict[str, Any]:
        s = self.s
        say(f"  ingestion: {s.ingest_sources} partner feeds x {s.ingest_items} items on 127.0.0.1")
        port = free_port()
        partner = spawn(
            [
                sys.executable,
                str(BENCH / "partners.py"),
                "--port",
                str(port),
                "--sources",
                str(s.ingest_sources),
                "--items",
                str(s.ingest_items),
            ],
            env=clean_env({}),
            cwd=ROOT,
            log=logs / "partners.log",
        )
        base = f"http://127.0.0.1:{port}"
        ienv = {**env, "FEEDSVC_ALLOW_PRIVATE_SOURCES": "1"}
        out: dict[str, Any] = {"sources": s.ingest_sources, "items_per_source": s.ingest_items}
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # bounded readiness poll
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(base + "/_stats", timeout=2).status_code == 200:
                        break
                if partner.poll() is not None:
                    raise RuntimeError(f"partner server exited:\n{tail(logs / 'partners.log')}")
                time.sleep(0.1)
            out["registration"] = self.register_sources(base, ienv)
            cmd = [
                sys.executable,
                str(BENCH / "ingest_pass.py"),
                "measure",
                "--base",
                base,
                "--sources",
                str(s.ingest_sources),
                "--items",
                str(s.ingest_items),
            ]
            if s.profile_ingest:
                cmd += ["--profile", str(logs / "ingest-profile.txt")]
            res = subprocess.run(cmd, env=ienv, cwd=ROOT, capture_output=True, text=True, timeout=1800)
            if res.returncode != 0:
                raise RuntimeError(f"ingest_pass.py failed:\n{res.stderr[-3000:]}")
            out.update(json.loads(res.stdout.strip().splitlines()[-1]))
            # The CLI, interpreter start-up included: a pass of new items, then a pass of 304s.
            httpx.get(f"{base}/_generation/3", timeout=60).raise_for_status()
            out["cli_new"] = self.cli_ingest(ienv)
            out["cli_304"] = self.cli_ingest(ienv)
        finally:
            kill_group(partner)
        b, fp = out["pass_b_new"], out["feedparser_alone"]
        out["overhead_vs_feedparser"] = b["seconds"] / fp["seconds"] if fp["seconds"] else None
        say(
            f"  ingestion: {b['new_items']} new items in {b['seconds']:.2f} s "
            f"({b['items_per_s']:.0f} items/s), "
            f"feedparser alone {fp['seconds']:.2f} s → {out['overhead_vs_feedparser']:.2f}x; "
            f"304 pass {out['pass_c_304']['seconds']:.2f} s; CLI {out['cli_new']['wall_s']:.2f} s / "
            f"{out['cli_304']['wall_s']:.2f} s"
        )
        return out

    def register_sources(self, base: str, env: dict[str, str]) -> dict[str, Any]:
        s = self.s
        started = time.perf_counter()
        if s.quick:
            # Same command, one interpreter: 10+ CLI start-ups would eat the quick budget.
            res = subprocess.run(
                [
                    sys.executable,
                    str(BENCH / "ingest_pass.py"),
                    "register",
                    "--base",
                    base,
                    "--sources",
                    str(s.ingest_sources),
                    "--language",
                    s.language,
                ],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if res.returncode != 0:
                raise RuntimeError(f"registering sources failed:\n{res.stderr[-2000:]}")
            info = json.loads(res.stdout.strip().splitlines()[-1])
            if info["failures"]:
                raise RuntimeError("registering sources failed: " + "; ".join(info["failures"][:3]))
            how = "feedsvc sources add (in one process, Flask CLI runner)"
        else:
            urls = [f"{base}/feed/{k}.xml" for k in range(s.ingest_sources)]
            errors: list[str] = []

            def add(url: str) -> None:
                try:
                    run_cli(["sources", "add", url, "--language", s.language], env, timeout=120)
                except RuntimeError as exc:
                    errors.append(str(exc))

            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
                list(pool.map(add, urls))
            if errors:
                raise RuntimeError("feedsvc sources add failed: " + errors[0])
            how = "feedsvc sources add (one CLI process per source)"
        return {"how": how, "seconds": time.perf_counter() - started}

    def cli_ingest(self, env: dict[str, str]) -> dict[str, Any]:
        started = time.perf_counter()
        out = run_cli(["ingest", "--all"], env, timeout=1800)
        wall = time.perf_counter() - started
        new = sum(int(m) for m in re.findall(r"\(new (\d+),", out))
        return {
            "wall_s": wall,
            "new_items": new,
            "summary": out.strip().splitlines()[-1] if out.strip() else "",
        }

    # -- reporting ---------------------------------------------------------------------------

    def print_size(self, run: SizeRun) -> None:
        print(render_size_table([run]), flush=True)


# ------------------------------------------------------------------------------------- tables


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def render_size_table(runs: list[SizeRun]) -> str:
    rows = []
    for run in runs:
        for f in run.feeds:
            head = [run.backend, fmt_n(run.n), f.path, f"{f.items}/{f.body_bytes // 1024}K"]
            for phase, value, base, key in (
                ("200 cached", f.cached, f.ceiling, "cached_200_vs_ceiling"),
                ("304", f.r304, f.ceiling_304, "r304_vs_ceiling"),
                ("uncached", f.uncached, f.ceiling, "uncached_vs_ceiling"),
                ("render c1", f.uncached_c1, None, "render_c1_p50_ms"),
            ):
                if value is None:
                    continue
                if key == "render_c1_p50_ms":
                    ceiling, ratio, goal = "", "", f"p50 < {TARGETS[key]} ms"
                    ok = verdict(value.p50_ms < TARGETS[key])
                elif base is not None and base.rps:
                    r = value.rps / base.rps
                    ceiling, ratio, goal, ok = (
                        f"{base.rps:,.0f}",
                        f"{r:.2f}",
                        f">= {TARGETS[key]}",
                        verdict(r >= TARGETS[key]),
                    )
                else:
                    ceiling, ratio, goal, ok = "", "", f">= {TARGETS[key]}", verdict(None)
                noise = max(value.foreign_cpu_pct, base.foreign_cpu_pct if base else 0.0)
                rows.append(
                    [
                        *head,
                        phase,
                        f"{value.rps:,.0f}",
                        f"{value.p50_ms:.2f}",
                        f"{value.p99_ms:.2f}",
                        ceiling,
                        ratio,
                        goal,
                        ok,
                        f"{noise:.0f}",
                    ]
                )
    return table(
        [
            "backend",
            "N",
            "feed",
            "items/size",
            "phase",
            "req/s",
            "p50 ms",
            "p99 ms",
            "ceiling/s",
            "ratio",
            "target",
            "",
            "other CPU %",
        ],
        rows,
    )


# ------------------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    where: str
    value: float | None
    goal: str
    met: bool | None


def evaluate(bench: Bench) -> list[Target]:
    out: list[Target] = []
    for run in bench.runs:
        where = f"{run.backend} N={fmt_n(run.n)}"
        for f in run.feeds:
            for key, tname, label in (
                ("cached", "cached_200_vs_ceiling", "cached 200 / ceiling"),
                ("r304", "r304_vs_ceiling", "304 / ceiling 304"),
                ("uncached", "uncached_vs_ceiling", "uncached / ceiling"),
            ):
                r = f.ratio(key)
                out.append(
                    Target(
                        label,
                        f"{where} {f.path}",
                        r,
                        f">= {TARGETS[tname]}",
                        None if r is None else r >= TARGETS[tname],
                    )
                )
            if f.uncached_c1:
                p50 = f.uncached_c1.p50_ms
                out.append(
                    Target(
                        "render at c1, p50 ms",
                        f"{where} {f.path}",
                        p50,
                        f"< {TARGETS['render_c1_p50_ms']}",
                        p50 < TARGETS["render_c1_p50_ms"],
                    )
                )
        wp = run.write_poll
        if wp:
            out.append(Target("write-then-poll failures", where, wp["failures"], "== 0", wp["failures"] == 0))
    for backend in {r.backend for r in bench.runs}:
        runs = sorted((r for r in bench.runs if r.backend == backend), key=lambda r: r.n)
        if len(runs) < 2:
            continue
        lo, hi = runs[0], runs[-1]
        span = f"{backend} {fmt_n(hi.n)}/{fmt_n(lo.n)}"
        for f_lo, f_hi in zip(lo.feeds, hi.feeds, strict=False):
            if f_lo.uncached_c1 and f_hi.uncached_c1 and f_lo.uncached_c1.p50_ms:
                g = f_hi.uncached_c1.p50_ms / f_lo.uncached_c1.p50_ms
                out.append(
                    Target(
                        "render latency growth",
                        f"{span} {f_hi.path}",
                        g,
                        f"<= {TARGETS['render_growth']}",
                        g <= TARGETS["render_growth"],
                    )
                )
        for phase in lo.memory_kib:
            if phase in hi.memory_kib and lo.memory_kib[phase]:
                g = hi.memory_kib[phase] / lo.memory_kib[phase]
                out.append(
                    Target(
                        f"worker memory growth ({phase})",
                        span,
                        g,
                        f"<= {TARGETS['memory_growth']}",
                        g <= TARGETS["memory_growth"],
                    )
                )
    for backend, ing in bench.ingestion.items():
        scale = 50 / ing["sources"]
        o = ing.get("overhead_vs_feedparser")
        out.append(
            Target(
                "ingest time / feedparser alone",
                backend,
                o,
                f"< {TARGETS['ingest_overhead']}",
                None if o is None else o < TARGETS["ingest_overhead"],
            )
        )
        t304 = ing["pass_c_304"]["seconds"] * scale
        note = "" if scale == 1 else f" (x{scale:g}: scaled to 50 sources)"
        ok304 = ing["pass_c_304"]["outcomes"].get("unchanged", 0) == ing["sources"]
        out.append(
            Target(
                f"304 pass of 50 sources, s{note}",
                backend,
                t304,
                f"< {TARGETS['ingest_304_pass_s']}",
                t304 < TARGETS["ingest_304_pass_s"] and ok304,
            )
        )
    for run in bench.runs:
        if run.after_write:
            r = run.after_write["after_write_vs_ceiling"]
            out.append(
                Target(
                    "render after one write / ceiling (c1)",
                    f"{run.backend} N={fmt_n(run.n)} {run.after_write['path']}",
                    r,
                    f">= {TARGETS['after_write_vs_ceiling']}",
                    r >= TARGETS["after_write_vs_ceiling"],
                )
            )
    front = (bench.others.get("front") or {}).get("result")
    if front:
        ratio, p99 = front["front_vs_static"], front["freshness_s"]["p99"]
        goals = front["targets"]
        out.append(
            Target(
                "nginx in front / nginx static file",
                front["feed"],
                ratio,
                f">= {goals['front_vs_static']}",
                ratio is not None and ratio >= goals["front_vs_static"],
            )
        )
        out.append(
            Target(
                "write to first 200 at nginx with it, p99 s",
                front.get("freshness_feed", front["feed"]),
                p99,
                f"<= {goals['freshness_p99_s']}",
                p99 <= goals["freshness_p99_s"],
            )
        )
        if "hit_share" in goals:
            share, stale = front["hit_share"], front["stale_first_polls"]
            out.append(
                Target(
                    "cache HITs at nginx under load",
                    front["feed"],
                    share,
                    f">= {goals['hit_share']}",
                    share is not None and share >= goals["hit_share"],
                )
            )
            out.append(
                Target(
                    "stale first polls after the 201",
                    f"{front['freshness_s']['writes']} writes",
                    stale,
                    f"<= {goals['stale_first_polls']}",
                    stale <= goals["stale_first_polls"],
                )
            )
    return out


def render_report(bench: Bench, targets: list[Target]) -> str:
    s = bench.s
    parts = [
        "",
        "RESULTS (req/s as a ratio to the ceiling measured in the same run; other CPU %: share of the "
        "machine other processes used during the figure's runs)",
        render_size_table(bench.runs),
    ]
    # Growth across sizes.
    rows = []
    for backend in dict.fromkeys(r.backend for r in bench.runs):
        runs = sorted((r for r in bench.runs if r.backend == backend), key=lambda r: r.n)
        if len(runs) < 2:
            continue
        for i in range(len(runs[0].feeds)):
            feeds = [r.feeds[i] for r in runs]
            for label, get in (
                ("200 cached req/s", lambda f: f.cached.rps if f.cached else None),
                ("304 req/s", lambda f: f.r304.rps if f.r304 else None),
                ("uncached req/s", lambda f: f.uncached.rps if f.uncached else None),
                ("render c1 p50 ms", lambda f: f.uncached_c1.p50_ms if f.uncached_c1 else None),
            ):
                values = [get(f) for f in feeds]
                if None in values or not values[0]:
                    continue
                growth = values[-1] / values[0]
                goal = f"<= {TARGETS['render_growth']}" if "p50" in label else ""
                ok = verdict(growth <= TARGETS["render_growth"]) if goal else ""
                fmt = "{:.2f}" if "ms" in label else "{:,.0f}"
                rows.append(
                    [
                        backend,
                        feeds[-1].path,
                        label,
                        *[fmt.format(v) for v in values],
                        f"{growth:.2f}",
                        goal,
                        ok,
                    ]
                )
    if rows:
        sizes = sorted({r.n for r in bench.runs})
        parts += [
            "",
            f"GROWTH (largest N / smallest N; ratio < 1 for req/s means slower at {fmt_n(sizes[-1])})",
            table(["backend", "feed", "figure", *[fmt_n(n) for n in sizes], "growth", "target", ""], rows),
        ]
    # Memory.
    phases = list(dict.fromkeys(p for r in bench.runs for p in r.memory_kib))
    rows = [
        [r.backend, fmt_n(r.n), *[f"{r.memory_kib.get(p, 0) / 1024:.1f}" for p in phases]] for r in bench.runs
    ]
    parts += [
        "",
        "WORKER PEAK RSS, MiB (largest gunicorn worker; VmHWM reset per phase + VmRSS samples)",
        table(["backend", "N", *phases], rows),
    ]
    # Write-then-poll.
    rows = [
        [
            r.backend,
            fmt_n(r.n),
            str(r.write_poll.get("clients")),
            str(r.write_poll.get("iterations")),
            str(r.write_poll.get("failures")),
            f"{r.write_poll.get('ops_per_s', 0):.1f}",
            f"{r.write_poll.get('write_p50_ms') or 0:.1f}",
            f"{r.write_poll.get('poll_p50_ms') or 0:.1f}",
            verdict(r.write_poll.get("failures") == 0),
        ]
        for r in bench.runs
        if r.write_poll
    ]
    parts += [
        "",
        f"WRITE-THEN-POLL (POST /api/posts, then GET an affected feed; bounded {s.wp_iterations} "
        f"writes or {s.wp_seconds:g} s)",
        table(
            [
                "backend",
                "N",
                "clients",
                "writes",
                "failures",
                "ops/s",
                "write p50 ms",
                "poll p50 ms",
                "0 failures",
            ],
            rows,
        ),
    ]
    rows = [
        [
            run.backend,
            fmt_n(run.n),
            run.after_write["path"],
            str(run.after_write["writes"]),
            f"{run.after_write['after_write_p50_ms']:.2f}",
            f"{run.after_write['scratch_p50_ms']:.2f}",
            f"{run.after_write['ceiling_c1_p50_ms']:.2f}",
            f"{run.after_write['after_write_vs_ceiling']:.2f}",
            f"{run.after_write['scratch_vs_ceiling']:.2f}",
            verdict(run.after_write["after_write_vs_ceiling"] >= TARGETS["after_write_vs_ceiling"]),
        ]
        for run in bench.runs
        if run.after_write
    ]
    parts += [
        "",
        "RENDER AFTER ONE WRITE (one new post, then the first GET of a 50-item feed, concurrency 1; "
        f"ratio = ceiling latency / render latency, target >= {TARGETS['after_write_vs_ceiling']})",
        table(
            [
                "backend",
                "N",
                "feed",
                "writes",
                "after write p50 ms",
                "from scratch p50 ms",
                "ceiling p50 ms",
                "ratio",
                "scratch ratio",
                "",
            ],
            rows,
        ),
    ]
    # Ingestion.
    rows = []
    for backend, ing in bench.ingestion.items():
        a, b, c = ing["pass_a_new_cold"], ing["pass_b_new"], ing["pass_c_304"]
        fp, pf, fe = ing["feedparser_alone"], ing["parse_feed_alone"], ing["fetch_alone"]
        o = ing["overhead_vs_feedparser"]
        rows += [
            [
                backend,
                "new items, cold process",
                str(a["new_items"]),
                f"{a['seconds']:.2f}",
                f"{a['items_per_s']:.0f}",
                f"{a['cpu_seconds']:.2f}",
                "",
                "",
            ],
            [
                backend,
                "new items, warm (reported)",
                str(b["new_items"]),
                f"{b['seconds']:.2f}",
                f"{b['items_per_s']:.0f}",
                f"{b['cpu_seconds']:.2f}",
                f"{o:.2f}x feedparser",
                verdict(o < TARGETS["ingest_overhead"]),
            ],
            [
                backend,
                "all 304",
                str(c["outcomes"]),
                f"{c['seconds']:.3f}",
                "",
                f"{c['cpu_seconds']:.3f}",
                "< 1 s for 50",
                verdict(c["seconds"] * 50 / ing["sources"] < 1),
            ],
            [backend, "feedparser.parse(bytes) alone", "", f"{fp['seconds']:.2f}", "", "", "", ""],
            [backend, "parse_feed alone (feedparser+clean)", "", f"{pf['seconds']:.2f}", "", "", "", ""],
            [backend, "fetch alone", "", f"{fe['seconds']:.2f}", "", "", "", ""],
            [
                backend,
                "CLI feedsvc ingest --all, new",
                str(ing["cli_new"]["new_items"]),
                f"{ing['cli_new']['wall_s']:.2f}",
                "",
                "",
                "wall, incl. start-up",
                "",
            ],
            [
                backend,
                "CLI feedsvc ingest --all, 304",
                "0",
                f"{ing['cli_304']['wall_s']:.2f}",
                "",
                "",
                "wall, incl. start-up",
                "",
            ],
        ]
    if rows:
        first = next(iter(bench.ingestion.values()))
        parts += [
            "",
            f"INGESTION ({first['sources']} local partner feeds x {first['items_per_source']} items, "
            f"~{first['body_bytes_mean'] / 1024:.0f} KiB each; in-process unless marked CLI)",
            table(["backend", "pass", "items", "seconds", "items/s", "cpu s", "vs target", ""], rows),
        ]
    # Targets.
    rows = [
        [t.name, t.where, "" if t.value is None else f"{t.value:.2f}", t.goal, verdict(t.met)]
        for t in targets
    ]
    parts += ["", "TARGETS", table(["target", "where", "value", "goal", ""], rows)]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------- machine


def machine_info(settings: Settings, backends: list[Backend], load_tool: str) -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    versions = {"python": platform.python_version(), "wrk": wrk_version(), "load generator": load_tool}
    for dist in (
        "gunicorn",
        "flask",
        "sqlalchemy",
        "feedparser",
        "feedgen",
        "lxml",
        "psycopg",
        "redis",
        "httpx",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    for b in backends:
        versions.update(b.versions())
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "versions": versions,
    }


def print_header(info: dict[str, Any], s: Settings) -> None:
    v = info["versions"]
    print(
        f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB RAM, Linux {info['kernel']}"
    )
    print("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    print(
        f"settings: gunicorn wsgi:app, {s.workers} sync workers (service and ceiling alike), no access log; "
        f"load: {v['load generator']} {s.connections} connections, {s.threads} threads, "
        f"{s.rounds} round(s) of {s.duration} s per figure, medians, service and ceiling alternating "
        f"(render latency: 1 connection, 1 thread) on 127.0.0.1; "
        f"sizes {', '.join(fmt_n(n) for n in s.sizes)}; "
        f"backends {', '.join(s.backends)}; feeds {', '.join(FEED_TEMPLATES)} (lang {s.language}, category "
        f"{s.category}); FEEDSVC_BASE_URL={s.base_url}; mode {'quick' if s.quick else 'full'}",
        flush=True,
    )


def code_state() -> dict[str, Any]:
    """Which code is measured: the commit, uncommitted changes, and a digest of feedsvc/ itself."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "feedsvc").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    digest.update((ROOT / "wsgi.py").read_bytes())

    def git(*args: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
            return out.stdout.strip()
        return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted": git("status", "--porcelain", "--", "feedsvc", "wsgi.py").splitlines(),
        "feedsvc_sha256": digest.hexdigest()[:16],
    }


# ------------------------------------------------------------------------------------- main


@contextlib.contextmanager
def exclusive(wait_s: float) -> Iterator[None]:
    """One benchmark at a time on this machine: two would measure each other."""
    with LOCK_FILE.open("a+") as handle:
        deadline = time.monotonic() + wait_s
        while True:  # bounded by the deadline
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"another benchmark holds {LOCK_FILE}; gave up after {wait_s:.0f} s"
                    ) from None
                say(f"another benchmark holds {LOCK_FILE}; waiting (at most {wait_s:.0f} s)")
                time.sleep(10)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    with exclusive(wait_s=120 if settings.quick else 1800):
        return measure(settings)


def measure(settings: Settings) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as tmp:
        workdir = Path(tmp)
        bench = Bench(settings, workdir)
        if bench.load.tool != "wrk":
            print(
                "WARNING: wrk not found (apt-get install -y wrk); using the Python load generator. Its "
                "figures are far below wrk's and only comparable with each other.",
                file=sys.stderr,
                flush=True,
            )
        backends: list[Backend] = []
        private = contextlib.ExitStack()
        for name in settings.backends:
            try:
                backend: Backend = (
                    SqliteBackend(workdir) if name == "sqlite" else postgres_backend(settings, private)
                )
            except RuntimeError as exc:  # no server binaries for a private one
                say(f"skipping PostgreSQL + Redis: {exc}; name servers with --pg-url and --redis-url")
                bench.skipped[name] = str(exc)
                continue
            why = backend.available()
            if why:
                say(f"skipping {backend.label}: {why}")
                bench.skipped[name] = why
            else:
                backends.append(backend)
        info = machine_info(settings, backends, bench.load.tool)
        info["code"] = code = code_state()
        print_header(info, settings)
        print(
            f"code: commit {code['commit']}, feedsvc/ digest {code['feedsvc_sha256']}, "
            f"{len(code['uncommitted'])} uncommitted change(s) under feedsvc/",
            flush=True,
        )
        try:
            for backend in backends:
                try:
                    for i, n in enumerate(settings.sizes):
                        try:
                            bench.size_run(backend, n, with_ingest=i == 0)
                        except Exception as exc:  # report it, keep what was measured, go on
                            bench.fail(f"{backend.name} N={fmt_n(n)}", exc)
                finally:
                    backend.drop()
            private.close()
            bench.other_figures()
        except KeyboardInterrupt:
            say("interrupted; reporting what was measured")
        finally:
            private.close()
            targets = evaluate(bench)
            info["code_at_end"] = code_end = code_state()
            if code_end["feedsvc_sha256"] != info["code"]["feedsvc_sha256"]:
                bench.errors.append(
                    f"feedsvc/ changed during the run (commit {info['code']['commit']} → "
                    f"{code_end['commit']}): the figures mix code versions; run again"
                )
            report = render_report(bench, targets)
            met = sum(1 for t in targets if t.met)
            judged = sum(1 for t in targets if t.met is not None)
            missed = [f"{t.name} [{t.where}]" for t in targets if t.met is False]
            elapsed = time.monotonic() - started
            out_file = RESULTS / f"{stamp}.json"
            out_file.write_text(
                json.dumps(
                    {
                        "started_utc": stamp,
                        "elapsed_s": elapsed,
                        "machine": info,
                        "settings": settings.as_dict(),
                        "targets_goal": TARGETS,
                        "skipped_backends": bench.skipped,
                        "runs": [r.as_dict() for r in bench.runs],
                        "ingestion": bench.ingestion,
                        "others": {k: v.get("result") or v for k, v in bench.others.items()},
                        "targets": [t.__dict__ for t in targets],
                        "errors": bench.errors,
                    },
                    indent=2,
                    default=str,
                )
            )
            print(report)
            for name, figures in bench.others.items():
                print(f"\n{name.upper()} (bench/{name}.py; exit {figures['exit']})")
                for line in figures["printed"][-14:]:
                    print(f"  {line}")
            for error in bench.errors:
                print(f"ERROR: {error}")
            print(f"\nresults: {out_file.relative_to(ROOT)}")
            kinds = sorted({m.split(" [")[0] for m in missed})
            mode = "quick" if settings.quick else "full"
            print(
                f"SUMMARY: {met}/{judged} targets met in {elapsed / 60:.1f} min "
                f"({settings.workers} sync workers, {bench.load.tool}, {mode} run); "
                + (f"missed: {'; '.join(kinds)}" if kinds else "all met" if judged else "nothing judged")
                + (f"; {len(bench.errors)} error(s)" if bench.errors else ""),
                flush=True,
            )
            if settings.quick and missed and not bench.errors:
                print(
                    "quick run: 1-s load runs at small N are a check that every phase works, too short "
                    "to judge targets; exit 0 (`make bench` judges them)",
                    flush=True,
                )
    if settings.quick:
        return 1 if bench.errors else 0
    return 0 if not missed and not bench.errors else 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
