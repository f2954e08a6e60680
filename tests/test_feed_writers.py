"""The RSS, Atom, JSON Feed and OPML writers: validity, round trips and the feedgen pitfalls."""

from __future__ import annotations

import dataclasses
import html
import json
import locale
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import feedgen.entry
import feedgen.feed
import feedparser
import lxml.html
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc.feeds import (
    FORMATS,
    OPML_CONTENT_TYPE,
    Alternate,
    AtomWriter,
    Category,
    Feed,
    FeedWriter,
    Image,
    Item,
    JsonFeedWriter,
    OpmlOutline,
    RssWriter,
    SourceRef,
    render_opml,
    writer_for,
)
from feedsvc.feeds.base import as_uri, clean_text, rfc822, rfc3339
from tests import feedcheck

SITE = "https://gazeta.example.uz"
T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
FORMAT_NAMES = ("rss", "atom", "json")
ATOM = "{http://www.w3.org/2005/Atom}"

UZ_TITLE = "O‘zbekiston bo‘ylab g‘alaba: Toshkentda yangi bog‘"  # o‘/g‘ with U+2018
RU_TITLE = "Новости Ташкента: открытие нового парка"
EN_TITLE = "Tashkent opens a new park"
TITLES = {"uz": UZ_TITLE, "ru": RU_TITLE, "en": EN_TITLE}
LABELS = {"uz": "Tadbirlar", "ru": "События", "en": "Events"}
AUTHORS = {"uz": "Dilnoza Yo‘ldosheva", "ru": "Иван Петров", "en": "Jane Doe"}


def guid(number: int) -> str:
    return f"urn:uuid:{uuid.UUID(int=number, version=4)}"


def make_item(number: int, language: str = "uz", **changes: Any) -> Item:
    """A complete item; ``changes`` replace fields (e.g. image=None)."""
    url = f"{SITE}/{language}/news/{number}-post"
    others = [code for code in ("uz", "ru", "en") if code != language]
    item = Item(
        guid=guid(number),
        url=url,
        title=f"{TITLES[language]} #{number}",
        summary=f"{TITLES[language]} — qisqacha / кратко / in short {number}.",
        content_html=(
            f"<p>{html.escape(TITLES[language])} <strong>{number}</strong> "
            f'<a href="{url}#more">havola</a>.</p>'
            f'<p><img src="{SITE}/media/{number}.jpg" alt="rasm"></p>'
        ),
        published=T0 - timedelta(hours=number),
        updated=T0 - timedelta(hours=number) + timedelta(minutes=7),
        language=language,
        author=AUTHORS[language],
        categories=(Category("events", LABELS[language], f"{SITE}/{language}/events"),),
        image=Image(f"{SITE}/media/{number}.jpg", "image/jpeg", 48_213),
        alternates=tuple(
            Alternate(code, f"{SITE}/{code}/news/{number}-post", TITLES[code]) for code in others
        ),
    )
    return dataclasses.replace(item, **changes)


def make_feed(items: list[Item], language: str | None = "uz", **changes: Any) -> Feed:
    scope = language or "all"
    feed = Feed(
        title=f"Gazeta — {LABELS.get(language or '', 'Barcha yangiliklar')}",
        description="Toshkentdan yangiliklar / Новости Ташкента / News from Tashkent",
        home_url=f"{SITE}/{scope}/events" if language else f"{SITE}/",
        self_url=f"{SITE}/feeds/{scope}/events.rss",
        language=language,
        updated=T0 + timedelta(minutes=10),
        feed_id=f"{SITE}/feeds/{scope}/events",
        icon_url=f"{SITE}/static/icon.png",
        items=items,
    )
    return dataclasses.replace(feed, **changes)


def for_format(feed: Feed, format_name: str) -> Feed:
    """The feed as served in one format: self_url is that document's own URL."""
    return dataclasses.replace(feed, self_url=re.sub(r"\.\w+$", f".{format_name}", feed.self_url))


def category_feed() -> Feed:
    return make_feed([make_item(n, "uz") for n in range(1, 4)], language="uz")


def site_feed() -> Feed:
    """Every language; one partner item."""
    items = [make_item(1, "en"), make_item(2, "ru"), make_item(3, "uz")]
    items.append(
        make_item(
            4,
            "ru",
            url="https://partner.example.uz/ru/2024/05/статья",
            source=SourceRef("Partner News", "https://partner.example.uz/rss"),
            alternates=(),
        )
    )
    return make_feed(items, language=None)


