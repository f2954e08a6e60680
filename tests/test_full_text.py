"""Full text for excerpt-only partners: new items' article pages are fetched through the guarded
fetcher, their main text stored as the post's content and the excerpt kept as its summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from feedsvc import db
from feedsvc.models import Post
from tests.helpers import Api, fetch_now

FIXTURES = Path(__file__).parent / "fixtures"
ARTICLES = FIXTURES / "articles"
MANIFEST = json.loads((ARTICLES / "articles.json").read_text(encoding="utf-8"))


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory(ALLOW_PRIVATE_SOURCES=True, FETCH_TIMEOUT=3.0)


def serve(httpserver: HTTPServer, edit: tuple[str, str] = ("", "")) -> str:
    base = httpserver.url_for("").rstrip("/")
    feed = (FIXTURES / "partners" / "quality" / "excerpts.xml").read_text(encoding="utf-8")
    feed = feed.replace("{BASE}", base)
    if edit[0]:
        feed = feed.replace(*edit)
    httpserver.clear_all_handlers()
    httpserver.expect_request("/feed").respond_with_data(feed, content_type="application/rss+xml")
    for name in MANIFEST:
        httpserver.expect_request(f"/articles/{name}").respond_with_data(
            (ARTICLES / name).read_bytes(), content_type="text/html; charset=utf-8"
        )
    httpserver.expect_request("/articles/missing.html").respond_with_data("gone", status=404)
    return httpserver.url_for("/feed")


def posts(app: Flask, source_id: int) -> dict[str, Post]:
    with app.app_context():
        rows = db.session().scalars(select(Post).where(Post.source_id == source_id))
        return {p.title: p for p in rows}


def test_excerpts_get_the_article_text(
    api: Api, client: FlaskClient, httpserver: HTTPServer, app: Flask
) -> None:
    url = serve(httpserver)
    response = api.post("/api/sources", {"url": url, "language": "ru", "full_text": True})
    assert response.status_code == 201 and response.get_json()["full_text"] is True
    source_id = response.get_json()["id"]
    result = fetch_now(api, source_id)
    assert result["new"] == 3, result
    stored = posts(app, source_id)
    metro = stored["В Ташкенте открылась новая станция метро"]
    for sentence in MANIFEST["ru_metro.html"]["sentences"]:
        assert sentence in metro.content
    for boilerplate in MANIFEST["ru_metro.html"]["boilerplate"]:
        assert boilerplate not in metro.content
    assert "<script" not in metro.content and "<form" not in metro.content
    assert metro.summary == "В понедельник в Ташкенте открылась станция…"  # the partner's excerpt
    park = stored["Toshkentda yangi bog‘ ochildi"]
    assert MANIFEST["uz_bog.html"]["sentences"][-1] in park.content
    gone = stored["A page that is gone"]
    assert gone.content == "Only this excerpt is left."  # the fetch failed: the excerpt stays
    served = {i["title"]: i for i in client.get("/ru/feed.json").get_json()["items"]}
    assert MANIFEST["ru_metro.html"]["sentences"][1] in served[metro.title]["content_html"]
    # Known, unchanged items are not fetched again.
    pages = sum(1 for request, _ in httpserver.log if request.path.startswith("/articles/"))
    fetch_now(api, source_id)
    assert sum(1 for request, _ in httpserver.log if request.path.startswith("/articles/")) == pages


def test_an_edited_excerpt_keeps_the_full_text(api: Api, httpserver: HTTPServer, app: Flask) -> None:
    url = serve(httpserver)
    source_id = api.post("/api/sources", {"url": url, "language": "ru", "full_text": True}).get_json()["id"]
    fetch_now(api, source_id)
    serve(httpserver, ("открылась станция…", "открылась новая станция…"))
    result = fetch_now(api, source_id)
    assert result["updated"] == 1, result
    metro = posts(app, source_id)["В Ташкенте открылась новая станция метро"]
    assert MANIFEST["ru_metro.html"]["sentences"][2] in metro.content
    assert metro.summary == "В понедельник в Ташкенте открылась новая станция…"


def test_off_by_default(api: Api, httpserver: HTTPServer, app: Flask) -> None:
    url = serve(httpserver)
    source = api.post("/api/sources", {"url": url, "language": "ru"}).get_json()
    assert source["full_text"] is False
    fetch_now(api, source["id"])
    assert not any(request.path.startswith("/articles/") for request, _ in httpserver.log)
    metro = posts(app, source["id"])["В Ташкенте открылась новая станция метро"]
    assert metro.content == "В понедельник в Ташкенте открылась станция…"


def test_article_pages_go_through_the_ssrf_guard(app_factory: Any, httpserver: HTTPServer) -> None:
    # The guard on, nothing let through: an article link to the loopback server is refused.
    app = app_factory(ALLOW_PRIVATE_SOURCES=False, FETCH_ALLOW_NETWORKS=())
    with app.app_context():
        from feedsvc.ingest.item import ParsedItem
        from feedsvc.ingest.service.settings import ingest_settings
        from feedsvc.ingest.stages.fulltext import with_full_text

        item = ParsedItem(
            key="k", guid="k", link=serve(httpserver).replace("/feed", "/articles/ru_metro.html"),
            title="t", content_html="<p>short</p>", summary_html="", summary="short", author=None,
            categories=(), published=None, updated=None, image=None, content_hash="h",
        )  # fmt: skip
        assert with_full_text(item, ingest_settings().fetch) is item
    assert not any(request.path.startswith("/articles/") for request, _ in httpserver.log)
