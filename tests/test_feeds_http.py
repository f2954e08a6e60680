"""What pollers rely on: status codes, validators, 304s, HEAD, gzip, content types, per-scope versions."""

from __future__ import annotations

import gzip

import pytest
from flask.testing import FlaskClient

from tests.helpers import Api

TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
SCOPES = ["/feed", "/ru/feed", "/ru/events/feed"]


def post(api: Api, **fields: object) -> dict:
    body = {
        "title": "Новость",
        "content": "<p>Текст</p>",
        "language": "ru",
        "categories": ["events"],
        **fields,
    }
    response = api.post("/api/posts", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
@pytest.mark.parametrize("scope", SCOPES)
def test_feed_served_with_type_and_validators(
    client: FlaskClient, api: Api, categories: list[str], scope: str, fmt: str
) -> None:
    post(api)
    response = client.get(f"{scope}.{fmt}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == TYPES[fmt]
    assert response.headers["ETag"].startswith('W/"')
    assert response.headers["Last-Modified"].endswith("GMT")
    assert response.headers["Cache-Control"] == (
            "public, max-age=300, stale-while-revalidate=60, stale-if-error=86400"
        )
    assert response.headers["Vary"] == "Accept-Encoding"
    assert "Новость".encode() in response.data
    assert int(response.headers["Content-Length"]) == len(response.data)


@pytest.mark.parametrize(
    "path", ["/fr/feed.rss", "/ru/nosuch/feed.atom", "/ru/feed.xml", "/fr/events/feed.json", "/feed.html"]
)
def test_unknown_scope_is_404_not_empty_feed(client: FlaskClient, categories: list[str], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json()["error"]["status"] == 404


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "1.5", "", "٣"])
def test_bad_limit_is_400(client: FlaskClient, categories: list[str], limit: str) -> None:
    response = client.get(f"/ru/feed.rss?limit={limit}")
    assert response.status_code == 400
    assert "limit" in response.get_json()["error"]["fields"]


def test_limit(client: FlaskClient, api: Api, categories: list[str]) -> None:
    for i in range(4):
        post(api, title=f"N{i}", published_at=f"2026-11-2{i}T10:00:00+05:00")
    items = client.get("/ru/feed.json?limit=2").get_json()["items"]
    assert [i["title"] for i in items] == ["N3", "N2"]
    assert client.get("/ru/feed.json?limit=200").status_code == 200


def test_conditional_get(client: FlaskClient, api: Api, categories: list[str]) -> None:
    post(api)
    first = client.get("/ru/events/feed.atom")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": etag.removeprefix("W/")},  # weak comparison
        {"If-None-Match": f'"other", {etag}, "more"'},  # lists
        {"If-None-Match": "*"},
        {"If-Modified-Since": last_modified},
    ):
        response = client.get("/ru/events/feed.atom", headers=headers)
        assert response.status_code == 304, headers
        assert response.data == b""
        assert response.headers["ETag"] == etag
        assert response.headers["Cache-Control"] == (
            "public, max-age=300, stale-while-revalidate=60, stale-if-error=86400"
        )
        assert response.headers["Vary"] == "Accept-Encoding"
    # If-None-Match takes priority: a stale tag means 200 even with a current date.
    stale = client.get(
        "/ru/events/feed.atom", headers={"If-None-Match": '"old"', "If-Modified-Since": last_modified}
    )
    assert stale.status_code == 200
    assert (
        client.get(
            "/ru/events/feed.atom", headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}
        ).status_code
        == 200
    )
    # The tag belongs to the representation: another format or limit does not match.
    assert client.get("/ru/events/feed.rss", headers={"If-None-Match": etag}).status_code == 200
    assert client.get("/ru/events/feed.atom?limit=5", headers={"If-None-Match": etag}).status_code == 200


def test_head(client: FlaskClient, api: Api, categories: list[str]) -> None:
    post(api)
    get = client.get("/ru/feed.rss")
    head = client.head("/ru/feed.rss")
    assert head.status_code == 200 and head.data == b""
    for name in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Cache-Control"):
        assert head.headers[name] == get.headers[name]
    assert client.head("/ru/feed.rss", headers={"If-None-Match": get.headers["ETag"]}).status_code == 304


