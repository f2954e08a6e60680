"""Turn a partner's body bytes into text, whatever it claims (or fails to claim) to be.

Order of evidence:

1. a byte-order mark (and UTF-16/32 recognised by the position of the zero bytes);
2. bytes that are valid UTF-8 and contain non-ASCII are UTF-8, whatever the labels say
   (a mislabelled UTF-8 feed is far more common than windows-1251 that happens to be valid UTF-8);
3. bytes that are UTF-8 but for a few bad sequences (at most ``MAX_BAD_SHARE`` of the non-ASCII
   sequences): UTF-8, the bad bytes replaced by U+FFFD and the rest kept (single-byte text in a
   code page almost never forms valid multi-byte sequences, so this cannot swallow windows-1251);
4. the HTTP ``charset`` — except a generic server default (ISO-8859-1, US-ASCII, windows-1252),
   which yields to a different encoding declared in the document, or to detection: Apache's
   AddDefaultCharset has mislabelled many Russian feeds; a Cyrillic label yields to a confident
   detection of the other Cyrillic table;
5. the XML declaration's ``encoding`` (JSON is UTF-8 by definition);
6. detection (``detect``): charset-normalizer, with our Cyrillic windows-1251/KOI8-R detector
   preferred where it measurably does better (short Russian and Uzbek texts, see
   tests/ingest/test_encoding_detectors.py);
7. nothing at all: UTF-8 with replacement characters, and a warning. Never a silent windows-1252.

``utf8_document`` then hands the parser UTF-8 bytes whose XML declaration says so, so it has
nothing left to guess.
"""

from __future__ import annotations

import codecs
import math
import re
from dataclasses import dataclass

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels seen in the wild that Python's codec registry does not know.
_ALIASES = {
    "win-1251": "cp1251",
    "windows1251": "cp1251",
    "x-cp1251": "cp1251",
    "cp-1251": "cp1251",
    "win1251": "cp1251",
    "koi8": "koi8-r",
    "koi8r": "koi8-r",
    "x-koi8-r": "koi8-r",
    "utf8": "utf-8",
    "unicode": "utf-16",
}
# Labels servers apply by default, without looking at the document.
_GENERIC_DEFAULTS = frozenset({"latin-1", "iso8859-1", "ascii", "cp1252"})
_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?([^"';,\s]+)""", re.IGNORECASE)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:\-]+)["']""")
_XML_DECL_ENCODING_RE = re.compile(r"""^(<\?xml\b[^>]*?)\s+encoding\s*=\s*(["'])[^"']*\2""")

# Relative frequencies of Russian letters in news text (lower case).
_RU_FREQ = {
    "о": 0.1097, "е": 0.0845, "а": 0.0801, "и": 0.0735, "н": 0.0670, "т": 0.0626, "с": 0.0547,
    "р": 0.0473, "в": 0.0454, "л": 0.0440, "к": 0.0349, "м": 0.0321, "д": 0.0298, "п": 0.0281,
    "у": 0.0262, "я": 0.0201, "ы": 0.0190, "ь": 0.0174, "г": 0.0170, "з": 0.0165, "б": 0.0159,
    "ч": 0.0144, "й": 0.0121, "х": 0.0097, "ж": 0.0094, "ш": 0.0073, "ю": 0.0064, "ц": 0.0048,
    "щ": 0.0036, "э": 0.0032, "ф": 0.0026, "ъ": 0.0004, "ё": 0.0004,
}  # fmt: skip
_RU_LOG = {letter: math.log(p) for letter, p in _RU_FREQ.items()}
# Non-letters that real windows-1251/KOI8-R news text contains above 0x7F.
_PLAUSIBLE_SYMBOLS = frozenset("«»—–…№“”„‘’©®°±·\u00a0•€")
_CYRILLIC_CANDIDATES = ("cp1251", "koi8-r")


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # Python codec name, e.g. "utf-8", "cp1251", "koi8-r"
    source: str  # "bom", "utf-8", "http", "declaration", "detected" or "default"
    warning: str | None = None  # bytes that had to be replaced, or an encoding that was guessed


