"""Turn a partner's body bytes into text, whatever it claims (or fails to claim) to be.

Order of evidence:

1. a byte-order mark;
2. bytes that are valid UTF-8 and contain non-ASCII are UTF-8, whatever the labels say
   (a mislabelled UTF-8 feed is far more common than windows-1251 that happens to be valid UTF-8);
3. the HTTP ``charset`` — except a generic server default (ISO-8859-1, US-ASCII, windows-1252),
   which yields to a different encoding declared in the document, or to a confident Cyrillic
   detection: Apache's AddDefaultCharset has mislabelled many Russian feeds;
4. the XML declaration's ``encoding`` (JSON is UTF-8 by definition, UTF-16/32 recognised by the
   position of the zero bytes);
5. detection for unlabelled single-byte text: Cyrillic (windows-1251 vs KOI8-R) by Russian letter
   frequencies and letter case, else windows-1252.

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
    source: str  # "bom", "utf-8", "http", "declaration", "json", "detected" or "default"


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


def decode(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode a feed body; never raises (undecodable bytes become U+FFFD)."""
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
            detected = detect_cyrillic(body)
            if detected:
                return Decoded(_decode_with(body, detected), detected, "detected")
        return Decoded(_decode_with(body, http), http, "http")
    if declared:
        return Decoded(_decode_with(body, declared), declared, "declaration")
    detected = detect_cyrillic(body)
    if detected:
        return Decoded(_decode_with(body, detected), detected, "detected")
    # Not UTF-8, unlabelled, not Cyrillic: windows-1252 decodes every byte to something sensible.
    return Decoded(_decode_with(body, "cp1252"), "cp1252", "default")


def utf8_document(text: str) -> bytes:
    """UTF-8 bytes of ``text`` with an XML declaration (if any) that says UTF-8.

    Leading whitespace before ``<?xml`` is dropped too: it is a common partner mistake that
    otherwise makes the strict parser give up on the whole document.
    """
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<?xml"):
        text = _XML_DECL_ENCODING_RE.sub(r'\1 encoding="utf-8"', stripped, count=1)
    return text.encode("utf-8", errors="replace")
