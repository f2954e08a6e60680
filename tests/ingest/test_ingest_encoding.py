"""Decoding partner bodies: BOMs, labels, mislabelled UTF-8, unlabelled Cyrillic."""

from __future__ import annotations

import codecs
from collections.abc import Callable

import pytest

from feedsvc.ingest.stages.decode import (
    charset_from_content_type,
    decode,
    detect_cyrillic,
    utf8_document,
)

HEADLINE = "В Ташкенте открыли новую станцию метро"


def test_russian_fixtures_decode_to_the_same_text(load: Callable[[str], bytes]) -> None:
    reference = load("ru_rss20_utf8.xml").decode("utf-8").split("\n", 1)[1]
    cases = [
        ("ru_rss20_utf8.xml", "application/rss+xml; charset=utf-8", "utf-8", "utf-8"),
        ("ru_rss20_cp1251.xml", "text/xml", "cp1251", "declaration"),
        ("ru_rss20_cp1251.xml", "text/xml; charset=windows-1251", "cp1251", "http"),
        ("ru_rss20_koi8r.xml", "application/xml", "koi8-r", "declaration"),
        ("ru_rss20_koi8r.xml", "text/xml; charset=KOI8-R", "koi8-r", "http"),
        ("ru_rss20_koi8r_unlabelled.xml", "text/xml", "koi8-r", "detected"),
        ("ru_rss20_koi8r_unlabelled.xml", None, "koi8-r", "detected"),
    ]
    for name, content_type, codec, source in cases:
        decoded = decode(load(name), content_type)
        assert (decoded.encoding, decoded.source) == (codec, source), name
        assert decoded.text.split("\n", 1)[1] == reference, name
        assert HEADLINE in decoded.text


def test_unlabelled_windows_1251_is_detected(load: Callable[[str], bytes]) -> None:
    body = load("ru_rss20_cp1251.xml").replace(b' encoding="windows-1251"', b"")
    decoded = decode(body, "text/xml")
    assert (decoded.encoding, decoded.source) == ("cp1251", "detected")
    assert HEADLINE in decoded.text


def test_valid_utf8_wins_over_a_wrong_label(load: Callable[[str], bytes]) -> None:
    body = load("ru_rss20_utf8.xml").replace(b'encoding="UTF-8"', b'encoding="windows-1251"')
    decoded = decode(body, "text/xml; charset=koi8-r")
    assert (decoded.encoding, decoded.source) == ("utf-8", "utf-8")
    assert HEADLINE in decoded.text


def test_a_false_utf8_declaration_on_windows_1251_bytes_is_overruled(load: Callable[[str], bytes]) -> None:
    body = load("ru_rss20_cp1251.xml").replace(b'encoding="windows-1251"', b'encoding="utf-8"')
    decoded = decode(body, "application/rss+xml; charset=utf-8")
    assert (decoded.encoding, decoded.source) == ("cp1251", "detected")
    assert HEADLINE in decoded.text


def test_server_default_latin1_yields_to_the_declaration(load: Callable[[str], bytes]) -> None:
    # Apache's AddDefaultCharset ISO-8859-1 on a windows-1251 feed: a classic.
    decoded = decode(load("ru_rss20_cp1251.xml"), "text/xml; charset=ISO-8859-1")
    assert (decoded.encoding, decoded.source) == ("cp1251", "declaration")
    unlabelled = load("ru_rss20_koi8r_unlabelled.xml")
    assert decode(unlabelled, "text/xml; charset=iso-8859-1").encoding == "koi8-r"


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
    ],
)
def test_bom_comes_first_whatever_the_label(bom: bytes, codec: str) -> None:
    text = f'<?xml version="1.0"?><rss><channel><title>{HEADLINE}</title></channel></rss>'
    decoded = decode(bom + text.encode(codec), "text/xml; charset=windows-1251")
    assert (decoded.encoding, decoded.source, decoded.text) == (codec, "bom", text)


def test_utf16_without_bom_is_recognised_by_its_zero_bytes() -> None:
    text = '<?xml version="1.0" encoding="UTF-16"?><rss version="2.0"/>'
    assert decode(text.encode("utf-16-le")).text == text
    assert decode(text.encode("utf-16-be")).text == text


def test_western_text_without_labels_is_detected() -> None:
    body = "<rss><title>Café crème in Tashkent’s Broadway</title></rss>".encode("cp1252")
    decoded = decode(body)
    assert (decoded.encoding, decoded.source) == ("cp1252", "detected")
    assert "Café crème in Tashkent’s" in decoded.text
    assert detect_cyrillic(body) is None


def test_uzbek_latin_utf8_keeps_its_apostrophe_letters(load: Callable[[str], bytes]) -> None:
    decoded = decode(load("uz_rss20.xml"), "application/rss+xml")
    assert "O‘zbekiston" in decoded.text and "bog‘i" in decoded.text


def test_charset_labels() -> None:
    assert charset_from_content_type('text/xml; charset="Windows-1251"') == "cp1251"
    assert charset_from_content_type("text/xml;charset=win-1251") == "cp1251"
    assert charset_from_content_type("text/xml; charset=x-koi8-r") == "koi8-r"
    assert charset_from_content_type("text/xml; charset=rot13") is None  # a codec, not a charset
    assert charset_from_content_type("text/xml; charset=nonsense") is None
    assert charset_from_content_type(None) is None


def test_utf8_document_rewrites_the_declaration_and_leading_space() -> None:
    text = '\n\n  <?xml version="1.0" encoding=\'KOI8-R\' standalone="yes"?>\n<rss/>'
    assert utf8_document(text) == b'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<rss/>'
    assert utf8_document("<rss>Ташкент</rss>") == "<rss>Ташкент</rss>".encode()
