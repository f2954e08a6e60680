"""In-process ingestion timing, run by ``bench/run.py`` in a subprocess with the backend's environment.

``register``: add the partner feeds with the real ``feedsvc sources add`` command (through Flask's
CLI runner, so 50 registrations do not cost 50 interpreter start-ups).

``measure``: the loop ``feedsvc ingest --all`` runs (``ingest_source`` over every enabled source, one
session), timed with the interpreter and the app already up:

* pass A: generation 1, every item new, in a fresh process (cold caches);
* pass B: generation 2 (new GUIDs), every item new again, warm: the figure reported;
* pass C: nothing changed, every partner answers 304;

then the same 50 generation-2 bodies through ``feedparser.parse(bytes)`` alone and through the
project's ``parse_feed`` alone (best of three each), and ``fetch`` alone, to split the pass's time.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import feedparser
import httpx
from sqlalchemy import select

from feedsvc import create_app, db
from feedsvc.cli import sources_add
from feedsvc.ingest.reader import parse_feed
from feedsvc.ingest.service.run import ingest_source
from feedsvc.ingest.service.settings import ingest_settings
from feedsvc.ingest.service.worker import worker_name
from feedsvc.ingest.stages.fetch import fetch
from feedsvc.models import Source

sys.path.insert(0, str(Path(__file__).resolve().parent))
from partners import feed_body


def feed_urls(base: str, sources: int) -> list[str]:
    return [f"{base}/feed/{n}.xml" for n in range(sources)]


def register(base: str, sources: int, language: str) -> dict[str, Any]:
    app = create_app()
    runner = app.test_cli_runner()
    started = time.perf_counter()
    failures = []
    for url in feed_urls(base, sources):
        result = runner.invoke(sources_add, [url, "--language", language])
        if result.exit_code != 0:
            failures.append(f"{url}: {result.output.strip()}")
    return {
        "registered": sources - len(failures),
        "seconds": time.perf_counter() - started,
        "failures": failures,
    }


def _pass(label: str) -> dict[str, Any]:
    """One ``feedsvc ingest --all`` loop, timed (wall and CPU)."""
    settings, owner = ingest_settings(), worker_name()
    outcomes: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    new = updated = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with db.new_session() as s:
        todo = list(s.scalars(select(Source.id).where(Source.enabled.is_(True)).order_by(Source.id)))
        s.commit()
        for source_id in todo:
            result = ingest_source(s, source_id, owner, settings, claimed=False)
            outcomes[result.outcome] += 1
            statuses[str(result.status)] += 1
            new += result.new
            updated += result.updated
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "label": label,
        "sources": len(todo),
        "new_items": new,
        "updated_items": updated,
        "seconds": wall,
        "cpu_seconds": cpu,
        "items_per_s": new / wall if wall else 0.0,
        "outcomes": dict(outcomes),
        "http_statuses": dict(statuses),
    }


def _best_of(runs: int, work: Any) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return min(times), times


def measure(base: str, sources: int, items: int, profile: str | None) -> dict[str, Any]:
    app = create_app()
    out: dict[str, Any] = {}
    with app.app_context():
        settings = ingest_settings()
        out["pass_a_new_cold"] = _pass("generation 1, all new, cold process")
        httpx.get(f"{base}/_generation/2", timeout=60).raise_for_status()
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        out["pass_b_new"] = _pass("generation 2, all new, warm")
        if profile:
            profiler.stop()
            Path(profile).write_text(profiler.output_text(unicode=True, color=False, show_all=False))
        out["pass_c_304"] = _pass("nothing changed, all 304")

        bodies = [feed_body(n, 2, items) for n in range(sources)]
        out["body_bytes_mean"] = sum(map(len, bodies)) / len(bodies)
        best, runs = _best_of(3, lambda: [feedparser.parse(b) for b in bodies])
        out["feedparser_alone"] = {"seconds": best, "runs": runs, "call": "feedparser.parse(bytes)"}
        headers = {"content-type": "application/rss+xml; charset=utf-8"}
        urls = feed_urls(base, sources)
        best, runs = _best_of(
            3, lambda: [parse_feed(b, headers, u) for b, u in zip(bodies, urls, strict=True)]
        )
        out["parse_feed_alone"] = {"seconds": best, "runs": runs}
        best, runs = _best_of(1, lambda: [fetch(u, settings=settings.fetch) for u in urls])
        out["fetch_alone"] = {"seconds": best, "runs": runs}
    out["max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ingestion timing helper for bench/run.py")
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register")
    reg.add_argument("--base", required=True)
    reg.add_argument("--sources", type=int, default=50)
    reg.add_argument("--language", default="ru")
    mes = sub.add_parser("measure")
    mes.add_argument("--base", required=True)
    mes.add_argument("--sources", type=int, default=50)
    mes.add_argument("--items", type=int, default=50)
    mes.add_argument("--profile", default=None, help="write a pyinstrument profile of pass B here")
    args = parser.parse_args(argv)
    if args.command == "register":
        result = register(args.base, args.sources, args.language)
    else:
        result = measure(args.base, args.sources, args.items, args.profile)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
