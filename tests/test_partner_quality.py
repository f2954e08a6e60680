"""Partner items as good as on the partner's own site: encodings, broken items, absurd dates, titles,
identity, scheduling and politeness, validators. Saved fixtures are served by a real HTTP server on
127.0.0.1; the real API, database and feeds show what was stored and what is re-emitted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select, update
from werkzeug import Response as WResponse

from feedsvc import db
from feedsvc.ingest.service import claims
from feedsvc.models import Post, Source, SourceItem
from tests.helpers import Api, fetch_now

PARTNERS = Path(__file__).parent / "fixtures" / "partners"
ENCODINGS = PARTNERS / "encodings"
QUALITY = PARTNERS / "quality"
MANIFEST = json.loads((ENCODINGS / "manifest.json").read_text(encoding="utf-8"))
RSS = "application/rss+xml; charset=utf-8"


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory(ALLOW_PRIVATE_SOURCES=True, FETCH_TIMEOUT=3.0, FETCH_CONNECT_TIMEOUT=1.0)


def add_source(api: Api, url: str, **fields: Any) -> dict:
    response = api.post("/api/sources", {"url": url, "language": "uz", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def fetch(api: Api, source_id: int) -> dict:
    return fetch_now(api, source_id)


def stored(app: Flask, source_id: int) -> list[Post]:
    with app.app_context():
        return list(db.session().scalars(select(Post).where(Post.source_id == source_id).order_by(Post.id)))


def source_row(app: Flask, source_id: int) -> Source:
    with app.app_context():
        source = db.session().get(Source, source_id)
        assert source is not None
        db.session().expunge(source)
        return source


class Serve:
    """A partner feed whose body the test swaps between fetches."""

    def __init__(self, body: bytes, content_type: str = RSS, headers: dict[str, str] | None = None) -> None:
        self.body, self.content_type, self.headers = body, content_type, headers or {}

    def __call__(self, _request: Any) -> WResponse:
        return WResponse(self.body, content_type=self.content_type, headers=self.headers)


def quality(name: str) -> bytes:
    return (QUALITY / name).read_bytes()


# ----------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("case", MANIFEST, ids=[c["file"] for c in MANIFEST])
def test_every_encoding_is_read_as_written(
    case: dict, api: Api, client: FlaskClient, httpserver: HTTPServer, app: Flask
) -> None:
    body = (ENCODINGS / case["file"]).read_bytes()
    httpserver.expect_request("/feed").respond_with_data(body, content_type=case["content_type"])
    source = add_source(api, httpserver.url_for("/feed"), language="ru")
    result = fetch(api, source["id"])
    assert result["outcome"] == "new", result
    assert [p.title for p in stored(app, source["id"])] == case["titles"]
    if case["file"] == "utf8_3_bad_bytes.xml":
        assert "invalid UTF-8 byte" in result["warning"]
    # What readers get back (the feed writers drop U+FFFD, which validators flag).
    served = {item["title"] for item in client.get("/ru/feed.json").get_json()["items"]}
    assert {t.replace("\ufffd", "") for t in case["titles"]} <= served


# ----------------------------------------------------------------------------- recovery and dates


def test_one_broken_item_costs_nothing_else(
    api: Api, client: FlaskClient, httpserver: HTTPServer, app: Flask
) -> None:
    httpserver.expect_request("/feed").respond_with_data(quality("broken_item_50.xml"), content_type=RSS)
    source = add_source(api, httpserver.url_for("/feed"))
    result = fetch(api, source["id"])
    assert result["outcome"] == "new" and result["new"] >= 49, result
    titles = [p.title for p in stored(app, source["id"])]
    assert "Yangilik 1" in titles and "Yangilik 50" in titles and "Yangilik 17" in titles
    health = api.get(f"/api/sources/{source['id']}").get_json()["health"]
    assert health["consecutive_errors"] == 0 and health["last_warning"]
    rss = feedparser.parse(client.get("/uz/feed.rss").data)
    assert len(rss.entries) >= 49


def test_absurd_dates_are_clamped_once_and_stay(
    api: Api, httpserver: HTTPServer, app: Flask
) -> None:
    feed = Serve(quality("absurd_dates.xml"))
    httpserver.expect_request("/feed").respond_with_handler(feed)
    source = add_source(api, httpserver.url_for("/feed"))
    before = datetime.now(UTC)
    first = fetch(api, source["id"])
    after = datetime.now(UTC)
    assert first["outcome"] == "new" and first["new"] == 6, first
    for fragment in ("9999", "0001", "2999", "1965", "qachondir"):
        assert fragment in first["warning"]
    assert "9999" in source_row(app, source["id"]).last_warning
    dates = {p.title: p.published_at for p in stored(app, source["id"])}
    assert dates["Oddiy sana"] == datetime(2026, 3, 5, 5, 0, tzinfo=UTC)
    for title in ("Oxirgi kun", "Birinchi kun", "Kelajak", "Noma’lum sana", "Eski sana"):
        assert before - timedelta(seconds=1) <= dates[title] <= after, title  # the first-seen time
    # Later fetches whose bytes changed (a new build date) or not: nothing moves, nothing "updated".
    for body in (quality("absurd_dates_rebuilt.xml"), quality("absurd_dates.xml")):
        feed.body = body
        again = fetch(api, source["id"])
        assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, 6), again
        assert {p.title: p.published_at for p in stored(app, source["id"])} == dates


def test_updated_only_when_content_changes(api: Api, httpserver: HTTPServer, app: Flask) -> None:
    def doc(date: str, text: str) -> bytes:
        return (
            "<rss version='2.0'><channel><title>P</title><item><guid>a</guid><title>Bir</title>"
            f"<link>https://p.example/a</link><description>{text}</description><pubDate>{date}</pubDate>"
            "</item></channel></rss>"
        ).encode()

    feed = Serve(doc("Thu, 05 Mar 2026 10:00:00 +0500", "Matn"))
    httpserver.expect_request("/feed").respond_with_handler(feed)
    source = add_source(api, httpserver.url_for("/feed"))
    assert fetch(api, source["id"])["new"] == 1
    feed.body = doc("Fri, 06 Mar 2026 10:00:00 +0500", "Matn")  # re-dated only
    assert fetch(api, source["id"])["unchanged"] == 1
    feed.body = doc("Fri, 06 Mar 2026 10:00:00 +0500", "Yangi matn")
    assert fetch(api, source["id"])["updated"] == 1
    (post,) = stored(app, source["id"])
    assert "Yangi matn" in post.content


# ----------------------------------------------------------------------------- titles


def test_titles_read_as_a_reader_sees_them(
    api: Api, client: FlaskClient, httpserver: HTTPServer, app: Flask
) -> None:
    httpserver.expect_request("/feed").respond_with_data(quality("titles.xml"), content_type=RSS)
    source = add_source(api, httpserver.url_for("/feed"))
    assert fetch(api, source["id"])["new"] == 8
    titles = [p.title for p in stored(app, source["id"])]
    assert titles[:7] == [
        "Use the <video> tag",
        "vector<int> explained",
        "metro <yangi> bekatlari",
        "Bold news",
        "Toshkent metrosida yangi bekat ochildi.",  # the content's first sentence
        "Metro yunusabad ochildi",  # the link's words
        "https://partner.example/?p=123",  # nothing else to go by
    ]
    assert len(titles[7]) <= 120 and titles[7].endswith("…") and titles[7].startswith("Juda uzun gap")
    served = [item["title"] for item in client.get("/uz/feed.json").get_json()["items"]]
    assert "vector<int> explained" in served and "Use the <video> tag" in served
    atom = feedparser.parse(client.get("/uz/feed.atom").data)
    assert "metro <yangi> bekatlari" in [e.title for e in atom.entries]


def test_admin_posts_use_the_same_title_rule(api: Api) -> None:
    response = api.post(
        "/api/posts", {"title": "<b>vector<int></b> explained", "content": "<p>x</p>", "language": "en"}
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["title"] == "vector<int> explained"


# ----------------------------------------------------------------------------- identity


def test_tracking_parameters_and_host_case_do_not_make_new_posts(
    api: Api, httpserver: HTTPServer, app: Flask
) -> None:
    feed = Serve(quality("utm_first.xml"))
    httpserver.expect_request("/feed").respond_with_handler(feed)
    source = add_source(api, httpserver.url_for("/feed"))
    assert fetch(api, source["id"])["new"] == 2
    feed.body = quality("utm_second.xml")
    second = fetch(api, source["id"])
    assert second["new"] == 0, second
    assert len(stored(app, source["id"])) == 2


def test_a_changed_guid_with_the_same_link_and_title_is_the_same_post(
    api: Api, httpserver: HTTPServer, app: Flask
) -> None:
    feed = Serve(quality("reguid_first.xml"))
    httpserver.expect_request("/feed").respond_with_handler(feed)
    source = add_source(api, httpserver.url_for("/feed"))
    assert fetch(api, source["id"])["new"] == 1
    feed.body = quality("reguid_second.xml")
    second = fetch(api, source["id"])
    assert second["new"] == 0 and "GUID" in second["warning"], second
    assert len(stored(app, source["id"])) == 1
    with app.app_context():
        (row,) = db.session().scalars(select(SourceItem).where(SourceItem.source_id == source["id"]))
        assert row.guid == "cms-2-77"
    third = fetch(api, source["id"])  # the new GUID is now the item's own
    assert (third["new"], third["outcome"]) == (0, "unchanged")
    # The repair is bounded: an item first seen more than a day ago is not looked for.
    with app.app_context():
        s = db.session()
        s.execute(
            update(SourceItem)
            .where(SourceItem.source_id == source["id"])
            .values(first_seen_at=datetime.now(UTC) - timedelta(days=2))
        )
        s.commit()
    feed.body = quality("reguid_second.xml").replace(b"cms-2-77", b"cms-3-5")
    assert fetch(api, source["id"])["new"] == 1


# ----------------------------------------------------------------------------- scheduling and politeness


@pytest.mark.parametrize(
    ("max_interval", "ttl_minutes", "expected"),
    [
        (3600, 5, 3600),  # two-hourly partner, capped at the maximum; a 5-minute ttl cannot shorten it
        (6 * 3600, 5, 7200),  # within the bounds: the partner's own rhythm
        (6 * 3600, 240, 4 * 3600),  # the feed asks for four hours: hints may lengthen it
    ],
)
def test_interval_follows_the_partner_rhythm_within_the_bounds(
    app_factory: Any, httpserver: HTTPServer, max_interval: int, ttl_minutes: int, expected: int
) -> None:
    from tests.helpers import make_token

    app = app_factory(ALLOW_PRIVATE_SOURCES=True, SOURCE_MIN_INTERVAL=60, SOURCE_MAX_INTERVAL=max_interval)
    api = Api(app.test_client(), make_token(app))
    body = quality("rhythm.xml").replace(b"<ttl>5</ttl>", f"<ttl>{ttl_minutes}</ttl>".encode())
    httpserver.expect_request("/feed").respond_with_data(body, content_type=RSS)
    source = add_source(api, httpserver.url_for("/feed"), interval_s=300)
    fetch(api, source["id"])
    row = source_row(app, source["id"])
    assert row.publish_gap_s == 7200  # items two hours apart
    assert row.last_fetch_at is not None
    wait = (row.next_fetch_at - row.last_fetch_at).total_seconds()
    assert expected * 0.9 <= wait <= expected * 1.1  # jittered


MODIFIED = "Thu, 05 Mar 2026 10:00:00 GMT"


def test_validators_are_kept_from_304_and_unchanged_200(api: Api, httpserver: HTTPServer, app: Flask) -> None:
    body = quality("rhythm.xml")
    answers = iter(
        [
            WResponse(body, content_type=RSS, headers={"ETag": '"v1"'}),
            # (werkzeug drops Last-Modified from a 304, so the 200 below brings it.)
            WResponse(b"", status=304, headers={"ETag": '"v2"'}),
            WResponse(body, content_type=RSS, headers={"ETag": '"v3"', "Last-Modified": MODIFIED}),
        ]
    )
    httpserver.expect_request("/feed").respond_with_handler(lambda _r: next(answers))
    source = add_source(api, httpserver.url_for("/feed"))
    fetch(api, source["id"])
    assert source_row(app, source["id"]).etag == '"v1"'
    assert fetch(api, source["id"])["status"] == 304
    assert source_row(app, source["id"]).etag == '"v2"'
    third = fetch(api, source["id"])
    assert third["outcome"] == "unchanged" and third["status"] == 200  # the same body again
    row = source_row(app, source["id"])
    assert (row.etag, row.last_modified) == ('"v3"', MODIFIED)


def test_claims_keep_to_the_per_host_and_global_limits(api: Api, app: Flask) -> None:
    a = add_source(api, "https://one.example/a.xml")["id"]
    b = add_source(api, "https://one.example/b.xml")["id"]
    c = add_source(api, "https://two.example/c.xml")["id"]
    now = datetime.now(UTC)
    with app.app_context():
        s = db.session()
        assert claims.claim(s, a, "w1", now, 60, per_host=1)
        assert not claims.claim(s, b, "w2", now, 60, per_host=1)  # same host, another worker
        assert claims.claim(s, b, "w2", now, 60, per_host=2)
        assert not claims.claim(s, c, "w3", now, 60, per_host=1, max_concurrent=2)  # two live leases
        claims.release(s, b, "w2")
        assert claims.claim(s, c, "w3", now, 60, per_host=1, max_concurrent=2)
        # Expired leases do not count.
        later = now + timedelta(seconds=120)
        assert claims.claim(s, b, "w4", later, 60, per_host=1, max_concurrent=1)
        due = claims.claim_due(s, "w5", later + timedelta(seconds=120), 60, 10, per_host=1)
        assert len(due) == 2 and len({s.get(Source, i).host for i in due}) == 2
