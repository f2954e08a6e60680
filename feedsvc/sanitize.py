"""HTML sanitizing: the one allowlist every stored post goes through.

Admin content and partner content share the allowlist; partner content gets a few extra
rules (see ``feedsvc.ingest.stages.clean``) on top of it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import nh3

from feedsvc.urls import LINK_SCHEMES

# Tags a news article needs; everything else (script, style, form, svg, math …) is dropped. Iframes
# only pass with ``embeds=True``, after ``feedsvc.ingest.stages.clean`` kept those from allowed hosts.
ALLOWED_TAGS: frozenset[str] = frozenset(
    "a abbr audio b bdi bdo blockquote br caption cite code col colgroup dd del div dl dt em figcaption "
    "figure h1 h2 h3 h4 h5 h6 hr i img ins kbd li mark ol p picture pre q s small source span strong "
    "sub sup table tbody td tfoot th thead time tr track u ul video".split()
)
# Only attributes feed validators accept as safe; autoplay, style, classes and handlers never pass.
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"dir", "lang"},
    "a": {"href", "hreflang", "title"},
    "img": {"src", "srcset", "alt", "title", "width", "height"},
    "picture": set(),
    "source": {"src", "srcset", "type", "media"},
    "video": {"src", "poster", "width", "height", "preload", "loop"},
    "audio": {"src", "preload", "loop"},
    "track": {"src", "srclang", "label"},
    "iframe": {"src", "width", "height", "title", "sandbox", "referrerpolicy", "allowfullscreen"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "col": {"span"},
    "colgroup": {"span"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
}
# Without autoplay a player needs its controls. (One forced attribute per tag: nh3 writes several
# in a random order, and the stored HTML must not change from one process to the next.)
_FORCED_ATTRIBUTES: dict[str, dict[str, str]] = {"video": {"controls": ""}, "audio": {"controls": ""}}
# Embeds run sandboxed and leak no full referrer: the partner pre-pass sets these, the filter below
# pins their values, and an iframe without them does not survive.
EMBED_SANDBOX = "allow-scripts allow-same-origin allow-presentation"
EMBED_REFERRER_POLICY = "strict-origin-when-cross-origin"
EMBED_ATTRIBUTES: dict[str, str] = {
    "sandbox": EMBED_SANDBOX,
    "referrerpolicy": EMBED_REFERRER_POLICY,
    "allowfullscreen": "",
}
# Only these schemes survive; javascript:, data:, vbscript: and the rest are removed with the attribute.
URL_SCHEMES: frozenset[str] = LINK_SCHEMES  # one list for admin posts, partner items and their links
# Their content is dropped together with the tag, not kept as text.
DROP_WITH_CONTENT: frozenset[str] = frozenset({"script", "style", "template", "noscript", "iframe", "object"})
# Players partners embed; FEEDSVC_EMBED_HOSTS replaces the list.
DEFAULT_EMBED_HOSTS: tuple[str, ...] = (
    "www.youtube.com",
    "www.youtube-nocookie.com",
    "player.vimeo.com",
    "www.dailymotion.com",
    "rutube.ru",
    "w.soundcloud.com",
    "open.spotify.com",
)
_embed_hosts: frozenset[str] = frozenset(DEFAULT_EMBED_HOSTS)

_TAG_RE = re.compile(r"<[^>]*>")
# Where a block ends, text must not run together ("<p>One.</p><p>Two.</p>" → "One. Two.").
_BLOCK_END_RE = re.compile(
    r"<br\b[^>]*>|</(?:p|div|li|h[1-6]|tr|td|th|blockquote|figcaption|figure|pre|dd|dt)>", re.IGNORECASE
)
_SPACE_RE = re.compile(r"\s+")
# A candidate: a URL (no whitespace; a trailing comma ends it) and an optional descriptor up to a comma.
_SRCSET_CANDIDATE_RE = re.compile(r"[\s,]*([^\s]+)(?:\s+([^,]*))?,?")
_DIRECTIONS = frozenset({"ltr", "rtl", "auto"})
_LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
# Paragraphs that sanitizing left without content (an iframe, a pixel or a script was all they held).
_EMPTY_P_RE = re.compile(r"<p(?:\s[^>]*)?>(?:\s|&nbsp;|\xa0|<br>)*</p>")
# Inside an iframe the HTML parser keeps raw text, which nh3 writes back verbatim: never keep it.
_IFRAME_RE = re.compile(r"(<iframe\b[^>]*>).*?</iframe>", re.DOTALL)
_IFRAME_START_RE = re.compile(r"<iframe\b[^>]*>")
_EMBED_MARKS = (" src=", f' sandbox="{EMBED_SANDBOX}"', f' referrerpolicy="{EMBED_REFERRER_POLICY}"')


def _options(embeds: bool) -> dict[str, Any]:
    # nh3 refuses an iframe that is both allowed and dropped with its content: two option sets.
    drop = set(DROP_WITH_CONTENT) - ({"iframe"} if embeds else set())
    return {
        "tags": set(ALLOWED_TAGS) | ({"iframe"} if embeds else set()),
        "clean_content_tags": drop,
        "attributes": {tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items() if tag not in drop},
        "set_tag_attribute_values": {t: dict(v) for t, v in _FORCED_ATTRIBUTES.items() if t not in drop},
    }


_WITH_EMBEDS = _options(True)
_WITHOUT_EMBEDS = _options(False)


def configure(*, embed_hosts: Iterable[str]) -> None:
    """Set the hosts whose iframes partner HTML may keep (from ``EMBED_HOSTS`` at app creation)."""
    global _embed_hosts
    _embed_hosts = frozenset(h.strip().lower() for h in embed_hosts if h.strip())


def embed_hosts() -> frozenset[str]:
    return _embed_hosts


def is_embed_url(url: str) -> bool:
    """An https URL on one of the allowed embed hosts."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and (parts.hostname or "") in _embed_hosts and parts.port is None


