"""Text rules every stored string obeys: XML-safe characters, summaries, slugs, titles."""

from __future__ import annotations

import html
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


# ----------------------------------------------------------------------------- titles

MAX_TITLE_LENGTH = 500
DERIVED_TITLE_LENGTH = 120
# Element names a title's markup is made of. A tag is only markup when it is one of these AND looks
# used as such (attributes, a matching close tag, or a line break); anything else is text a reader
# should see: "vector<int> explained", "Use the <video> tag", "metro <yangi> bekatlari".
_HTML_ELEMENTS = frozenset(
    "a abbr acronym b bdi bdo big blink blockquote br center cite code del dfn div em font h1 h2 h3 h4 h5 "
    "h6 i img ins kbd mark nobr p q s samp small span strike strong sub sup time tt u var wbr".split()
)
_LINE_BREAKS = frozenset({"br", "wbr"})
_DROP_CONTENT = ("script", "style", "template", "noscript", "iframe", "object")
_DROP_CONTENT_RE = re.compile(
    rf"<({'|'.join(_DROP_CONTENT)})\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)(\s[^<>]*?)?\s*(/?)>")
_ENTITY_RE = re.compile(r"&(?:#\d{1,7}|#x[0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?…])\s+(?=\S)")


def _strip_markup(text: str) -> str:
    """Remove the tags of ``text`` that are markup by the rule above; leave the rest as written."""
    text = _COMMENT_RE.sub("", _DROP_CONTENT_RE.sub("", text))
    tags = list(_TAG_RE.finditer(text))
    if not tags:
        return text
    opened = {m.group(2).lower() for m in tags if not m.group(1)}
    closed = {m.group(2).lower() for m in tags if m.group(1)}
    out: list[str] = []
    pos = 0
    for match in tags:
        slash, name, attrs, self_closing = match.group(1), match.group(2).lower(), *match.group(3, 4)
        markup = name in _HTML_ELEMENTS and (
            bool(attrs and "=" in attrs)
            or bool(self_closing)
            or name in _LINE_BREAKS
            or (name in closed if not slash else name in opened)
        )
        out.append(text[pos : match.start()])
        if not markup:
            out.append(match.group(0))
        elif name in _LINE_BREAKS or name in ("p", "div"):
            out.append(" ")
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def clean_title(text: str | None) -> str:
    """A title as a reader sees it: markup removed where it is markup, entities decoded (an entity
    escaped twice too), control characters and runs of whitespace gone, at most 500 characters."""
    if not text:
        return ""
    text = html.unescape(_strip_markup(text))
    if _ENTITY_RE.search(text) or _TAG_RE.search(text):
        # Escaped twice in the feed ("&amp;quot;", "&amp;lt;b&amp;gt;"): what one level of decoding
        # leaves is still entities or markup, not text.
        text = html.unescape(_strip_markup(text))
    text = " ".join(xml_safe(text).split())
    if len(text) > MAX_TITLE_LENGTH:
        text = text[: MAX_TITLE_LENGTH - 1].rstrip() + ELLIPSIS
    return text


def first_sentence(text: str, limit: int = DERIVED_TITLE_LENGTH) -> str:
    """The first sentence of plain ``text``, cut at a word boundary within ``limit`` with "…"."""
    text = " ".join(text.split())
    if not text:
        return ""
    return summarize(_SENTENCE_END_RE.split(text, maxsplit=1)[0], limit)