def _codec(label: str | None) -> str | None:
    """Canonical Python codec name for a charset label, or None if unknown/unusable."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # Only text encodings; "rot13", "base64" and friends are codecs too.
    if name in ("rot-13", "base64", "hex", "quopri", "uu", "zlib", "bz2"):
        return None
    return name


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _CHARSET_RE.search(content_type)
    return _codec(match.group(1)) if match else None


def _utf16_32_by_zeros(head: bytes) -> str | None:
    """UTF-16/32 without a BOM, recognised by where the zero bytes of an ASCII first character fall."""
    if len(head) < 4:
        return None
    zeros = tuple(byte == 0 for byte in head[:4])
    return {
        (True, True, True, False): "utf-32-be",
        (False, True, True, True): "utf-32-le",
        (True, False, True, False): "utf-16-be",
        (False, True, False, True): "utf-16-le",
    }.get(zeros)


def declared_encoding(body: bytes) -> str | None:
    """Encoding named in the XML declaration (read from ASCII-compatible bytes only)."""
    match = _XML_DECL_RE.match(body[:1024])
    return _codec(match.group(1).decode("ascii")) if match else None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _cyrillic_score(text: str) -> float:
    """Average log-likelihood per non-ASCII character of ``text`` being Russian prose."""
    score = 0.0
    count = 0
    previous_is_letter = False
    for char in text:
        if char < "\x80":
            previous_is_letter = char.isalpha()
            continue
        count += 1
        lower = char.lower()
        log_p = _RU_LOG.get(lower)
        if log_p is None:
            score += -4.0 if char in _PLAUSIBLE_SYMBOLS else -12.0
            previous_is_letter = False
            continue
        score += log_p
        # Capitals inside words are rare in real text; KOI8-R read as windows-1251 (and vice
        # versa) swaps the case of every letter, so this separates the two sharply.
        if char != lower and previous_is_letter:
            score -= 4.0
        previous_is_letter = True
    return score / count if count else 0.0


_HIGH = re.compile(rb"[\x80-\xff]+")


def _high_byte_run_ratio(body: bytes) -> float:
    """Share of non-ASCII bytes that sit next to another one: Cyrillic words are made of
    them, Western European text only has isolated accented letters."""
    runs = [len(m) for m in _HIGH.findall(body)]
    high = sum(runs)
    return sum(n for n in runs if n > 1) / high if high else 0.0


def detect_cyrillic(body: bytes) -> str | None:
    """Return "cp1251" or "koi8-r" when ``body`` is confidently Cyrillic single-byte text, else None."""
    sample = body[:200_000]  # plenty for statistics, bounded cost on a 10 MiB body
    if _high_byte_run_ratio(sample) < 0.6:
        return None
    scores = {name: _cyrillic_score(sample.decode(name, errors="replace")) for name in _CYRILLIC_CANDIDATES}
    best = max(scores, key=lambda name: scores[name])
    # Russian prose averages about -3.3; garbage (wrong table, or not Cyrillic) is far below.
    return best if scores[best] > -6.0 else None


def _decode_with(body: bytes, codec: str) -> str:
    return body.decode(codec, errors="replace")


MAX_BAD_SHARE = 0.01  # invalid sequences per non-ASCII sequence still read as UTF-8
_UTF8_SEQUENCE_RE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


def nearly_utf8(body: bytes) -> int | None:
    """How many bad bytes a body that is UTF-8 but for a few of them has; None when it is not UTF-8."""
    valid = len(_UTF8_SEQUENCE_RE.findall(body))
    if valid == 0:
        return None
    leftover = _UTF8_SEQUENCE_RE.sub(b"", body)
    bad = sum(1 for byte in leftover if byte >= 0x80)
    return bad if bad <= max(1, valid * MAX_BAD_SHARE) else None


# charset-normalizer's answers that the Cyrillic detector overrules when it is confident: on short
# Russian/Uzbek texts charset-normalizer takes KOI8-R for Shift_JIS, and tells cp1251 from KOI8-R worse.
_CYRILLIC_CODECS = frozenset({"cp1251", "koi8-r", "koi8-u", "iso8859-5", "mac-cyrillic", "cp866", "cp855"})
_MULTIBYTE_CODECS = frozenset(
    {"shift_jis", "shift_jis_2004", "shift_jisx0213", "cp932", "euc_jp", "euc_jis_2004", "euc_jisx0213",
     "gb2312", "gbk", "gb18030", "big5", "big5hkscs", "cp950", "euc_kr", "cp949", "johab", "hz"}
)  # fmt: skip
_COMMON_ON_THE_WEB = ("utf_8", "cp1252", "cp1251", "latin_1", "gb18030", "cp932", "euc_jp", "cp949", "cp874")
DETECT_SAMPLE = 64 * 1024  # charset-normalizer's cost grows with the input; this is plenty


def normalizer_guess(body: bytes) -> str | None:
    """charset-normalizer's best reading of ``body``, as a Python codec name."""
    import charset_normalizer  # imported when needed: most feeds never get here

    results = list(charset_normalizer.from_bytes(body[:DETECT_SAMPLE]))
    if not results:
        return None
    best = results[0]
    # Equal readings (cp1250 and cp1252 on French text that has no letters where they differ …):
    # the code page far more common on the web wins.
    tied = [r.encoding for r in results if (r.chaos, r.coherence) == (best.chaos, best.coherence)]
    for common in _COMMON_ON_THE_WEB:
        if common in tied:
            return _codec(common)
    return _codec(best.encoding)