def _http_url(value: str) -> bool:
    return value.lower().startswith(("https://", "http://")) and len(value) > 8


def parse_srcset(value: str) -> list[tuple[str, str]]:
    """(URL, descriptor) pairs of a ``srcset``, split as browsers do: a URL may hold commas
    ("data:image/png;base64,…"), only a comma after it or after the descriptor separates."""
    pairs: list[tuple[str, str]] = []
    for match in _SRCSET_CANDIDATE_RE.finditer(value):
        url, descriptor = match.group(1), (match.group(2) or "").strip()
        if url.endswith(","):
            url, descriptor = url.rstrip(","), ""
        if url:
            pairs.append((url, descriptor))
    return pairs


def join_srcset(pairs: Iterable[tuple[str, str]]) -> str | None:
    return ", ".join(f"{url} {d}" if d else url for url, d in pairs) or None


def clean_srcset(value: str) -> str | None:
    """``srcset`` with only absolute http(s) candidates; None when none is left."""
    return join_srcset((url, d) for url, d in parse_srcset(value) if _http_url(url) and " " not in d)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "dir":
        return value.lower() if value.lower() in _DIRECTIONS else None
    if attribute == "lang":
        return value if _LANGUAGE_RE.match(value) else None
    if attribute == "srcset":
        return clean_srcset(value)
    if tag == "iframe":
        if attribute == "src":
            return value if is_embed_url(value) else None
        if attribute in EMBED_ATTRIBUTES:
            return EMBED_ATTRIBUTES[attribute]
    return value


def _keep_embed(match: re.Match[str]) -> str:
    start = _IFRAME_START_RE.match(match.group(0))
    tag = start.group(0) if start else ""
    return f"{tag}</iframe>" if all(mark in tag for mark in _EMBED_MARKS) else ""


def sanitize_html(fragment: str, *, embeds: bool = False) -> str:
    """Return ``fragment`` reduced to the allowlist, with links marked ``noopener noreferrer``.

    ``embeds``: keep iframes whose source is on an allowed embed host (sandboxed); the caller has
    turned every other iframe into a link already. Otherwise iframes go with their content.
    """
    cleaned = nh3.clean(
        fragment,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
        attribute_filter=_attribute_filter,
        **(_WITH_EMBEDS if embeds else _WITHOUT_EMBEDS),
    )
    if "<iframe" in cleaned:
        cleaned = _IFRAME_RE.sub(_keep_embed, cleaned)
    if "</p>" in cleaned:
        while True:  # a removed paragraph can leave its parent paragraph empty in turn
            shorter = _EMPTY_P_RE.sub("", cleaned)
            if shorter == cleaned:
                break
            cleaned = shorter
    return cleaned


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: tags removed (their script/style content too), entities decoded."""
    spaced = _BLOCK_END_RE.sub(lambda m: m.group(0) + " ", fragment)
    cleaned = nh3.clean(spaced, tags=set(), clean_content_tags=set(DROP_WITH_CONTENT))
    text = html.unescape(_TAG_RE.sub(" ", cleaned))
    return _SPACE_RE.sub(" ", text).strip()


# What an editor must be told about rather than have silently dropped: active content.
ACTIVE_TAGS: frozenset[str] = frozenset(
    "script style iframe frame frameset object embed applet form input button textarea select base link meta "
    "svg math noscript template".split()
)
_URL_ATTRIBUTES = (
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "background",
    "poster",
    "data",
    "srcset",
)
_SCHEME_NOISE = re.compile(r"[\x00-\x20]+")


def _active_scheme(value: str) -> str | None:
    # Browsers ignore whitespace and control characters inside a scheme ("java\tscript:").
    squeezed = _SCHEME_NOISE.sub("", html.unescape(value)).lower()
    for scheme in ("javascript", "vbscript", "data"):
        if squeezed.startswith(scheme + ":"):
            return scheme
    return None


def find_active_content(fragment: str) -> list[str]:
    """Scripts, event handlers and script URLs in ``fragment``, described for an error message."""
    from lxml import etree
    from lxml import html as lxml_html

    found: list[str] = []
    try:
        elements = lxml_html.fragments_fromstring(fragment) if fragment.strip() else []
    except (etree.ParserError, ValueError):
        return found
    for root in elements:
        if not isinstance(root, etree._Element):
            continue
        for element in root.iter():
            tag = element.tag if isinstance(element.tag, str) else ""
            if tag.lower() in ACTIVE_TAGS:
                found.append(f"<{tag.lower()}> element")
            for name, value in element.attrib.items():
                lowered = name.lower()
                if lowered.startswith("on"):
                    found.append(f"{lowered} event handler")
                elif lowered in _URL_ATTRIBUTES and (scheme := _active_scheme(value)):
                    found.append(f"{scheme}: URL in {lowered}")
    return list(dict.fromkeys(found))
