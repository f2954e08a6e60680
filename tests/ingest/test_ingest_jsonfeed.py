"""JSON Feed 1.0 and 1.1 through parse_feed: same output types as RSS/Atom."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from feedsvc.ingest.reader import FeedHints, Image, ParsedFeed, ParseError, parse_feed

Load = Callable[[str], bytes]
JSON = {"Content-Type": "application/feed+json"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def parse(body: bytes, url: str, headers: dict[str, str] | None = None) -> ParsedFeed:
    return parse_feed(
        body,
        JSON if headers is None else headers,
        url,
        default_tz=ZoneInfo("Asia/Tashkent"),
        now=utc(2026, 3, 6),
    )


def test_json_feed_1_1(load: Load) -> None:
    feed = parse(load("jsonfeed11.json"), "https://samtech.example/feed.json")
    assert feed.format == "json11"
    assert (feed.title, feed.link, feed.self_url) == (
        "Samarkand Tech Digest",
        "https://samtech.example/",
        "https://samtech.example/feed.json",
    )
    assert feed.description == "Startups, IT Park and digital government in Uzbekistan"
    assert (feed.language, feed.icon) == ("en", "https://samtech.example/icon-512.png")
    assert feed.hints == FeedHints(websub_hub="https://hub.samtech.example/")
    assert feed.bozo is None
    exports, note = feed.items
    assert exports.key == exports.guid == exports.link == "https://samtech.example/2026/03/it-park-residents"
    assert exports.title == "IT Park residents exported $1.1bn of services in 2025"
    assert exports.content_html == (
        "<p>Exports grew by <b>60%</b> year on year.</p><p>"
        '<a href="https://samtech.example/2026/01/it-park-2024" rel="noopener noreferrer">'
        "Last year's figures</a></p>"
    )
    assert exports.summary_html == "<p>Exports grew by 60% year on year.</p>"
    assert (exports.published, exports.updated) == (utc(2026, 3, 5, 4, 0), utc(2026, 3, 5, 7, 30))
    assert exports.author == "Javlon Rashidov"
    assert exports.categories == ("IT Park", "exports")
    assert exports.image == Image("https://samtech.example/img/it-park.jpg", "image/jpeg", None)
    # A title-less micro post: title derived from the text, paragraphs kept.
    assert note.key == "note-2026-03-04-01" and note.link is None
    assert note.title.startswith("Reminder: the Samarkand hackathon registration closes on Friday.")
    assert note.content_html == (
        "<p>Reminder: the Samarkand hackathon registration closes on Friday.</p>"
        "<p>Teams of up to four people can apply.</p>"
    )
    assert note.image == Image("https://samtech.example/img/hackathon.png", "image/png", 52100)


def test_json_feed_1_0(load: Load) -> None:
    feed = parse(load("jsonfeed10.json"), "https://bukhara-notes.example/feed.json")
    assert feed.format == "json10"
    hauz, ark = feed.items
    assert hauz.key == hauz.guid == "2043"  # a number in the feed, a string for us
    assert hauz.author == "Nodira Saidova"
    assert hauz.image == Image("https://bukhara-notes.example/img/lyabi-hauz.jpg", "image/jpeg", None)
    assert hauz.published == utc(2026, 3, 1, 5, 0)
    assert ark.link == "https://bukhara-notes.example/posts/ark-fortress-tickets"  # relative, resolved
    assert ark.content_html == "<p>Entry now costs 50,000 sum for foreign visitors.</p>"


def test_detected_by_the_leading_brace_whatever_the_content_type(load: Load) -> None:
    body = load("jsonfeed11.json")
    for headers in ({"Content-Type": "text/plain"}, {"content-type": "application/octet-stream"}, {}):
        assert parse(body, "https://samtech.example/feed.json", headers).format == "json11"
    with_bom = b"\xef\xbb\xbf  \n" + body
    assert parse(with_bom, "https://samtech.example/feed.json").format == "json11"


def test_wrong_types_are_skipped_and_recorded() -> None:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": ["not", "a", "string"],
        "items": [
            "not an object",
            {"id": True, "url": "javascript:alert(1)", "title": 42, "content_html": {"x": 1}, "tags": "news"},
            {"id": "ok-1", "title": "Toshkent", "date_published": "not a date", "image": 5},
        ],
    }
    feed = parse(json.dumps(document).encode(), "https://partner.example/feed.json")
    assert feed.title == ""
    assert feed.bozo == "1 item(s) are not objects and were skipped; tags is not a list"
    (ok,) = feed.items  # the item with nothing usable is gone
    assert (ok.key, ok.title, ok.published, ok.image) == ("ok-1", "Toshkent", None, None)


def test_expired_feed_is_flagged_for_the_scheduler() -> None:
    body = json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "Archive", "expired": True, "items": []}
    ).encode()
    feed = parse(body, "https://partner.example/feed.json")
    assert feed.hints.expired is True and feed.items == []


def test_lenient_about_the_version_when_items_are_there() -> None:
    body = json.dumps({"title": "Old", "items": [{"id": "1", "title": "x"}]}).encode()
    feed = parse(body, "https://partner.example/feed.json")
    assert feed.format == "json"
    assert feed.bozo == "missing or unknown JSON Feed version"
    assert [i.key for i in feed.items] == ["1"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not a JSON Feed|nested too deeply"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
        (b"[]", "the top level is list"),
        (b'"https://jsonfeed.org/version/1.1"', "the top level is str"),
        (b'{"version": "1.0", "data": []}', "no JSON Feed version and no items list"),
        (b'{"items": 1' + b"0" * 5000 + b"}", "invalid JSON|not a JSON Feed"),
    ],
)
def test_json_that_is_not_a_feed(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(body, "https://partner.example/feed.json")
