"""Text rules every stored string obeys: XML-safe characters, summaries, slugs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from slugify import slugify

# XML 1.0 Char production: forbids C0 controls except tab/newline/CR, lone surrogates, U+FFFE/U+FFFF.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Controls (C0, DEL, C1), whitespace and what XML forbids: none belongs in a URL as sent.
_URL_JUNK = re.compile("[\x00-\x20\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
MAX_URL = 2048

SUMMARY_LENGTH = 280
ELLIPSIS = "…"


def xml_safe(value: str) -> str:
    """Strip characters that XML 1.0 forbids (pasted control characters would break every feed)."""
    return _XML_FORBIDDEN.sub("", value)


def summarize(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """Cut plain ``text`` at a word boundary no longer than ``limit``, adding "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + ELLIPSIS


def make_slug(title: str, max_length: int = 80) -> str:
    """URL slug from a title; Cyrillic is transliterated, Uzbek o‘/g‘ apostrophes dropped."""
    slug = slugify(title, max_length=max_length, word_boundary=True, save_order=True)
    return slug or "post"


def url_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a URL we store and put in feeds, or None: it must be absolute http(s),
    at most MAX_URL long, printable, without credentials (they would be published in every feed)."""
    if len(value) > MAX_URL:
        return f"at most {MAX_URL} characters"
    if _URL_JUNK.search(value):
        return "must not contain spaces, control characters or characters that XML forbids"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port that is no number)
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "must be an absolute http or https URL"
    if "@" in parts.netloc:
        return "must not contain credentials (user:password@)"
    return None
