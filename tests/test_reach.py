"""Reaching readers and aggregators: scheduled posts come due on a controlled clock, sitemaps and the
Google News sitemap against the published XML schemas, the Yandex feed, RFC 5005 archives walked over
10,000 posts while posts are written, and channel branding."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from feedsvc import db, write
from feedsvc.demo import load_synthetic
from feedsvc.ingest.service.worker import due_posts
from feedsvc.models import utcnow
from feedsvc.site import site as current_site
from tests import feedcheck
from tests.helpers import BASE_URL, Api

ATOM = "{http://www.w3.org/2005/Atom}"
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def _post(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"title": "Post", "content": "<p>Text.</p>", "language": "ru", **fields}
    response = api.post("/api/posts", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _changes(app: Flask) -> list[write.FeedsChanged]:
    seen: list[write.FeedsChanged] = []
    app.extensions["feedsvc.events"].subscribe(seen.append)
    return seen


# -- scheduled posts ------------------------------------------------------------------------------


def test_scheduled_post_appears_when_due_with_a_new_version_and_one_event(
    app: Flask, client: FlaskClient, api: Api, categories: list[str]
) -> None:
    server = app.extensions["feedsvc.server"]
    start = utcnow() + timedelta(seconds=30)  # the clock of the feeds, a little after the first post
    server.clock = lambda: start
    _post(api, title="Already out", categories=["events"])
    due_at = start + timedelta(minutes=10)
    scheduled = _post(api, title="Comes later", categories=["events"], published_at=due_at.isoformat())
    assert scheduled["status"] == "scheduled"
    listed = api.get("/api/posts?status=scheduled").get_json()["items"]
    assert [p["id"] for p in listed] == [scheduled["id"]]
    assert client.get(f"/ru/posts/{scheduled['slug']}").status_code == 404

    first = client.get("/ru/events/feed.atom")
    assert b"Comes later" not in first.data and b"Already out" in first.data
    etag = first.headers["ETag"]
    changes = _changes(app)

    server.clock = lambda: start + timedelta(minutes=9)  # time passes, nothing is due yet
    again = client.get("/ru/events/feed.atom", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag
    assert changes == []

    server.clock = lambda: due_at + timedelta(seconds=1)
    now_out = client.get("/ru/events/feed.atom", headers={"If-None-Match": etag})
    assert now_out.status_code == 200 and now_out.headers["ETag"] != etag
    assert b"Comes later" in now_out.data
    assert len(changes) == 1  # every feed of the post in one event, for the hub deliveries
    assert {"*", "ru", "ru/events"} <= changes[0].scopes
    # The other feeds of the post were bumped in the same step: no further event on their polls.
    assert b"Comes later" in client.get("/feed.rss").data
    assert len(changes) == 1


def test_the_worker_step_makes_posts_due_without_polls(app: Flask, api: Api) -> None:
    start = utcnow()
    _post(api, title="Scheduled", published_at=(start + timedelta(minutes=5)).isoformat())
    changes = _changes(app)
    with app.app_context():
        assert [s for s in due_posts(start) if "#" not in s] == []
        bumped = due_posts(start + timedelta(minutes=6))
        assert due_posts(start + timedelta(minutes=6)) == []  # a second pass finds nothing left
    assert {"*", "ru"} <= set(bumped)
    assert len(changes) == 1 and {"*", "ru"} <= changes[0].scopes


def test_genre_and_aggregate_are_validated_and_shown(api: Api) -> None:
    post = _post(api, genre="article", aggregate=False)
    assert (post["genre"], post["aggregate"], post["status"]) == ("article", False, "published")
    assert _post(api, title="Plain")["genre"] == "message"
    assert (
        api.post("/api/posts", {"title": "x", "content": "y", "language": "ru", "genre": "blog"}).status_code
        == 422
    )
    patched = api.patch(f"/api/posts/{post['id']}", {"genre": "interview", "aggregate": True}).get_json()
    assert (patched["genre"], patched["aggregate"]) == ("interview", True)
    assert api.patch(f"/api/posts/{post['id']}", {"genre": None}).status_code == 422


# -- sitemaps -------------------------------------------------------------------------------------


def test_sitemaps_news_sitemap_and_robots(app: Flask, client: FlaskClient, api: Api) -> None:
    server = app.extensions["feedsvc.server"]
    now = utcnow()
    fresh = _post(api, title="Fresh news")
    _post(api, title="Old news", published_at=(now - timedelta(days=3)).isoformat())
    _post(api, title="Not for aggregators", aggregate=False)
    _post(api, title="Tomorrow", published_at=(now + timedelta(days=1)).isoformat())
    english = _post(api, title="English news", language="en")

    robots = client.get("/robots.txt")
    assert robots.status_code == 200 and robots.headers["Content-Type"].startswith("text/plain")
    assert f"Sitemap: {BASE_URL}/sitemap.xml" in robots.text
    assert f"Sitemap: {BASE_URL}/news-sitemap.xml" in robots.text

    index = client.get("/sitemap.xml")
    assert feedcheck.check_sitemap(index.data, index=True) == []
    locs = [e.text for e in etree.fromstring(index.data).iter(f"{SITEMAP}loc")]
    assert locs == [f"{BASE_URL}/sitemaps/posts-1.xml"]
    page = client.get(_path(locs[0]))
    assert feedcheck.check_sitemap(page.data, limit=10_000) == []
    urls = [e.text for e in etree.fromstring(page.data).iter(f"{SITEMAP}loc")]
    assert f"{BASE_URL}/ru/posts/{fresh['slug']}" in urls
    assert not any("tomorrow" in u for u in urls)
    assert client.get("/sitemaps/posts-2.xml").status_code == 404

    news = client.get("/news-sitemap.xml")
    assert feedcheck.check_sitemap(news.data, limit=1000) == []
    root = etree.fromstring(news.data)
    titles = [e.text for e in root.iter(f"{NEWS}title")]
    assert titles == ["English news", "Fresh news"]  # newest first, only the window, only aggregated
    assert {e.text for e in root.iter(f"{NEWS}language")} == {"ru", "en"}
    assert {e.text for e in root.iter(f"{NEWS}name")} == {"Tashkent News"}
    ru_news = client.get("/ru/news-sitemap.xml")
    assert [e.text for e in etree.fromstring(ru_news.data).iter(f"{NEWS}title")] == ["Fresh news"]
    assert english["language"] == "en"

    # Validators, 304, HEAD and gzip as for feeds.
    etag = news.headers["ETag"]
    assert client.get("/news-sitemap.xml", headers={"If-None-Match": etag}).status_code == 304
    head = client.head("/news-sitemap.xml")
    assert head.status_code == 200 and head.data == b"" and head.headers["ETag"] == etag
    zipped = client.get("/news-sitemap.xml", headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(zipped.data) == news.data

    # Two days later the posts fell out of the window: a new version with no write.
    server.clock = lambda: now + timedelta(hours=49)
    later = client.get("/news-sitemap.xml", headers={"If-None-Match": etag})
    assert later.status_code == 200 and later.headers["ETag"] != etag
    assert [e.text for e in etree.fromstring(later.data).iter(f"{NEWS}title")] == ["Tomorrow"]
    server.clock = lambda: now + timedelta(days=4)
    empty = client.get("/news-sitemap.xml")
    assert list(etree.fromstring(empty.data).iter(f"{NEWS}news")) == []
    assert feedcheck.check_sitemap(empty.data) == []  # the home page stands in for the empty list


def test_partner_items_stay_out_of_aggregator_documents_by_default(app: Flask, client: FlaskClient) -> None:
    with app.app_context(), db.new_session() as session:
        now = utcnow()
        row = {
            "uid": "00000000-0000-4000-8000-000000000001",
            "language": "ru",
            "slug": "partner-item",
            "title": "Partner item",
            "summary": "s",
            "content": "<p>c</p>",
            "author": None,
            "url": None,
            "image_url": None,
            "image_type": None,
            "image_length": 0,
            "published_at": now,
            "updated_at": now,
            "created_at": now,
            "translation_group": None,
            "visible": True,
            "aggregate": False,
        }
        write.insert_posts(session, [row], [[]])
        session.commit()
    assert b"Partner item" in client.get("/ru/feed.rss").data
    assert b"Partner item" not in client.get("/ru/yandex.rss").data
    assert b"Partner item" not in client.get("/news-sitemap.xml").data


# -- Yandex ---------------------------------------------------------------------------------------


def test_yandex_feed(client: FlaskClient, api: Api, categories: list[str]) -> None:
    content = (
        "<p>ТАШКЕНТ, 5 марта — В столице открылась выставка.</p>"
        "<p>Второй абзац &amp; подробности.</p><p>Фото: Иван Петров</p>"
    )
    _post(
        api,
        title="Выставка",
        content=content,
        categories=["events", "economy"],
        genre="article",
        author="Анна",
        image_url="https://cdn.example.uz/a.png",
    )
    _post(api, title="Давняя", published_at=(utcnow() - timedelta(days=9)).isoformat())
    _post(api, title="Только для ленты", aggregate=False)
    response = client.get("/ru/yandex.rss")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert feedcheck.check_yandex(response.data) == []
    root = etree.fromstring(response.data)
    assert root.nsmap["yandex"] == "http://news.yandex.ru"
    items = root.findall("channel/item")
    assert [i.findtext("title") for i in items] == ["Выставка"]
    item = items[0]
    assert [c.text for c in item.findall("category")] == ["Экономика"]  # the first by slug
    assert item.findtext("{http://news.yandex.ru}genre") == "article"
    assert (
        item.findtext("{http://news.yandex.ru}full-text")
        == "В столице открылась выставка.\n\nВторой абзац & подробности."
    )
    assert item.findtext("author") == "Анна"
    enclosure = item.find("enclosure")
    assert enclosure is not None and enclosure.get("type") == "image/png" and enclosure.get("length") == "0"
    assert client.get("/fr/yandex.rss").status_code == 404
    etag = response.headers["ETag"]
    assert client.get("/ru/yandex.rss", headers={"If-None-Match": etag}).status_code == 304


def test_yandex_window_and_cap_come_from_configuration(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(YANDEX_MAX_ITEMS=2, YANDEX_MAX_AGE_HOURS=1)
    from tests.helpers import make_token

    api = Api(app.test_client(), make_token(app))
    for n in range(3):
        _post(api, title=f"Новость {n}")
    _post(api, title="Два часа назад", published_at=(utcnow() - timedelta(hours=2)).isoformat())
    data = app.test_client().get("/ru/yandex.rss").data
    assert [i.findtext("title") for i in etree.fromstring(data).findall("channel/item")] == [
        "Новость 2",
        "Новость 1",
    ]


# -- archives -------------------------------------------------------------------------------------


def _ids(fmt: str, data: bytes) -> list[str]:
    if fmt == "json":
        import json

        return [item["id"] for item in json.loads(data)["items"]]
    return [e.text for e in etree.fromstring(data).iter(f"{ATOM}id") if e.getparent().tag == f"{ATOM}entry"]


@pytest.mark.slow  # 10,000 posts: about 15 s
def test_walking_the_archive_over_10000_posts_while_posts_are_written(
    app: Flask, client: FlaskClient, api: Api
) -> None:
    with app.app_context(), db.new_session() as session:
        load_synthetic(session, current_site(), 10_000)
        session.commit()
    current = client.get("/feed.atom")
    feedcheck.assert_valid("atom", current.data, self_url=f"{BASE_URL}/feed.atom")
    assert feedcheck.check_archive("atom", current.data, archive=False) == []
    seen = _ids("atom", current.data)
    assert len(seen) == 50
    link = feedcheck.archive_links("atom", current.data)["prev-archive"]
    pages = 0
    while link:
        # Writes in between: new posts at the newest end, and an edit of an archived post.
        _post(api, title=f"Written during the walk {pages}")
        if pages == 3:
            assert api.patch("/api/posts/5", {"title": "Edited while archived"}).status_code == 200
        page = client.get(_path(link))
        assert page.status_code == 200, page.data[:300]
        problems = feedcheck.check("atom", page.data, self_url=link) + feedcheck.check_archive(
            "atom", page.data, archive=True
        )
        assert problems == [], problems
        closed = "-" not in link.rsplit("=", 1)[1]
        assert ("immutable" in page.headers["Cache-Control"]) == closed
        seen += _ids("atom", page.data)
        link = feedcheck.archive_links("atom", page.data).get("prev-archive")
        pages += 1
    assert len(seen) == len(set(seen)) == 10_000  # every post once: no gap, no repeat
    assert pages == 99  # 98 closed pages of 100 and the open page up to the current feed's window


def test_archive_pages_in_every_format(app: Flask, client: FlaskClient) -> None:
    with app.app_context(), db.new_session() as session:
        load_synthetic(session, current_site(), 750)
        session.commit()
    for fmt in ("rss", "atom", "json"):
        current = client.get(f"/ru/feed.{fmt}")  # 250 Russian posts: one closed page and an open one
        assert feedcheck.check_archive(fmt, current.data, archive=False) == []
        open_link = feedcheck.archive_links(fmt, current.data)["prev-archive"]
        assert open_link.endswith("?archive=1-200")
        open_page = client.get(_path(open_link))
        assert feedcheck.check(fmt, open_page.data, self_url=open_link) == []
        assert feedcheck.check_archive(fmt, open_page.data, archive=True) == []
        assert "immutable" not in open_page.headers["Cache-Control"]
        assert len(_ids(fmt, open_page.data)) == 200 if fmt != "rss" else True
    # Only closed pages are served without a bound; junk is refused.
    assert client.get("/ru/feed.atom?archive=2").status_code == 404
    assert client.get("/ru/feed.atom?archive=x").status_code == 400
    assert client.get("/ru/feed.atom?archive=1-999").status_code == 404


def test_a_small_feed_links_no_archive(client: FlaskClient, api: Api) -> None:
    _post(api)
    data = client.get("/ru/feed.atom").data
    assert feedcheck.archive_links("atom", data) == {}


# -- branding -------------------------------------------------------------------------------------


@pytest.mark.parametrize("branded", [True, False])
def test_channel_branding(app_factory: Callable[..., Flask], branded: bool) -> None:
    settings = (
        {
            "FEED_ICON_URL": "https://cdn.example.uz/icon.png",
            "FEED_LOGO_URL": "https://cdn.example.uz/logo.png",
            "FAVICON_URL": "https://cdn.example.uz/favicon.png",
            "FEED_IMAGE_SIZE": "144x60",
        }
        if branded
        else {}
    )
    app = app_factory(**settings)
    client = app.test_client()
    rss, atom, json_feed = (client.get(f"/ru/feed.{fmt}").data for fmt in ("rss", "atom", "json"))
    for fmt, data in (("rss", rss), ("atom", atom), ("json", json_feed)):
        feedcheck.assert_valid(fmt, data, self_url=f"{BASE_URL}/ru/feed.{fmt}")
    image = etree.fromstring(rss).find("channel/image")
    feed = etree.fromstring(atom)
    import json

    document = json.loads(json_feed)
    if not branded:
        assert image is None and feed.find(f"{ATOM}icon") is None and feed.find(f"{ATOM}logo") is None
        assert "icon" not in document and "favicon" not in document
        return
    assert image is not None
    assert (image.findtext("url"), image.findtext("width"), image.findtext("height")) == (
        "https://cdn.example.uz/logo.png",
        "144",
        "60",
    )
    assert feed.findtext(f"{ATOM}icon") == "https://cdn.example.uz/icon.png"
    assert feed.findtext(f"{ATOM}logo") == "https://cdn.example.uz/logo.png"
    assert (document["icon"], document["favicon"]) == (
        "https://cdn.example.uz/icon.png",
        "https://cdn.example.uz/favicon.png",
    )


def test_branding_settings_are_checked(app_factory: Callable[..., Flask]) -> None:
    with pytest.raises(ValueError, match="144"):
        app_factory(FEED_IMAGE_SIZE="200x100")
    with pytest.raises(ValueError, match="absolute"):
        app_factory(FEED_LOGO_URL="/logo.png")

