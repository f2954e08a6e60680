"""Partner HTML and titles → what we store.

``clean_partner_html`` runs a pre-pass on a parsed tree (lazy-loaded images given their real source,
absolute URLs and ``srcset`` candidates, no tracking pixels, no script-bearing URLs on ANY element,
SVG and MathML included; iframes from allowed embed hosts kept, every other one a link to its
source; players without a playable source reduced to their fallback), then the shared allowlist
(``feedsvc.sanitize.sanitize_html``), which stays the final gate: whatever the pre-pass misses,
the allowlist still removes, and the allowlist also forces ``rel="noopener noreferrer"``.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html

from feedsvc.sanitize import (
    EMBED_ATTRIBUTES,
    html_to_text,
    is_embed_url,
    join_srcset,
    parse_srcset,
    sanitize_html,
)
from feedsvc.text import MAX_TITLE_LENGTH, xml_safe
from feedsvc.text import clean_title as plain_title

__all__ = ["MAX_TITLE_LENGTH", "clean_partner_html", "clean_title", "fragment_to_text", "is_tracking_pixel"]

# Browsers ignore ASCII whitespace and control characters inside a scheme ("java\tscript:").
_URL_JUNK_RE = re.compile(r"[\x00-\x20\x7f]+")
_ABSOLUTE = ("https://", "http://")  # nothing to resolve
_DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:", "livescript:", "mocha:")
# Attributes whose value is a URL to be made absolute.
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "poster", "background", "longdesc", "action"})
# Counters and open-tracking beacons partners embed in article bodies.
_TRACKER_RE = re.compile(
    r"""
    mc\.yandex\.(?:ru|com|uz)/watch | counter\.yadro\.ru | top-fwz1\.mail\.ru/counter
    | \.tns-counter\.ru | top100\.rambler\.ru | counter\.rambler\.ru | statcounter\.com
    | google-analytics\.com | googletagmanager\.com | pixel\.wp\.com | stats\.wordpress\.com
    | feeds\.feedburner\.com/~(?:r|ff)/ | pixel\.quantserve\.com | facebook\.com/tr
    | /(?:1x1|pixel|spacer|blank|tracking|beacon|open)\.(?:gif|png)\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
_HIDDEN_STYLE_RE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|(?:left|top)\s*:\s*-\d{3,}px"
    r"|(?:^|;)\s*width\s*:\s*[01](?:px)?\s*(?:;|$)",
    re.IGNORECASE,
)
# Lazy loaders keep the real image in a data- attribute and show a placeholder until scrolled to.
_LAZY_SRC = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-url")
_LAZY_SRCSET = ("data-srcset", "data-lazy-srcset")
_PLACEHOLDER_RE = re.compile(
    r"^data:|(?:^|[/_.-])(?:blank|spacer|placeholder|transparent|pixel|1x1|empty|lazy(?:load)?|loading|grey"
    r"|gray)(?:[_.-][^/]*)?\.(?:gif|png|svg|webp|jpe?g)(?:[?#]|$)|placeholder",
    re.IGNORECASE,
)
_DESCRIPTOR_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([wx])$", re.IGNORECASE)
_DIMENSION_RE = re.compile(r"^\s*([0-9]{1,6})(?:\.[0-9]*)?\s*(?:px)?\s*$", re.IGNORECASE)


def _dimension(value: str | None) -> int | None:
    match = _DIMENSION_RE.match(value or "")
    return int(match.group(1)) if match else None


def is_tracking_pixel(img: lxml.html.HtmlElement) -> bool:
    """1×1 (or smaller) images, hidden images and known counter/beacon URLs."""
    width, height = _dimension(img.get("width")), _dimension(img.get("height"))
    if width is not None and height is not None and width <= 1 and height <= 1:
        return True
    if _HIDDEN_STYLE_RE.search(img.get("style") or ""):
        return True
    return bool(_TRACKER_RE.search(img.get("src") or ""))


def _is_dangerous_url(value: str) -> bool:
    return _URL_JUNK_RE.sub("", value).lower().startswith(_DANGEROUS_SCHEMES)


def _absolute(value: str, base_url: str | None) -> str | None:
    """``value`` resolved against ``base_url``; None when it cannot be resolved sanely."""
    value = value.strip()
    if not base_url:
        return value
    try:
        joined = urljoin(base_url, value)
        urlsplit(joined)  # raises on e.g. an unbalanced "[" in the host
    except ValueError:
        return None
    return joined


def _drop_element(element: lxml.html.HtmlElement) -> None:
    parent = element.getparent()
    element.drop_tree()  # keeps the tail text
    # A link that only wrapped a tracker (FeedBurner flares) is empty now: drop it too.
    if (
        parent is not None
        and parent.tag == "a"
        and parent.getparent() is not None
        and len(parent) == 0
        and not (parent.text or "").strip()
    ):
        parent.drop_tree()


def _is_placeholder(src: str | None) -> bool:
    return not (src or "").strip() or bool(_PLACEHOLDER_RE.search(src or ""))


def _best_candidate(srcset: str) -> str | None:
    """The largest image a ``srcset`` offers (by its w or x descriptor), for an image without src."""
    best: tuple[float, str] | None = None
    for url, descriptor in parse_srcset(srcset):
        match = _DESCRIPTOR_RE.match(descriptor)
        size = float(match.group(1)) if match else 1.0
        if best is None or size > best[0]:
            best = (size, url)
    return best[1] if best else None


