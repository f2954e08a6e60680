"""The one serving module: the WSGI fast path and the Flask routes give the same answers, byte for
byte, for every kind of feed, every combination of conditional headers and every bad query; and the
details every poller relies on (empty If-None-Match, the OPML list as a feed)."""

from __future__ import annotations

import gzip
import itertools

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import Client
from werkzeug.wrappers import Response

from feedsvc.metrics import instrument
from tests.helpers import Api

PATHS = [
    "/feed.rss",
    "/feed.atom",
    "/feed.json",
    "/ru/feed.rss",
    "/uz/feed.atom",
    "/en/feed.json",
    "/ru/events/feed.rss",
    "/ru/events/feed.atom",
    "/uz/politics/feed.json",
    "/feeds.opml",
]
BAD = [
    "/fr/feed.rss",
    "/ru/nosuch/feed.atom",
    "/ru/feed.xml",
    "/feed.html",
    "/ru/%00/feed.rss",
    "/ru/Events/feed.rss",
    "/ru/feed.rss?limit=0",
    "/ru/feed.rss?limit=201",
    "/ru/feed.rss?limit=abc",
    "/ru/feed.rss?limit=",
    "/ru/feed.rss?limit=%D9%A3",
]


@pytest.fixture
def two_ways(app: Flask, api: Api, categories: list[str]) -> tuple[Client, Client]:
    for lang in ("ru", "en", "uz"):
        assert (
            api.post(
                "/api/posts",
                {"title": f"Post {lang}", "content": "<p>x</p>", "language": lang, "categories": ["events"]},
            ).status_code
            == 201
        )
    fast = Client(app.wsgi_app, Response)
    # Flask alone behind the same outermost layer (request ids, metrics) the app has.
    flask_only = Client(instrument(app.extensions["feedsvc.flask_wsgi"]), Response)
    return fast, flask_only


def _same(a: Response, b: Response) -> None:
    assert a.status_code == b.status_code
    assert list(a.headers.items()) == list(b.headers.items())
    assert a.get_data() == b.get_data()


def _conditional_headers(etag: str, last_modified: str) -> list[dict[str, str]]:
    """Every combination of the validators a poller may send, right, wrong, empty or absent."""
    inm = [None, etag, etag.removeprefix("W/"), 'W/"other"', f'W/"x", {etag}', "*", ""]
    ims = [None, last_modified, "Mon, 01 Jan 2001 00:00:00 GMT", "not a date", ""]
    enc = [None, "gzip", "gzip;q=0, identity", "br, gzip;q=0.5"]
    combos = []
    same_id = {"X-Request-Id": "parity-check"}
    for if_none_match, if_modified_since, accept in itertools.product(inm, ims, enc):
        headers = dict(same_id)
        if if_none_match is not None:
            headers["If-None-Match"] = if_none_match
        if if_modified_since is not None:
            headers["If-Modified-Since"] = if_modified_since
        if accept is not None:
            headers["Accept-Encoding"] = accept
        combos.append(headers)
    return combos


@pytest.mark.parametrize("path", PATHS)
def test_fast_path_and_flask_answer_alike(two_ways: tuple[Client, Client], path: str) -> None:
    fast, flask_only = two_ways
    first = fast.get(path)
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for headers in _conditional_headers(etag, modified):
        for method in ("GET", "HEAD"):
            a = fast.open(path, method=method, headers=headers)
            b = flask_only.open(path, method=method, headers=headers)
            _same(a, b)


@pytest.mark.parametrize("path", BAD)
def test_bad_requests_answer_alike(two_ways: tuple[Client, Client], path: str) -> None:
    fast, flask_only = two_ways
    same_id = {"X-Request-Id": "parity-check"}
    a, b = fast.get(path, headers=same_id), flask_only.get(path, headers=same_id)
    _same(a, b)
    assert a.status_code in (400, 404)
    assert a.headers["Content-Type"] == "application/json"
    assert a.get_json()["error"]["status"] == a.status_code


def test_empty_if_none_match_lets_if_modified_since_decide(
    client: FlaskClient, api: Api, categories: list[str]
) -> None:
    api.post("/api/posts", {"title": "T", "content": "<p>x</p>", "language": "ru", "categories": []})
    first = client.get("/ru/feed.rss")
    again = client.get(
        "/ru/feed.rss", headers={"If-None-Match": "", "If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert again.status_code == 304


def test_opml_has_validators_304_head_and_gzip(client: FlaskClient, api: Api, categories: list[str]) -> None:
    first = client.get("/feeds.opml")
    assert first.status_code == 200
    assert first.headers["Content-Type"].startswith("text/x-opml")
    assert first.headers["ETag"].startswith('W/"') and first.headers["Last-Modified"].endswith("GMT")
    assert client.get("/feeds.opml", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    head = client.head("/feeds.opml")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len(first.data))
    zipped = client.get("/feeds.opml", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.data) == first.data
    # A new category changes the list, and its version.
    api.post("/api/categories", {"slug": "sport", "names": {"en": "Sport"}})
    after = client.get("/feeds.opml", headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200 and b"/ru/sport/feed.rss" in after.data


def test_one_label_rule_for_feeds_pages_and_opml(
    client: FlaskClient, api: Api, categories: list[str]
) -> None:
    """A category named in one language only is labelled the same way everywhere."""
    api.post("/api/categories", {"slug": "sport", "names": {"en": "Sport"}})
    api.post(
        "/api/posts", {"title": "Гол", "content": "<p>1:0</p>", "language": "ru", "categories": ["sport"]}
    )
    feed = client.get("/ru/sport/feed.rss").get_data(as_text=True)
    page = client.get("/ru/sport/").get_data(as_text=True)
    opml = client.get("/feeds.opml").get_data(as_text=True)
    assert "<title>Tashkent News — Sport</title>" in feed
    assert ">Sport</category>" in client.get("/ru/feed.rss").get_data(as_text=True)
    assert "Tashkent News — Sport" in page
    assert 'text="Tashkent News — Sport (rss)"' in opml
    assert "— sport" not in feed + page + opml


def test_stampede_renders_once_per_version(app: Flask, api: Api, categories: list[str]) -> None:
    """Many concurrent first polls of one new version render it once in this process."""
    import threading

    api.post("/api/posts", {"title": "T", "content": "<p>x</p>", "language": "ru", "categories": []})
    server = app.extensions["feedsvc.server"]
    renders = 0
    real = server._render

    def counting(*args: object) -> bytes:
        nonlocal renders
        renders += 1
        return real(*args)  # type: ignore[arg-type]

    server._render = counting  # type: ignore[method-assign]
    client = Client(app.wsgi_app, Response)
    bodies: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: bodies.append(client.get("/ru/feed.atom").data)) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(bodies) == 8 and len(set(bodies)) == 1
    assert renders == 1
