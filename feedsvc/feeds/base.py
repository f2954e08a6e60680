"""What every feed writer shares: the writer interface and the text, URL and date rules.

A writer turns a format-independent :class:`~feedsvc.feeds.model.Feed` into the bytes of one
document. Every writer first runs :func:`prepare`, so the three formats show exactly the same
cleaned text, fallbacks, URLs and instants; the format modules only decide how to spell them.
"""

from __future__ import annotations

import html
import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from html.entities import name2codepoint
from typing import Any, ClassVar
from urllib.parse import quote, urljoin

from lxml import etree

from feedsvc.feeds.model import Credit, Enclosure, Feed, FeedLink, Image, Item, Thumbnail
from feedsvc.sanitize import html_to_text
from feedsvc.text import summarize, xml_safe

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

HTML_TYPE = "text/html"
TITLE_FALLBACK_LENGTH = 80


class FeedWriter(ABC):
    """One output format: its name, URL suffix, HTTP Content-Type and renderer."""

    name: ClassVar[str]
    suffix: ClassVar[str]
    content_type: ClassVar[str]

    @abstractmethod
    def render(self, feed: Feed, entries: EntryCache | None = None) -> bytes:
        """The complete UTF-8 document; the same ``feed`` always gives the same bytes. With
        ``entries``, items rendered before are taken from it and only the others are built."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


# --- rendered entries -----------------------------------------------------------------------


class EntryCache:
    """Rendered entries by (format, feed language, prepared item), bounded, shared by the threads
    of a process. The key is the item's whole content, not an id: an edit, a renamed category or
    a new translation is a new key, so a cached entry is never stale."""

    def __init__(self, size: int = 4096) -> None:
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self.built = 0  # entries rendered, for tests and the benchmark

    def get(self, key: Hashable) -> Any:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def assemble_xml(
    build: Callable[[tuple[PreparedItem, ...]], bytes],
    prepared: PreparedFeed,
    entries: EntryCache | None,
    fmt: str,
    entry_start: bytes,
    entry_end: bytes,
    container_end: bytes,
) -> bytes:
    """The document of ``prepared``: feedgen builds the channel and only the entries not in
    ``entries``; the document is put together from the built and the cached entries.

    Works on the serialized bytes: the documents are pretty-printed with one element per line at
    a fixed depth, so an entry's bytes are the same whichever document it was built in, and the
    result equals a document built whole. ``entry_start`` is the start of an entry's first line
    (b"\n    <item"), ``entry_end`` its last line, ``container_end`` the line entries precede.
    """
    if entries is None:
        return build(prepared.items)
    keys = [(fmt, prepared.language, item) for item in prepared.items]
    cached = [entries.get(key) for key in keys]
    missing = tuple(item for item, fragment in zip(prepared.items, cached, strict=True) if fragment is None)
    document = build(missing)
    entries.built += len(missing)
    built: list[bytes] = []
    position = document.find(entry_start)
    head_end = position + 1 if position >= 0 else document.rfind(container_end)
    tail_start = head_end
    while position >= 0:
        end = document.index(entry_end, position) + len(entry_end)
        built.append(document[position + 1 : end])
        tail_start = end
        position = document.find(entry_start, end - 1)
    if len(built) != len(missing) or head_end < 0:  # pragma: no cover - a layout we do not expect
        raise RuntimeError(f"{fmt}: could not split the rendered entries")
    fresh = iter(built)
    parts = [document[:head_end]]
    for key, fragment in zip(keys, cached, strict=True):
        if fragment is None:
            fragment = next(fresh)
            entries.put(key, fragment)
        parts.append(fragment)
    parts.append(document[tail_start:])
    return b"".join(parts)


# --- text -----------------------------------------------------------------------------------

# Beyond what XML forbids (xml_safe): DEL and C1 controls, U+FFFD and Unicode noncharacters.
# They are legal XML, but the W3C validator reports C1 controls and U+FFFD as "bad characters"
# and HTML parsers report the rest as parse errors inside description/content.
_DISCOURAGED = re.compile(
    "[\x7f-\x9f\ufdd0-\ufdef\ufffd"
    "\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe\U0003ffff\U0004fffe\U0004ffff"
    "\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe\U0007ffff\U0008fffe\U0008ffff"
    "\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff\U000cfffe\U000cffff"
    "\U000dfffe\U000dffff\U000efffe\U000effff\U000ffffe\U000fffff\U0010fffe\U0010ffff]"
)
# UTF-8 bytes that were decoded as Latin-1 ("Ã©" for "é"); the validator flags such runs.
_MOJIBAKE = re.compile("[\xc2-\xf4][\x80-\xbf]+")
# One cheap pass that is true for every string any of the rules above could change; ordinary
# text (Latin, Cyrillic, emoji) never matches, so it skips the slower exact passes.
_SUSPECT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\xc2\xc3\ud800-\udfff\ufdd0-\ufdef"
    "\ufffd-\uffff\U0001fffe-\U0010ffff]"
)


def _repair_mojibake(match: re.Match[str]) -> str:
    run = match.group(0)
    try:
        return run.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return run


def clean_text(value: str) -> str:
    """``value`` with every character removed that an XML, HTML or feed consumer rejects."""
    if _SUSPECT.search(value) is None:
        return value
    value = xml_safe(value)
    # Removing a character can join a new mojibake pair and repairing can yield a C1 control,
    # so both run until nothing changes (each change shortens the text, so this ends).
    while True:
        cleaned = _DISCOURAGED.sub("", _MOJIBAKE.sub(_repair_mojibake, value))
        if cleaned == value:
            return cleaned
        value = cleaned


def _settle(value: str, shape: Callable[[str], str]) -> str:
    # Trimming whitespace can bring characters together that clean_text() would have repaired,
    # so a changed text is cleaned again until it is stable.
    while True:
        cleaned = shape(clean_text(value))
        if cleaned == value:
            return cleaned
        value = cleaned


def _single_line(value: str) -> str:
    return " ".join(value.split())


def clean_line(value: str) -> str:
    """Cleaned single-line text: titles, names and labels never carry line breaks or runs of space."""
    return _settle(value, _single_line)


def clean_block(value: str) -> str:
    """Cleaned multi-line text without surrounding whitespace."""
    return _settle(value, str.strip)


# Names of HTML elements, for telling markup from plain text the way feed validators do.
HTML_TAGS: frozenset[str] = frozenset(
    """a abbr acronym address applet area article aside audio b base basefont bdi bdo big blink
    blockquote body br button canvas caption center cite code col colgroup command data datalist
    dd del details dfn dialog dir div dl dt em embed fieldset figcaption figure font footer form
    frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins isindex
    kbd keygen label legend li link listing main map mark marquee menu meta meter nav nobr
    noembed noframes noscript object ol optgroup option output p param picture plaintext pre
    progress q rp rt ruby s samp script section select slot small source span strike strong
    style sub summary sup table tbody td template textarea tfoot th thead time title tr track
    tt u ul var video wbr xmp""".split()
)
_END_TAG = re.compile(r"</(?=(\w+)>)")
_ENTITY_LIKE = re.compile(r"&(#?\w+)")
_CHAR_DATA_LIKE = re.compile(r"&#[x0-9]|<[/a-zA-Z]")
WORD_JOINER = "\u2060"
# Stand-ins for "<" and "&" that must leave the serializer as hexadecimal character references.
# Noncharacters: clean_text() strips them from input, so they can never collide with real text.
LT_SENTINEL = "\ufdd0"
AMP_SENTINEL = "\ufdd1"
_SENTINEL_BYTES = (
    (LT_SENTINEL.encode(), b"&#x3C;"),
    (AMP_SENTINEL.encode(), b"&#x26;"),
)


def _is_html_end_tag(match: re.Match[str]) -> bool:
    return match.group(1).lower() in HTML_TAGS


def has_html_end_tag(text: str) -> bool:
    return any(_is_html_end_tag(m) for m in _END_TAG.finditer(text))


def has_entity_like(text: str) -> bool:
    """True when ``text`` contains something a reader may take for an HTML character reference."""
    for ref in _ENTITY_LIKE.findall(text):
        if ref in name2codepoint or ref == "apos" or not ref.isalpha():
            return True
    return False


def looks_like_markup(text: str) -> bool:
    """Plain text that consumers would misread as HTML (an end tag or a character reference)."""
    return ("<" in text or "&" in text) and (has_html_end_tag(text) or has_entity_like(text))


def plain_xml_text(text: str) -> str:
    """Plain text for an element or attribute that may only hold plain text (RSS Profile rules).

    Readers guess whether such text is HTML, so a literal end tag ("</b>") gets an invisible
    word joiner after "<", and text that still looks like markup has its "<" and "&" written as
    hexadecimal character references, the RSS Profile's way of saying "this is literal text".
    """
    if "<" not in text and "&" not in text:
        return text
    if has_html_end_tag(text):
        text = _END_TAG.sub(lambda m: "<" + WORD_JOINER + "/" if _is_html_end_tag(m) else "</", text)
    if has_entity_like(text) or _CHAR_DATA_LIKE.search(text):
        text = text.replace("&", AMP_SENTINEL).replace("<", LT_SENTINEL)
    return text


class PlainText:
    """:func:`plain_xml_text` for one render, remembering whether character references are due.

    Searching the finished document for the stand-ins costs more than the whole rest of
    serialization, so the render records whether it produced any.
    """

    __slots__ = ("char_refs",)

    def __init__(self) -> None:
        self.char_refs = False

    def __call__(self, text: str) -> str:
        plain = plain_xml_text(text)
        if plain is not text and (LT_SENTINEL in plain or AMP_SENTINEL in plain):
            self.char_refs = True
        return plain


def escape_html(text: str) -> str:
    """Plain text as an HTML fragment (for fields whose value is HTML)."""
    return html.escape(text, quote=False)


def finish(data: bytes, char_refs: bool) -> bytes:
    """Serialized bytes with the stand-ins of :class:`PlainText` written as references."""
    if char_refs:
        for sentinel, reference in _SENTINEL_BYTES:
            data = data.replace(sentinel, reference)
    return data


def serialize(root: etree._Element, char_refs: bool = False) -> bytes:
    """UTF-8 bytes with an XML declaration and one element per line.

    One element per line matters: the W3C validator excuses markup-like plain text only when a
    character reference stands on the element's own line. ``char_refs``: the tree holds
    stand-ins (see :class:`PlainText`) to write as references.
    """
    data: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)
    if char_refs:
        for sentinel, reference in _SENTINEL_BYTES:
            data = data.replace(sentinel, reference)
    return data


# --- URLs -------------------------------------------------------------------------------------

# Characters a URI may contain as they are (RFC 3986 unreserved, reserved and "%"); square
# brackets only around an IPv6 host.
_URI_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~:/?#@!$&'()*+,;=%]")
_URI_SAFE_CHARS = "-._~:/?#@!$&'()*+,;=%"
_AUTHORITY = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*)(.*)$", re.S)
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# Start tags of the elements whose URL attributes may appear in sanitized content.
_URL_TAG = re.compile(r"""<(?:a|img|blockquote|q|del|ins)\b(?:[^>"']|"[^"]*"|'[^']*')*>""", re.I)
_URL_ATTR = re.compile(r"""(\s(?:href|src|cite)\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.I)


def as_uri(url: str) -> str:
    """``url`` as an ASCII URI: IRIs and stray spaces are percent-encoded (RFC 3987 mapping)."""
    url = url.strip()
    if _URI_UNSAFE.search(url) is None:
        return url
    match = _AUTHORITY.match(url)
    if match is None:
        return quote(url, safe=_URI_SAFE_CHARS)
    authority, rest = match.groups()
    return quote(authority, safe=_URI_SAFE_CHARS + "[]") + quote(rest, safe=_URI_SAFE_CHARS)


_URL_ATTR_NAMES = ("href", "src", "cite")
_ATTR_VALUE_START = re.compile(r"""\s*=\s*["']?""")


def _has_relative_url(fragment: str) -> bool:
    """Quick scan (str.find, no regex over the whole text) for a URL attribute without scheme."""
    lowered = fragment.lower()
    for name in _URL_ATTR_NAMES:
        start = 0
        while (found := lowered.find(name, start)) >= 0:
            start = found + len(name)
            value = _ATTR_VALUE_START.match(lowered, start)
            if value is not None and not _HAS_SCHEME.match(fragment, value.end()):
                return True
    return False


def absolutize_html(fragment: str, base: str) -> str:
    """Resolve relative href/src/cite URLs in ``fragment`` against ``base``.

    Feed readers show content away from the page it came from, so a relative link in a feed
    points nowhere. Sanitized content is normally absolute; this is the last defence.
    """
    if not _has_relative_url(fragment):
        return fragment

    def fix_attr(match: re.Match[str]) -> str:
        quoted = next(group for group in match.groups()[1:] if group is not None)
        value = html.unescape(quoted).strip()
        if _HAS_SCHEME.match(value):
            return match.group(0)
        absolute = as_uri(urljoin(base, value))
        return f'{match.group(1)}"{html.escape(absolute, quote=True)}"'

    def fix_tag(match: re.Match[str]) -> str:
        return _URL_ATTR.sub(fix_attr, match.group(0))

    return _URL_TAG.sub(fix_tag, fragment)


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
_URI_PARTS = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(?://([^/?#]*))?(.*)$", re.S)
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _normalize_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if path.endswith(("/.", "/..")):
        output.append("")
    return "/" + "/".join(output)


def canonical_id(uri: str) -> str:
    """``uri`` in the normal form Atom ids are compared in (RFC 3986 section 6.2.2).

    The validator warns about ids that differ from it ("http://Example.uz:80" for
    "http://example.uz/"), and ids come from the app and from partners' configuration.
    """
    match = _URI_PARTS.match(uri)
    if match is None:
        return uri
    scheme, authority, rest = match.group(1).lower(), match.group(2), match.group(3)
    if authority is None:
        return f"{scheme}:{_PERCENT.sub(_normalize_escape, rest)}"
    authority = authority.lower()
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port and authority.endswith(default_port):
        authority = authority[: -len(default_port)]
    path, mark, after = rest.partition("?") if "?" in rest.split("#", 1)[0] else rest.partition("#")
    path = _remove_dot_segments(path) if path.startswith("/") else "/" + path
    return _PERCENT.sub(_normalize_escape, f"{scheme}://{authority}{path}{mark}{after}")


# --- dates ------------------------------------------------------------------------------------


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive datetimes are refused rather than guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"feed datetimes must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)


def rfc822(moment: datetime) -> str:
    """RFC 822 date with a four-digit year and "GMT", independent of the process locale."""
    return format_datetime(utc(moment), usegmt=True)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 date-time in UTC, the same string in Atom and JSON Feed."""
    return utc(moment).isoformat()


# --- the prepared feed ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreparedCategory:
    term: str  # the slug
    label: str
    scheme: str


@dataclass(frozen=True, slots=True)
class PreparedAlternate:
    language: str
    url: str
    title: str  # may be empty: the link then has no title


@dataclass(frozen=True, slots=True)
class PreparedSource:
    name: str
    url: str  # the partner's feed
    home_url: str | None = None  # the partner's site


@dataclass(frozen=True, slots=True)
class PreparedItem:
    guid: str
    url: str
    title: str  # never blank
    summary: str  # plain text, never blank
    content_html: str  # may be empty
    published: datetime
    updated: datetime
    language: str
    mark_language: bool  # the feed's language is absent or another: the item states its own
    author: str | None
    categories: tuple[PreparedCategory, ...]
    image: Image | None
    alternates: tuple[PreparedAlternate, ...]
    source: PreparedSource | None
    enclosures: tuple[Enclosure, ...] = ()  # every media file; a post with only an image lists it
    enclosure: Enclosure | None = None  # the one RSS <enclosure>: see rss_enclosure()
    thumbnail: Thumbnail | None = None  # the item's picture when no enclosure shows it
    rights: str | None = None
    credits: tuple[Credit, ...] = ()


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    title: str  # never blank
    description: str  # never blank
    home_url: str
    self_url: str
    language: str | None
    updated: datetime
    feed_id: str
    generator: str
    icon_url: str | None
    items: tuple[PreparedItem, ...]
    hubs: tuple[str, ...] = ()
    logo_url: str | None = None
    favicon_url: str | None = None
    image_size: tuple[int, int] | None = None
    links: tuple[FeedLink, ...] = ()
    archive: bool = False

    def link(self, rel: str) -> str | None:
        return next((link.href for link in self.links if link.rel == rel), None)


MEDIUMS = frozenset({"image", "audio", "video", "document", "executable"})
_IFRAME = re.compile(r"<iframe\b[^>]*>.*?</iframe>", re.S | re.I)
_IFRAME_SRC = re.compile(r'\ssrc="([^"]+)"')


def rss_enclosure(enclosures: tuple[Enclosure, ...]) -> Enclosure | None:
    """The enclosure RSS gets (the RSS Profile allows one per item): the first that is not an image,
    since the audio or video is what the item is about and what podcast clients fetch; else the
    first image. The others travel as media:content."""
    return next((e for e in enclosures if e.medium != "image"), enclosures[0] if enclosures else None)


def _embed_as_link(match: re.Match[str]) -> str:
    src = _IFRAME_SRC.search(match.group(0))
    return f'<a href="{src.group(1)}" rel="noopener noreferrer">{src.group(1)}</a>' if src else ""


def embeds_as_links(fragment: str) -> str:
    """Stored partner HTML keeps sandboxed player iframes for our pages; feed validators call any
    iframe a security risk and readers drop them, so feeds link to the player instead."""
    return _IFRAME.sub(_embed_as_link, fragment) if "<iframe" in fragment else fragment


def media_elements(parent: etree._Element, item: PreparedItem, plain: Callable[[str], str]) -> None:
    """Media RSS for an item: a media:content per enclosure (with its thumbnail and credits), then
    the item's own picture and credits."""
    for enclosure in item.enclosures:
        media = etree.SubElement(parent, f"{{{MEDIA_NS}}}content", url=enclosure.url)
        media.set("type", enclosure.mime_type)
        media.set("medium", enclosure.medium)
        if enclosure.length > 0:
            media.set("fileSize", str(enclosure.length))
        if enclosure.width:
            media.set("width", str(enclosure.width))
        if enclosure.height:
            media.set("height", str(enclosure.height))
        _thumbnail_element(media, enclosure.thumbnail)
        _credit_elements(media, enclosure.credits, plain)
    _thumbnail_element(parent, item.thumbnail)
    _credit_elements(parent, item.credits, plain)


def _thumbnail_element(parent: etree._Element, thumbnail: Thumbnail | None) -> None:
    if thumbnail is None:
        return
    element = etree.SubElement(parent, f"{{{MEDIA_NS}}}thumbnail", url=thumbnail.url)
    if thumbnail.width:
        element.set("width", str(thumbnail.width))
    if thumbnail.height:
        element.set("height", str(thumbnail.height))


def _credit_elements(
    parent: etree._Element, credits: tuple[Credit, ...], plain: Callable[[str], str]
) -> None:
    for credit in credits:
        element = etree.SubElement(parent, f"{{{MEDIA_NS}}}credit")
        if credit.role:
            element.set("role", credit.role)
        if credit.scheme:
            element.set("scheme", credit.scheme)
        element.text = plain(credit.name)


def _positive(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None


def _credits(credits: tuple[Credit, ...]) -> tuple[Credit, ...]:
    cleaned = (
        Credit(clean_line(c.name), clean_line(c.role or "").lower() or None, (c.scheme or "").strip() or None)
        for c in credits
    )
    return tuple(dict.fromkeys(c for c in cleaned if c.name))


def _thumbnail(thumbnail: Thumbnail | None) -> Thumbnail | None:
    if thumbnail is None:
        return None
    return Thumbnail(as_uri(thumbnail.url), _positive(thumbnail.width), _positive(thumbnail.height))


def _enclosures(item: Item, image: Image | None) -> tuple[Enclosure, ...]:
    prepared = tuple(
        Enclosure(
            url=as_uri(e.url),
            mime_type=e.mime_type.strip() or "application/octet-stream",
            length=max(e.length, 0),
            medium=e.medium if e.medium in MEDIUMS else "document",
            width=_positive(e.width),
            height=_positive(e.height),
            thumbnail=_thumbnail(e.thumbnail),
            credits=_credits(e.credits),
        )
        for e in item.enclosures
    )
    if not prepared and image is not None:
        prepared = (Enclosure(image.url, image.mime_type, image.length, "image"),)
    unique: dict[str, Enclosure] = {}
    for enclosure in prepared:
        unique.setdefault(enclosure.url, enclosure)  # one per URL: feeds may not list a file twice
    return tuple(unique.values())


def _prepare_item(item: Item, feed_language: str | None) -> PreparedItem:
    url = as_uri(item.url)
    content = embeds_as_links(clean_block(item.content_html))
    if content:
        content = absolutize_html(content, url)
    summary = clean_block(item.summary)
    if not summary and content:
        summary = clean_block(summarize(html_to_text(content)))
    title = clean_line(item.title) or clean_line(summarize(summary, TITLE_FALLBACK_LENGTH)) or url
    if not summary:
        # Atom and the validator want textual content for every entry.
        summary = title
    language = item.language.strip()
    author = clean_line(item.author) if item.author else ""

    categories: list[PreparedCategory] = []
    for category in item.categories:
        term = clean_line(category.slug)
        if term:
            label = clean_line(category.label) or term
            categories.append(PreparedCategory(term, label, as_uri(category.scheme)))

    # One alternate per language (Atom allows one alternate per type and hreflang), never the
    # item's own language, which its main link already covers.
    alternates: list[PreparedAlternate] = []
    seen = {language}
    for alternate in item.alternates:
        alt_language = alternate.language.strip()
        if alt_language and alt_language not in seen:
            seen.add(alt_language)
            alternates.append(
                PreparedAlternate(alt_language, as_uri(alternate.url), clean_line(alternate.title))
            )

    image = item.image
    if image is not None:
        image = Image(as_uri(image.url), image.mime_type.strip(), max(image.length, 0))
    source = None
    if item.source is not None:
        source_url = as_uri(item.source.url)
        home = as_uri(item.source.home_url) if item.source.home_url else None
        source = PreparedSource(clean_line(item.source.name) or source_url, source_url, home)
    enclosures = _enclosures(item, image)
    shown = {e.url for e in enclosures} | {e.thumbnail.url for e in enclosures if e.thumbnail}
    thumbnail = Thumbnail(image.url) if image is not None and image.url not in shown else None

    return PreparedItem(
        guid=canonical_id(item.guid.strip()),
        url=url,
        title=title,
        summary=summary,
        content_html=content,
        published=utc(item.published),
        updated=utc(item.updated),
        language=language,
        mark_language=language != feed_language,
        author=author or None,
        categories=tuple(categories),
        image=image,
        alternates=tuple(alternates),
        source=source,
        enclosures=enclosures,
        enclosure=rss_enclosure(enclosures),
        thumbnail=thumbnail,
        rights=clean_line(item.rights) if item.rights and clean_line(item.rights) else None,
        credits=_credits(item.credits),
    )


# The same post is rendered into many feeds and all formats, and scanning its HTML in Python is
# the costliest step of a render, so prepared items are kept (items are immutable and hashable).
# Bounded: a few hundred recent posts make up every feed's working set.
_prepare_item_cached = lru_cache(maxsize=512)(_prepare_item)


def _prepared(item: Item, feed_language: str | None) -> PreparedItem:
    try:
        return _prepare_item_cached(item, feed_language)
    except TypeError:  # unhashable: an item built with lists where the model says tuples
        return _prepare_item(item, feed_language)


def prepare(feed: Feed) -> PreparedFeed:
    """The cleaned, format-independent view every writer renders from."""
    home_url = as_uri(feed.home_url)
    language = feed.language.strip() if feed.language else None
    title = clean_line(feed.title) or home_url
    return PreparedFeed(
        title=title,
        description=clean_line(feed.description) or title,
        home_url=home_url,
        self_url=as_uri(feed.self_url),
        language=language or None,
        updated=utc(feed.updated),
        feed_id=canonical_id(as_uri(feed.feed_id)),
        generator=clean_line(feed.generator) or "feedsvc",
        icon_url=as_uri(feed.icon_url) if feed.icon_url else None,
        items=tuple(_prepared(item, language or None) for item in feed.items),
        hubs=tuple(as_uri(hub) for hub in feed.hubs),
        logo_url=as_uri(feed.logo_url) if feed.logo_url else None,
        favicon_url=as_uri(feed.favicon_url) if feed.favicon_url else None,
        image_size=feed.image_size,
        links=tuple(FeedLink(link.rel, as_uri(link.href)) for link in feed.links),
        archive=feed.archive,
    )
