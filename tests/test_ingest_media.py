"""Partner media, HTML and credit end to end: saved partner feeds served by a real HTTP server on
127.0.0.1, ingested through the real pipeline, checked in the database and in our RSS, Atom and
JSON Feed (strict validity checks included)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from feedsvc import db
from feedsvc.models import Post, PostEnclosure, Source
from tests import feedcheck
from tests.helpers import Api, fetch_now

MEDIA = Path(__file__).parent / "fixtures" / "partners" / "media"
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "media": "http://search.yahoo.com/mrss/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "content": "http://purl.org/rss/1.0/modules/content/",
}
TYPES = {"xml": "application/rss+xml; charset=utf-8", "json": "application/feed+json"}


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory(ALLOW_PRIVATE_SOURCES=True, FETCH_TIMEOUT=2.0, FETCH_CONNECT_TIMEOUT=1.0)


def ingest(api: Api, httpserver: HTTPServer, name: str, language: str, partner: str) -> dict[str, Any]:
    content_type = TYPES["json" if name.endswith(".json") else "xml"]
    httpserver.expect_request(f"/{name}").respond_with_data(
        (MEDIA / name).read_bytes(), content_type=content_type
    )
    source = api.post(
        "/api/sources",
        {"url": httpserver.url_for(f"/{name}"), "language": language, "category": "events", "name": partner},
    ).get_json()
    result = fetch_now(api, source["id"])
    assert result["outcome"] == "new", result
    return source


def stored(app: Flask, source_id: int) -> tuple[list[Post], dict[int, list[PostEnclosure]], Source]:
    with app.app_context():
        session = db.session()
        posts = list(session.scalars(select(Post).where(Post.source_id == source_id).order_by(Post.id)))
        enclosures: dict[int, list[PostEnclosure]] = {p.id: [] for p in posts}
        for e in session.scalars(
            select(PostEnclosure)
            .where(PostEnclosure.post_id.in_(list(enclosures)))
            .order_by(PostEnclosure.post_id, PostEnclosure.position)
        ):
            enclosures[e.post_id].append(e)
        source = session.get(Source, source_id)
        assert source is not None
        session.expunge_all()
        return posts, enclosures, source


def feeds(client: FlaskClient, language: str) -> tuple[etree._Element, etree._Element, dict[str, Any]]:
    """The language's three feeds, each passing the strict checks."""
    documents = {}
    for fmt in ("rss", "atom", "json"):
        response = client.get(f"/{language}/feed.{fmt}")
        assert response.status_code == 200
        feedcheck.assert_valid(fmt, response.data)
        documents[fmt] = response.data
    return (
        etree.fromstring(documents["rss"]),
        etree.fromstring(documents["atom"]),
        json.loads(documents["json"]),
    )


def rss_item(rss: etree._Element, link: str) -> etree._Element:
    return next(i for i in rss.iterfind("channel/item") if i.findtext("link") == link)


def atom_entry(atom: etree._Element, link: str) -> etree._Element:
    return next(
        e
        for e in atom.iterfind("atom:entry", NS)
        if any(a.get("href") == link for a in e.iterfind("atom:link[@rel='alternate']", NS))
    )


def json_item(document: dict[str, Any], link: str) -> dict[str, Any]:
    return next(i for i in document["items"] if i["url"] == link)


def media_contents(element: etree._Element) -> list[dict[str, str]]:
    return [dict(m.attrib) for m in element.iterfind("media:content", NS)]


def credits(element: etree._Element) -> list[tuple[str | None, str]]:
    return [(c.get("role"), c.text or "") for c in element.iterfind("media:credit", NS)]


