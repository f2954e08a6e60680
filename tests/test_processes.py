"""Across processes: the real WSGI app under gunicorn (two workers) and writers in other processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask

from tests.helpers import BASE_URL, make_token

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # gunicorn and other processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(backend: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "FEEDSVC_DATABASE_URL": backend["DATABASE_URL"],
        "FEEDSVC_CACHE_URL": backend["CACHE_URL"],
        "FEEDSVC_BASE_URL": BASE_URL,
    }


@pytest.fixture
def gunicorn(app: Flask, backend: dict[str, str]) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env_for(backend),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("gunicorn did not start: " + proc.stderr.read().decode()[-2000:])  # type: ignore[union-attr]
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def write_in_other_process(backend: dict[str, str], token: str, title: str) -> None:
    script = textwrap.dedent(f"""
        from feedsvc import create_app
        app = create_app()
        r = app.test_client().post("/api/posts", json={{"title": {title!r}, "content": "<p>x</p>",
            "language": "ru", "categories": ["events"]}}, headers={{"Authorization": "Bearer {token}"}})
        assert r.status_code == 201, r.get_json()
    """)
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env_for(backend), check=True, timeout=60)


def test_write_in_other_process_is_seen_by_every_worker(
    gunicorn: str, app: Flask, backend: dict[str, str]
) -> None:
    token = make_token(app)
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        httpx.post(
            f"{gunicorn}/api/categories", json={"slug": "events", "names": {"ru": "События"}}, headers=headers
        ).status_code
        == 201
    )
    write_in_other_process(backend, token, "Первая новость")
    etags = set()
    for _ in range(30):  # new connection each time: the two workers share them
        r = httpx.get(f"{gunicorn}/ru/events/feed.json", headers={"Connection": "close"})
        assert "Первая новость" in r.text
        etags.add(r.headers["ETag"])
    assert len(etags) == 1
    # Both workers now hold the feed in their cache; a write from a third process must reach them all.
    write_in_other_process(backend, token, "Вторая новость")
    for _ in range(30):
        r = httpx.get(f"{gunicorn}/ru/events/feed.json", headers={"Connection": "close"})
        assert "Вторая новость" in r.text, "a worker served a stale feed"
        assert r.headers["ETag"] not in etags
    # A write through one worker's API is visible through the other worker at once.
    for i in range(6):
        created = httpx.post(
            f"{gunicorn}/api/posts",
            json={"title": f"Серия {i}", "content": "x", "language": "ru", "categories": ["events"]},
            headers=headers,
        )
        assert created.status_code == 201
        assert f"Серия {i}" in httpx.get(f"{gunicorn}/ru/events/feed.rss").text


def test_wsgi_app_serves_304(gunicorn: str) -> None:
    first = httpx.get(f"{gunicorn}/feed.atom")
    assert first.status_code == 200
    again = httpx.get(f"{gunicorn}/feed.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    head = httpx.head(f"{gunicorn}/feed.atom")
    assert head.status_code == 200 and head.headers["Content-Length"] == first.headers["Content-Length"]