def _promote_lazy(root: lxml.html.HtmlElement) -> None:
    for element in root.iter("img", "source"):
        if _is_placeholder(element.get("src")):
            lazy = next((element.get(name) for name in _LAZY_SRC if element.get(name)), None)
            if lazy:
                element.set("src", lazy)
        lazy_set = next((element.get(name) for name in _LAZY_SRCSET if element.get(name)), None)
        if lazy_set and _is_placeholder(element.get("srcset")):
            element.set("srcset", lazy_set)
        if element.tag == "img" and _is_placeholder(element.get("src")) and element.get("srcset"):
            best = _best_candidate(element.get("srcset") or "")
            if best:
                element.set("src", best)


def _absolute_srcset(value: str, base_url: str | None) -> str | None:
    kept: list[tuple[str, str]] = []
    for url, descriptor in parse_srcset(value):
        if _is_dangerous_url(url):
            continue
        absolute = _absolute(url, base_url)
        if absolute and absolute.startswith(_ABSOLUTE):
            kept.append((absolute, descriptor))
    return join_srcset(kept)


def _embeds(root: lxml.html.HtmlElement) -> None:
    """Iframes from allowed hosts stay (the sanitizer sandboxes them); the rest become links."""
    for frame in list(root.iter("iframe")):
        src = (frame.get("src") or "").strip()
        if src.startswith("http://") and is_embed_url("https://" + src[7:]):
            src = "https://" + src[7:]  # the players all serve https
        if is_embed_url(src):
            for child in list(frame):
                frame.remove(child)
            frame.text = None
            kept = {name: frame.get(name) for name in ("width", "height", "title") if frame.get(name)}
            frame.attrib.clear()
            frame.set("src", src)
            for name, value in {**kept, **EMBED_ATTRIBUTES}.items():
                frame.set(name, value or "")
            continue
        if not src.startswith(_ABSOLUTE):
            _drop_element(frame)
            continue
        link = lxml.html.Element("a", href=src)
        link.text = src
        link.tail = frame.tail
        frame.getparent().replace(frame, link)


def _unwrap_sourceless_players(root: lxml.html.HtmlElement) -> None:
    # A player with nothing playable would hide its fallback text: keep the text, lose the player.
    for player in list(root.iter("video", "audio")):
        sources = [s for s in player.iter("source") if (s.get("src") or "").startswith(_ABSOLUTE)]
        if not (player.get("src") or "").startswith(_ABSOLUTE) and not sources:
            for child in list(player.iter("source", "track")):
                child.drop_tag()  # libxml2 does not know them as void: text may sit inside
            player.drop_tag()
    for child in list(root.iter("source", "track")):
        parent = child.getparent()
        if parent is None or parent.tag not in ("video", "audio", "picture", "source"):
            child.drop_tag()  # only meaningful inside a player or a picture


def _prepass(root: lxml.html.HtmlElement, base_url: str | None) -> None:
    _promote_lazy(root)  # first: a lazy image's placeholder would pass for a tracking pixel
    for img in list(root.iter("img")):
        if is_tracking_pixel(img):
            _drop_element(img)
    for element in root.iter():
        if not isinstance(element.tag, str) or not element.attrib:  # comments, bare tags
            continue
        for name, value in list(element.attrib.items()):
            # A scheme needs a colon (entities are already decoded here): cheap pre-check.
            if name in ("srcset", "data-srcset"):
                srcset = _absolute_srcset(value, base_url)
                if srcset is None:
                    del element.attrib[name]
                else:
                    element.attrib[name] = srcset
            elif ":" in value and _is_dangerous_url(value):
                # On any element and under any name: SVG <a xlink:href>, MathML href=, <form action> …
                del element.attrib[name]
            elif name.rsplit(":", 1)[-1].lower() in _URL_ATTRIBUTES and not value.startswith(_ABSOLUTE):
                absolute = _absolute(value, base_url)  # "xlink:href" counts as "href"
                if absolute is None or _is_dangerous_url(absolute):
                    del element.attrib[name]
                else:
                    element.attrib[name] = absolute
    for img in list(root.iter("img")):
        if not img.get("src"):  # its data:/javascript: source was removed: nothing left to show
            _drop_element(img)
    _embeds(root)
    _unwrap_sourceless_players(root)


def clean_partner_html(fragment: str | None, base_url: str | None) -> str:
    """Sanitized HTML for a partner fragment, with URLs made absolute against ``base_url``."""
    if not fragment or not fragment.strip():
        return ""
    fragment = xml_safe(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return sanitize_html(fragment).strip()  # the allowlist alone is still safe
    _prepass(root, base_url)
    serialized = lxml.html.tostring(root, encoding="unicode")
    inner = serialized.removeprefix("<div>").removesuffix("</div>")
    return sanitize_html(inner, embeds=True).strip()


def fragment_to_text(fragment: str) -> str:
    """Plain text of sanitized HTML, with block boundaries kept as spaces."""
    return html_to_text(fragment)


def clean_title(text: str | None) -> str:
    """Plain text as a reader sees it; the one title rule, shared with admin posts."""
    return plain_title(text)
