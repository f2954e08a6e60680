"""Inputs from a fuzz run that once gave 5xx: each is now a 4xx (JSON for the API, HTML for pages)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from feedsvc import db
from feedsvc.config import env_overrides
from feedsvc.errors import Unavailable
from feedsvc.models import Post, PostCategory
from tests.helpers import BASE_URL, Api, make_token
from tests.test_api_errors import GOOD, assert_error, post_count

TOO_BIG = 2**63
JUNK = ["\x00", "\x0b", "\ufffe", "\x1f"]


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# 1. ids out of the signed 64-bit range


@pytest.mark.parametrize("ident", [str(TOO_BIG), "0", "9" * 5000, str(2**64)])
def test_ids_out_of_range_in_paths_are_404(api: Api, ident: str) -> None:
    assert_error(api.get(f"/api/posts/{ident}"), 404)
    assert_error(api.patch(f"/api/posts/{ident}", {"title": "x"}), 404)
    assert_error(api.delete(f"/api/posts/{ident}"), 404)
    assert_error(api.get(f"/api/sources/{ident}"), 404)
    assert_error(api.patch(f"/api/sources/{ident}", {"name": "x"}), 404)
    assert_error(api.delete(f"/api/sources/{ident}"), 404)
    assert_error(api.post(f"/api/sources/{ident}/fetch"), 404)


def test_largest_id_is_a_plain_not_found(api: Api) -> None:
    assert_error(api.get(f"/api/posts/{TOO_BIG - 1}"), 404)
    assert_error(api.get(f"/api/sources/{TOO_BIG - 1}"), 404)


@pytest.mark.parametrize("value", [TOO_BIG, 2**64, 0, -1])
def test_translation_of_out_of_range_is_422(api: Api, categories: list[str], value: int) -> None:
    assert_error(api.post("/api/posts", {**GOOD, "translation_of": value}), 422, "translation_of")
    post = api.post("/api/posts", GOOD).get_json()
    assert_error(api.patch(f"/api/posts/{post['id']}", {"translation_of": value}), 422, "translation_of")
    assert post_count(api) == 1


# 2. JSON nested too deep


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/posts"),
        ("post", "/api/categories"),
        ("post", "/api/sources"),
        ("patch", "/api/posts/1"),
        ("patch", "/api/categories/events"),
    ],
)
def test_json_nested_1000_deep_is_422(api: Api, method: str, path: str) -> None:
    body = "[" * 1000 + "]" * 1000  # 2 KB
    response = getattr(api.client, method)(
        path, data=body, headers={**api.headers, "Content-Type": "application/json"}
    )
    error = assert_error(response, 422, "_body")
    assert "deeper" in error["message"]


def test_json_depth_bound_is_32(api: Api, categories: list[str]) -> None:
    deep = {"title": "T", "content": "c", "language": "en", "author": None}
    nested: Any = 1
    for _ in range(32):
        nested = [nested]
    deep["author"] = nested  # 33 levels with the outer object
    assert_error(api.post("/api/posts", deep), 422, "_body")
    deep["author"] = nested[0]  # 32: within the bound, refused by the schema instead
    assert_error(api.post("/api/posts", deep), 422, "author")


def test_brackets_inside_strings_do_not_count(api: Api, categories: list[str]) -> None:
    text = '[{"' * 1000 + '\\"]}'
    response = api.post("/api/posts", {**GOOD, "content": f"<p>{text}</p>"})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_unterminated_deep_json_is_400(api: Api) -> None:
    headers = {**api.headers, "Content-Type": "application/json"}
    response = api.client.post("/api/posts", data='{"title": "' + "[" * 5000, headers=headers)
    assert_error(response, 400)


# 3. crafted cursors


@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of("0001-01-01T00:00:00+14:00|1"),
        cursor_of("9999-12-31T23:59:59-12:00|1"),
        cursor_of("2026-01-01T00:00:00|1"),  # naive
        cursor_of(f"2026-01-01T00:00:00+00:00|{TOO_BIG}"),
        cursor_of("2026-01-01T00:00:00+00:00|-1"),
        cursor_of("2026-01-01T00:00:00+00:00|0"),
        cursor_of("2026-01-01T00:00:00+00:00|" + "9" * 5000),
        cursor_of("2026-01-01T00:00:00+00:00|1\x00"),
        cursor_of("\x00|\x00"),
        cursor_of("nothing"),
        "\x00",
        "%%%",
        "x" * 201,
    ],
)
def test_crafted_cursors_are_422(api: Api, cursor: str) -> None:
    assert_error(api.get("/api/posts", query_string={"cursor": cursor}), 422, "cursor")


def test_given_cursors_page_through(api: Api, categories: list[str]) -> None:
    for n in range(5):
        assert api.post("/api/posts", {**GOOD, "title": f"P{n}"}).status_code == 201
    seen, cursor = [], None
    while True:
        page = api.get("/api/posts", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200
        seen += [p["title"] for p in page.get_json()["items"]]
        cursor = page.get_json()["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"P{n}" for n in range(5)]


# 4. published_at window


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59+00:00",
        "1969-12-31T23:59:59Z",
        (datetime.now(UTC) + timedelta(days=400)).isoformat(),
    ],
)
def test_published_at_outside_the_window_is_422(api: Api, categories: list[str], when: str) -> None:
    assert_error(api.post("/api/posts", {**GOOD, "published_at": when}), 422, "published_at")
    post = api.post("/api/posts", GOOD).get_json()
    assert_error(api.patch(f"/api/posts/{post['id']}", {"published_at": when}), 422, "published_at")
    assert post_count(api) == 1


def test_published_at_inside_the_window(api: Api, categories: list[str]) -> None:
    for when in ("1970-01-01T00:00:00Z", (datetime.now(UTC) + timedelta(days=300)).isoformat()):
        assert api.post("/api/posts", {**GOOD, "published_at": when}).status_code == 201


def test_schedule_horizon_is_configurable(app_factory: Callable[..., Flask]) -> None:
    assert env_overrides({"FEEDSVC_SCHEDULE_HORIZON_DAYS": "10"}) == {"SCHEDULE_HORIZON_DAYS": 10}
    app = app_factory(SCHEDULE_HORIZON_DAYS=10)
    api = Api(app.test_client(), make_token(app))
    soon = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    body = {k: v for k, v in GOOD.items() if k != "categories"}
    assert api.post("/api/posts", {**body, "published_at": soon}).status_code == 201
    error = assert_error(api.post("/api/posts", {**body, "published_at": later}), 422, "published_at")
    assert "10 days" in str(error["fields"])


def test_a_stored_post_at_the_end_of_the_calendar_breaks_no_page(
    app: Flask, api: Api, client: FlaskClient, categories: list[str]
) -> None:
    post = api.post("/api/posts", GOOD).get_json()
    end = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    with app.app_context(), db.new_session() as s:  # stored before the window existed, or by hand
        s.execute(update(Post).where(Post.id == post["id"]).values(published_at=end))
        s.execute(update(PostCategory).where(PostCategory.post_id == post["id"]).values(published_at=end))
        s.commit()
    # A date that far ahead makes the post a scheduled one: stored, in no page or feed until then.
    for path in ("/", "/en/", "/en/events/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "9999-12-31" not in response.get_data(as_text=True)
    assert client.get(f"/en/posts/{post['slug']}").status_code == 404
    for path in ("/feed.rss", "/en/feed.atom", "/en/events/feed.json", "/news-sitemap.xml", "/en/yandex.rss"):
        assert client.get(path).status_code == 200, path
    listing = api.get("/api/posts?limit=1")
    assert listing.status_code == 200
    assert listing.get_json()["items"][0]["published_at"].startswith("9999-12-31")
    assert listing.get_json()["items"][0]["status"] == "scheduled"
    assert api.post("/api/posts", {**GOOD, "title": "Second"}).status_code == 201
    cursor = api.get("/api/posts?limit=1").get_json()["next_cursor"]
    assert api.get("/api/posts", query_string={"cursor": cursor}).status_code == 200


# 5. NUL and characters XML forbids


@pytest.mark.parametrize("junk", JUNK)
@pytest.mark.parametrize("field", ["title", "summary", "content", "author"])
def test_forbidden_characters_are_stripped_from_post_text(
    api: Api, categories: list[str], field: str, junk: str
) -> None:
    response = api.post("/api/posts", {**GOOD, field: f"A{junk}B"})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert junk not in response.get_json()[field] and "AB" in response.get_json()[field]


@pytest.mark.parametrize("junk", JUNK)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", "a{}b"),
        ("url", "https://partner.example.com/a{}b"),
        ("image_url", "https://cdn.example.com/a{}b.png"),
        ("categories", ["ev{}ents"]),
        ("language", "e{}n"),
    ],
)
def test_forbidden_characters_are_refused_in_post_urls_and_ids(
    api: Api, categories: list[str], field: str, value: Any, junk: str
) -> None:
    bad = value.format(junk) if isinstance(value, str) else [v.format(junk) for v in value]
    assert_error(api.post("/api/posts", {**GOOD, field: bad}), 422, field)
    post = api.post("/api/posts", GOOD).get_json()
    assert_error(api.patch(f"/api/posts/{post['id']}", {field: bad}), 422, field)
    assert post_count(api) == 1


def test_a_title_of_only_junk_is_refused(api: Api, categories: list[str]) -> None:
    assert_error(api.post("/api/posts", {**GOOD, "title": "\x00\x01"}), 422, "title")


@pytest.mark.parametrize("junk", JUNK)
def test_forbidden_characters_in_categories(api: Api, junk: str) -> None:
    assert_error(api.post("/api/categories", {"slug": f"a{junk}b", "names": {"en": "A"}}), 422, "slug")
    created = api.post("/api/categories", {"slug": "ab", "names": {"en": f"A{junk}B"}})
    assert created.status_code == 201 and created.get_json()["names"] == {"en": "AB"}
    renamed = api.patch("/api/categories/ab", {"names": {"ru": f"Б{junk}"}})
    assert renamed.status_code == 200 and renamed.get_json()["names"]["ru"] == "Б"
    assert_error(api.patch("/api/categories/ab", {"names": {f"e{junk}n": "A"}}), 422, "names")
    assert_error(api.get(f"/api/categories/a{junk}b"), 404)
    assert_error(api.delete(f"/api/categories/a{junk}b"), 404)


@pytest.mark.parametrize("junk", JUNK)
def test_forbidden_characters_in_sources(api: Api, categories: list[str], junk: str) -> None:
    good = {"url": "https://partner.example.com/feed.xml", "language": "en"}
    bad_url = f"https://partner.example.com/f{junk}"
    assert_error(api.post("/api/sources", {**good, "url": bad_url}), 422, "url")
    assert_error(api.post("/api/sources", {**good, "timezone": f"Asia/Tash{junk}kent"}), 422, "timezone")
    assert_error(api.post("/api/sources", {**good, "category": f"ev{junk}ents"}), 422, "category")
    created = api.post(
        "/api/sources", {**good, "name": f"Par{junk}tner", "category_map": {f"Sp{junk}ort": "events"}}
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    source = created.get_json()
    assert source["name"] == "Partner" and source["category_map"] == {"Sport": "events"}
    assert_error(api.patch(f"/api/sources/{source['id']}", {"url": bad_url}), 422, "url")


def test_opml_import_refuses_bad_urls(api: Api) -> None:
    opml = (
        '<?xml version="1.0"?><opml version="2.0"><head/><body>'
        '<outline type="rss" xmlUrl="https://user:pw@partner.example.com/feed" language="en"/>'
        "</body></opml>"
    )
    response = api.client.post(
        "/api/sources/import", data=opml, headers={**api.headers, "Content-Type": "text/x-opml"}
    )
    assert_error(response, 422)
    assert api.get("/api/sources").get_json() == []


# 6. url and image_url


@pytest.mark.parametrize(
    "url",
    [
        "/relative/path",
        "//partner.example.com/a",
        "ftp://partner.example.com/a",
        "javascript:alert(1)",
        "https://user:pass@partner.example.com/a",
        "https://user@partner.example.com/a",
        "https://partner.example.com/" + "a" * 2030,
        "https://partner.example.com/a b",
        "https://partner.example.com:99999/a",
        "https://partner.example.com:port/a",
    ],
)
def test_bad_urls_are_422(api: Api, categories: list[str], url: str) -> None:
    for field in ("url", "image_url"):
        assert_error(api.post("/api/posts", {**GOOD, field: url}), 422, field)
    assert_error(api.post("/api/sources", {"url": url, "language": "en"}), 422, "url")
    assert post_count(api) == 0


def test_longest_url_is_accepted(api: Api, categories: list[str]) -> None:
    url = "https://partner.example.com/" + "a" * (2048 - 28)
    assert len(url) == 2048
    assert api.post("/api/posts", {**GOOD, "url": url}).status_code == 201


# 7. junk in public paths


@pytest.mark.parametrize(
    "path",
    [
        "/en/%00/feed.rss",
        "/en/%00/feed.atom",
        "/en/%00/",
        "/en/posts/%00",
        "/%00/",
        "/%00/feed.rss",
        "/%00/posts/a",
        "/en/" + "a" * 300 + "/",
        "/en/" + "a" * 300 + "/feed.json",
        "/en/posts/" + "a" * 5000,
        "/en/%C3%A9v%0Bents/",
        "/en/events%0A/",
        "/en/posts/a%0A",
    ],
)
def test_junk_in_public_paths_is_404(client: FlaskClient, categories: list[str], path: str) -> None:
    assert client.get(path).status_code == 404


# 8. errors of HTML pages are HTML pages


@pytest.mark.parametrize("path", ["/de/", "/en/nosuch/", "/en/posts/nosuch", "/en/%00/", "/ru/posts/%00"])
def test_page_errors_are_html(client: FlaskClient, categories: list[str], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert html.startswith("<!doctype html>") and "Tashkent News" in html and "<h1>" in html


def test_page_errors_speak_the_language_of_the_path(client: FlaskClient) -> None:
    assert "Страница не найдена" in client.get("/ru/posts/nosuch").get_data(as_text=True)


def test_api_and_feed_errors_stay_json(api: Api, client: FlaskClient) -> None:
    assert_error(api.get("/api/posts/424242"), 404)
    assert_error(client.get("/de/feed.rss"), 404)
    assert_error(client.get("/api"), 404)
    assert_error(api.get("/api/posts/-1"), 404)  # fits /<lang>/posts/<slug>, yet is the API's


def test_unavailable_is_a_503_page_and_a_503_api_error(
    app: Flask, api: Api, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_args: Any, **_kwargs: Any) -> Any:
        error = Unavailable("the database is restarting")
        error.retry_after = 7
        raise error

    monkeypatch.setattr("feedsvc.public.pages.load_items", down)
    monkeypatch.setattr("feedsvc.api.posts.get_post", down)
    page = client.get("/en/")
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert page.headers["Retry-After"] == "7" and "unavailable" in page.get_data(as_text=True)
    error = assert_error(api.get("/api/posts/1"), 503)
    assert error["code"] == "unavailable"
    assert api.get("/api/posts/1").headers["Retry-After"] == "7"


def test_pages_with_a_dead_database_are_503_pages(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(DATABASE_URL="postgresql://postgres@127.0.0.1:1/none")
    client = app.test_client()
    for path in ("/", "/en/", "/en/events/", "/en/posts/a"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.mimetype == "text/html" and response.headers["Retry-After"]


# 9. redirects name BASE_URL, never the Host header


@pytest.mark.parametrize(
    ("path", "target"), [("/en/politics", "/en/politics/"), ("/en", "/en/"), ("/uz/events", "/uz/events/")]
)
def test_slash_redirects_ignore_a_hostile_host(
    client: FlaskClient, categories: list[str], path: str, target: str
) -> None:
    response = client.get(path, headers={"Host": "evil.example"})
    assert response.status_code in {301, 308}
    assert response.headers["Location"] == f"{BASE_URL}{target}"
    assert "evil" not in response.get_data(as_text=True)


def test_no_redirect_for_what_is_no_page(client: FlaskClient) -> None:
    for path in ("/de", "/en/%00", "/favicon.ico"):
        response = client.get(path, headers={"Host": "evil.example"})
        assert response.status_code == 404 and "Location" not in response.headers