def empty_feed() -> Feed:
    return make_feed([], language="en")


def varied_feed() -> Feed:
    """Items with and without image, author, translations and source, and a length-less image."""
    items = [
        make_item(1, "en", image=None),
        make_item(2, "en", author=None),
        make_item(3, "en", alternates=()),
        make_item(4, "en", image=Image(f"{SITE}/media/4.png", "image/png", 0)),
        make_item(5, "en", categories=(), image=None, author=None, alternates=()),
        # Written the way an admin might type it; Atom ids must be in canonical form.
        make_item(6, "en", source=SourceRef("Partner", "HTTPS://Partner.Example.uz:443/feed.atom")),
        make_item(7, "ru"),  # another language inside an English feed
        make_item(8, "en", summary="", content_html=""),
        make_item(9, "en", title="  ", summary="Only a summary here."),
    ]
    return make_feed(items, language="en")


HOSTILE = "Tom & Jerry <b>bold</b> ]]> a<b \x0b\x00\x1f\x7f\x85 ₩ \ufffe x</p> &amp; &#38; &copy"


def hostile_feed() -> Feed:
    hostile_html = f"<p>{html.escape(HOSTILE)}</p>]]&gt;<p>\x0b\x00 &lt;script&gt;</p>"
    items = [
        make_item(
            1,
            "en",
            title=HOSTILE,
            summary=HOSTILE + "\nsecond line\r\n",
            content_html=hostile_html,
            author="Eve <b>Hacker</b> & Co",
            categories=(Category("hostile", "R&D </i> ]]>", f"{SITE}/en/hostile"),),
            alternates=(Alternate("ru", f"{SITE}/ru/news/1", "Том & Джерри </b>\x0b"),),
            source=SourceRef("Partner & Sons </a>", "https://partner.example.uz/rss"),
        ),
        make_item(2, "en", content_html='<p>Relative <a href="/en/other">link</a> <img src="pic.jpg"></p>'),
    ]
    return make_feed(items, language="en", title="Gazeta & Co </b> \x0c", description="&lt; ok & fine ]]>")


FEEDS = {
    "category": category_feed,
    "site": site_feed,
    "empty": empty_feed,
    "varied": varied_feed,
    "hostile": hostile_feed,
}


def render(format_name: str, feed: Feed) -> bytes:
    return FORMATS[format_name].render(for_format(feed, format_name))


def html_digest(fragment: str) -> tuple[str, list[tuple[str, list[tuple[str, str]]]]]:
    """Text and elements of an HTML fragment, ignoring attribute order, rel and self-closing style."""
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    elements = [
        (el.tag, sorted((k, v) for k, v in el.attrib.items() if k != "rel"))
        for el in root.iterdescendants()
        if isinstance(el.tag, str)
    ]
    return root.text_content(), elements


# --- registry ----------------------------------------------------------------------------------


def test_registry_and_content_types() -> None:
    assert set(FORMATS) == {"rss", "atom", "json"}
    assert isinstance(FORMATS["rss"], RssWriter)
    assert isinstance(FORMATS["atom"], AtomWriter)
    assert isinstance(FORMATS["json"], JsonFeedWriter)
    for name, writer in FORMATS.items():
        assert isinstance(writer, FeedWriter)
        assert writer.name == writer.suffix == name
        assert writer_for(name) is writer
        assert writer_for(f".{name.upper()}") is writer
    assert FORMATS["rss"].content_type == "application/rss+xml; charset=utf-8"
    assert FORMATS["atom"].content_type == "application/atom+xml; charset=utf-8"
    assert FORMATS["json"].content_type == "application/feed+json; charset=utf-8"
    assert OPML_CONTENT_TYPE == "text/x-opml; charset=utf-8"
    assert writer_for("xml") is None
    assert writer_for("") is None


# --- validity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", FEEDS)
@pytest.mark.parametrize("format_name", FORMAT_NAMES)
def test_documents_are_valid(format_name: str, case: str) -> None:
    feed = for_format(FEEDS[case](), format_name)
    data = FORMATS[format_name].render(feed)
    assert feedcheck.check(format_name, data, self_url=feed.self_url) == []