def test_podcast_audio_enclosures_rights_and_credit(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    source = ingest(api, httpserver, "podcast_rss.xml", "ru", "Радио Ташкент")
    posts, enclosures, row = stored(app, source["id"])
    episode = next(p for p in posts if p.url == "https://radio-tashkent.example/podcast/12/")
    assert [(e.url, e.type, e.length, e.medium) for e in enclosures[episode.id]] == [
        ("https://cdn.radio-tashkent.example/podcast/12.mp3", "audio/mpeg", 24986239, "audio")
    ]
    assert episode.rights == "© 2026 Радио Ташкент, CC BY-NC 4.0"
    assert episode.author == "Азиз Рахимов"
    assert episode.image_url == "https://radio-tashkent.example/podcast/12.jpg"  # the episode's artwork
    assert row.home_url == "https://radio-tashkent.example/podcast/"
    # The player survives without autoplay, its source made absolute.
    assert '<audio controls=""><source src="https://radio-tashkent.example/podcast/12.mp3"' in episode.content
    assert "autoplay" not in episode.content

    rss, atom, document = feeds(client, "ru")
    item = rss_item(rss, episode.url)
    enclosure = item.find("enclosure")
    assert enclosure is not None and dict(enclosure.attrib) == {
        "url": "https://cdn.radio-tashkent.example/podcast/12.mp3",
        "length": "24986239",
        "type": "audio/mpeg",
    }
    assert media_contents(item) == [
        {
            "url": "https://cdn.radio-tashkent.example/podcast/12.mp3",
            "type": "audio/mpeg",
            "medium": "audio",
            "fileSize": "24986239",
        }
    ]
    assert item.find("media:thumbnail", NS).get("url") == "https://radio-tashkent.example/podcast/12.jpg"
    assert item.findtext("dc:rights", namespaces=NS) == "© 2026 Радио Ташкент, CC BY-NC 4.0"
    assert item.findtext("dc:creator", namespaces=NS) == "Азиз Рахимов"
    assert item.find("source").get("url") == httpserver.url_for("/podcast_rss.xml")
    assert item.findtext("source") == "Радио Ташкент"

    entry = atom_entry(atom, episode.url)
    links = [dict(a.attrib) for a in entry.iterfind("atom:link[@rel='enclosure']", NS)]
    assert links == [
        {
            "rel": "enclosure",
            "type": "audio/mpeg",
            "length": "24986239",
            "href": "https://cdn.radio-tashkent.example/podcast/12.mp3",
        }
    ]
    assert entry.findtext("atom:rights", namespaces=NS) == "© 2026 Радио Ташкент, CC BY-NC 4.0"
    assert entry.findtext("atom:author/atom:name", namespaces=NS) == "Азиз Рахимов"
    source_element = entry.find("atom:source", NS)
    assert source_element.findtext("atom:title", namespaces=NS) == "Радио Ташкент"
    assert source_element.find("atom:link[@rel='self']", NS).get("href") == httpserver.url_for(
        "/podcast_rss.xml"
    )
    assert (
        source_element.find("atom:link[@rel='alternate']", NS).get("href")
        == "https://radio-tashkent.example/podcast/"
    )

    data = json_item(document, episode.url)
    assert data["attachments"] == [
        {
            "url": "https://cdn.radio-tashkent.example/podcast/12.mp3",
            "mime_type": "audio/mpeg",
            "size_in_bytes": 24986239,
        }
    ]
    assert data["image"] == "https://radio-tashkent.example/podcast/12.jpg"
    assert data["_rights"] == {"text": "© 2026 Радио Ташкент, CC BY-NC 4.0"}
    assert data["authors"] == [{"name": "Азиз Рахимов"}]
    assert data["_source"] == {
        "title": "Радио Ташкент",
        "feed_url": httpserver.url_for("/podcast_rss.xml"),
        "home_page_url": "https://radio-tashkent.example/podcast/",
    }

    # Length 0 (unknown) stays RSS's "0" and is left out where it is optional.
    other = next(p for p in posts if p.url.endswith("/11/"))
    assert rss_item(rss, other.url).find("enclosure").get("length") == "0"
    assert "length" not in atom_entry(atom, other.url).find("atom:link[@rel='enclosure']", NS).attrib
    assert "size_in_bytes" not in json_item(document, other.url)["attachments"][0]


def test_video_media_group_thumbnails_credits_and_embeds(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    source = ingest(api, httpserver, "video_mediagroup.xml", "en", "Tashkent TV")
    posts, enclosures, _ = stored(app, source["id"])
    [post] = posts
    video, still = enclosures[post.id]
    # The group's default rendition, with the group's thumbnail and credits.
    assert (video.url, video.type, video.length, video.medium, video.width, video.height) == (
        "https://cdn.tashkent-tv.example/navruz-720.mp4",
        "video/mp4",
        73400320,
        "video",
        1280,
        720,
    )
    assert (video.thumbnail_url, video.thumbnail_width, video.thumbnail_height) == (
        "https://cdn.tashkent-tv.example/navruz-thumb.jpg",
        640,
        360,
    )
    assert video.media_credits == [
        {"name": "Malika Yusupova", "role": "producer", "scheme": "urn:ebu"},
        {"name": "Timur Alimov", "role": "camera operator"},
    ]
    assert (still.url, still.medium, still.width, still.height, still.type) == (
        "https://cdn.tashkent-tv.example/navruz-still.jpg",
        "image",
        1920,
        1080,
        "image/jpeg",
    )
    assert still.media_credits == [{"name": "Dilshod Karimov", "role": "photographer"}]
    assert post.media_credits == [{"name": "Tashkent TV", "role": "publisher"}]
    assert post.rights == "© Tashkent TV 2026"  # item-level <copyright>
    # Embed kept sandboxed, other iframe a link, lazy image given its source, no empty paragraph.
    assert (
        '<iframe src="https://www.youtube.com/embed/NavRuz2026" width="560" height="315"'
        ' sandbox="allow-scripts allow-same-origin allow-presentation"'
        ' referrerpolicy="strict-origin-when-cross-origin" allowfullscreen=""></iframe>' in post.content
    )
    assert '<a href="https://ads.tracker.example/frame" rel="noopener noreferrer">' in post.content
    assert '<img src="https://tashkent-tv.example/img/navruz.jpg" alt="Sumalak">' in post.content
    assert "<p></p>" not in post.content

    rss, atom, document = feeds(client, "en")
    item = rss_item(rss, post.url)
    # The RSS enclosure is the video (first non-image); every file is in Media RSS.
    assert item.find("enclosure").get("url") == video.url
    assert item.find("enclosure").get("type") == "video/mp4"
    assert [m["url"] for m in media_contents(item)] == [video.url, still.url]
    video_media, still_media = item.iterfind("media:content", NS)
    assert (video_media.get("width"), video_media.get("height"), video_media.get("fileSize")) == (
        "1280",
        "720",
        "73400320",
    )
    thumbnail = video_media.find("media:thumbnail", NS)
    assert dict(thumbnail.attrib) == {
        "url": "https://cdn.tashkent-tv.example/navruz-thumb.jpg",
        "width": "640",
        "height": "360",
    }
    assert credits(video_media) == [("producer", "Malika Yusupova"), ("camera operator", "Timur Alimov")]
    assert video_media.find("media:credit", NS).get("scheme") == "urn:ebu"
    assert (still_media.get("medium"), still_media.get("width"), still_media.get("height")) == (
        "image",
        "1920",
        "1080",
    )
    assert credits(still_media) == [("photographer", "Dilshod Karimov")]
    assert credits(item) == [("publisher", "Tashkent TV")]
    assert item.findtext("dc:rights", namespaces=NS) == "© Tashkent TV 2026"
    # Feeds link to the player: validators call any iframe a security risk.
    description = item.findtext("content:encoded", namespaces=NS) or ""
    assert "<iframe" not in description
    assert (
        '<a href="https://www.youtube.com/embed/NavRuz2026" rel="noopener noreferrer">'
        "https://www.youtube.com/embed/NavRuz2026</a>" in description
    )

    entry = atom_entry(atom, post.url)
    assert [a.get("href") for a in entry.iterfind("atom:link[@rel='enclosure']", NS)] == [
        video.url,
        still.url,
    ]
    assert [m["url"] for m in media_contents(entry)] == [video.url, still.url]
    assert credits(entry.find("media:content", NS)) == [
        ("producer", "Malika Yusupova"),
        ("camera operator", "Timur Alimov"),
    ]
    assert entry.findtext("atom:rights", namespaces=NS) == "© Tashkent TV 2026"

    data = json_item(document, post.url)
    assert data["attachments"] == [
        {
            "url": video.url,
            "mime_type": "video/mp4",
            "size_in_bytes": 73400320,
            "_media": {
                "width": 1280,
                "height": 720,
                "thumbnail": {
                    "url": "https://cdn.tashkent-tv.example/navruz-thumb.jpg",
                    "width": 640,
                    "height": 360,
                },
                "credits": [
                    {"name": "Malika Yusupova", "role": "producer", "scheme": "urn:ebu"},
                    {"name": "Timur Alimov", "role": "camera operator"},
                ],
            },
        },
        {
            "url": still.url,
            "mime_type": "image/jpeg",
            "_media": {
                "width": 1920,
                "height": 1080,
                "credits": [{"name": "Dilshod Karimov", "role": "photographer"}],
            },
        },
    ]
    assert data["_media"] == {"credits": [{"name": "Tashkent TV", "role": "publisher"}]}
    assert "<iframe" not in data["content_html"]


def test_atom_enclosure_links_of_every_type(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    source = ingest(api, httpserver, "atom_enclosures.xml", "en", "Samarkand Heritage")
    [post], enclosures, row = stored(app, source["id"])
    assert [(e.url, e.type, e.length, e.medium) for e in enclosures[post.id]] == [
        (
            "https://samarkand-heritage.example/files/registan-report.pdf",
            "application/pdf",
            1048576,
            "document",
        ),
        ("https://samarkand-heritage.example/img/registan.jpg", "image/jpeg", 204800, "image"),
        ("https://samarkand-heritage.example/audio/guide.ogg", "audio/ogg", 0, "audio"),
    ]
    assert post.rights == "CC BY-SA 4.0 — Samarkand Heritage Trust"
    assert post.author == "Nodira Saidova"
    assert row.home_url == "https://samarkand-heritage.example/"
    assert '<table><caption>Works</caption><tbody><tr><th scope="col">Madrasa</th>' in post.content
    assert 'src="https://samarkand-heritage.example/img/registan-1280.jpg"' in post.content  # srcset only
    assert "<figcaption>Registan at dawn</figcaption>" in post.content

    rss, atom, document = feeds(client, "en")
    item = rss_item(rss, post.url)
    # First non-image: the PDF report.
    assert item.find("enclosure").get("url") == "https://samarkand-heritage.example/files/registan-report.pdf"
    assert [(m["medium"], m["type"]) for m in media_contents(item)] == [
        ("document", "application/pdf"),
        ("image", "image/jpeg"),
        ("audio", "audio/ogg"),
    ]
    entry = atom_entry(atom, post.url)
    assert [
        (a.get("type"), a.get("length"), a.get("href"))
        for a in entry.iterfind("atom:link[@rel='enclosure']", NS)
    ] == [
        ("application/pdf", "1048576", "https://samarkand-heritage.example/files/registan-report.pdf"),
        ("image/jpeg", "204800", "https://samarkand-heritage.example/img/registan.jpg"),
        ("audio/ogg", None, "https://samarkand-heritage.example/audio/guide.ogg"),
    ]
    assert entry.findtext("atom:rights", namespaces=NS) == "CC BY-SA 4.0 — Samarkand Heritage Trust"
    data = json_item(document, post.url)
    assert [(a["mime_type"], a.get("size_in_bytes")) for a in data["attachments"]] == [
        ("application/pdf", 1048576),
        ("image/jpeg", 204800),
        ("audio/ogg", None),
    ]
    assert data["image"] == "https://samarkand-heritage.example/img/registan.jpg"


def test_json_feed_attachments_and_image(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    source = ingest(api, httpserver, "jsonfeed_attachments.json", "uz", "Bukhara Sounds")
    [post], enclosures, row = stored(app, source["id"])
    assert [(e.url, e.type, e.length, e.medium) for e in enclosures[post.id]] == [
        ("https://bukhara-sounds.example/audio/7.m4a", "audio/x-m4a", 31457280, "audio"),
        ("https://bukhara-sounds.example/video/7.mp4", "video/mp4", 104857600, "video"),
    ]
    assert post.image_url == "https://bukhara-sounds.example/img/7.jpg"
    assert post.author == "Gulnora Ergasheva, Jasur Qodirov"
    assert row.home_url == "https://bukhara-sounds.example/"
    assert '<p dir="rtl" lang="fa">' in post.content
    assert '<video poster="https://bukhara-sounds.example/img/7-poster.jpg" controls="">' in post.content

    rss, atom, document = feeds(client, "uz")
    item = rss_item(rss, post.url)
    assert item.find("enclosure").get("url") == "https://bukhara-sounds.example/audio/7.m4a"
    assert [m["url"] for m in media_contents(item)] == [e.url for e in enclosures[post.id]]
    # The item's picture is none of its files: a Media RSS thumbnail of the item.
    assert item.find("media:thumbnail", NS).get("url") == "https://bukhara-sounds.example/img/7.jpg"
    entry = atom_entry(atom, post.url)
    assert len(entry.findall("atom:link[@rel='enclosure']", NS)) == 2
    data = json_item(document, post.url)
    assert data["image"] == "https://bukhara-sounds.example/img/7.jpg"
    assert data["attachments"] == [
        {
            "url": "https://bukhara-sounds.example/audio/7.m4a",
            "mime_type": "audio/x-m4a",
            "size_in_bytes": 31457280,
        },
        {
            "url": "https://bukhara-sounds.example/video/7.mp4",
            "mime_type": "video/mp4",
            "size_in_bytes": 104857600,
        },
    ]
    assert '<p dir="rtl" lang="fa">' in data["content_html"]


def test_changed_enclosures_replace_the_stored_ones_and_change_the_feeds(
    api: Api, client: FlaskClient, categories: list[str], httpserver: HTTPServer, app: Flask
) -> None:
    body = (MEDIA / "podcast_rss.xml").read_bytes()
    httpserver.expect_ordered_request("/podcast").respond_with_data(body, content_type=TYPES["xml"])
    edited = body.replace(b"/podcast/12.mp3", b"/podcast/12-remastered.mp3")
    httpserver.expect_ordered_request("/podcast").respond_with_data(edited, content_type=TYPES["xml"])
    source = api.post(
        "/api/sources", {"url": httpserver.url_for("/podcast"), "language": "ru", "category": "events"}
    ).get_json()
    assert fetch_now(api, source["id"])["outcome"] == "new"
    before = client.get("/ru/feed.rss")
    result = fetch_now(api, source["id"])
    assert result["outcome"] == "updated" and result["updated"] == 1
    posts, enclosures, _ = stored(app, source["id"])
    episode = next(p for p in posts if p.url.endswith("/12/"))
    assert [e.url for e in enclosures[episode.id]] == [
        "https://cdn.radio-tashkent.example/podcast/12-remastered.mp3"
    ]
    after = client.get("/ru/feed.rss", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert b"12-remastered.mp3" in after.data


def test_own_posts_keep_their_image_enclosure(api: Api, client: FlaskClient, categories: list[str]) -> None:
    response = api.post(
        "/api/posts",
        {
            "language": "ru",
            "title": "Своя новость",
            "content": "<p>Текст</p>",
            "categories": ["events"],
            "image_url": "https://news.example.uz/img/own.jpg",
        },
    )
    assert response.status_code == 201, response.get_json()
    rss, atom, document = feeds(client, "ru")
    [item] = rss.iterfind("channel/item")
    assert item.find("enclosure").get("url") == "https://news.example.uz/img/own.jpg"
    assert media_contents(item) == [
        {"url": "https://news.example.uz/img/own.jpg", "type": "image/jpeg", "medium": "image"}
    ]
    assert item.find("source") is None and item.find("media:thumbnail", NS) is None
    [entry] = atom.iterfind("atom:entry", NS)
    assert entry.find("atom:link[@rel='enclosure']", NS).get("href") == "https://news.example.uz/img/own.jpg"
    assert entry.find("atom:source", NS) is None
    [data] = document["items"]
    assert data["attachments"] == [{"url": "https://news.example.uz/img/own.jpg", "mime_type": "image/jpeg"}]
    assert "_source" not in data and "_rights" not in data
