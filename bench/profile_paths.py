"""Where the time goes on the feed paths: cProfile over direct WSGI calls, or py-spy on gunicorn workers.

    python bench/profile_paths.py --backend sqlite --posts 10000            # WSGI loop + cProfile
    python bench/profile_paths.py --backend postgres --method pyspy         # py-spy under wrk load

``wsgi``: one process calls ``app.wsgi_app`` in a loop (no HTTP, no gunicorn) for the cached 200, the
304 and the uncached render of each feed, next to the ceiling app answering the same request, and
prints microseconds per request and the functions with the largest share of the profile.

``pyspy``: gunicorn with the production settings under wrk (16 connections), py-spy sampling every
worker; prints inclusive and self shares per function from the collapsed stacks.

Both set up a fresh database like ``bench/run.py`` (``feedsvc init-db`` + ``feedsvc demo``) and drop it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from loadgen import LoadGenerator
from procs import Server, kill_group, register, start_gunicorn
from run import (
    BENCH,
    FEED_TEMPLATES,
    IDENTITY,
    ROOT,
    Backend,
    PostgresBackend,
    SqliteBackend,
    clean_env,
    count_items,
    exclusive,
    feed_headers,
    run_cli,
)


def setup(backend: Backend, posts: int, base_url: str) -> dict[str, str]:
    env = clean_env({**backend.fresh(posts), "FEEDSVC_BASE_URL": base_url})
    run_cli(["init-db"], env, timeout=300)
    run_cli(["demo", "--posts", str(posts)], env, timeout=3600)
    backend.after_load()
    return env


def pick_paths(app: Any, language: str, category: str) -> list[str]:
    client = app.test_client()
    path = FEED_TEMPLATES[0].format(lang=language, category=category)
    if count_items(path, client.get(path).data) == 0:
        # Synthetic data files each language under some categories only; take one that has posts.
        for slug in ("politics", "sport", "economy", "culture", "society", "events"):
            path = FEED_TEMPLATES[0].format(lang=language, category=slug)
            if count_items(path, client.get(path).data) > 0:
                category = slug
                break
    return [t.format(lang=language, category=category) for t in FEED_TEMPLATES]


# ------------------------------------------------------------------------------------- WSGI loop


def _caller(app: Any, path: str, headers: dict[str, str]) -> Callable[[], int]:
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, headers=headers, base_url="http://127.0.0.1:8000").get_environ()
    status: list[str] = []

    def start_response(s: str, _h: list[tuple[str, str]], _e: object = None) -> None:
        status.append(s)

    def call() -> int:
        body = app(dict(environ), start_response)
        size = sum(len(chunk) for chunk in body)
        close = getattr(body, "close", None)
        if close is not None:
            close()
        return size

    return call


def _time(call: Callable[[], int], n: int) -> float:
    for _ in range(min(50, n)):  # warm every cache the path has
        call()
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t0) / n * 1e6


def _profile(call: Callable[[], int], n: int, top: int) -> tuple[str, list[dict[str, Any]]]:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        call()
    prof.disable()
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values()) or 1.0  # type: ignore[attr-defined]
    rows = []
    for (file, line, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = file.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        rows.append(
            {
                "function": f"{name} ({short}:{line})",
                "calls_per_req": nc / n,
                "self_pct": 100 * tt / total,
                "cum_pct": 100 * ct / total,
            }
        )
    out = io.StringIO()
    out.write(f"    {'self%':>6} {'cum%':>6} {'calls/req':>9}  function\n")
    for r in sorted(rows, key=lambda r: -r["cum_pct"])[:top]:
        out.write(
            f"    {r['self_pct']:6.1f} {r['cum_pct']:6.1f} {r['calls_per_req']:9.1f}  {r['function']}\n"
        )
    out.write("    -- by self time --\n")
    for r in sorted(rows, key=lambda r: -r["self_pct"])[:top]:
        out.write(
            f"    {r['self_pct']:6.1f} {r['cum_pct']:6.1f} {r['calls_per_req']:9.1f}  {r['function']}\n"
        )
    return out.getvalue(), rows


def wsgi_method(env: dict[str, str], args: argparse.Namespace, outdir: Path) -> dict[str, Any]:
    os.environ.update(env)
    from feedsvc import create_app

    cached_app = create_app()
    os.environ["FEEDSVC_CACHE_URL"] = "null"
    uncached_app = create_app()
    os.environ["FEEDSVC_CACHE_URL"] = env["FEEDSVC_CACHE_URL"]
    paths = pick_paths(cached_app, args.language, args.category)
    identity = {"Accept-Encoding": "identity"}

    manifest = {}
    for i, path in enumerate(paths):
        r = cached_app.test_client().get(path, headers=identity)
        r304 = cached_app.test_client().get(path, headers={**identity, "If-None-Match": r.headers["ETag"]})
        body = outdir / f"feed{i}.body"
        body.write_bytes(r.data)
        manifest[path] = {
            "body": str(body),
            "headers": {k: v for k, v in r.headers.items() if k.lower() != "content-length"},
            "headers_304": dict(r304.headers),
        }
    (outdir / "ceiling.json").write_text(json.dumps(manifest))
    from ceiling import create_app as create_ceiling

    ceiling_app = create_ceiling(str(outdir / "ceiling.json"))

    report: dict[str, Any] = {}
    for path in paths:
        etag = json.loads((outdir / "ceiling.json").read_text())[path]["headers"]["ETag"]
        inm = {**identity, "If-None-Match": etag}
        cases = {
            "cached 200": (cached_app, identity, args.requests),
            "304": (cached_app, inm, args.requests),
            "uncached render": (uncached_app, identity, max(50, args.requests // 10)),
            "ceiling 200": (ceiling_app, identity, args.requests),
            "ceiling 304": (ceiling_app, inm, args.requests),
        }
        for case, (app, headers, n) in cases.items():
            call = _caller(app.wsgi_app if hasattr(app, "wsgi_app") else app, path, headers)
            us = _time(call, n)
            entry: dict[str, Any] = {"us_per_request": us}
            if not case.startswith("ceiling"):
                text, rows = _profile(call, n, args.top)
                entry["profile_text"] = text
                entry["top"] = sorted(rows, key=lambda r: -r["cum_pct"])[:40]
            report[f"{path} {case}"] = entry
            print(f"{path:28} {case:16} {us:9.1f} us/request", flush=True)
            if "profile_text" in entry:
                print(entry["profile_text"], flush=True)
    return report


# ------------------------------------------------------------------------------------- py-spy


def _aggregate(collapsed: list[Path]) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for file in collapsed:
        for line in file.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = []
            for frame in stack.split(";"):
                name, _, where = frame.partition(" (")
                where = where.rstrip(")").rsplit(":", 1)[0]
                where = where.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
                frames.append(f"{name} ({where})")
            for f in set(frames):
                inclusive[f] += n
            own[frames[-1]] += n
    return {"samples": total, "inclusive": inclusive, "self": own}


def pyspy_method(env: dict[str, str], args: argparse.Namespace, outdir: Path) -> dict[str, Any]:
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    load = LoadGenerator(outdir)
    report: dict[str, Any] = {}
    for mode, cache in (("cached", env["FEEDSVC_CACHE_URL"]), ("uncached", "null")):
        server: Server = start_gunicorn(
            f"service-{mode}",
            "wsgi:app",
            env={**env, "FEEDSVC_CACHE_URL": cache},
            cwd=ROOT,
            log=outdir / f"{mode}.log",
            workers=args.workers,
        )
        try:
            paths = [t.format(lang=args.language, category=args.category) for t in FEED_TEMPLATES]
            r = httpx.get(server.base + paths[0], headers=IDENTITY, timeout=30)
            if count_items(paths[0], r.content) == 0:
                paths[0] = FEED_TEMPLATES[0].format(lang=args.language, category="politics")
            for path in paths:
                r = httpx.get(server.base + path, headers=IDENTITY, timeout=30)
                etag = feed_headers(r.headers)["ETag"]
                cases = (
                    [("200", {})] if mode == "uncached" else [("200", {}), ("304", {"If-None-Match": etag})]
                )
                for case, headers in cases:
                    for _ in range(10):
                        httpx.get(server.base + path, headers={**IDENTITY, **headers}, timeout=30)
                    files, spies = [], []
                    for pid in server.worker_pids():
                        out = outdir / f"{mode}-{case}-{path.strip('/').replace('/', '_')}-{pid}.txt"
                        files.append(out)
                        spy = subprocess.Popen(
                            [
                                pyspy,
                                "record",
                                "--pid",
                                str(pid),
                                "--duration",
                                str(args.duration),
                                "--rate",
                                "250",
                                "--format",
                                "raw",
                                "--output",
                                str(out),
                                "--nonblocking",
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True,
                        )
                        register(spy)
                        spies.append(spy)
                    time.sleep(0.5)
                    result = load.run(
                        server.base + path,
                        connections=16,
                        threads=2,
                        duration=args.duration - 1,
                        headers=headers,
                    )
                    for spy in spies:
                        try:
                            spy.wait(timeout=args.duration + 30)
                        except subprocess.TimeoutExpired:
                            kill_group(spy)
                    agg = _aggregate([f for f in files if f.exists()])
                    key = f"{mode} {case} {path}"
                    report[key] = {
                        "rps": result.rps,
                        "samples": agg["samples"],
                        "inclusive": agg["inclusive"].most_common(args.top),
                        "self": agg["self"].most_common(args.top),
                    }
                    print(f"\n== {key}: {result.rps:,.0f} req/s under wrk, {agg['samples']} samples")
                    total = agg["samples"] or 1
                    print("   inclusive%  function")
                    for name, n in agg["inclusive"].most_common(args.top):
                        print(f"   {100 * n / total:9.1f}  {name}")
                    print("   self%       function")
                    for name, n in agg["self"].most_common(args.top):
                        print(f"   {100 * n / total:9.1f}  {name}")
                    sys.stdout.flush()
        finally:
            server.stop()
    return report


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--method", choices=("wsgi", "pyspy"), default="wsgi")
    p.add_argument("--posts", type=int, default=10_000)
    p.add_argument("--requests", type=int, default=2000, help="per case (uncached: a tenth)")
    p.add_argument("--duration", type=int, default=8, help="py-spy seconds per case")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--language", default="ru")
    p.add_argument("--category", default="events")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    p.add_argument("--base-url", default="https://news.example.uz")
    args = p.parse_args(argv)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    outdir = BENCH / "results" / f"profile-{args.method}-{args.backend}-{stamp}"
    outdir.mkdir(parents=True, exist_ok=True)
    with exclusive(wait_s=600), tempfile.TemporaryDirectory(prefix="feedsvc-profile-") as tmp:
        backend: Backend = (
            SqliteBackend(Path(tmp))
            if args.backend == "sqlite"
            else PostgresBackend(args.pg_url, args.redis_url)
        )
        why = backend.available()
        if why:
            raise SystemExit(why)
        try:
            env = setup(backend, args.posts, args.base_url)
            method = wsgi_method if args.method == "wsgi" else pyspy_method
            report = method(env, args, outdir)
        finally:
            backend.drop()
    (outdir / "report.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"\nprofile written to {outdir.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    main()
