"""HTML sanitizing: the one allowlist every stored post goes through.

Admin content and partner content share the allowlist; partner content gets a few extra
rules (see ``feedsvc.ingest.stages.clean``) on top of it.
"""

from __future__ import annotations

import html
import re

import nh3

from feedsvc.urls import LINK_SCHEMES

# Tags a news article needs; everything else (script, style, iframe, form, svg, math …) is dropped.
ALLOWED_TAGS: frozenset[str] = frozenset(
    "a abbr b blockquote br caption cite code dd del div dl dt em figcaption figure h1 h2 h3 h4 h5 h6 "
    "hr i img ins kbd li mark ol p pre q s small span strong sub sup table tbody td tfoot th thead time "
    "tr u ul".split()
)
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
}
# Only these schemes survive; javascript:, data:, vbscript: and the rest are removed with the attribute.
URL_SCHEMES: frozenset[str] = LINK_SCHEMES  # one list for admin posts, partner items and their links
# Their content is dropped together with the tag, not kept as text.
DROP_WITH_CONTENT: frozenset[str] = frozenset({"script", "style", "template", "noscript", "iframe", "object"})

_TAG_RE = re.compile(r"<[^>]*>")
# Where a block ends, text must not run together ("<p>One.</p><p>Two.</p>" → "One. Two.").
_BLOCK_END_RE = re.compile(
    r"<br\b[^>]*>|</(?:p|div|li|h[1-6]|tr|td|th|blockquote|figcaption|figure|pre|dd|dt)>", re.IGNORECASE
)
_SPACE_RE = re.compile(r"\s+")


def sanitize_html(fragment: str) -> str:
    """Return ``fragment`` reduced to the allowlist, with links marked ``noopener noreferrer``."""
    return nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


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