def detect(body: bytes) -> str | None:
    """The encoding of unlabelled non-UTF-8 text, or None when nothing is confident."""
    cyrillic = detect_cyrillic(body)
    guess = normalizer_guess(body)
    if cyrillic and (guess is None or guess in _CYRILLIC_CODECS or guess in _MULTIBYTE_CODECS):
        return cyrillic
    return guess or cyrillic


def decode(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode a feed body; never raises (undecodable bytes become U+FFFD, and say so in ``warning``)."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return Decoded(body[len(bom) :].decode(codec, errors="replace"), codec, "bom")

    zero_form = _utf16_32_by_zeros(body[:4])
    if zero_form:
        return Decoded(_decode_with(body, zero_form), zero_form, "declaration")

    if body.isascii():
        return Decoded(body.decode("ascii"), "utf-8", "utf-8")
    if _is_utf8(body):
        return Decoded(body.decode("utf-8"), "utf-8", "utf-8")
    bad = nearly_utf8(body)
    if bad is not None:
        warning = f"{bad} invalid UTF-8 byte(s) replaced with U+FFFD"
        return Decoded(_decode_with(body, "utf-8"), "utf-8", "utf-8", warning)

    http = charset_from_content_type(content_type)
    declared = declared_encoding(body)
    if http and http.startswith(("utf-16", "utf-32")):
        http = None  # no zero bytes where UTF-16/32 would have them: the label is wrong
    if declared and declared.startswith(("utf-16", "utf-32", "utf-8")):
        declared = None  # the bytes already proved otherwise
    if http and http != "utf-8":
        if http in _GENERIC_DEFAULTS:
            if declared and declared != http:
                return Decoded(_decode_with(body, declared), declared, "declaration")
            detected = detect(body)
            if detected:
                return Decoded(_decode_with(body, detected), detected, "detected")
        elif http in _CYRILLIC_CANDIDATES:
            detected = detect_cyrillic(body)
            if detected and detected != http:
                return Decoded(_decode_with(body, detected), detected, "detected")
        return Decoded(_decode_with(body, http), http, "http")
    if declared:
        return Decoded(_decode_with(body, declared), declared, "declaration")
    detected = detect(body)
    if detected:
        return Decoded(_decode_with(body, detected), detected, "detected")
    return Decoded(
        _decode_with(body, "utf-8"), "utf-8", "default", "encoding unknown: read as UTF-8, bad bytes replaced"
    )


def utf8_document(text: str) -> bytes:
    """UTF-8 bytes of ``text`` with an XML declaration (if any) that says UTF-8.

    Leading whitespace before ``<?xml`` is dropped too: it is a common partner mistake that
    otherwise makes the strict parser give up on the whole document.
    """
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<?xml"):
        text = _XML_DECL_ENCODING_RE.sub(r'\1 encoding="utf-8"', stripped, count=1)
    return text.encode("utf-8", errors="replace")