def test_gzip(client: FlaskClient, api: Api, categories: list[str]) -> None:
    post(api)
    plain = client.get("/feed.json")
    zipped = client.get("/feed.json", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] == plain.headers["ETag"]
    refused = client.get("/feed.json", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers


def test_versions_are_per_scope(client: FlaskClient, api: Api, categories: list[str]) -> None:
    post(api)
    paths = [
        "/feed.rss",
        "/ru/feed.rss",
        "/ru/events/feed.rss",
        "/ru/politics/feed.rss",
        "/en/feed.rss",
        "/en/events/feed.rss",
    ]
    before = {p: client.get(p).headers for p in paths}
    post(api, title="Вторая")
    after = {p: client.get(p).headers for p in paths}
    changed = {p for p in paths if after[p]["ETag"] != before[p]["ETag"]}
    assert changed == {"/feed.rss", "/ru/feed.rss", "/ru/events/feed.rss"}
    assert after["/en/feed.rss"]["Last-Modified"] == before["/en/feed.rss"]["Last-Modified"]


def test_every_write_is_seen_on_next_request(client: FlaskClient, api: Api, categories: list[str]) -> None:
    created = post(api, title="Первая")
    assert "Первая" in client.get("/ru/events/feed.json").get_data(as_text=True)
    api.patch(f"/api/posts/{created['id']}", {"title": "Исправленная"})
    body = client.get("/ru/events/feed.json").get_data(as_text=True)
    assert "Исправленная" in body and "Первая" not in body
    api.patch(f"/api/posts/{created['id']}", {"categories": ["politics"]})
    assert "Исправленная" not in client.get("/ru/events/feed.json").get_data(as_text=True)
    assert "Исправленная" in client.get("/ru/politics/feed.json").get_data(as_text=True)
    api.patch("/api/categories/politics", {"names": {"ru": "Власть"}})
    assert client.get("/ru/politics/feed.json").get_json()["title"].endswith("Власть")
    api.delete(f"/api/posts/{created['id']}")
    assert client.get("/ru/politics/feed.json").get_json()["items"] == []
    api.delete("/api/categories/politics")
    assert client.get("/ru/politics/feed.json").status_code == 404


def test_translation_edit_reaches_other_languages(
    client: FlaskClient, api: Api, categories: list[str]
) -> None:
    en = post(api, title="Metro", language="en")
    ru = post(api, title="Метро", translation_of=en["id"])
    en_feed = client.get("/en/feed.atom").get_data(as_text=True)
    assert f"/ru/posts/{ru['slug']}" in en_feed
    api.patch(f"/api/posts/{ru['id']}", {"slug": "metro-novoe"})
    assert "/ru/posts/metro-novoe" in client.get("/en/feed.atom").get_data(as_text=True)


def test_polls_of_cached_feeds_never_enter_flask(
    client: FlaskClient, api: Api, categories: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    post(api)
    first = client.get("/ru/events/feed.rss")  # rendered and cached through the app
    zipped = client.get("/ru/events/feed.rss", headers={"Accept-Encoding": "gzip"})

    def no_flask(*_args: object) -> None:
        raise AssertionError("the poll went through Flask")

    monkeypatch.setattr(client.application, "full_dispatch_request", no_flask)
    again = client.get("/ru/events/feed.rss")
    assert again.status_code == 200 and again.data == first.data
    # The same headers, but for the request id each answer carries.
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert {k: v for k, v in again.headers.items() if k != "X-Request-Id"} == {
        k: v for k, v in first.headers.items() if k != "X-Request-Id"
    }
    assert client.get("/ru/events/feed.rss", headers={"Accept-Encoding": "gzip"}).data == zipped.data
    not_modified = client.get("/ru/events/feed.rss", headers={"If-None-Match": first.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.data == b""
    head = client.head("/ru/events/feed.rss")
    assert (
        head.status_code == 200
        and head.data == b""
        and head.headers["Content-Length"] == str(len(first.data))
    )
    monkeypatch.undo()
    # A write changes the version: the next poll misses the fast path and is rendered afresh.
    post(api, title="Свежая")
    assert "Свежая" in client.get("/ru/events/feed.rss").get_data(as_text=True)
