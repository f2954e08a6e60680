"""Posts written through the API come back, field for field, from every feed the service serves, and
every document passes the strict validity checks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import feedparser
import pytest
from flask.testing import FlaskClient

import feedsvc.write
from feedsvc.models import utcnow
from tests.feedcheck import assert_valid
from tests.helpers import BASE_URL, Api

FORMAT_OF = {"rss": "rss", "atom": "atom", "json": "json"}


@pytest.fixture
def posts(api: Api, categories: list[str]) -> dict[str, dict]:
    en = api.post(
        "/api/posts",
        {
            "title": "Tashkent opens two metro stations & a bridge",
            "language": "en",
            "categories": ["events", "economy"],
            "content": '<p>Two <b>new</b> stations.</p><p><a href="https://metro.example.uz/map">Map</a></p>',
            "author": "Newsroom",
            "published_at": "2026-11-20T09:15:00+05:00",
            "image_url": "https://static.example.uz/img/metro.jpg",
        },
    ).get_json()
    ru = api.post(
        "/api/posts",
        {
            "title": "В Ташкенте открылись две станции метро",
            "language": "ru",
            "categories": ["events"],
            "content": "<p>Две новые станции.\x0b</p>",
            "summary": "Коротко о метро.",
            "published_at": "2026-11-20T09:20:00+05:00",
            "translation_of": en["id"],
        },
    ).get_json()
    uz = api.post(
        "/api/posts",
        {
            "title": "Toshkentda ikkita metro bekati ochildi: yo‘l va ko‘prik",
            "language": "uz",
            "categories": ["events"],
            "content": "<p>Ikkita yangi bekat, bog‘ yonida.</p>",
            "author": "Tahririyat",
            "published_at": "2026-11-20T09:25:00+05:00",
            "translation_of": en["id"],
        },
    ).get_json()
    politics = api.post(
        "/api/posts",
        {
            "title": "Parliament passes open data law",
            "language": "en",
            "categories": ["politics"],
            "content": "<p>" + "Law text. " * 80 + "</p>",
            "published_at": "2026-11-21T12:00:00Z",
            "url": "https://partner.example.com/open-data",
        },
    ).get_json()
    return {"en": en, "ru": ru, "uz": uz, "politics": politics}


PATHS = [
    "/feed",
    "/en/feed",
    "/ru/feed",
    "/uz/feed",
    "/en/events/feed",
    "/ru/events/feed",
    "/uz/events/feed",
    "/en/politics/feed",
    "/en/economy/feed",
    "/ru/politics/feed",
]


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
@pytest.mark.parametrize("path", PATHS)
def test_every_feed_is_valid(client: FlaskClient, posts: dict, path: str, fmt: str) -> None:
    url = f"{path}.{fmt}"
    hubs = [f"{BASE_URL}/websub"]  # our own hub, on by default
    body = client.get(url).data
    assert_valid(FORMAT_OF[fmt], body, self_url=f"{BASE_URL}{url}", hubs=hubs)
    limited = client.get(url + "?limit=2").data
    assert_valid(FORMAT_OF[fmt], limited, self_url=f"{BASE_URL}{url}?limit=2", hubs=hubs)


def test_opml_is_valid(client: FlaskClient, posts: dict) -> None:
    assert_valid("opml", client.get("/feeds.opml").data)


def parse(client: FlaskClient, url: str) -> feedparser.FeedParserDict:
    return feedparser.parse(client.get(url).data)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_round_trip_field_for_field(client: FlaskClient, api: Api, posts: dict, fmt: str) -> None:
    url = f"/feed.{fmt}"
    if fmt == "json":
        entries = {e["id"]: e for e in client.get(url).get_json()["items"]}
    else:
        entries = {e.id: e for e in parse(client, url).entries}
    assert len(entries) == 4
    for post in posts.values():
        stored = api.get(f"/api/posts/{post['id']}").get_json()
        entry = entries[stored["guid"]]
        if fmt == "json":
            assert entry["title"] == stored["title"]
            assert entry["url"] == stored["link"]
            assert entry["content_html"] == stored["content"]
            assert entry["summary"] == stored["summary"]
            assert when(entry["date_published"]) == when(stored["published_at"])
            assert when(entry["date_modified"]) == when(stored["updated_at"])
            assert entry["language"] == stored["language"]
            assert [a["name"] for a in entry.get("authors", [])] == (
                [stored["author"]] if stored["author"] else []
            )
            assert sorted(entry.get("tags", [])) == sorted(_labels(api, stored))
            if stored["image_url"]:
                assert entry["image"] == stored["image_url"]
            continue
        assert entry.title == stored["title"]
        assert entry.link == stored["link"]
        assert entry.summary == stored["summary"] if fmt == "atom" else entry.summary
        content = entry.content[0].value
        assert content == stored["content"]
        assert datetime(*entry.published_parsed[:6]).isoformat() == when(stored["published_at"]).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
        if fmt == "atom":
            assert datetime(*entry.updated_parsed[:6]).isoformat() == when(stored["updated_at"]).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
        assert entry.get("author") == stored["author"]
        assert sorted(t.term for t in entry.get("tags", [])) == sorted(_terms(fmt, api, stored))
        if stored["image_url"]:
            images = [link.href for link in entry.get("links", []) if link.get("rel") == "enclosure"]
            images += [m["url"] for m in entry.get("media_content", [])]
            assert stored["image_url"] in images
        if fmt == "atom":
            alternates = {link.get("hreflang"): link.href for link in entry.links if link.rel == "alternate"}
            for t in stored["translations"]:
                assert alternates[t["language"]] == t["link"]


def _labels(api: Api, post: dict) -> list[str]:
    cats = {c["slug"]: c["names"] for c in api.get("/api/categories").get_json()}
    return [cats[slug][post["language"]] for slug in post["categories"]]


def _terms(fmt: str, api: Api, post: dict) -> list[str]:
    # Atom keeps the slug as term (label carries the name); RSS carries the name.
    return post["categories"] if fmt == "atom" else _labels(api, post)


def test_same_items_in_all_formats(client: FlaskClient, posts: dict) -> None:
    for path in PATHS:
        rss = [e.id for e in parse(client, f"{path}.rss").entries]
        atom = [e.id for e in parse(client, f"{path}.atom").entries]
        js = [i["id"] for i in client.get(f"{path}.json").get_json()["items"]]
        assert rss == atom == js, path


def test_languages_marked(client: FlaskClient, posts: dict) -> None:
    ru = client.get("/ru/feed.atom").get_data(as_text=True)
    assert 'xml:lang="ru"' in ru
    mixed = client.get("/feed.atom").get_data(as_text=True)
    for lang in ("en", "ru", "uz"):
        assert f'xml:lang="{lang}"' in mixed
    feed = client.get("/feed.json").get_json()
    assert "language" not in feed and {i["language"] for i in feed["items"]} == {"en", "ru", "uz"}
    assert client.get("/uz/feed.json").get_json()["language"] == "uz"
    assert parse(client, "/ru/feed.rss").feed.language == "ru"


def test_titles_in_feed_language(client: FlaskClient, posts: dict) -> None:
    assert parse(client, "/ru/events/feed.rss").feed.title == "Tashkent News — События"
    assert parse(client, "/uz/events/feed.atom").feed.title == "Tashkent News — Voqealar"
    assert client.get("/uz/feed.json").get_json()["title"] == "Tashkent News — O‘zbekcha"
    rss = client.get("/ru/events/feed.rss").get_data(as_text=True)
    assert f'<atom:link href="{BASE_URL}/ru/events/feed.rss" rel="self" type="application/rss+xml"/>' in rss


def test_guid_stable_when_edited(
    client: FlaskClient, api: Api, posts: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    guid = posts["ru"]["guid"]
    before = {e.id: e for e in parse(client, "/ru/feed.atom").entries}[guid]
    # The edit happens a few seconds later (feed dates have whole seconds), by the clock posts use.
    monkeypatch.setattr(feedsvc.write, "utcnow", lambda: utcnow() + timedelta(seconds=5))
    api.patch(f"/api/posts/{posts['ru']['id']}", {"title": "Станции метро открыты"})
    after = {e.id: e for e in parse(client, "/ru/feed.atom").entries}[guid]
    assert after.title == "Станции метро открыты"
    assert after.updated_parsed > before.updated_parsed and after.published_parsed == before.published_parsed
    assert json.loads(client.get("/ru/feed.json").data)["items"][0]["id"] == guid