@pytest.mark.parametrize("format_name", ("rss", "atom"))
def test_xml_documents_declare_utf8(format_name: str) -> None:
    data = render(format_name, category_feed())
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n")
    data.decode("utf-8")


@pytest.mark.parametrize("format_name", FORMAT_NAMES)
def test_uzbek_and_cyrillic_survive_byte_exact(format_name: str) -> None:
    data = render(format_name, site_feed())
    for text in (UZ_TITLE, RU_TITLE, AUTHORS["uz"], LABELS["ru"]):
        assert text.encode("utf-8") in data, text
    assert b"&#" not in data.replace(b"&#x26;", b"").replace(b"&#x3C;", b"")


def test_non_ascii_urls_are_percent_encoded() -> None:
    feed = site_feed()
    partner = "https://partner.example.uz/ru/2024/05/%D1%81%D1%82%D0%B0%D1%82%D1%8C%D1%8F"
    for format_name in FORMAT_NAMES:
        assert partner.encode() in render(format_name, feed)


# --- round trips -------------------------------------------------------------------------------


def _enclosure(links: list[dict[str, Any]]) -> dict[str, Any]:
    (enclosure,) = [link for link in links if link.get("rel") == "enclosure"]
    return enclosure


def _assert_common(entry: Any, item: Item) -> None:
    assert entry.id == item.guid
    assert entry.title == item.title
    assert entry.author == item.author
    assert entry.published_parsed == item.published.utctimetuple()
    assert entry.updated_parsed == item.updated.utctimetuple()
    assert html_digest(entry.content[0].value) == html_digest(item.content_html)
    assert item.image is not None
    enclosure = _enclosure(entry.links)
    assert (enclosure["href"], enclosure["type"]) == (item.image.url, item.image.mime_type)
    assert entry.media_content == [
        {
            "url": item.image.url,
            "type": item.image.mime_type,
            "medium": "image",
            "filesize": str(item.image.length),
        }
    ]


def test_rss_round_trip() -> None:
    feed = site_feed()
    parsed = feedparser.parse(render("rss", feed))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == feed.title
    assert parsed.feed.link == feed.home_url
    assert "language" not in parsed.feed
    assert len(parsed.entries) == len(feed.items)
    for entry, item in zip(parsed.entries, feed.items, strict=True):
        _assert_common(entry, item)
        assert entry.link == as_uri(item.url)
        assert entry.guidislink is False
        assert html.unescape(entry.summary) == item.summary
        assert entry.language == item.language
        assert [(tag.term, tag.scheme) for tag in entry.tags] == [
            (c.label, c.scheme) for c in item.categories
        ]
        assert _enclosure(entry.links)["length"] == str(item.image.length)
        translations = [link for link in entry.links if link.get("rel") == "related"]
        assert [(t.hreflang, t.href, t.title) for t in translations] == [
            (a.language, a.url, a.title) for a in item.alternates
        ]
        if item.source is not None:
            assert entry.source == {"href": item.source.url, "title": item.source.name}


def test_atom_round_trip() -> None:
    feed = site_feed()
    parsed = feedparser.parse(render("atom", feed))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == feed.title
    assert parsed.feed.id == feed.feed_id
    assert parsed.feed.author == feed.title
    for entry, item in zip(parsed.entries, feed.items, strict=True):
        _assert_common(entry, item)
        assert entry.summary == item.summary
        assert entry.link == as_uri(item.url)
        main = entry.links[0]
        assert (main.rel, main.type, main.hreflang, main.href) == (
            "alternate",
            "text/html",
            item.language,
            as_uri(item.url),
        )
        translations = [link for link in entry.links[1:] if link.rel == "alternate" and "hreflang" in link]
        assert [(t.hreflang, t.href, t.title) for t in translations] == [
            (a.language, a.url, a.title) for a in item.alternates
        ]
        assert entry.title_detail.language == item.language
        assert [(t.term, t.scheme, t.label) for t in entry.tags] == [
            (c.slug, c.scheme, c.label) for c in item.categories
        ]
        assert _enclosure(entry.links)["length"] == str(item.image.length)
        if item.source is not None:
            assert entry.source.id == item.source.url
            assert entry.source.title == item.source.name
            assert entry.source.links[0].href == item.source.url


