"""parse_feed on saved partner feeds: what comes out of each format and each partner quirk."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feedsvc.ingest.reader import FeedHints, Image, ParsedFeed, ParseError, parse_feed

Load = Callable[[str], bytes]
RSS = {"Content-Type": "application/rss+xml"}
VT = "https://vesti-tashkent.example"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def parse(body: bytes, url: str = f"{VT}/rss/news.xml", **kwargs: object) -> ParsedFeed:
    kwargs.setdefault("default_tz", ZoneInfo("Asia/Tashkent"))
    kwargs.setdefault("now", utc(2026, 3, 6, 12, 0))
    return parse_feed(body, kwargs.pop("headers", RSS), url, **kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- Russian RSS 2.0


def test_russian_rss(load: Load) -> None:
    feed = parse(load("ru_rss20_utf8.xml"))
    assert feed.format == "rss20"
    assert feed.title == "Вести Ташкента - Новости"
    assert feed.link == f"{VT}/"
    assert feed.self_url == f"{VT}/rss/news.xml"
    assert feed.description == "Главные новости Ташкента и Узбекистана"
    assert feed.language == "ru"
    assert feed.icon == f"{VT}/static/logo-144.png"
    assert feed.hints == FeedHints(ttl_minutes=20, update_interval=1800)  # hourly / 2
    assert feed.bozo is None
    assert [i.key for i in feed.items] == ["vt-48213", "vt-48207", "vt-48190"]

    metro, kurs, pogoda = feed.items
    assert metro.guid == "vt-48213"
    assert metro.title == 'В Ташкенте открыли новую станцию метро "Юнусабад-2"'
    assert metro.link == f"{VT}/news/2026/03/05/metro-yunusabad/"
    assert metro.published == utc(2026, 3, 5, 9, 30)
    assert metro.updated is None
    assert metro.author == "Дильноза Каримова"
    assert metro.categories == ("Город", "Транспорт")
    assert metro.image == Image(f"{VT}/upload/2026/03/metro-yunusabad.jpg", "image/jpeg", 184320)
    assert f'<a href="{VT}/news/2026/02/20/metro-plan/" rel="noopener noreferrer">строительство</a>' in (
        metro.content_html
    )
    assert f'src="{VT}/upload/2026/03/metro-yunusabad.jpg"' in metro.content_html
    assert metro.summary_html.startswith("<p>Станция продлит Юнусабадскую линию на 2,8 км.")
    assert metro.summary.startswith("Станция продлит Юнусабадскую линию на 2,8 км. Пассажиропоток")

    assert kurs.image == Image(f"{VT}/upload/2026/03/kurs.png", "image/png", 40960)  # media:content
    assert kurs.content_html == ""
    assert kurs.summary == "Центральный банк установил курс 12 748,30 сума за доллар."
    # media:thumbnail without an extension: an image by definition
    assert pogoda.image == Image(f"{VT}/upload/thumbs/pogoda-320", "image/jpeg", None)


@pytest.mark.parametrize(
    ("name", "content_type", "encoding"),
    [
        ("ru_rss20_cp1251.xml", "text/xml", "cp1251"),
        ("ru_rss20_cp1251.xml", "text/xml; charset=ISO-8859-1", "cp1251"),
        ("ru_rss20_koi8r.xml", "application/rss+xml; charset=koi8-r", "koi8-r"),
        ("ru_rss20_koi8r_unlabelled.xml", "text/xml", "koi8-r"),
    ],
)
def test_russian_rss_in_legacy_encodings_gives_identical_items(
    load: Load, name: str, content_type: str, encoding: str
) -> None:
    reference = parse(load("ru_rss20_utf8.xml"))
    feed = parse(load(name), headers={"Content-Type": content_type})
    assert feed.encoding == encoding
    assert feed.title == reference.title
    assert feed.items == reference.items  # every field, hashes included


def test_identity_does_not_depend_on_the_feed_url(load: Load) -> None:
    """feedparser would resolve a GUID like "vt-48213" against the feed URL; we keep it verbatim."""
    one = parse(load("ru_rss20_utf8.xml"), url="http://vesti-tashkent.example/rss")
    two = parse(load("ru_rss20_utf8.xml"), url="https://www.vesti-tashkent.example/feeds/news")
    assert [i.key for i in one.items] == [i.key for i in two.items] == ["vt-48213", "vt-48207", "vt-48190"]
    assert [i.content_hash for i in one.items] == [i.content_hash for i in two.items]


def test_content_hash_tracks_changes_but_not_identity(load: Load) -> None:
    body = load("ru_rss20_utf8.xml")
    before = parse(body).items[1]
    edited = parse(
        body.replace("снизил курс на 12 сумов".encode(), "снизил курс на 15 сумов".encode())
    ).items[1]
    assert edited.key == before.key
    assert edited.content_hash != before.content_hash
    assert parse(body).items[1].content_hash == before.content_hash  # deterministic


# ----------------------------------------------------------------------------- other formats


def test_english_atom(load: Load) -> None:
    feed = parse(load("en_atom10.xml"), url="https://cabr.example/feeds/all.atom")
    assert feed.format == "atom10"
    assert feed.title == "Central Asia Business Review"
    assert feed.description == "Markets, trade & policy across Central Asia"
    assert (feed.link, feed.self_url, feed.icon) == (
        "https://cabr.example/",
        "https://cabr.example/feeds/all.atom",
        "https://cabr.example/favicon-64.png",
    )
    assert feed.hints.websub_hub == "https://websub.cabr.example/"
    assert feed.language == "en"
    cotton, hydro = feed.items
    assert cotton.key == "tag:cabr.example,2026-03-05:/2026/03/uzbekistan-cotton-exports"
    assert cotton.title == "Uzbekistan’s cotton exports fall 14% as textile mills buy more at home"
    assert (cotton.published, cotton.updated) == (utc(2026, 3, 5, 5, 15), utc(2026, 3, 5, 6, 2, 44))
    assert cotton.author == "Sarah Whitfield"
    assert cotton.categories == ("trade", "uzbekistan")
    assert cotton.image == Image(
        "https://cdn.cabr.example/img/2026/03/cotton-bales.jpg", "image/jpeg", 251904
    )
    assert "<figcaption>Cotton bales in Syrdarya region</figcaption>" in cotton.content_html
    assert cotton.summary_html == "<p>Domestic processing now absorbs almost all of the harvest.</p>"
    assert hydro.content_html == "<p>The <strong>1.2 GW</strong> plant is to be built on the Pskem river.</p>"
    assert hydro.summary_html == ""  # feedparser's copy of the content is not a summary
    assert hydro.summary == "The 1.2 GW plant is to be built on the Pskem river."
    assert hydro.published == hydro.updated == utc(2026, 3, 4, 16, 40)  # only <updated>


def test_uzbek_rss_keeps_oʻ_and_gʻ(load: Load) -> None:
    feed = parse(load("uz_rss20.xml"), url="https://toshkent-yangiliklari.example/oz/rss")
    assert feed.description == "O‘zbekiston va dunyo yangiliklari"
    bog, qonun = feed.items
    assert bog.title == "Toshkentda yangi bog‘ ochildi: “Yoshlik” bog‘i 12 gektarni egallaydi"
    assert bog.key == "https://toshkent-yangiliklari.example/oz/news/2026/03/05/yoshlik-bogi"
    assert bog.summary.startswith("Bog‘da o‘n mingdan ortiq ko‘chat o‘tqazildi, g‘arbiy")
    assert bog.image == Image(
        "https://toshkent-yangiliklari.example/media/2026/03/yoshlik-bogi.webp", "image/webp"
    )
    assert bog.categories == ("Jamiyat",)
    assert qonun.title == "Oliy Majlis qishloq xo‘jaligi to‘g‘risidagi qonunni qabul qildi"
    assert qonun.published == utc(2026, 3, 4, 6, 0)


def test_rss10_rdf(load: Load) -> None:
    feed = parse(load("rss10_rdf.xml"), url="https://silkroad-archive.example/rss10.rdf")
    assert feed.format == "rss10"
    assert feed.hints.update_interval == 86400
    photos, fergana = feed.items
    assert photos.key == "https://silkroad-archive.example/items/4411"
    assert photos.published == photos.updated == utc(2026, 3, 3, 3, 20)  # dc:date
    assert (photos.author, photos.categories) == ("Archive staff", ("Photography",))
    assert fergana.published == utc(2026, 3, 1, 19, 0)  # a bare date: midnight in Tashkent
    assert fergana.summary == "A Russian military survey map, scale 1:420,000."


def test_atom03(load: Load) -> None:
    feed = parse(load("atom03.xml"), url="https://termez-arch.example/atom.xml")
    assert feed.format == "atom03"
    (entry,) = feed.items
    assert (entry.published, entry.updated) == (utc(2026, 3, 2, 9, 0), utc(2026, 3, 2, 10, 0))
    assert entry.author == "Dr. Bakhtiyor Ergashev"
    assert entry.content_html == "<p>The fragment shows a seated figure in red ochre.</p>"


def test_rss091_with_netscape_doctype(load: Load) -> None:
    feed = parse(load("rss091_netscape.xml"), url="http://old-wire.example/rss.xml")
    assert feed.format == "rss091n"
    (item,) = feed.items
    assert item.title == "Café culture comes to Tashkent's Broadway"
    assert item.published is None
    assert (
        item.key
        == "link-sha256:" + hashlib.sha256(b"http://old-wire.example/stories/2026/0305.html").hexdigest()
    )


# ----------------------------------------------------------------------------- identity rules


def test_items_without_guid(load: Load) -> None:
    feed = parse(load("no_guid.xml"), url="https://namangan-hokimiyat.example/press/rss")
    exporters, roads, notice = feed.items
    assert exporters.guid is None
    link = "https://namangan-hokimiyat.example/press/2026/03/05/dried-fruit-exporters"
    assert exporters.key == "link-sha256:" + hashlib.sha256(link.encode()).hexdigest()
    assert roads.link == "https://namangan-hokimiyat.example/press/2026/03/03/uychi-street"  # resolved
    assert notice.link is None
    assert notice.key.startswith("title-sha256:")
    again = parse(load("no_guid.xml"), url="https://namangan-hokimiyat.example/press/rss")
    assert [i.key for i in again.items] == [i.key for i in feed.items]
    assert len({i.key for i in feed.items}) == 3


def test_repeated_guid_loses_no_item(load: Load) -> None:
    body = load("repeated_guid.xml")
    feed = parse(body, url="https://karakalpak-news.example/rss")
    guid = "https://karakalpak-news.example/"
    links = [f"https://karakalpak-news.example/news/{n}" for n in (4102, 4101, 4100)]
    assert [i.link for i in feed.items] == links  # the 4th item was an exact repeat of the 3rd
    assert [i.key for i in feed.items] == [
        f"{guid}#{hashlib.sha256(x.encode()).hexdigest()[:16]}" for x in links
    ]
    assert all(i.guid == guid for i in feed.items)
    # Deterministic and independent of the order the items come in.
    text = body.decode()
    head, _, rest = text.partition("<item>")
    items = ["<item>" + part for part in rest.split("<item>")]
    items[-1], tail = items[-1].split("</channel>")[0], "</channel></rss>"
    reordered = (head + "".join(reversed(items)) + tail).encode()
    assert {i.key for i in parse(reordered).items} == {i.key for i in feed.items}


def test_repeated_guid_and_link_falls_back_to_title_and_date() -> None:
    items = "".join(
        f"<item><title>{title}</title><link>https://partner.example/</link><guid>same</guid>"
        f"<pubDate>Thu, 05 Mar 2026 1{n}:00:00 +0500</pubDate></item>"
        for n, title in enumerate(["Birinchi xabar", "Ikkinchi xabar", "Uchinchi xabar"])
    )
    body = f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()
    feed = parse(body)
    assert [i.title for i in feed.items] == ["Birinchi xabar", "Ikkinchi xabar", "Uchinchi xabar"]
    assert len({i.key for i in feed.items}) == 3
    assert all(i.key.startswith("same#") for i in feed.items)


def test_items_without_guid_sharing_one_link_are_all_kept() -> None:
    items = "".join(
        f"<item><title>{title}</title><link>https://partner.example/</link>"
        f"<pubDate>Thu, 05 Mar 2026 1{n}:00:00 +0500</pubDate></item>"
        for n, title in enumerate(["Yangi bog‘", "Yangi ko‘prik", "Yangi bog‘"])
    )
    body = f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()
    feed = parse(body)
    assert [i.title for i in feed.items] == ["Yangi bog‘", "Yangi ko‘prik", "Yangi bog‘"]
    base = "link-sha256:" + hashlib.sha256(b"https://partner.example/").hexdigest()
    assert all(i.key.startswith(base + "#") for i in feed.items)
    assert len({i.key for i in feed.items}) == 3


def test_relative_links_and_xml_base(load: Load) -> None:
    feed = parse(load("relative_links_xmlbase.xml"), url="https://fergana-daily.example/en/feed.atom")
    assert (feed.link, feed.self_url) == (
        "https://fergana-daily.example/en/",
        "https://fergana-daily.example/en/feed.atom",
    )
    fair, weather = feed.items
    base = "https://fergana-daily.example/en/news/2026/03/"
    assert fair.link == base + "kokand-crafts-fair"
    assert (
        '<a href="https://fergana-daily.example/en/crafts/" rel="noopener noreferrer">200 artisans</a>'
        in fair.content_html
    )
    assert f'src="{base}img/kokand-fair.jpg"' in fair.content_html
    assert f'href="{base}#program"' in fair.content_html
    assert 'href="https://cdn.fergana-daily.example/pdf/program.pdf"' in fair.content_html
    assert weather.link == "https://fergana-daily.example/en/weather/2026-03-04"
    assert 'src="https://fergana-daily.example/static/icons/rain.png"' in weather.summary_html
    assert weather.summary == "Showers on Thursday."


# ----------------------------------------------------------------------------- bozo, dates, limits


def test_ill_formed_feed_keeps_the_good_items(load: Load) -> None:
    feed = parse(load("bozo_ill_formed.xml"), url="https://andijan-times.example/rss")
    assert feed.bozo is not None and feed.bozo.startswith("SAXParseException: ")
    assert "not well-formed" in feed.bozo
    assert feed.title == "Andijan Times"
    assert [i.key for i in feed.items][:2] == ["at-9001", "at-9000"]
    bazaar, cherry = feed.items[:2]
    assert bazaar.title == "Andijan bazaar reopens after renovation"
    assert bazaar.summary == "Traders & shoppers returned on Thursday."
    assert bazaar.published == utc(2026, 3, 5, 7, 0)
    assert cherry.summary == "Orchards near Asaka are in bloom"


def test_dates_fixture(load: Load) -> None:
    now = utc(2026, 3, 6, 12, 0)
    feed = parse(load("dates.xml"), url="https://daty.example/rss", now=now)
    published = {i.key: i.published for i in feed.items}
    assert published == {
        "d-msk": utc(2026, 3, 5, 11, 30),
        "d-uzt": utc(2026, 3, 5, 9, 30),
        "d-nozone": utc(2026, 3, 5, 9, 30),  # the source's zone: Tashkent
        "d-ru-full": utc(2026, 3, 5, 9, 30),
        "d-ru-short": utc(2026, 3, 4, 19, 0),
        "d-uz": utc(2026, 3, 5, 9, 30),
        "d-future": utc(2033, 3, 5, 11, 30),  # as written: the store clamps it, once
        "d-dc": utc(2026, 3, 5, 11, 30),
        "d-none": None,
        "d-garbage": None,
    }
    moscow = parse(load("dates.xml"), default_tz=ZoneInfo("Europe/Moscow"))
    assert {i.key: i.published for i in moscow.items}["d-nozone"] == utc(2026, 3, 5, 11, 30)
    assert all(i.published is None or i.published.tzinfo is UTC for i in feed.items)


def test_whitespace_before_the_xml_declaration_is_forgiven(load: Load) -> None:
    feed = parse(b"\r\n\n   " + load("uz_rss20.xml"))
    assert feed.bozo is None  # the strict parser read it
    assert len(feed.items) == 2


def test_max_items(load: Load) -> None:
    feed = parse(load("ru_rss20_utf8.xml"), max_items=2)
    assert [i.key for i in feed.items] == ["vt-48213", "vt-48207"]
    assert feed.truncated == 1


def test_skip_hours_and_days_are_not_hints() -> None:
    body = (
        b'<rss version="2.0"><channel><title>T</title><ttl>60</ttl>'
        b"<skipHours><hour>0</hour><hour>1</hour><hour>23</hour></skipHours>"
        b"<skipDays><day>Sunday</day><day>saturday</day></skipDays>"
        b"<item><title>x</title><guid>1</guid></item></channel></rss>"
    )
    # Only hints the scheduler reads are kept: an interval may follow ttl, not a calendar.
    assert parse(body).hints == FeedHints(ttl_minutes=60)


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty document"),
        (b" \n\t ", "empty document"),
        (b"<!DOCTYPE html><html><head><title>Partner</title></head><body>404</body></html>", "HTML page"),
        (b"Service temporarily unavailable", "not a feed"),
        (b"/etc/hostname", "not a feed"),  # feedparser would open a path given as a string
        (b"[1, 2, 3]", "not a JSON Feed"),
        (b'{"status": "ok"}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", ', "invalid JSON"),
    ],
)
def test_not_a_feed(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(body)


def test_the_path_trick_reads_no_local_file(tmp_path: Path) -> None:
    """A body that is a path to a readable XML file must not be read from disk."""
    local = tmp_path / "secret.xml"
    local.write_text('<rss version="2.0"><channel><title>LOCAL SECRET</title></channel></rss>')
    with pytest.raises(ParseError):
        parse(str(local).encode())
