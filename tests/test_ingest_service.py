"""Ingestion end to end: a real HTTP server on 127.0.0.1 serves saved partner feeds; the real API,
database and feeds show what was stored and what the source records."""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path
from typing import Any

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Response as WResponse

from feedsvc import db
from feedsvc.models import FeedState, Post, SourceItem
from tests.helpers import Api, fetch_now, make_token

FIXTURES = Path(__file__).parent / "fixtures" / "partners"
RSS = "application/rss+xml; charset=utf-8"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory(
        ALLOW_PRIVATE_SOURCES=True,
        FETCH_TIMEOUT=2.0,
        FETCH_CONNECT_TIMEOUT=1.0,
        FETCH_MAX_BYTES=256 * 1024,
        SOURCE_MAX_ERRORS=3,
    )


def add_source(api: Api, url: str, **fields: Any) -> dict:
    response = api.post("/api/sources", {"url": url, "language": "ru", "category": "events", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def fetch(api: Api, source_id: int) -> dict:
    return fetch_now(api, source_id)


def stored(app: Flask, source_id: int) -> list[Post]:
    with app.app_context():
        return list(db.session().scalars(select(Post).where(Post.source_id == source_id).order_by(Post.id)))


def states(app: Flask) -> dict[str, str]:
    with app.app_context():
        return dict(db.session().execute(select(FeedState.scope, FeedState.token)).all())


def test_russian_rss_ingested_and_syndicated(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    httpserver.expect_request("/rss").respond_with_data(fixture("ru_rss20_utf8.xml"), content_type=RSS)
    source = add_source(api, httpserver.url_for("/rss"), name="Вести Ташкента")
    result = fetch(api, source["id"])
    assert result["outcome"] == "new" and result["new"] == 3 and result["status"] == 200
    posts = stored(app, source["id"])
    assert len(posts) == 3
    metro = next(p for p in posts if "Юнусабад-2" in p.title)
    assert metro.url == "https://vesti-tashkent.example/news/2026/03/05/metro-yunusabad/"
    assert metro.published_at.isoformat() == "2026-03-05T09:30:00+00:00"
    assert metro.author == "Дильноза Каримова"
    feed = feedparser.parse(client.get("/ru/events/feed.rss").data)
    entry = next(e for e in feed.entries if "Юнусабад-2" in e.title)
    assert entry.link == metro.url
    assert entry.source.title == "Вести Ташкента" and entry.source.href == httpserver.url_for("/rss")
    assert entry.id == f"urn:uuid:{metro.uid}"
    health = api.get(f"/api/sources/{source['id']}").get_json()
    assert health["items_stored"] == 3
    assert health["health"]["last_outcome"] == "new" and health["health"]["consecutive_errors"] == 0
    assert (
        health["health"]["last_success_at"]
        and health["health"]["next_fetch_at"] > health["health"]["last_fetch_at"]
    )
    # The feed's ttl (20 min) and sy:update hints lengthen the 15-minute default.
    assert health["health"]["feed_hint_s"] == 1800


def test_conditional_get_and_unchanged_feed_write_nothing(
    api: Api, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    body = fixture("en_atom10.xml")
    httpserver.expect_request("/atom", headers={"If-None-Match": '"v1"'}).respond_with_data("", status=304)
    httpserver.expect_request("/atom").respond_with_data(
        body,
        content_type="application/atom+xml",
        headers={"ETag": '"v1"', "Last-Modified": "Thu, 05 Mar 2026 10:00:00 GMT"},
    )
    source = add_source(api, httpserver.url_for("/atom"), language="en")
    first = fetch(api, source["id"])
    assert first["outcome"] == "new" and first["new"] > 0
    before_posts, before_states = len(stored(app, source["id"])), states(app)
    second = fetch(api, source["id"])
    assert second["outcome"] == "unchanged" and second["status"] == 304
    last = httpserver.log[-1][0]
    assert last.headers["If-None-Match"] == '"v1"'
    assert last.headers["If-Modified-Since"] == "Thu, 05 Mar 2026 10:00:00 GMT"
    assert "feedsvc" in last.headers["User-Agent"] and "https://news.example.uz" in last.headers["User-Agent"]
    assert len(stored(app, source["id"])) == before_posts
    assert states(app) == before_states  # no feed was bumped


def test_same_body_without_validators_is_not_parsed(
    api: Api, categories: list[str], httpserver: HTTPServer, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request("/rss").respond_with_data(fixture("uz_rss20.xml"), content_type=RSS)
    source = add_source(api, httpserver.url_for("/rss"), language="uz")
    assert fetch(api, source["id"])["new"] == 2
    from feedsvc.ingest.service import run

    def no_parse(*_a: Any, **_k: Any) -> None:
        raise AssertionError("parsed an unchanged body")

    monkeypatch.setattr(run, "parse_feed", no_parse)
    before = states(app)
    assert fetch(api, source["id"])["outcome"] == "unchanged"
    assert states(app) == before
    titles = [p.title for p in stored(app, source["id"])]
    assert "Toshkentda yangi bog‘ ochildi: “Yoshlik” bog‘i 12 gektarni egallaydi" in titles


def rss(items: list[tuple[str, str, str]], extra: str = "") -> bytes:
    """A small RSS 2.0 document: (guid, title, description) per item."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{g}</guid><title>{t}</title><link>https://p.example/{g}</link>"
        f"<description>{d}</description><pubDate>Thu, 05 Mar 2026 10:00:00 +0500</pubDate>{extra}</item>"
        for g, t, d in items
    )
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>P</title>"
        f"<link>https://p.example/</link><description>d</description>{body}</channel></rss>"
    ).encode()


class Changing:
    """A partner feed whose body the test changes between fetches."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __call__(self, _request: Any) -> WResponse:
        return WResponse(self.body, content_type=RSS)


def test_changed_item_updates_post_and_keeps_guid(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    feed = Changing(rss([("a", "Первая", "Текст"), ("b", "Вторая", "Текст")]))
    httpserver.expect_request("/rss").respond_with_handler(feed)
    source = add_source(api, httpserver.url_for("/rss"))
    assert fetch(api, source["id"])["new"] == 2
    (a, b) = stored(app, source["id"])
    etag = client.get("/ru/events/feed.atom").headers["ETag"]
    feed.body = rss([("a", "Первая (исправлено)", "Новый текст"), ("b", "Вторая", "Текст")])
    result = fetch(api, source["id"])
    assert (result["outcome"], result["new"], result["updated"], result["unchanged"]) == ("updated", 0, 1, 1)
    (a2, b2) = stored(app, source["id"])
    assert a2.uid == a.uid and a2.title == "Первая (исправлено)" and a2.updated_at > a.updated_at
    assert b2.updated_at == b.updated_at
    atom = client.get("/ru/events/feed.atom")
    assert atom.headers["ETag"] != etag and "Первая (исправлено)" in atom.get_data(as_text=True)
    # An item that drops out of the partner's feed stays stored.
    feed.body = rss([("c", "Третья", "Текст")])
    assert fetch(api, source["id"])["new"] == 1
    assert len(stored(app, source["id"])) == 3


def test_undated_item_keeps_its_first_seen_date_through_edits(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    undated = rss([("a", "Без даты", "Текст"), ("b", "Старая", "Текст")]).replace(
        b"<pubDate>Thu, 05 Mar 2026 10:00:00 +0500</pubDate>", b"", 1
    )
    feed = Changing(undated)
    httpserver.expect_request("/rss").respond_with_handler(feed)
    source = add_source(api, httpserver.url_for("/rss"))
    assert fetch(api, source["id"])["new"] == 2
    first = next(p for p in stored(app, source["id"]) if p.title == "Без даты")
    feed.body = undated.replace("Текст".encode(), "Новый текст".encode(), 1)
    assert fetch(api, source["id"])["updated"] == 1
    edited = next(p for p in stored(app, source["id"]) if p.title == "Без даты")
    assert edited.content != first.content
    assert edited.published_at == first.published_at  # not re-dated to the edit's time
    assert edited.updated_at > first.updated_at


def test_deleted_item_stays_deleted(
    api: Api, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    feed = Changing(rss([("a", "Первая", "x"), ("b", "Вторая", "x")]))
    httpserver.expect_request("/rss").respond_with_handler(feed)
    source = add_source(api, httpserver.url_for("/rss"))
    fetch(api, source["id"])
    victim = stored(app, source["id"])[0]
    assert api.delete(f"/api/posts/{victim.id}").status_code == 204
    feed.body = rss([("a", "Первая (снова)", "y"), ("b", "Вторая", "x")])  # changed: parsed again
    result = fetch(api, source["id"])
    assert result["new"] == 0
    assert [p.title for p in stored(app, source["id"])] == ["Вторая"]


@pytest.mark.parametrize(
    ("name", "content_type", "language", "expect"),
    [
        ("ru_rss20_cp1251.xml", "application/rss+xml; charset=windows-1251", "ru", "Ташкент"),
        ("ru_rss20_koi8r.xml", "application/rss+xml; charset=koi8-r", "ru", "Ташкент"),
        ("ru_rss20_koi8r_unlabelled.xml", "application/xml", "ru", "Ташкент"),
        ("uz_rss20.xml", RSS, "uz", "bog‘"),
        ("rss10_rdf.xml", "application/rdf+xml", "en", ""),
        ("atom03.xml", "application/atom+xml", "en", ""),
        ("jsonfeed11.json", "application/feed+json", "en", ""),
        ("jsonfeed10.json", "application/json", "en", ""),
        ("rss091_netscape.xml", "text/xml", "en", ""),
    ],
)
def test_formats_and_encodings(
    api: Api,
    categories: list[str],
    httpserver: HTTPServer,
    app: Flask,
    name: str,
    content_type: str,
    language: str,
    expect: str,
) -> None:
    httpserver.expect_request("/feed").respond_with_data(fixture(name), content_type=content_type)
    source = add_source(api, httpserver.url_for("/feed"), language=language)
    result = fetch(api, source["id"])
    assert result["outcome"] == "new", result
    posts = stored(app, source["id"])
    assert posts and all(p.title for p in posts)
    # Items keep the partner's link; one without a link is served from our own post page.
    assert all(p.url is None or p.url.startswith("http") for p in posts) and any(p.url for p in posts)
    assert expect in " ".join(p.title + p.content for p in posts)
    assert "Ð" not in " ".join(p.title for p in posts)  # no mojibake
    again = fetch(api, source["id"])
    assert again["new"] == 0 and len(stored(app, source["id"])) == len(posts)


def test_feed_without_guids_and_repeated_guids(
    api: Api, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    httpserver.expect_request("/noguid").respond_with_data(fixture("no_guid.xml"), content_type=RSS)
    httpserver.expect_request("/repeat").respond_with_data(fixture("repeated_guid.xml"), content_type=RSS)
    a = add_source(api, httpserver.url_for("/noguid"))
    b = add_source(api, httpserver.url_for("/repeat"))
    assert fetch(api, a["id"])["new"] == 3
    assert fetch(api, a["id"])["new"] == 0
    assert len(stored(app, a["id"])) == 3
    result = fetch(api, b["id"])
    assert result["new"] == 3, result  # three different items share one GUID (one listed twice): none lost
    with app.app_context():
        keys = db.session().scalar(
            select(func.count(func.distinct(SourceItem.item_key))).where(SourceItem.source_id == b["id"])
        )
    assert keys == 3


def test_relative_links_resolved(api: Api, categories: list[str], httpserver: HTTPServer, app: Flask) -> None:
    httpserver.expect_request("/rel").respond_with_data(
        fixture("relative_links_xmlbase.xml"), content_type="application/atom+xml"
    )
    source = add_source(api, httpserver.url_for("/rel"), language="en")
    assert fetch(api, source["id"])["outcome"] == "new"
    for post in stored(app, source["id"]):
        assert post.url.startswith("https://")
        assert 'href="/' not in post.content and 'src="/' not in post.content
        assert 'href="../' not in post.content


def test_hostile_html_cleaned(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    httpserver.expect_request("/xss").respond_with_data(fixture("xss.xml"), content_type=RSS)
    source = add_source(api, httpserver.url_for("/xss"), language="en")
    assert fetch(api, source["id"])["outcome"] == "new"
    for post in stored(app, source["id"]):
        text = (post.title + post.content + post.summary).lower()
        for bad in (
            "<script",
            "javascript:",
            "onerror",
            "onload",
            "data:",
            "<svg",
            "<math",
            "<style",
            "<iframe",
        ):
            assert bad not in text, bad
        assert "<" not in post.title
    body = client.get("/en/feed.rss").get_data(as_text=True).lower()
    assert "javascript:" not in body and "<script" not in body


@pytest.mark.parametrize("name", ["billion_laughs.xml", "xxe.xml", "quadratic"])
def test_entity_attacks_refused(
    api: Api, categories: list[str], httpserver: HTTPServer, app: Flask, name: str
) -> None:
    if name == "quadratic":
        entity = "A" * 100_000
        refs = "&big;" * 2000
        body = (
            f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "{entity}">]><rss version="2.0"><channel>'
            f"<title>t</title><item><title>{refs}</title></item></channel></rss>"
        ).encode()
    else:
        body = fixture(name)
    httpserver.expect_request("/evil").respond_with_data(body, content_type=RSS)
    source = add_source(api, httpserver.url_for("/evil"))
    started = time.monotonic()
    result = fetch(api, source["id"])
    assert time.monotonic() - started < 5
    assert result["outcome"] == "error" and "entit" in result["error"].lower()
    assert stored(app, source["id"]) == []
    health = api.get(f"/api/sources/{source['id']}").get_json()["health"]
    assert health["consecutive_errors"] == 1 and health["last_error"] == result["error"]


def test_ill_formed_feed_ingested_as_far_as_possible(
    api: Api, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    httpserver.expect_request("/bozo").respond_with_data(fixture("bozo_ill_formed.xml"), content_type=RSS)
    source = add_source(api, httpserver.url_for("/bozo"))
    result = fetch(api, source["id"])
    assert result["outcome"] == "new" and result["new"] >= 1
    assert result["warning"]
    assert api.get(f"/api/sources/{source['id']}").get_json()["health"]["last_warning"] == result["warning"]


def test_oversized_feed_and_gzip_bomb_cut(
    api: Api, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    big = rss([(f"g{i}", f"Item {i}", "x" * 2000) for i in range(400)])  # ~1 MB > 256 KiB limit
    httpserver.expect_request("/big").respond_with_data(big, content_type=RSS)
    bomb = gzip.compress(b"<rss>" + b" " * (32 * 1024 * 1024), compresslevel=9)  # 128 × the limit
    httpserver.expect_request("/bomb").respond_with_data(
        bomb, content_type=RSS, headers={"Content-Encoding": "gzip"}
    )
    for path in ("/big", "/bomb"):
        source = add_source(api, httpserver.url_for(path))
        result = fetch(api, source["id"])
        assert result["outcome"] == "error" and "larger than" in result["error"], result
        assert stored(app, source["id"]) == []


def test_permanent_redirect_updates_url(
    api: Api, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    httpserver.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new"})
    httpserver.expect_request("/new").respond_with_data(fixture("uz_rss20.xml"), content_type=RSS)
    source = add_source(api, httpserver.url_for("/old"), language="uz")
    assert fetch(api, source["id"])["outcome"] == "new"
    assert api.get(f"/api/sources/{source['id']}").get_json()["url"] == httpserver.url_for("/new")


def test_redirect_to_private_address_refused(app_factory: Any, httpserver: HTTPServer) -> None:
    app = app_factory(ALLOW_PRIVATE_SOURCES=False, FETCH_ALLOW_NETWORKS=("127.0.0.1/32",), FETCH_TIMEOUT=2.0)
    api = Api(app.test_client(), make_token(app))
    httpserver.expect_request("/hop").respond_with_data(
        "", status=302, headers={"Location": "http://10.0.0.1/feed"}
    )
    source = api.post("/api/sources", {"url": httpserver.url_for("/hop"), "language": "ru"}).get_json()
    result = fetch(api, source["id"])
    assert result["outcome"] == "error" and "10.0.0.1" in result["error"] and "private" in result["error"]
    loopback = api.post("/api/sources", {"url": "http://localhost:9/feed", "language": "ru"}).get_json()
    blocked = app_factory(ALLOW_PRIVATE_SOURCES=False)
    api2 = Api(blocked.test_client(), make_token(blocked, "other"))
    result = fetch(api2, loopback["id"])
    assert result["outcome"] == "error" and "refused" in result["error"]


def test_gone_disables_source(api: Api, categories: list[str], httpserver: HTTPServer) -> None:
    httpserver.expect_request("/gone").respond_with_data("", status=410)
    source = add_source(api, httpserver.url_for("/gone"))
    result = fetch(api, source["id"])
    assert result["outcome"] == "gone"
    after = api.get(f"/api/sources/{source['id']}").get_json()
    assert after["enabled"] is False and "410" in after["disabled_reason"]
    enabled = api.patch(f"/api/sources/{source['id']}", {"enabled": True}).get_json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None


def test_retry_after_holds_every_source_on_the_host(
    api: Api, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    httpserver.expect_request("/busy").respond_with_data("", status=429, headers={"Retry-After": "120"})
    httpserver.expect_request("/other").respond_with_data(fixture("uz_rss20.xml"), content_type=RSS)
    busy = add_source(api, httpserver.url_for("/busy"))
    other = add_source(api, httpserver.url_for("/other"), language="uz")
    result = fetch(api, busy["id"])
    assert result["outcome"] == "error" and result["status"] == 429
    health = api.get(f"/api/sources/{busy['id']}").get_json()["health"]
    assert 110 <= _seconds_until(health["next_fetch_at"], health["last_fetch_at"]) <= 130
    requests_before = len(httpserver.log)
    deferred = fetch(api, other["id"])
    assert deferred["outcome"] == "deferred" and len(httpserver.log) == requests_before
    runner = app.test_cli_runner()
    out = runner.invoke(args=["ingest", "--due"])
    assert out.exit_code == 0 and "0 source(s)" in out.output  # nothing on that host is due


def _seconds_until(later: str, earlier: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def test_failures_back_off_then_disable(api: Api, categories: list[str], httpserver: HTTPServer) -> None:
    httpserver.expect_request("/broken").respond_with_data("oops", status=500)
    source = add_source(api, httpserver.url_for("/broken"), interval_s=600)
    delays = []
    for n in (1, 2, 3):
        result = fetch(api, source["id"])
        assert result["outcome"] == "error" and "500" in result["error"]
        health = api.get(f"/api/sources/{source['id']}").get_json()
        assert health["health"]["consecutive_errors"] == n
        delays.append(_seconds_until(health["health"]["next_fetch_at"], health["health"]["last_fetch_at"]))
    assert 300 <= delays[0] <= 600 and 600 <= delays[1] <= 1200
    assert health["enabled"] is False and "3 failed fetches" in health["disabled_reason"]


def test_hanging_server_times_out(app_factory: Any, httpserver: HTTPServer) -> None:
    app = app_factory(ALLOW_PRIVATE_SOURCES=True, FETCH_TIMEOUT=0.5, FETCH_CONNECT_TIMEOUT=0.5)
    api = Api(app.test_client(), make_token(app))
    release = threading.Event()

    def hang(_request: Any) -> WResponse:
        release.wait(10)  # far past the timeout; let go at the end of the test
        return WResponse("late")

    httpserver.expect_request("/hang").respond_with_handler(hang)
    source = add_source(api, httpserver.url_for("/hang"), category=None)
    started = time.monotonic()
    try:
        result = fetch(api, source["id"])
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert result["outcome"] == "error" and "timed out" in result["error"]


def test_fetch_is_one_transaction(
    api: Api, categories: list[str], httpserver: HTTPServer, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request("/rss").respond_with_data(fixture("ru_rss20_utf8.xml"), content_type=RSS)
    source = add_source(api, httpserver.url_for("/rss"))
    from feedsvc.ingest.service import run, store

    real = store.store_items

    def half_then_fail(session: Any, src: Any, items: list, now: Any) -> Any:
        real(session, src, items[:1], now)
        raise RuntimeError("disk full")

    monkeypatch.setattr(run, "store_items", half_then_fail)
    result = fetch(api, source["id"])
    assert result["outcome"] == "error" and "disk full" in result["error"]
    assert stored(app, source["id"]) == []
    monkeypatch.setattr(run, "store_items", real)
    assert fetch(api, source["id"])["new"] == 3


def test_store_only_source_and_category_map(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    feed = rss([("a", "Политика дня", "x")], extra="<category>Политика</category>")
    httpserver.expect_request("/rss").respond_with_data(feed, content_type=RSS)
    source = add_source(
        api,
        httpserver.url_for("/rss"),
        category="events",
        syndicate=False,
        category_map={"политика": "politics"},
    )
    assert fetch(api, source["id"])["new"] == 1
    assert "Политика дня" not in client.get("/ru/feed.rss").get_data(as_text=True)
    assert api.patch(f"/api/sources/{source['id']}", {"syndicate": True}).status_code == 200
    assert "Политика дня" in client.get("/ru/politics/feed.rss").get_data(as_text=True)
    assert "Политика дня" not in client.get("/ru/events/feed.rss").get_data(as_text=True)


def test_source_api_errors(api: Api, categories: list[str]) -> None:
    for body, field in (
        ({"url": "ftp://x/feed", "language": "ru"}, "url"),
        ({"url": "file:///etc/passwd", "language": "ru"}, "url"),
        ({"url": "https://p.example/feed", "language": "fr"}, "language"),
        ({"url": "https://p.example/feed", "language": "ru", "category": "nosuch"}, "category"),
        ({"url": "https://p.example/feed", "language": "ru", "interval_s": 5}, "interval_s"),
        ({"url": "https://p.example/feed", "language": "ru", "timezone": "Mars/Base"}, "timezone"),
        (
            {"url": "https://p.example/feed", "language": "ru", "category_map": {"x": "nosuch"}},
            "category_map",
        ),
        ({"url": "https://p.example/feed", "language": "ru", "bogus": 1}, "bogus"),
        ({"language": "ru"}, "url"),
    ):
        response = api.post("/api/sources", body)
        assert 400 <= response.status_code < 500 and field in response.get_json()["error"]["fields"], (
            body,
            response.get_json(),
        )
    assert api.get("/api/sources").get_json() == []
    ok = api.post("/api/sources", {"url": "https://p.example/feed", "language": "ru"})
    assert ok.status_code == 201
    assert api.post("/api/sources", {"url": "https://p.example/feed", "language": "ru"}).status_code == 409
    assert api.get("/api/sources/999").status_code == 404
    assert api.post("/api/sources/999/fetch").status_code == 404
    assert api.delete(f"/api/sources/{ok.get_json()['id']}").status_code == 204


def test_opml_import_export(api: Api, categories: list[str]) -> None:
    opml = """<?xml version="1.0" encoding="UTF-8"?>
    <opml version="2.0"><head><title>Partners</title></head><body>
      <outline text="Agencies">
        <outline type="rss" text="Дунё" xmlUrl="https://dunyo.example/rss" language="ru" category="/events"/>
        <outline type="rss" text="Kun" xmlUrl="https://kun.example/uz/rss"/>
      </outline>
    </body></opml>"""
    refused = api.client.post(
        "/api/sources/import", data=opml, headers={**api.headers, "Content-Type": "text/x-opml"}
    )
    assert (
        refused.status_code == 422 and "https://kun.example/uz/rss" in refused.get_json()["error"]["fields"]
    )
    assert api.get("/api/sources").get_json() == []  # all or nothing
    done = api.client.post(
        "/api/sources/import?language=uz", data=opml, headers={**api.headers, "Content-Type": "text/x-opml"}
    )
    assert done.status_code == 201
    created = {s["url"]: s for s in done.get_json()["created"]}
    assert created["https://dunyo.example/rss"]["language"] == "ru"
    assert created["https://dunyo.example/rss"]["category"] == "events"
    assert created["https://kun.example/uz/rss"]["language"] == "uz"
    again = api.client.post(
        "/api/sources/import?language=uz", data=opml, headers={**api.headers, "Content-Type": "text/x-opml"}
    )
    assert again.status_code == 201 and len(again.get_json()["skipped"]) == 2
    export = api.get("/api/sources/export.opml")
    assert export.status_code == 200 and export.headers["Content-Type"].startswith("text/x-opml")
    from lxml import etree

    urls = {o.get("xmlUrl") for o in etree.fromstring(export.data).iter("outline")}
    assert urls == {"https://dunyo.example/rss", "https://kun.example/uz/rss"}
    evil = (
        '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]><opml><body/></opml>'
    )
    bad = api.client.post("/api/sources/import?language=ru", data=evil, headers=api.headers)
    assert bad.status_code == 422
    assert api.client.post("/api/sources/import", data=b"", headers=api.headers).status_code == 422


def test_feeds_of_partner_items_are_valid(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer
) -> None:
    from tests.feedcheck import assert_valid
    from tests.helpers import BASE_URL

    for n, (name, language) in enumerate(
        [
            ("ru_rss20_utf8.xml", "ru"),
            ("ru_rss20_cp1251.xml", "ru"),
            ("uz_rss20.xml", "uz"),
            ("xss.xml", "en"),
            ("en_atom10.xml", "en"),
            ("relative_links_xmlbase.xml", "en"),
            ("jsonfeed11.json", "en"),
            ("dates.xml", "ru"),
            ("bozo_ill_formed.xml", "ru"),
        ]
    ):
        httpserver.expect_request(f"/f{n}").respond_with_data(fixture(name), content_type="application/xml")
        source = add_source(api, httpserver.url_for(f"/f{n}"), language=language, name=f"Partner {n}")
        assert fetch(api, source["id"])["outcome"] == "new", name
    for path in ("/feed", "/ru/feed", "/uz/feed", "/en/feed", "/ru/events/feed", "/en/events/feed"):
        for fmt in ("rss", "atom", "json"):
            url = f"{path}.{fmt}?limit=200"
            assert_valid(fmt, client.get(url).data, self_url=f"{BASE_URL}{url}")


def test_renaming_or_deleting_a_source_changes_the_feeds_that_credit_it(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    httpserver.expect_request("/rss").respond_with_data(rss([("a", "Первая", "Текст")]), content_type=RSS)
    source = add_source(api, httpserver.url_for("/rss"), name="Партнёр")
    assert fetch(api, source["id"])["new"] == 1
    first = client.get("/ru/feed.rss")
    assert "Партнёр</source>" in first.get_data(as_text=True)
    assert api.patch(f"/api/sources/{source['id']}", {"name": "Партнёр-2"}).status_code == 200
    renamed = client.get("/ru/feed.rss", headers={"If-None-Match": first.headers["ETag"]})
    assert renamed.status_code == 200 and "Партнёр-2</source>" in renamed.get_data(as_text=True)
    assert api.delete(f"/api/sources/{source['id']}").status_code == 204
    kept = client.get("/ru/feed.rss", headers={"If-None-Match": renamed.headers["ETag"]})
    assert kept.status_code == 200 and "Первая" in kept.get_data(as_text=True)
    assert "<source" not in kept.get_data(as_text=True)