def test_json_round_trip() -> None:
    feed = site_feed()
    document = json.loads(render("json", feed))
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"] == feed.title
    assert document["home_page_url"] == feed.home_url
    assert document["feed_url"] == for_format(feed, "json").self_url
    assert "language" not in document
    for data, item in zip(document["items"], feed.items, strict=True):
        assert item.image is not None
        assert data["id"] == item.guid
        assert data["url"] == as_uri(item.url)  # IRIs are written as URIs
        assert data["title"] == item.title
        assert data["summary"] == item.summary
        assert data["content_html"] == item.content_html
        assert datetime.fromisoformat(data["date_published"]) == item.published
        assert datetime.fromisoformat(data["date_modified"]) == item.updated
        assert data["language"] == item.language
        assert data["authors"] == [{"name": item.author}]
        assert data["tags"] == [c.label for c in item.categories]
        assert data["image"] == item.image.url
        assert data["attachments"] == [
            {"url": item.image.url, "mime_type": item.image.mime_type, "size_in_bytes": item.image.length}
        ]
        assert data.get("_translations", {}) == {
            a.language: {"url": a.url, "title": a.title} for a in item.alternates
        }
        if item.source is not None:
            assert data["_source"] == {"title": item.source.name, "feed_url": item.source.url}


def _guids(format_name: str, data: bytes) -> list[str]:
    if format_name == "json":
        return [item["id"] for item in json.loads(data)["items"]]
    root = etree.fromstring(data)
    if format_name == "rss":
        return [el.text for el in root.iter("guid")]
    return [entry.findtext(f"{ATOM}id") for entry in root.iter(f"{ATOM}entry")]


