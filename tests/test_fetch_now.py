"""Fetch-now is queued for the ingestion worker: the web request answers at once, whatever the partner."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer
from werkzeug import Response as WResponse

from feedsvc import db
from feedsvc.ingest.service import claims, worker
from feedsvc.ingest.service.settings import ingest_settings
from feedsvc.models import Source, utcnow
from tests.helpers import Api, make_token
from tests.test_worker import FEEDSVC, env_for, feed

RSS = "application/rss+xml; charset=utf-8"
SLOW_S = 3.0


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory(ALLOW_PRIVATE_SOURCES=True, FETCH_TIMEOUT=10.0)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """A slow partner: its handler answers after SLOW_S seconds, or as soon as the test opens the gate."""
    event = threading.Event()
    yield event
    event.set()


def slow_partner(
    httpserver: HTTPServer, gate: threading.Event, entered: threading.Event | None = None
) -> str:
    def handler(_request: Any) -> WResponse:
        if entered is not None:
            entered.set()
        gate.wait(SLOW_S)
        return WResponse(feed(1, 2), content_type=RSS)

    httpserver.expect_request("/slow").respond_with_handler(handler)
    return httpserver.url_for("/slow")


def add(api: Api, url: str) -> int:
    response = api.post("/api/sources", {"url": url, "language": "ru"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def running_worker(app: Flask) -> Iterator[None]:
    """The ingestion loop in a thread, as `feedsvc worker` runs it."""
    stop = worker.Stop()

    def loop() -> None:
        with app.app_context():
            worker.run(ingest_settings(), owner="test-worker", idle_sleep=0.05, stop=stop)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.event.set()
    thread.join(timeout=15)
    assert not thread.is_alive()


def test_request_is_queued_at_once_and_the_worker_fetches_it(
    app: Flask, api: Api, httpserver: HTTPServer, gate: threading.Event
) -> None:
    source_id = add(api, slow_partner(httpserver, gate))
    started = time.monotonic()
    response = api.post(f"/api/sources/{source_id}/fetch")
    assert time.monotonic() - started < 1.0
    assert response.status_code == 202
    assert response.headers["Location"].endswith(f"/api/sources/{source_id}/fetch")
    body = response.get_json()
    assert body["state"] == "queued" and body["requested_at"] and body["result"] is None
    assert not httpserver.log  # the web tier never contacted the partner
    # Asking again while it is pending does not move the request or queue a second one.
    again = api.post(f"/api/sources/{source_id}/fetch").get_json()
    assert again["state"] == "queued" and again["requested_at"] == body["requested_at"]

    gate.set()
    out = app.test_cli_runner().invoke(args=["ingest", "--due"])
    assert out.exit_code == 0 and ": new (new 2," in out.output, out.output
    status = api.get(response.headers["Location"]).get_json()
    assert status["state"] == "done" and status["requested_at"] is None
    assert status["result"]["outcome"] == "new" and status["result"]["new"] == 2
    assert status["source"]["health"]["last_outcome"] == "new"
    assert len(httpserver.log) == 1


def test_wait_returns_the_outcome_when_a_worker_runs(
    app: Flask, api: Api, httpserver: HTTPServer, running_worker: None
) -> None:
    httpserver.expect_request("/rss").respond_with_data(feed(2, 3), content_type=RSS)
    source_id = add(api, httpserver.url_for("/rss"))
    response = api.post(f"/api/sources/{source_id}/fetch?wait=8")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["state"] == "done" and body["result"]["outcome"] == "new" and body["result"]["new"] == 3


def test_wait_is_bounded_and_answers_202_without_a_worker(app: Flask, api: Api) -> None:
    source_id = add(api, "http://127.0.0.1:9/feed")
    started = time.monotonic()
    response = api.post(f"/api/sources/{source_id}/fetch?wait=0.3")
    assert 0.25 <= time.monotonic() - started < 2
    assert response.status_code == 202 and response.get_json()["state"] == "queued"
    for bad in ("11", "-1", "soon"):
        refused = api.post(f"/api/sources/{source_id}/fetch?wait={bad}")
        assert refused.status_code == 422 and "wait" in refused.get_json()["error"]["fields"]
    assert api.post("/api/sources/999/fetch").status_code == 404
    assert api.get("/api/sources/999/fetch").status_code == 404
    assert api.get(f"/api/sources/{source_id}/fetch").get_json()["state"] == "queued"


def test_requested_sources_are_claimed_first(app: Flask, api: Api) -> None:
    ids = [add(api, f"http://127.0.0.1:9/feed{n}") for n in range(3)]
    with app.app_context(), db.new_session() as s:
        # Two sources long overdue, a third asked for: the request goes first.
        for source_id in ids[:2]:
            s.get(Source, source_id).next_fetch_at = utcnow() - timedelta(hours=1)  # type: ignore[union-attr]
        s.commit()
    assert api.post(f"/api/sources/{ids[2]}/fetch").status_code == 202
    with app.app_context(), db.new_session() as s:
        assert claims.claim_due(s, "w", utcnow(), 60, limit=1) == [ids[2]]


def test_request_on_a_disabled_source_or_a_waiting_host_is_answered(
    app: Flask, api: Api, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/busy").respond_with_data("", status=429, headers={"Retry-After": "600"})
    httpserver.expect_request("/other").respond_with_data(feed(3, 1), content_type=RSS)
    busy, other = add(api, httpserver.url_for("/busy")), add(api, httpserver.url_for("/other"))
    assert api.patch(f"/api/sources/{other}", {"enabled": False}).status_code == 200
    with app.app_context():
        worker.run(ingest_settings(), batch=1, max_passes=1, idle_sleep=0)  # busy: 429, host now waits
        assert api.post(f"/api/sources/{other}/fetch").status_code == 202
        worker.run(ingest_settings(), batch=1, max_passes=1, idle_sleep=0)
    result = api.get(f"/api/sources/{other}/fetch").get_json()
    assert result["state"] == "done" and result["result"]["outcome"] == "deferred"
    assert len(httpserver.log) == 1  # the waiting host was not contacted again
    assert api.get(f"/api/sources/{busy}").get_json()["health"]["last_status"] == 429


def test_request_made_during_a_fetch_stays_pending(
    app: Flask, api: Api, httpserver: HTTPServer, gate: threading.Event
) -> None:
    entered = threading.Event()
    source_id = add(api, slow_partner(httpserver, gate, entered))
    done = threading.Event()

    def one_pass() -> None:
        with app.app_context():
            worker.run(ingest_settings(), batch=1, max_passes=1, idle_sleep=0)
        done.set()

    thread = threading.Thread(target=one_pass, daemon=True)
    thread.start()
    assert entered.wait(10)  # the partner has been contacted: the fetch is under way
    assert api.post(f"/api/sources/{source_id}/fetch").get_json()["state"] == "running"
    gate.set()
    assert done.wait(10)
    thread.join()
    # That fetch began before the request: the request waits for a fetch of its own.
    assert api.get(f"/api/sources/{source_id}/fetch").get_json()["state"] == "queued"


@pytest.mark.slow
def test_wait_with_a_worker_process(app: Flask, backend: dict[str, str], httpserver: HTTPServer) -> None:
    httpserver.expect_request("/rss").respond_with_data(feed(4, 2), content_type=RSS)
    api = Api(app.test_client(), make_token(app))
    source_id = add(api, httpserver.url_for("/rss"))
    with app.app_context(), db.new_session() as s:
        s.get(Source, source_id).next_fetch_at = utcnow() + timedelta(days=1)  # type: ignore[union-attr]
        s.commit()
    proc = subprocess.Popen(
        [FEEDSVC, "worker", "--idle-sleep", "0.1"],
        env=env_for(backend),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        response = api.post(f"/api/sources/{source_id}/fetch?wait=10")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["result"]["outcome"] == "new"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert ": new (new 2," in out
