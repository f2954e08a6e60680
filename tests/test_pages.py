"""HTML pages, OPML, health, OpenAPI."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from tests.helpers import BASE_URL, Api

OPML_ATTRIBUTES = {
    "text",
    "type",
    "title",
    "xmlUrl",
    "htmlUrl",
    "language",
    "category",
    "description",
    "version",
    "created",
    "isComment",
    "isBreakpoint",
    "url",
}


def test_index_lists_every_feed_with_autodiscovery(client: FlaskClient, categories: list[str]) -> None:
    html = client.get("/").get_data(as_text=True)
    for href in ("/feed.rss", "/feed.atom", "/feed.json"):
        assert '<link rel="alternate" type="' in html and f'href="{BASE_URL}{href}"' in html
    for lang in ("en", "ru", "uz"):
        for cat in categories:
            assert f"{BASE_URL}/{lang}/{cat}/feed.atom" in html
    assert "События" in html and "Voqealar" in html


def test_listing_and_post_pages(client: FlaskClient, api: Api, categories: list[str]) -> None:
    post = api.post(
        "/api/posts",
        {"title": "Yangi ko‘prik", "content": "<p>Bog‘</p>", "language": "uz", "categories": ["events"]},
    ).get_json()
    external = api.post(
        "/api/posts",
        {"title": "Partner", "content": "x", "language": "uz", "url": "https://partner.example.com/a"},
    ).get_json()
    page = client.get("/uz/events/").get_data(as_text=True)
    assert "Yangi ko‘prik" in page
    assert f'href="{BASE_URL}/uz/events/feed.rss"' in page and 'rel="alternate"' in page
    assert "Yangi ko‘prik" in client.get("/uz/").get_data(as_text=True)
    own = client.get(f"/uz/posts/{post['slug']}")
    assert own.status_code == 200 and "<p>Bog‘</p>" in own.get_data(as_text=True)
    assert client.get(f"/uz/posts/{external['slug']}").status_code == 404
    assert client.get("/fr/").status_code == 404
    assert client.get("/uz/nosuch/").status_code == 404


def test_opml(client: FlaskClient, categories: list[str]) -> None:
    response = client.get("/feeds.opml")
    assert response.status_code == 200
    doc = etree.fromstring(response.data)
    assert doc.tag == "opml" and doc.get("version") == "2.0"
    outlines = [o for o in doc.iter("outline") if o.get("xmlUrl")]
    # site + 3 languages + 3×3 categories, in three formats each
    assert len(outlines) == (1 + 3 + 9) * 3
    for o in doc.iter("outline"):
        assert set(o.attrib) <= OPML_ATTRIBUTES, o.attrib
    by_url = {o.get("xmlUrl"): o for o in outlines}
    cat = by_url[f"{BASE_URL}/ru/events/feed.rss"]
    assert cat.get("type") == "rss" and cat.get("language") == "ru" and cat.get("category") == "/events"
    assert cat.get("htmlUrl") == f"{BASE_URL}/ru/events/"
    assert by_url[f"{BASE_URL}/ru/feed.atom"].get("category") is None


def test_health(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok", "cache": "ok"}


def test_readyz_reports_a_dead_database(app_factory) -> None:  # type: ignore[no-untyped-def]
    app: Flask = app_factory(DATABASE_URL="postgresql://postgres@127.0.0.1:1/none")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"] == "unavailable" and body["down"] == ["database"]
    assert "127.0.0.1" not in response.get_data(as_text=True)
    assert "OperationalError" not in response.get_data(as_text=True)


def test_openapi_document(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/api/posts",
        "/api/posts/{post_id}",
        "/api/categories",
        "/api/categories/{slug}",
        "/api/sources",
        "/api/sources/{source_id}",
        "/api/sources/{source_id}/fetch",
        "/api/sources/import",
        "/api/sources/export.opml",
    ):
        assert path in paths
    create = spec["components"]["schemas"]["PostWrite"]
    assert set(create["required"]) == {"title", "content", "language"}
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert set(spec["components"]["schemas"]["SourceWrite"]["required"]) == {"url", "language"}
    assert "Error" in spec["components"]["schemas"]
