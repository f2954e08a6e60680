"""Text rules every stored string obeys: XML-safe characters, summaries, slugs."""

from __future__ import annotations

import re

from slugify import slugify

# XML 1.0 Char production: forbids C0 controls except tab/newline/CR, lone surrogates, U+FFFE/U+FFFF.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

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
