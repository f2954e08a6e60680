"""/metrics: who may scrape it, and that the counters move with real requests, renders and fetches;
the access log record of each request, fast path included."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from feedsvc import db
from feedsvc.models import SourceHost, utcnow
from tests.helpers import Api, fetch_now, make_token

FIXTURES = Path(__file__).parent / "fixtures" / "partners"
ACCESS_FIELDS = {"request_id", "method", "path", "route", "format", "status", "duration_ms", "bytes", "cache"}


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory(ALLOW_PRIVATE_SOURCES=True, FETCH_TIMEOUT=2.0, FETCH_CONNECT_TIMEOUT=1.0)


@pytest.fixture
def scrape(app: Flask, client: FlaskClient) -> Any:
    headers = {"Authorization": f"Bearer {make_token(app, 'prometheus', ['metrics'])}"}

    def read() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        samples = {}
        for family in text_string_to_metric_families(response.get_data(as_text=True)):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    return read


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def post(api: Api, title: str = "Новость") -> None:
    body = {"title": title, "content": "<p>Текст</p>", "language": "ru", "categories": ["events"]}
    assert api.post("/api/posts", body).status_code == 201


def test_metrics_need_a_token_with_the_metrics_right(app: Flask, client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer fs_nosuch"}).status_code == 401
    for rights in (["posts", "categories", "sources"], ["read"]):
        token = make_token(app, f"t-{rights[0]}", rights)
        response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403
        assert response.get_json()["error"]["status"] == 403
    token = make_token(app, "prometheus", ["metrics"])
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert "# TYPE feedsvc_requests_total counter" in response.get_data(as_text=True)


def test_polls_renders_and_304s_are_counted(
    client: FlaskClient, api: Api, categories: list[str], scrape: Any
) -> None:
    post(api)
    before = scrape()
    first = client.get("/ru/events/feed.rss")  # a new version: rendered
    assert first.status_code == 200
    assert client.get("/ru/events/feed.rss").status_code == 200  # from the cache
    assert (
        client.get("/ru/events/feed.rss", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    )
    assert client.get("/feeds.opml").status_code == 200
    assert client.get("/ru/").status_code == 200
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("feedsvc_requests_total", kind="feed", format="rss", status="200") == 2
    assert delta("feedsvc_requests_total", kind="feed", format="rss", status="304") == 1
    assert delta("feedsvc_requests_total", kind="opml", format="opml", status="200") == 1
    assert delta("feedsvc_requests_total", kind="page", format="-", status="200") == 1
    # The scrape before this one is counted once it is answered.
    assert delta("feedsvc_requests_total", kind="metrics", format="-", status="200") == 1
    assert delta("feedsvc_feed_cache_total", outcome="miss") == 2  # the feed and the OPML list
    assert delta("feedsvc_feed_cache_total", outcome="hit") == 1
    assert delta("feedsvc_render_seconds_count", format="rss") == 1
    assert delta("feedsvc_render_seconds_sum", format="rss") > 0
    assert delta("feedsvc_render_seconds_count", format="opml") == 1


def test_api_and_health_are_counted_by_status(client: FlaskClient, api: Api, scrape: Any) -> None:
    before = scrape()
    assert client.get("/healthz").status_code == 200
    assert api.post("/api/posts", {"title": ""}).status_code == 422
    after = scrape()
    for labels in ({"kind": "health", "status": "200"}, {"kind": "api", "status": "422"}):
        name = "feedsvc_requests_total"
        assert value(after, name, format="-", **labels) - value(before, name, format="-", **labels) == 1


def test_stale_answers_and_breaker_state(
    app: Flask, client: FlaskClient, api: Api, categories: list[str], scrape: Any
) -> None:
    post(api)
    assert client.get("/ru/events/feed.atom").status_code == 200
    before = scrape()
    breaker = db.database_of(app).breaker
    breaker.window = 60.0  # stays open for the test: no probe closes it
    breaker.failure("test")
    try:
        stale = client.get("/ru/events/feed.atom")
        assert stale.status_code == 200 and stale.headers["X-Feedsvc-Stale"] == "database-unavailable"
        during = scrape()  # the token was verified before the outage: still accepted
    finally:
        breaker.success()
    after = scrape()
    assert (
        value(during, "feedsvc_feed_cache_total", outcome="stale")
        - value(before, "feedsvc_feed_cache_total", outcome="stale")
        == 1
    )
    assert value(during, "feedsvc_breaker_open", dependency="database") == 1
    assert value(during, "feedsvc_scrape_database_up") == 0
    assert value(after, "feedsvc_breaker_open", dependency="database") == 0
    assert value(after, "feedsvc_breaker_open", dependency="cache") == 0
    errors = "feedsvc_dependency_errors_total"
    assert value(during, errors, dependency="database") - value(before, errors, dependency="database") == 1


def test_unverified_token_is_refused_while_the_database_is_down(app: Flask, client: FlaskClient) -> None:
    token = make_token(app, "prometheus", ["metrics"])
    breaker = db.database_of(app).breaker
    breaker.window = 60.0
    breaker.failure("test")
    try:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    finally:
        breaker.success()
    assert response.status_code == 503


def test_fetches_items_and_ingestion_gauges(
    app: Flask, api: Api, categories: list[str], httpserver: HTTPServer, scrape: Any
) -> None:
    rss = (FIXTURES / "ru_rss20_utf8.xml").read_bytes()
    httpserver.expect_request("/rss").respond_with_data(rss, content_type="application/rss+xml")
    httpserver.expect_request("/gone").respond_with_data("", status=410)
    ok = api.post("/api/sources", {"url": httpserver.url_for("/rss"), "language": "ru"}).get_json()
    gone = api.post("/api/sources", {"url": httpserver.url_for("/gone"), "language": "ru"}).get_json()
    before = scrape()
    assert fetch_now(api, ok["id"])["outcome"] == "new"
    assert fetch_now(api, gone["id"])["outcome"] == "gone"
    with app.app_context(), db.new_session() as s:
        s.add(SourceHost(host="slow.example", retry_after_until=utcnow() + timedelta(hours=1)))
        s.add(SourceHost(host="done.example", retry_after_until=utcnow() - timedelta(hours=1)))
        s.commit()
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("feedsvc_ingest_fetches_total", outcome="new") == 1
    assert delta("feedsvc_ingest_fetches_total", outcome="gone") == 1
    assert delta("feedsvc_ingest_items_total", change="new") == 3
    assert delta("feedsvc_ingest_fetch_seconds_count") == 2
    assert value(after, "feedsvc_sources_disabled") == 1  # the gone one
    assert value(after, "feedsvc_source_hosts_held_back") == 1
    assert value(after, "feedsvc_scrape_database_up") == 1


def test_hub_deliveries_are_counted(scrape: Any) -> None:
    from feedsvc import metrics

    before = scrape()
    metrics.delivery_done("ok")
    metrics.delivery_done("failed")
    after = scrape()
    for outcome in ("ok", "failed"):
        name = "feedsvc_hub_deliveries_total"
        assert value(after, name, outcome=outcome) - value(before, name, outcome=outcome) == 1


def _as_json(record: logging.LogRecord) -> dict[str, Any]:
    """What a JSON formatter emits: the message and the record's own fields (``extra``)."""
    standard = set(vars(logging.makeLogRecord({})))
    fields = {k: v for k, v in vars(record).items() if k not in standard}
    return json.loads(json.dumps({"message": record.getMessage(), **fields}))