def _instants(format_name: str, data: bytes) -> list[tuple[datetime, datetime]]:
    if format_name == "json":
        items = json.loads(data)["items"]
        return [
            (datetime.fromisoformat(i["date_published"]), datetime.fromisoformat(i["date_modified"]))
            for i in items
        ]
    root = etree.fromstring(data)
    if format_name == "rss":
        return [
            (
                datetime.strptime(item.findtext("pubDate"), "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC),
                datetime.fromisoformat(item.findtext(f"{ATOM}updated")),
            )
            for item in root.iter("item")
        ]
    return [
        (
            datetime.fromisoformat(e.findtext(f"{ATOM}published")),
            datetime.fromisoformat(e.findtext(f"{ATOM}updated")),
        )
        for e in root.iter(f"{ATOM}entry")
    ]


def test_same_items_ids_order_and_instants_in_every_format() -> None:
    # Deliberately not newest first: the writers keep the caller's order, whatever it is.
    feed = make_feed([make_item(n, "uz") for n in (3, 1, 4, 2, 5)])
    expected_ids = [item.guid for item in feed.items]
    expected_instants = [(item.published, item.updated) for item in feed.items]
    for format_name in FORMAT_NAMES:
        data = render(format_name, feed)
        assert _guids(format_name, data) == expected_ids, format_name
        assert _instants(format_name, data) == expected_instants, format_name


# --- languages ---------------------------------------------------------------------------------


def test_single_language_feed_states_language_once() -> None:
    feed = category_feed()
    rss = etree.fromstring(render("rss", feed))
    assert rss.findtext("channel/language") == "uz"
    assert not rss.findall(".//{http://purl.org/dc/elements/1.1/}language")
    atom = etree.fromstring(render("atom", feed))
    assert atom.get("{http://www.w3.org/XML/1998/namespace}lang") == "uz"
    assert all(e.get("{http://www.w3.org/XML/1998/namespace}lang") is None for e in atom.iter(f"{ATOM}entry"))
    document = json.loads(render("json", feed))
    assert document["language"] == "uz"
    assert all("language" not in item for item in document["items"])


def test_multilingual_feed_marks_every_item() -> None:
    feed = site_feed()
    languages = [item.language for item in feed.items]
    rss = etree.fromstring(render("rss", feed))
    assert rss.find("channel/language") is None
    assert [i.findtext("{http://purl.org/dc/elements/1.1/}language") for i in rss.iter("item")] == languages
    atom = etree.fromstring(render("atom", feed))
    assert atom.get("{http://www.w3.org/XML/1998/namespace}lang") is None
    assert [
        e.get("{http://www.w3.org/XML/1998/namespace}lang") for e in atom.iter(f"{ATOM}entry")
    ] == languages
    assert [item["language"] for item in json.loads(render("json", feed))["items"]] == languages


def test_item_in_another_language_is_marked_in_a_single_language_feed() -> None:
    feed = varied_feed()  # English feed holding a Russian item
    atom = etree.fromstring(render("atom", feed))
    langs = {
        e.findtext(f"{ATOM}id"): e.get("{http://www.w3.org/XML/1998/namespace}lang")
        for e in atom.iter(f"{ATOM}entry")
    }
    assert langs[guid(7)] == "ru"
    assert langs[guid(1)] is None
    items = {i["id"]: i for i in json.loads(render("json", feed))["items"]}
    assert items[guid(7)]["language"] == "ru"
    assert "language" not in items[guid(1)]


def test_translation_in_own_language_and_duplicates_are_dropped() -> None:
    item = make_item(
        1,
        "uz",
        alternates=(
            Alternate("uz", f"{SITE}/uz/other", "self"),
            Alternate("ru", f"{SITE}/ru/news/1", "Первый"),
            Alternate("ru", f"{SITE}/ru/news/1-bis", "Второй"),
        ),
    )
    feed = make_feed([item])
    atom = etree.fromstring(render("atom", feed))
    links = [
        (link.get("rel"), link.get("hreflang"), link.get("href"))
        for link in atom.iter(f"{ATOM}link")
        if link.getparent().tag == f"{ATOM}entry"
    ]
    assert links[:2] == [("alternate", "uz", item.url), ("alternate", "ru", f"{SITE}/ru/news/1")]
    assert json.loads(render("json", feed))["items"][0]["_translations"] == {
        "ru": {"url": f"{SITE}/ru/news/1", "title": "Первый"}
    }


# --- images, sources, fallbacks ----------------------------------------------------------------


def test_image_with_unknown_length() -> None:
    feed = make_feed(
        [make_item(1, "en", image=Image(f"{SITE}/media/1.webp", "image/webp", 0))], language="en"
    )
    rss = etree.fromstring(render("rss", feed))
    (enclosure,) = rss.iter("enclosure")
    assert (enclosure.get("url"), enclosure.get("length"), enclosure.get("type")) == (
        f"{SITE}/media/1.webp",
        "0",
        "image/webp",
    )
    (media,) = rss.iter("{http://search.yahoo.com/mrss/}content")
    assert media.attrib == {"url": f"{SITE}/media/1.webp", "type": "image/webp", "medium": "image"}
    atom = etree.fromstring(render("atom", feed))
    (link,) = [el for el in atom.iter(f"{ATOM}link") if el.get("rel") == "enclosure"]
    assert "length" not in link.attrib
    item = json.loads(render("json", feed))["items"][0]
    assert item["attachments"] == [{"url": f"{SITE}/media/1.webp", "mime_type": "image/webp"}]


def test_item_without_optional_parts() -> None:
    bare = make_item(1, "en", author=None, image=None, alternates=(), categories=())
    feed = make_feed([bare], language="en")
    rss = render("rss", feed)
    assert b"<enclosure" not in rss and b"media:content" not in rss and b"dc:creator" not in rss
    assert b"<author" not in rss  # names never go into RSS <author>, which wants an e-mail address
    atom = etree.fromstring(render("atom", feed))
    (entry,) = atom.iter(f"{ATOM}entry")
    assert entry.find(f"{ATOM}author") is None
    assert atom.find(f"{ATOM}author/{ATOM}name").text == feed.title
    item = json.loads(render("json", feed))["items"][0]
    assert not {"authors", "image", "attachments", "tags", "_translations", "_source"} & set(item)


def test_blank_texts_fall_back_and_stay_valid() -> None:
    feed = varied_feed()
    items = {i["id"]: i for i in json.loads(render("json", feed))["items"]}
    no_text = items[guid(8)]
    assert no_text["summary"] == no_text["title"] == feed.items[7].title
    assert no_text["content_text"] == no_text["title"]
    assert items[guid(9)]["title"] == "Only a summary here."


def test_ids_are_canonical_and_identical_in_every_format() -> None:
    feed = dataclasses.replace(
        varied_feed(),
        feed_id="HTTPS://Gazeta.Example.uz:443/feeds/en",
        items=[make_item(1, "en", guid="URN:uuid:00000000-0000-4000-8000-000000000001")],
    )
    atom = etree.fromstring(render("atom", feed))
    assert atom.findtext(f"{ATOM}id") == "https://gazeta.example.uz/feeds/en"
    expected = [guid(1)]
    assert [_guids(name, render(name, feed)) for name in FORMAT_NAMES] == [expected] * 3
    source_feed = make_feed(
        [make_item(1, "en", source=SourceRef("P", "HTTPS://Partner.Example.uz:443/a/../feed.atom"))]
    )
    source = etree.fromstring(render("atom", source_feed)).find(f"{ATOM}entry/{ATOM}source")
    assert source.findtext(f"{ATOM}id") == "https://partner.example.uz/feed.atom"


def test_text_cleaning_repairs_mojibake_and_drops_controls() -> None:
    assert clean_text("Caf\xc3\xa9 \xe2\x80\x99s") == "Café ’s"
    assert clean_text("a\x00b\x0bc\x85d\ufffde\ufdd0f") == "abcdef"
    assert clean_text(UZ_TITLE + RU_TITLE) == UZ_TITLE + RU_TITLE


def test_relative_urls_in_content_are_resolved() -> None:
    feed = hostile_feed()
    for format_name in FORMAT_NAMES:
        data = render(format_name, feed).decode()
        assert f"{SITE}/en/other" in data
        assert f"{SITE}/en/news/pic.jpg" in data
        assert 'href="/en' not in data.replace("&quot;", '"')


def test_hostile_text_is_cleaned_consistently() -> None:
    feed = hostile_feed()
    expected = " ".join(clean_text(HOSTILE).split())
    assert "\x0b" not in expected and "\x85" not in expected and "\ufffe" not in expected
    titles = []
    parsed = feedparser.parse(render("atom", feed))
    titles.append(html.unescape(parsed.entries[0].title))
    titles.append(json.loads(render("json", feed))["items"][0]["title"])
    rss_title = etree.fromstring(render("rss", feed)).findtext("channel/item/title")
    titles.append(rss_title.replace("\u2060", ""))  # RSS defuses "</p>" with a word joiner
    assert titles == [expected] * 3


def test_rss_escapes_markup_like_titles_with_character_references() -> None:
    data = render("rss", hostile_feed())
    (title_line,) = [line for line in data.split(b"\n") if b"<title>Tom" in line]
    assert b"&#x26;" in title_line and b"&#x3C;" in title_line
    atom = etree.fromstring(render("atom", hostile_feed()))
    assert atom.find(f"{ATOM}entry/{ATOM}title").get("type") == "html"


# --- the feedgen pitfalls ----------------------------------------------------------------------


def test_rendering_never_touches_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("locale.setlocale called while rendering")

    monkeypatch.setattr(locale, "setlocale", refuse)
    for case in FEEDS.values():
        for format_name in FORMAT_NAMES:
            render(format_name, case())
    render_opml("Feeds", T0, [OpmlOutline("Events", xml_url=f"{SITE}/feeds/uz/events.rss")])


def test_rendering_is_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    first = {name: render(name, site_feed()) for name in FORMAT_NAMES}

    class AnyDatetime(type):
        def __instancecheck__(cls, obj: object) -> bool:  # feedgen checks isinstance(x, datetime)
            return isinstance(obj, datetime)

    class Later(datetime, metaclass=AnyDatetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + timedelta(hours=1)

    # feedgen's defaults would now stamp a different "now"; the output must not change.
    monkeypatch.setattr(feedgen.feed, "datetime", Later)
    monkeypatch.setattr(feedgen.entry, "datetime", Later)
    assert {name: render(name, site_feed()) for name in FORMAT_NAMES} == first


def test_feed_dates_come_from_the_feed_not_the_clock() -> None:
    feed = category_feed()
    rss = etree.fromstring(render("rss", feed))
    assert rss.findtext("channel/lastBuildDate") == rfc822(feed.updated) == "Wed, 01 May 2024 09:40:00 GMT"
    atom = etree.fromstring(render("atom", feed))
    assert atom.findtext(f"{ATOM}updated") == rfc3339(feed.updated)


def test_dates_are_written_in_utc_whatever_the_input_zone() -> None:
    tashkent = timezone(timedelta(hours=5))
    item = make_item(1, "uz", published=datetime(2024, 5, 1, 14, 0, tzinfo=tashkent))
    feed = make_feed([item])
    assert b"<pubDate>Wed, 01 May 2024 09:00:00 GMT</pubDate>" in render("rss", feed)
    assert b"<published>2024-05-01T09:00:00+00:00</published>" in render("atom", feed)


def test_naive_datetimes_are_refused() -> None:
    feed = make_feed([make_item(1, "uz", updated=datetime(2024, 5, 1, 9, 0))])
    for format_name in FORMAT_NAMES:
        with pytest.raises(ValueError, match="timezone-aware"):
            render(format_name, feed)


# --- OPML --------------------------------------------------------------------------------------


def opml_outlines() -> list[OpmlOutline]:
    groups = []
    for code, name in (("uz", "O‘zbekcha"), ("ru", "Русский"), ("en", "English")):
        feeds = [
            OpmlOutline(
                f"{name}: barcha / all",
                xml_url=f"{SITE}/feeds/{code}.rss",
                html_url=f"{SITE}/{code}/",
                language=code,
            ),
            OpmlOutline(
                f"{name}: {LABELS[code]}",
                title=f"Gazeta — {LABELS[code]}",
                xml_url=f"{SITE}/feeds/{code}/events.atom",
                html_url=f"{SITE}/{code}/events",
                language=code,
                category="/events",
            ),
        ]
        groups.append(OpmlOutline(name, children=tuple(feeds)))
    return groups


def test_opml_is_valid_and_uses_only_opml_attributes() -> None:
    data = render_opml("Gazeta feeds & more", T0, opml_outlines(), owner_name="Gazeta")
    assert feedcheck.check("opml", data) == []
    root = etree.fromstring(data)
    assert root.get("version") == "2.0"
    assert root.findtext("head/dateCreated") == "Wed, 01 May 2024 09:30:00 GMT"
    assert root.findtext("head/ownerName") == "Gazeta"
    for outline in root.iter("outline"):
        assert set(outline.attrib) <= feedcheck.OPML_OUTLINE_ATTRIBUTES
        if "xmlUrl" in outline.attrib:
            assert outline.get("type") == "rss"
            assert outline.get("title") and outline.get("language")
            whole_language = not outline.get("xmlUrl").endswith(("events.atom", "events.rss"))
            assert ("category" in outline.attrib) is not whole_language
        else:
            assert set(outline.attrib) == {"text"}
            assert len(outline)
    assert "O‘zbekcha".encode() in data


def test_opml_needs_outlines_and_flags_docs() -> None:
    with pytest.raises(ValueError, match="outline"):
        render_opml("Feeds", T0, [])
    with_docs = render_opml("Feeds", T0, opml_outlines(), docs_url="http://opml.org/spec2.opml")
    assert any(
        problem.startswith("UndefinedElement at opml/head/docs")
        for problem in feedcheck.check("opml", with_docs)
    )


# --- property ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=st.text(), summary=st.text(), content=st.text(), label=st.text())
def test_arbitrary_text_never_yields_an_invalid_document(
    title: str, summary: str, content: str, label: str
) -> None:
    items = [
        make_item(
            1,
            "uz",
            title=title,
            summary=summary,
            content_html=f"<p>{html.escape(content)}</p>",
            author=label,
            categories=(Category("tag", label, f"{SITE}/uz/tag"),),
            alternates=(Alternate("ru", f"{SITE}/ru/1", label),),
            source=SourceRef(label, "https://partner.example.uz/rss"),
        ),
        make_item(
            2,
            "ru",
            title=summary,
            summary=title,
            content_html=content and f"<div>{html.escape(content)}</div>",
        ),
    ]
    feed = make_feed(items, language=None, title=title, description=summary)
    for format_name in FORMAT_NAMES:
        served = for_format(feed, format_name)
        problems = feedcheck.check(format_name, FORMATS[format_name].render(served), self_url=served.self_url)
        assert problems == [], format_name


# --- the checker itself ------------------------------------------------------------------------


def _mutate(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data, old
    return data.replace(old, new, 1)


@pytest.mark.parametrize(
    ("format_name", "old", "new", "code"),
    [
        (
            "rss",
            b"<link>https://gazeta.example.uz/uz/news/1-post</link>",
            b"<link>/uz/news/1</link>",
            "InvalidFullLink",
        ),
        ("rss", b"GMT</pubDate>", b"</pubDate>", "InvalidRFC2822Date"),
        ("rss", b"<pubDate>Wed,", b"<pubDate>Thu,", "IncorrectDOW"),
        ("rss", b"<pubDate>Wed, 01 May 2024", b"<pubDate>Sat, 01 May 2094", "ImplausibleDate"),
        ("rss", b'isPermaLink="false"', b'isPermaLink="true"', "InvalidPermalink"),
        ("rss", guid(2).encode(), guid(1).encode(), "DuplicateValue"),
        ("rss", b"<language>uz</language>", b"<language>xx</language>", "InvalidLanguage"),
        ("rss", b"<dc:creator>", b'<dc:creator xmlns:x="urn:x">', "NamespaceNotOnRoot"),
        ("rss", b'length="48213"', b'length="-1"', "UseZeroForUnknown"),
        ("rss", b'medium="image"', b'medium="picture"', "InvalidMediaMedium"),
        ("rss", b"#1</title>", b"#1 &amp;lt;</title>", "ContainsHTML"),
        ("rss", b"#1</title>", b"#1 &lt;b</title>", "CharacterData"),
        ("rss", b"#1</title>", b"#1 \xc2\x85</title>", "BadCharacters"),
        ("rss", b"&lt;strong&gt;", b"&lt;script&gt;", "SecurityRisk"),
        (
            "rss",
            b'href="https://gazeta.example.uz/uz/news/1-post#more"',
            b'href="more.html"',
            "ContainsRelRef",
        ),
        ("atom", b"<id>urn:uuid:", b"<id>URN:uuid:", "NonCanonicalURI"),
        ("atom", b' rel="self"', b' rel="me"', "MissingSelf"),
        ("atom", b"+00:00</updated>\n    <author>", b"</updated>\n    <author>", "InvalidRFC3339Date"),
        ("atom", b'hreflang="ru"', b'hreflang="uz"', "DuplicateAtomLink"),
        ("atom", b' label="Tadbirlar"', b"", "MissingAttribute"),
        ("json", b'"version":"https://jsonfeed.org/version/1.1"', b'"version":"1.1"', "SchemaError"),
        (
            "json",
            b'"date_published":"2024-05-01T08:30:00+00:00"',
            b'"date_published":"2024-05-01 08:30"',
            "SchemaError",
        ),
        ("json", b'"_translations"', b'"translations"', "SchemaError"),
        ("json", b'"url":"https://gazeta.example.uz/uz/news/1-post"', b'"url":"/uz/news/1"', "SchemaError"),
    ],
)
def test_checker_catches_broken_documents(format_name: str, old: bytes, new: bytes, code: str) -> None:
    feed = for_format(category_feed(), format_name)
    data = FORMATS[format_name].render(feed)
    assert feedcheck.check(format_name, data, self_url=feed.self_url) == []
    problems = feedcheck.check(format_name, _mutate(data, old, new), self_url=feed.self_url)
    assert any(problem.startswith(code) for problem in problems), problems


def test_checker_catches_structural_problems() -> None:
    feed = for_format(site_feed(), "rss")
    data = FORMATS["rss"].render(feed)
    assert any(
        p.startswith("SelfDoesntMatchLocation")
        for p in feedcheck.check("rss", data, self_url=f"{SITE}/elsewhere")
    )
    no_lang = re.sub(rb"\s*<dc:language>ru</dc:language>", b"", data, count=1)
    assert any(p.startswith("MissingItemLanguage") for p in feedcheck.check("rss", no_lang))
    atom = FORMATS["atom"].render(for_format(site_feed(), "atom"))
    no_source_id = re.sub(rb"<source>\s*<id>[^<]*</id>", b"<source>", atom)
    assert any(p.startswith("MissingSourceElement") for p in feedcheck.check("atom", no_source_id))
    duplicate_updated = FORMATS["atom"].render(
        for_format(make_feed([make_item(1), make_item(2, updated=make_item(1).updated)]), "atom")
    )
    assert any(p.startswith("DuplicateUpdated") for p in feedcheck.check("atom", duplicate_updated))
