"""The ingestion CLI and worker processes: one pass, a long-running loop, clean stops, and two
workers sharing the sources without fetching or writing anything twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Response as WResponse

from feedsvc import db
from feedsvc.models import Post, Source, SourceItem
from tests.helpers import BASE_URL

FEEDSVC = str(Path(sys.executable).parent / "feedsvc")
pytestmark = pytest.mark.slow  # the console script and worker processes
RSS = "application/rss+xml; charset=utf-8"
pytestmark = pytest.mark.slow  # every test here runs the feedsvc command in other processes


def env_for(backend: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "FEEDSVC_DATABASE_URL": backend["DATABASE_URL"],
        "FEEDSVC_CACHE_URL": backend["CACHE_URL"],
        "FEEDSVC_BASE_URL": BASE_URL,
        "FEEDSVC_ALLOW_PRIVATE_SOURCES": "1",
        "FEEDSVC_FETCH_TIMEOUT": "5",
    }


def feed(n: int, items: int = 10) -> bytes:
    body = "".join(
        f"<item><guid>src{n}-item{i}</guid><title>Source {n} item {i}</title><link>https://p{n}.example/{i}</link>"
        f"<description>Text {i}</description><pubDate>Thu, 05 Mar 2026 10:{i:02d}:00 +0500</pubDate></item>"
        for i in range(items)
    )
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>Partner {n}</title>"
        f"<link>https://p{n}.example/</link><description>d</description>{body}</channel></rss>"
    ).encode()


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory(ALLOW_PRIVATE_SOURCES=True)


def run_cli(backend: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FEEDSVC, *args], env=env_for(backend), capture_output=True, text=True, timeout=120)


def test_sources_cli_and_one_pass(app: Flask, backend: dict[str, str], httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data(feed(1, 3), content_type=RSS)
    httpserver.expect_request("/b").respond_with_data("nope", status=500)
    added = run_cli(backend, "sources", "add", httpserver.url_for("/a"), "--language", "ru")
    assert added.returncode == 0 and added.stdout.startswith("source "), added.stderr
    run_cli(backend, "sources", "add", httpserver.url_for("/b"), "--language", "uz", "--store-only")
    bad = run_cli(backend, "sources", "add", "gopher://x", "--language", "ru")
    assert bad.returncode != 0 and "url" in bad.stderr
    bad_lang = run_cli(backend, "sources", "add", "https://x.example/rss", "--language", "de")
    assert bad_lang.returncode != 0 and "language" in bad_lang.stderr
    listed = run_cli(backend, "sources", "list")
    assert listed.stdout.count("never fetched") == 2
    one = run_cli(backend, "ingest", "--due")
    assert one.returncode == 0, one.stderr
    lines = one.stdout.strip().splitlines()
    assert any(": new (new 3," in line for line in lines)
    assert any(": error" in line and "HTTP 500" in line for line in lines)
    assert lines[-1] == "2 source(s), 1 failed"
    # Nothing is due any more; --all and explicit ids fetch anyway.
    assert run_cli(backend, "ingest").stdout.strip().endswith("0 source(s), 0 failed")
    assert "unchanged" in run_cli(backend, "ingest", "--all").stdout
    missing = run_cli(backend, "ingest", "999")
    assert missing.returncode != 0 and "no source 999" in missing.stderr


def test_worker_finishes_source_in_hand_on_sigterm(
    app: Flask, backend: dict[str, str], httpserver: HTTPServer
) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(_request: Any) -> WResponse:
        entered.set()
        release.wait(20)  # answers once the worker has been told to stop
        return WResponse(feed(7, 2), content_type=RSS)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    assert run_cli(backend, "sources", "add", httpserver.url_for("/slow"), "--language", "en").returncode == 0
    proc = subprocess.Popen(
        [FEEDSVC, "worker", "--idle-sleep", "0.1"],
        env=env_for(backend),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert entered.wait(20), "the worker never fetched"
    proc.send_signal(signal.SIGTERM)  # mid-fetch
    try:
        out, err = proc.communicate(timeout=0.5)  # it does not stop before the source in hand is done
        pytest.fail(f"the worker stopped mid-fetch: {err}")
    except subprocess.TimeoutExpired:
        pass
    release.set()
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert ": new (new 2," in out and "stopped after 1 fetch" in err
    with app.app_context():
        source = db.session().scalar(select(Source))
        assert source.last_outcome == "new" and source.lease_owner is None
        assert db.session().scalar(select(func.count()).select_from(Post)) == 2


def test_two_workers_share_sources_exactly_once(
    app: Flask, backend: dict[str, str], httpserver: HTTPServer
) -> None:
    if not backend["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("several workers are a PostgreSQL deployment; SQLite runs one worker (see README)")

    def partner(request: Any) -> WResponse:
        time.sleep(0.05)  # the two workers overlap
        n = int(request.path.strip("/p"))
        return WResponse(feed(n), content_type=RSS)

    for n in range(20):
        httpserver.expect_request(f"/p{n}").respond_with_handler(partner)
        assert (
            run_cli(backend, "sources", "add", httpserver.url_for(f"/p{n}"), "--language", "ru").returncode
            == 0
        )
    workers = [
        subprocess.Popen(
            [FEEDSVC, "worker", "--idle-sleep", "0.1", "--batch", "2"],
            # Every partner here is on one host; at the default of one fetch per host at a time the
            # first worker to claim would keep the others waiting.
            env={**env_for(backend), "FEEDSVC_FETCH_PER_HOST": "2"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 60
    with app.app_context():
        while time.monotonic() < deadline:
            fetched = db.session().scalar(select(func.count()).where(Source.last_fetch_at.is_not(None)))
            db.session().rollback()
            if fetched == 20:
                break
            time.sleep(0.2)
    outputs = []
    for proc in workers:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        outputs.append(out)
    assert fetched == 20
    hits = Counter(req.path for req, _resp in httpserver.log)
    assert all(count == 1 for count in hits.values()) and len(hits) == 20, hits
    with app.app_context():
        s = db.session()
        assert s.scalar(select(func.count()).select_from(Post)) == 200
        assert s.scalar(select(func.count(func.distinct(SourceItem.item_key))).select_from(SourceItem)) == 200
        assert s.scalar(select(func.count()).select_from(SourceItem)) == 200
    assert all(out.count(": new") >= 1 for out in outputs), outputs  # both took part