def test_access_record_per_request_with_its_fields(
    client: FlaskClient, api: Api, categories: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    post(api)
    caplog.set_level(logging.INFO, logger="feedsvc.access")
    caplog.clear()
    given = client.get("/ru/events/feed.json", headers={"X-Request-Id": "req-42.a"})
    again = client.get("/ru/events/feed.json", headers={"Accept-Encoding": "gzip"})
    bad = client.get("/healthz", headers={"X-Request-Id": "no spaces allowed"})
    assert given.headers["X-Request-Id"] == "req-42.a"
    assert len(again.headers["X-Request-Id"]) == 16
    assert bad.headers["X-Request-Id"] != "no spaces allowed"
    lines = [_as_json(r) for r in caplog.records if r.name == "feedsvc.access"]
    assert len(lines) == 3
    for line in lines:
        assert set(line) >= ACCESS_FIELDS
    first, second, third = lines
    assert first["request_id"] == "req-42.a" and first["route"] == "feed" and first["format"] == "json"
    assert first["status"] == 200 and first["cache"] == "miss" and first["bytes"] == len(given.data)
    assert first["path"] == "/ru/events/feed.json" and first["duration_ms"] > 0
    assert second["cache"] == "hit" and second["bytes"] == len(again.data)
    assert second["request_id"] == again.headers["X-Request-Id"]
    assert third["route"] == "health" and third["cache"] is None and third["format"] is None
    assert "/ru/events/feed.json 200" in first["message"]


def test_no_access_record_is_built_when_the_logger_is_off(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedsvc import metrics

    def built(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("an access record was built although the logger is disabled")

    monkeypatch.setattr(metrics, "_log_request", built)
    logger = logging.getLogger("feedsvc.access")
    monkeypatch.setattr(logger, "disabled", True)
    assert client.get("/feed.rss").status_code == 200


def test_one_fetch_record_per_fetch(
    api: Api, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/err").respond_with_data("no", status=500)
    source = api.post("/api/sources", {"url": httpserver.url_for("/err"), "language": "ru"}).get_json()
    caplog.set_level(logging.INFO, logger="feedsvc.fetch")
    caplog.clear()
    assert fetch_now(api, source["id"])["outcome"] == "error"
    lines = [_as_json(r) for r in caplog.records if r.name == "feedsvc.fetch"]
    assert len(lines) == 1
    line = lines[0]
    assert line["source_id"] == source["id"] and line["outcome"] == "error" and line["http_status"] == 500
    assert line["new"] == 0 and line["duration_ms"] >= 0 and line["error"]
