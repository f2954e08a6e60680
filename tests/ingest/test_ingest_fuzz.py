"""Nothing a partner sends may raise anything but ParseError, and what comes out keeps its promises."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedsvc.ingest.reader import ParsedFeed, ParseError, parse_feed
from feedsvc.ingest.stages.clean import clean_partner_html, clean_title
from feedsvc.ingest.stages.dates import parse_date
from feedsvc.ingest.stages.decode import decode

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "partners"
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
TASHKENT = ZoneInfo("Asia/Tashkent")
XML_SEEDS = [
    (FIXTURES / name).read_bytes()
    for name in (
        "ru_rss20_utf8.xml", "ru_rss20_cp1251.xml", "en_atom10.xml", "uz_rss20.xml", "rss10_rdf.xml",
        "xss.xml", "dates.xml", "relative_links_xmlbase.xml", "repeated_guid.xml", "atom03.xml",
    )
]  # fmt: skip
JSON_SEED = json.loads((FIXTURES / "jsonfeed11.json").read_text(encoding="utf-8"))
# Fragments that make mutations interesting for an XML/HTML pipeline.
TOKENS = [
    b"<", b">", b"&", b"&amp;", b"&#0;", b"&#xD800;", b"&bogus;", b"]]>", b"<![CDATA[", b"<!--", b"-->",
    b"</item>", b"<item>", b"<entry>", b"</channel>", b"<guid>", b"<link>", b"xml:base=\"../\"", b"\x00",
    b"\xff\xfe", b"\xef\xbb\xbf", b"\xd0", b"<?xml version='1.0' encoding='koi8-r'?>", b"<!DOCTYPE x>",
    b"<script>", b"javascript:", b"<pubDate>", "32 марта 2026".encode(), b"<title>", b"{", b"\"",
]  # fmt: skip
# Markup in a title: a known element used as one (text such as "vector<int>" stays, by design).
TITLE_MARKUP = re.compile(r"<(?:script|style|a|b|i|img|span|p|div|strong|em)\b[^<>]*=[^<>]*>", re.IGNORECASE)
# Inside a tag (escaped text such as "&lt;a href=…" is harmless).
SCRIPT_URL = re.compile(r"<[^<>]*=\s*[\"']?\s*(?:javascript|vbscript|data):", re.IGNORECASE)
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def check_feed(result: ParsedFeed) -> None:
    """What any successful parse guarantees, whatever the input."""
    keys = [item.key for item in result.items]
    assert len(keys) == len(set(keys))
    for item in result.items:
        assert item.key
        assert not TITLE_MARKUP.search(item.title)  # plain text
        for html in (item.content_html, item.summary_html):
            assert "<script" not in html.lower()
            assert not SCRIPT_URL.search(html)  # as text it is harmless; as a URL it is not
        for value in (item.published, item.updated):
            assert value is None or value.tzinfo is UTC  # absurd dates are the store's to replace
        assert item.link is None or item.link.startswith(("http://", "https://"))


def run(body: bytes, content_type: str = "application/rss+xml") -> bool:
    """Parse and check; True when the input was a feed with items, i.e. the promises were tested."""
    try:
        result = parse_feed(
            body, {"Content-Type": content_type}, "https://partner.example/rss", default_tz=TASHKENT, now=NOW
        )
    except ParseError:
        return False
    check_feed(result)
    return bool(result.items)


def fuzz(strategy: st.SearchStrategy[bytes], content_type: str, min_share: float) -> None:
    """Run the parser on every example, and insist that enough of them got past ParseError:
    a generator whose inputs are all refused tests the refusal, not what comes out."""
    reached: list[bool] = []

    @FUZZ
    @given(strategy)
    def each(body: bytes) -> None:
        reached.append(run(body, content_type))

    each()
    share = sum(reached) / len(reached)
    assert share >= min_share, f"only {share:.0%} of {len(reached)} examples were parsed into items"


def test_random_bytes_anywhere_are_refused_cleanly() -> None:
    # Raw noise is a feed almost never: this only shows nothing but ParseError comes out.
    @FUZZ
    @given(st.binary(max_size=2048))
    def each(body: bytes) -> None:
        run(body)

    each()


RSS_FRAME = (
    b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>%s</title>"
    b"<link>https://partner.example/</link><description>%s</description>%s</channel></rss>"
)
RSS_ITEM = b"<item><guid>%s</guid><title>%s</title><link>%s</link><description>%s</description>" \
    b"<pubDate>%s</pubDate></item>"  # fmt: skip


@st.composite
def random_bytes_in_rss(draw: st.DrawFn) -> bytes:
    """Random bytes in every text slot of a well-formed RSS frame: the parser reaches the items."""
    noise = st.binary(max_size=64)
    items = b"".join(
        RSS_ITEM % (b"g%d" % n + draw(noise), *(draw(noise) for _ in range(4)))
        for n in range(draw(st.integers(1, 4)))
    )
    return RSS_FRAME % (draw(noise), draw(noise), items)


def test_random_bytes_in_an_rss_frame() -> None:
    fuzz(random_bytes_in_rss(), "application/rss+xml", min_share=0.5)


@st.composite
def random_text_in_json_feed(draw: st.DrawFn) -> bytes:
    """Random text in every field of a JSON Feed: valid JSON, so the item rules are what is tested."""
    text = st.text(max_size=80)
    items = [
        {
            "id": f"i{n}" + draw(text),
            "url": draw(st.one_of(text, st.just("https://partner.example/a"))),
            "title": draw(text),
            "content_html": draw(text),
            "summary": draw(text),
            "date_published": draw(text),
            "tags": draw(st.lists(text, max_size=3)),
        }
        for n in range(draw(st.integers(1, 4)))
    ]
    document = {"version": "https://jsonfeed.org/version/1.1", "title": draw(text), "items": items}
    return json.dumps(document, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


def test_random_text_in_a_json_feed() -> None:
    fuzz(random_text_in_json_feed(), "application/feed+json", min_share=0.8)


@FUZZ
@given(st.text(max_size=512))
def test_random_text_as_json_feed_is_refused_cleanly(text: str) -> None:
    run(("{" + text).encode("utf-8", "surrogatepass"), "application/feed+json")


@st.composite
def mutated_xml(draw: st.DrawFn) -> bytes:
    body = bytearray(draw(st.sampled_from(XML_SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["delete", "insert", "token", "duplicate", "flip", "truncate"]))
        pos = draw(st.integers(0, len(body)))
        if op == "delete":
            del body[pos : pos + draw(st.integers(1, 200))]
        elif op == "insert":
            body[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "token":
            body[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == "duplicate":
            body[pos:pos] = body[pos : pos + draw(st.integers(1, 400))]
        elif op == "flip" and body:
            body[min(pos, len(body) - 1)] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del body[pos:]
    return bytes(body)


def test_mutated_fixtures() -> None:
    fuzz(mutated_xml(), "application/rss+xml", min_share=0.3)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_json_feed(draw: st.DrawFn) -> bytes:
    document = json.loads(json.dumps(JSON_SEED))
    for _ in range(draw(st.integers(1, 5))):
        target = document
        if draw(st.booleans()) and isinstance(document.get("items"), list) and document["items"]:
            candidate = draw(st.sampled_from(document["items"]))
            if isinstance(candidate, dict):
                target = candidate
        key = draw(st.sampled_from([*sorted(target), "items", "id", "url", "tags", "authors", "attachments"]))
        target[key] = draw(json_values)
    return json.dumps(document).encode()


def test_mutated_json_feed() -> None:
    fuzz(mutated_json_feed(), "application/feed+json", min_share=0.5)


@FUZZ
@given(st.text(max_size=300))
def test_helpers_never_raise(text: str) -> None:
    date = parse_date(text, default_tz=TASHKENT)
    assert date is None or date.tzinfo is UTC
    title = clean_title(text)
    assert "\x00" not in title and title == title.strip()
    cleaned = clean_partner_html(text, "https://partner.example/a/")
    assert "<script" not in cleaned.lower()
    decode(text.encode("utf-8", "surrogatepass"))
