"""Strict validity checks for the feeds the service publishes.

The service is judged by the W3C Feed Validation Service (no errors and no warnings) and by the
JSON Feed 1.1 specification. The validator cannot run here, so this module re-implements the
rules it applies to the RSS 2.0, Atom 1.0 and OPML 2.0 documents we emit, and validates JSON
Feed with a JSON Schema written from the spec plus the checks a schema cannot express. Where our
own conventions are stricter than the validator (a language on every item of a mixed feed, a
summary on every entry, one namespace declaration on the root), they are checked too.

Every ``check_*`` function returns a list of problems, each a string "CODE at PATH: detail";
an empty list means valid. Codes are the validator's message names where one exists.

When html5lib is importable, HTML fields are also parsed with it in strict mode, as the
validator does; without it a lighter tokenizer check stands in.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from html.entities import html5 as html5_entities
from html.entities import name2codepoint
from pathlib import Path
from typing import Any

import jsonschema
import lxml.html
from lxml import etree

try:  # the validator's own HTML check; optional here
    import html5lib
    from html5lib.html5parser import ParseError as Html5ParseError
except ImportError:  # pragma: no cover - depends on the environment
    html5lib = None
    Html5ParseError = Exception

ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
MEDIA = "http://search.yahoo.com/mrss/"
XML = "http://www.w3.org/XML/1998/namespace"
FH = "http://purl.org/syndication/history/1.0"  # RFC 5005 archive marker
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

# Namespaces we may emit, with the prefix the validator expects for each.
RSS_NAMESPACES = {ATOM: "atom", CONTENT: "content", DC: "dc", MEDIA: "media", FH: "fh"}
ATOM_NAMESPACES = {ATOM: None, MEDIA: "media", FH: "fh"}

ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv
    cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht
    hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la
    lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj
    om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv
    sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh
    zu""".split()
)
HTML_ELEMENTS = frozenset(
    """a abbr acronym address applet area article aside audio b base basefont bdi bdo big blink
    blockquote body br button canvas caption center cite code col colgroup command comment data
    datalist dd del details dfn dialog dir div dl dt em embed fieldset figcaption figure font
    footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input
    ins isindex kbd keygen label legend li link listing main map mark marquee menu meta meter nav
    nobr noembed noframes noscript object ol optgroup option output p param picture plaintext pre
    progress q rp rt ruby s samp script section select slot small source span strike strong style
    sub summary sup table tbody td template textarea tfoot th thead time title tr track tt u ul
    var video wbr xmp""".split()
)
# HTML elements feed validators call a security risk inside feed content.
UNSAFE_ELEMENTS = frozenset(
    """applet base basefont blink body comment embed frame frameset head html iframe isindex link
    listing marquee meta noembed noframes object param plaintext script slot style title
    xmp""".split()
)
SAFE_ATTRIBUTES = frozenset(
    """abbr accept align alt autoplay axis bgcolor border cellpadding cellspacing char charoff
    charset checked cite class clear color cols colspan compact controls coords datetime dir
    disabled download face for frame headers height href hreflang hspace id ismap label lang
    loading longdesc loop maxlength media multiple name nohref noshade nowrap open poster preload
    readonly rel rev rows rowspan rules scope selected shape size span src srclang srcset start
    summary tabindex target title type usemap valign value vspace width""".split()
)
URL_ATTRIBUTES = frozenset({"href", "src", "cite", "longdesc", "poster", "usemap"})
SAFE_CSS_PROPERTIES = frozenset(
    """background-color border border-bottom border-collapse border-color border-left border-right
    border-spacing border-style border-top border-width clear color direction display float font
    font-family font-size font-style font-variant font-weight height letter-spacing line-height
    list-style-type margin margin-bottom margin-left margin-right margin-top overflow padding
    padding-bottom padding-left padding-right padding-top text-align text-decoration text-indent
    unicode-bidi vertical-align white-space width""".split()
)
ATOM_LINK_RELATIONS = frozenset(
    """alternate current describedby edit edit-media enclosure first hub last license next
    next-archive payment prev-archive previous related replies search self service up
    via""".split()
)
MEDIA_MEDIUMS = frozenset({"image", "audio", "video", "document", "executable"})
MEDIA_CONTENT_CHILDREN = (f"{{{MEDIA}}}thumbnail", f"{{{MEDIA}}}credit")

_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(//)?[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,#]+$")
_HTTP_URL = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d+)?(/|$)", re.I)
_UUID_URN = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MIME = re.compile(
    r"""^[^\s()<>,;:\\"/\[\]?=]+/[^\s()<>,;:\\"/\[\]?=]+"""
    r"""(\s*;\s*[^\s()<>,;:\\"/\[\]?=]+=("(\\"|[^"])*"|[^\s()<>,;:\\"/\[\]?=]+))*$"""
)
_LANGUAGE = re.compile(r"^([A-Za-z]{2,3})(-[A-Za-z0-9]{1,8})*$")
_RFC822 = re.compile(
    r"^(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) "
    r"(\d{2}):(\d{2})(?::(\d{2}))? (GMT|UT|Z|[+-]\d{2}[03]0)$"
)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_XML_DECLARATION = re.compile(rb"""^<\?xml version=(['"])1\.0\1 encoding=(['"])(?i:utf-8)\2\?>""")

# Characters the validator reports as bad (C1 controls, U+FFFD), and others that are legal XML
# but parse errors in HTML or discouraged by XML 1.0 (DEL, noncharacters).
_BAD_CHARACTERS = re.compile("[\x80-\x9f\ufffd]")
_DISCOURAGED_CHARACTERS = re.compile(
    "[\x7f\ufdd0-\ufdef\ufffe\uffff"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(1, 17))
    + "]"
)
_END_TAG = re.compile(r"</(\w+)>")
_ENTITY_LIKE = re.compile(r"&(#?\w+)")
_CHAR_DATA_LIKE = re.compile(r"&#[x0-9]|<[/a-zA-Z]")
_EMAIL_IN_ANGLES = re.compile(
    r"<[A-Z0-9_\-+.']+@(([0-9]{1,3}\.){3}|([A-Z0-9\-]+\.)+)[A-Z0-9][-A-Z0-9]*>", re.I
)
_EMAIL_WITH_NAME = re.compile(r"^[\w.%+\-']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,} \(.+\)$")
_HTML_BAD_LT = re.compile(r"<(?![A-Za-z/!?])")
_HTML_REFERENCE = re.compile(r"&(#[xX]?)?([A-Za-z0-9]*)(;?)")
_LEGACY_ENTITIES = tuple(name for name in html5_entities if not name.endswith(";"))
_CSS_DECLARATION = re.compile(r"^\s*([-a-zA-Z]+)\s*:\s*([#\w\s.,%'\"-]*)\s*$")
_RELATIVE_IN_HTML = (
    re.compile(r"""<a\s+href=(?:"(.*?)"|'(.*?)'|([\w-]+))[\s>]""", re.I),
    re.compile(r"""<img\s+[^>]*src=(?:"(.*?)"|'(.*?)'|([\w-]+))[\s>]""", re.I),
)

Problems = list[str]


# --- shared rules ------------------------------------------------------------------------------


def _add(problems: Problems, code: str, where: str, detail: str = "") -> None:
    problems.append(f"{code} at {where}: {detail}" if detail else f"{code} at {where}")


def _where(element: etree._Element) -> str:
    """A readable path such as channel/item[3]/title (1-based positions among same-name siblings)."""
    parts: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [child for child in parent if child.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/".join(reversed(parts))


def check_characters(value: str, where: str, problems: Problems) -> None:
    if _BAD_CHARACTERS.search(value):
        _add(problems, "BadCharacters", where, "C1 control character or U+FFFD")
    if _DISCOURAGED_CHARACTERS.search(value):
        _add(problems, "DiscouragedCharacter", where, "DEL or a Unicode noncharacter")


def _check_double_encoding(text: str, where: str, problems: Problems) -> None:
    # UTF-8 read as Latin-1 shows up as Â/Ã followed by U+0080-U+00BF in one run of text.
    for chunk in re.split(r"[\r\n&<>]", text):
        if re.search("[\xc2\xc3][\x80-\xbf]", chunk):
            try:
                chunk.encode("latin-1").decode("utf-8")
            except UnicodeError:
                continue
            _add(problems, "BadCharacters", where, f"double-encoded UTF-8 {chunk!r}")


def is_absolute_uri(value: str) -> bool:
    return bool(_ABSOLUTE_URI.match(value))


def check_uri(value: str | None, where: str, problems: Problems, *, http: bool = False) -> None:
    """An absolute ASCII URI (RFC 2396 characters), and an http(s) URL when ``http``."""
    if value is None or not value.strip():
        _add(problems, "MissingHref", where)
        return
    if value != value.strip():
        _add(problems, "UnexpectedWhitespace", where, repr(value))
    if not is_absolute_uri(value):
        _add(problems, "InvalidFullLink", where, f"not an absolute ASCII URI: {value!r}")
        return
    scheme = value.split(":", 1)[0].lower()
    if scheme in ("http", "https", "ftp") and not re.match(r"^\w+://[^/]", value):
        _add(problems, "InvalidFullLink", where, repr(value))
    if scheme == "urn" and value.lower().startswith("urn:uuid:") and not _UUID_URN.match(value.lower()):
        _add(problems, "InvalidUUID", where, repr(value))
    if scheme in ("javascript", "vbscript", "data"):
        _add(problems, "SecurityRisk", where, repr(value))
    if http and not _HTTP_URL.match(value):
        _add(problems, "InvalidURLAttribute", where, f"not an http(s) URL: {value!r}")


_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]")


def canonical_uri(uri: str) -> str | None:
    """RFC 3986 syntax-based normalization, the form in which Atom ids are compared."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*):(//([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?$", uri)
    if match is None or not uri.isascii():
        return None
    scheme = match.group(1).lower()
    authority = match.group(3)
    path = match.group(4)

    def normalize_escapes(part: str) -> str:
        def fix(m: re.Match[str]) -> str:
            char = chr(int(m.group(1), 16))
            return char if _UNRESERVED.fullmatch(char) else "%" + m.group(1).upper()

        return re.sub(r"%([0-9A-Fa-f]{2})", fix, part)

    result = scheme + ":"
    if authority is not None:
        userinfo, _, host = authority.rpartition("@")
        host = host.lower()
        default = {"http": ":80", "https": ":443", "ftp": ":21"}.get(scheme)
        if default and host.endswith(default):
            host = host[: -len(default)]
        if host.endswith(":"):
            host = host[:-1]
        result += "//" + (userinfo + "@" if userinfo else "") + host
        path = path or "/"
        segments: list[str] = []
        for segment in path.split("/")[1:]:
            if segment == ".":
                continue
            if segment == "..":
                if segments:
                    segments.pop()
                continue
            segments.append(segment)
        if path.endswith(("/.", "/..")):
            segments.append("")
        path = "/" + "/".join(segments)
    result += normalize_escapes(path)
    for part in (match.group(5), match.group(6)):
        if part:
            result += normalize_escapes(part)
    return result


def check_language(value: str | None, where: str, problems: Problems) -> None:
    match = _LANGUAGE.match(value or "")
    if match is None or match.group(1).lower() not in ISO_639_1:
        _add(problems, "InvalidLanguage", where, repr(value))


def check_mime(value: str | None, where: str, problems: Problems) -> None:
    if not value:
        _add(problems, "MissingAttribute", where, "type")
    elif not _MIME.match(value):
        _add(problems, "InvalidMIMEAttribute", where, repr(value))


def _plausible(moment: datetime, where: str, problems: Problems) -> None:
    # The validator calls dates before 1990 or more than ten minutes ahead implausible.
    if moment.year < 1990 or moment.timestamp() > time.time() + 600:
        _add(problems, "ImplausibleDate", where, moment.isoformat())


def check_rfc822(value: str | None, where: str, problems: Problems) -> datetime | None:
    """Parse an RFC 822 date strictly: four-digit year, numeric zone or GMT/UT/Z, right weekday."""
    match = _RFC822.match(value or "")
    if match is None:
        _add(problems, "InvalidRFC2822Date", where, repr(value))
        return None
    weekday, day, month, year, hour, minute, second, zone = match.groups()
    try:
        moment = datetime(
            int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second or 0)
        )
    except ValueError as error:
        _add(problems, "InvalidRFC2822Date", where, f"{value!r}: {error}")
        return None
    if weekday and _DAYS[moment.weekday()] != weekday:
        _add(problems, "IncorrectDOW", where, repr(value))
    offset = 0
    if zone[0] in "+-":
        offset = (int(zone[1:3]) * 60 + int(zone[3:5])) * (1 if zone[0] == "+" else -1)
    moment = datetime.fromtimestamp(moment.replace(tzinfo=UTC).timestamp() - offset * 60, UTC)
    _plausible(moment, where, problems)
    return moment


def check_rfc3339(value: str | None, where: str, problems: Problems) -> datetime | None:
    if not isinstance(value, str) or not _RFC3339.match(value):
        _add(problems, "InvalidRFC3339Date", where, repr(value))
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        _add(problems, "InvalidRFC3339Date", where, f"{value!r}: {error}")
        return None
    _plausible(moment, where, problems)
    return moment


def _line_has_char_ref(lines: list[str], element: etree._Element) -> bool:
    # The validator excuses markup-like plain text only on lines holding a hexadecimal
    # character reference (the RSS Profile's way to escape "<" and "&").
    line = element.sourceline or 0
    return 0 < line <= len(lines) and "&#x" in lines[line - 1]


def check_plain_text(
    value: str, where: str, element: etree._Element, lines: list[str], problems: Problems, *, rss: bool
) -> None:
    """Text that may not contain HTML (the validator's "nonhtml" rule)."""
    tags = [tag for tag in _END_TAG.findall(value) if tag.lower() in HTML_ELEMENTS]
    if tags:
        _add(problems, "ContainsHTML", where, f"</{tags[0]}>")
        return
    for ref in _ENTITY_LIKE.findall(value):
        if ref in name2codepoint or ref == "apos" or not ref.isalpha():
            if not _line_has_char_ref(lines, element):
                _add(problems, "ContainsHTML", where, f"&{ref};")
            return
    if rss and _CHAR_DATA_LIKE.search(value) and not _line_has_char_ref(lines, element):
        _add(problems, "CharacterData", where, "markup-like text without character references")


def _bad_character_reference(fragment: str) -> str | None:
    """The first "&" an HTML parser reports as an error (bad numeric or unknown named reference)."""
    for match in _HTML_REFERENCE.finditer(fragment):
        numeric, name, semicolon = match.groups()
        if numeric:
            digits = "0123456789abcdefABCDEF" if numeric in ("#x", "#X") else "0123456789"
            if not name or not semicolon or any(c not in digits for c in name):
                return match.group(0)
        elif name and (
            (semicolon and name + ";" not in html5_entities)
            or (not semicolon and name.startswith(_LEGACY_ENTITIES))
        ):
            return match.group(0)
    return None


def check_html(fragment: str, where: str, problems: Problems) -> None:
    """HTML inside a feed: parseable, no unsafe elements or attributes, only absolute URLs."""
    if not fragment.strip():
        return
    check_characters(fragment, where, problems)
    if _HTML_BAD_LT.search(fragment):
        _add(problems, "NotHtml", where, "'<' that does not start a tag")
    bad_reference = _bad_character_reference(fragment)
    if bad_reference:
        _add(problems, "NotHtml", where, f"bad character reference {bad_reference!r}")
    if html5lib is not None:
        try:
            html5lib.HTMLParser(strict=True).parseFragment(fragment)
        except Html5ParseError as error:
            _add(problems, "NotHtml", where, f"html5lib: {error}")
    for pattern in _RELATIVE_IN_HTML:
        for groups in pattern.findall(fragment):
            ref = html.unescape(next((g for g in groups if g), "")).strip()
            if not re.match(r"\w+:", ref):
                _add(problems, "ContainsRelRef", where, repr(ref))
    try:
        container = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError) as error:
        _add(problems, "NotHtml", where, str(error))
        return
    for element in container.iterdescendants():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag not in HTML_ELEMENTS:
            _add(problems, "NotHtml", where, f"non-HTML element <{tag}>")
        elif tag in UNSAFE_ELEMENTS:
            _add(problems, "SecurityRisk", where, f"<{tag}>")
        for name, value in element.attrib.items():
            name = name.lower()
            if name == "style":
                for declaration in filter(str.strip, value.split(";")):
                    css = _CSS_DECLARATION.match(declaration)
                    if css is None or css.group(1).lower() not in SAFE_CSS_PROPERTIES:
                        _add(problems, "DangerousStyleAttr", where, repr(declaration))
            elif name not in SAFE_ATTRIBUTES and not name.startswith("data-"):
                _add(problems, "SecurityRiskAttr", where, f"{tag}@{name}")
            if name in URL_ATTRIBUTES:
                # What a reader loads by itself (images, players, their posters) must be http(s).
                check_uri(value, f"{where} {tag}@{name}", problems, http=name in ("src", "poster"))
            elif name == "srcset":
                for candidate in filter(None, (c.strip() for c in re.split(r",\s+|,$", value))):
                    check_uri(candidate.split()[0], f"{where} {tag}@srcset", problems, http=True)
            if name == "autoplay":
                _add(problems, "Autoplay", where, f"<{tag}> must not play by itself")


# --- XML documents -----------------------------------------------------------------------------


def _parse_xml(data: bytes, problems: Problems) -> tuple[etree._Element, list[str]] | None:
    if not isinstance(data, bytes):
        _add(problems, "NotBytes", "document", type(data).__name__)
        return None
    if not _XML_DECLARATION.match(data):
        _add(problems, "MissingEncoding", "document", "no <?xml version='1.0' encoding='UTF-8'?> declaration")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        _add(problems, "UnicodeError", "document", str(error))
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        _add(problems, "SAXError", "document", str(error))
        return None
    if root.getroottree().docinfo.doctype:
        _add(problems, "InvalidDoctype", "document", root.getroottree().docinfo.doctype)
    for element in root.iter():
        if not isinstance(element.tag, str):
            _add(problems, "UnexpectedNode", _where(element.getparent()), "comment or processing instruction")
            continue
        where = _where(element)
        if element.text:
            check_characters(element.text, where, problems)
            _check_double_encoding(element.text, where, problems)
        for name, value in element.attrib.items():
            check_characters(value, f"{where}@{name}", problems)
    return root, text.split("\n")


def _check_namespaces(root: etree._Element, allowed: dict[str, str | None], problems: Problems) -> None:
    for prefix, uri in root.nsmap.items():
        if uri not in allowed:
            _add(problems, "UnknownNamespace", "document", uri)
        elif allowed[uri] != prefix:
            _add(problems, "NonstdPrefix", "document", f"{prefix}: for {uri}")
    for element in root.iterdescendants():
        parent = element.getparent()
        if parent is not None and element.nsmap != parent.nsmap:
            _add(
                problems,
                "NamespaceNotOnRoot",
                _where(element),
                "namespaces must be declared once, on the root",
            )
        namespace = etree.QName(element).namespace
        if namespace is not None and namespace not in allowed:
            _add(problems, "UndefinedElement", _where(element), f"namespace {namespace}")
        for name in element.attrib:
            attribute_ns = etree.QName(name).namespace
            if attribute_ns is not None and attribute_ns != XML:
                _add(problems, "UseOfExtensionAttr", _where(element), name)


def _children(element: etree._Element, tag: str) -> list[etree._Element]:
    return [child for child in element if child.tag == tag]


def _one(
    element: etree._Element, tag: str, problems: Problems, *, required: bool = False
) -> etree._Element | None:
    for child in element:
        if child.tag == tag:
            return child
    if required:
        _add(problems, "MissingElement", _where(element), etree.QName(tag).localname)
    return None


def _no_duplicates(element: etree._Element, tags: Iterable[str], problems: Problems) -> None:
    for tag in tags:
        found = _children(element, tag)
        if len(found) > 1:
            _add(problems, "DuplicateElement", _where(found[1]))


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _check_children(element: etree._Element, children: Iterable[str], problems: Problems) -> None:
    allowed = set(children)
    for child in element:
        if child.tag not in allowed:
            _add(problems, "UndefinedElement", _where(child))


def _check_attributes(root: etree._Element, attributes: dict[str, Iterable[str]], problems: Problems) -> None:
    """Only the attributes each element defines (plus xml:lang) appear anywhere."""
    for node in root.iter():
        expected = set(attributes.get(node.tag, ()))
        for name in node.attrib:
            if name not in expected and name != f"{{{XML}}}lang":
                _add(problems, "UnexpectedAttribute", _where(node), name)


def _positive_attribute(element: etree._Element, name: str, problems: Problems) -> None:
    value = element.get(name)
    if value is not None and not (value.isdigit() and int(value) > 0):
        _add(problems, "InvalidPositiveInteger", f"{_where(element)}@{name}", repr(value))


def _check_media(element: etree._Element, lines: list[str], problems: Problems) -> None:
    where = _where(element)
    check_uri(element.get("url"), f"{where}@url", problems, http=True)
    check_mime(element.get("type"), f"{where}@type", problems)
    medium = element.get("medium")
    if medium not in MEDIA_MEDIUMS:
        _add(problems, "InvalidMediaMedium", where, repr(medium))
    for name in ("fileSize", "width", "height"):
        _positive_attribute(element, name, problems)
    _check_children(element, MEDIA_CONTENT_CHILDREN, problems)
    _check_media_extras(element, lines, problems)


def _check_media_extras(element: etree._Element, lines: list[str], problems: Problems) -> None:
    """media:thumbnail (one, with an http(s) URL and positive sizes) and media:credit (plain text,
    lower-case role, absolute scheme) under an item, an entry or a media:content."""
    thumbnails = _children(element, f"{{{MEDIA}}}thumbnail")
    if len(thumbnails) > 1:
        _add(problems, "DuplicateElement", _where(thumbnails[1]))
    for thumbnail in thumbnails:
        check_uri(thumbnail.get("url"), f"{_where(thumbnail)}@url", problems, http=True)
        for name in ("width", "height"):
            _positive_attribute(thumbnail, name, problems)
        if len(thumbnail) or (thumbnail.text or "").strip():
            _add(problems, "UnexpectedText", _where(thumbnail))
    for credit in _children(element, f"{{{MEDIA}}}credit"):
        cwhere = _where(credit)
        if not _text(credit):
            _add(problems, "NotBlank", cwhere)
        check_plain_text(credit.text or "", cwhere, credit, lines, problems, rss=True)
        role = credit.get("role")
        if role is not None and (role != role.lower() or not role.strip()):
            _add(problems, "InvalidMediaRole", f"{cwhere}@role", f"{role!r}: roles are lower case")
        if "scheme" in credit.attrib:
            check_uri(credit.get("scheme"), f"{cwhere}@scheme", problems)


def _check_enclosure_choice(
    where: str, enclosure: etree._Element | None, media: list[etree._Element], problems: Problems
) -> None:
    """Our convention: every file once in Media RSS; the RSS enclosure (if any) is the first
    non-image of them, else the first image."""
    urls = [m.get("url") for m in media]
    if len(set(urls)) != len(urls):
        _add(problems, "DuplicateEnclosure", where, "a media:content URL appears twice")
    if enclosure is None:
        if media:
            _add(problems, "MissingEnclosure", where, "media:content without an RSS enclosure")
        return
    if not media:
        _add(problems, "MissingMediaContent", where, "the enclosure has no media:content")
        return
    expected = next((m for m in media if m.get("medium") != "image"), media[0])
    if enclosure.get("url") != expected.get("url"):
        _add(problems, "WrongEnclosure", where, f"{enclosure.get('url')!r}, expected {expected.get('url')!r}")
    if enclosure.get("type") != expected.get("type"):
        _add(
            problems, "EnclosureTypeMismatch", where, f"{enclosure.get('type')!r} != {expected.get('type')!r}"
        )


def _check_link_attributes(
    link: etree._Element, lines: list[str], problems: Problems, *, rss: bool
) -> tuple[str, str, str]:
    """An atom:link (in Atom or RSS): returns (rel, type, hreflang)."""
    where = _where(link)
    rel = link.get("rel", "alternate")
    if rel not in ATOM_LINK_RELATIONS and not is_absolute_uri(rel):
        _add(problems, "UnregisteredAtomLinkRel", where, repr(rel))
    check_uri(link.get("href"), f"{where}@href", problems)
    link_type = link.get("type", "")
    if "type" in link.attrib:
        check_mime(link_type, f"{where}@type", problems)
    hreflang = link.get("hreflang", "")
    if "hreflang" in link.attrib:
        check_language(hreflang, f"{where}@hreflang", problems)
    if "title" in link.attrib:
        title = link.get("title", "")
        if not title.strip():
            _add(problems, "AttrNotBlank", f"{where}@title")
        check_plain_text(title, f"{where}@title", link, lines, problems, rss=rss)
    if "length" in link.attrib and not link.get("length", "").isdigit():
        _add(problems, "InvalidNonNegativeInteger", f"{where}@length", repr(link.get("length")))
    if (link.text or "").strip() or len(link):
        _add(problems, "AtomLinkNotEmpty", where)
    return rel, link_type, hreflang


# --- RSS 2.0 -----------------------------------------------------------------------------------

_RSS_CHANNEL_CHILDREN = [
    *(
        "title link description language copyright managingEditor webMaster pubDate lastBuildDate "
        "category generator docs cloud ttl image rating skipHours skipDays item"
    ).split(),
    f"{{{ATOM}}}link",
    f"{{{FH}}}archive",
]
_RSS_ITEM_CHILDREN = [
    *"title link description author category comments enclosure guid pubDate source".split(),
    f"{{{CONTENT}}}encoded",
    f"{{{DC}}}creator",
    f"{{{DC}}}language",
    f"{{{DC}}}rights",
    f"{{{ATOM}}}updated",
    f"{{{ATOM}}}link",
    f"{{{MEDIA}}}content",
    f"{{{MEDIA}}}thumbnail",
    f"{{{MEDIA}}}credit",
]
_ATOM_LINK_ATTRIBUTES = ("href", "rel", "type", "hreflang", "title", "length")
_MEDIA_ATTRIBUTES = ("url", "type", "medium", "fileSize", "width", "height", "lang", "isDefault")
_MEDIA_EXTRA_ATTRIBUTES: dict[str, Iterable[str]] = {
    f"{{{MEDIA}}}content": _MEDIA_ATTRIBUTES,
    f"{{{MEDIA}}}thumbnail": ("url", "width", "height"),
    f"{{{MEDIA}}}credit": ("role", "scheme"),
}
_RSS_ATTRIBUTES: dict[str, Iterable[str]] = {
    "rss": ("version",),
    "guid": ("isPermaLink",),
    "category": ("domain",),
    "enclosure": ("url", "length", "type"),
    "source": ("url",),
    f"{{{ATOM}}}link": _ATOM_LINK_ATTRIBUTES,
    **_MEDIA_EXTRA_ATTRIBUTES,
}


def _check_hubs(found: list[str | None], hubs: Iterable[str] | None, where: str, problems: Problems) -> None:
    """WebSub discovery: each hub link an absolute http(s) URL; with ``hubs``, exactly those, in order."""
    for href in found:
        check_uri(href, f"{where} hub", problems, http=True)
    if hubs is not None and found != list(hubs):
        _add(problems, "HubLinksDontMatch", where, f"{found!r} != {list(hubs)!r}")


def check_rss(data: bytes, self_url: str | None = None, hubs: Iterable[str] | None = None) -> Problems:
    """Problems the W3C validator (or our stricter conventions) would report for an RSS 2.0 feed."""
    problems: Problems = []
    parsed = _parse_xml(data, problems)
    if parsed is None:
        return problems
    root, lines = parsed
    _check_namespaces(root, RSS_NAMESPACES, problems)
    if root.tag != "rss" or root.get("version") != "2.0":
        _add(problems, "InvalidRSSVersion", "rss", f"{root.tag} version={root.get('version')!r}")
    _check_attributes(root, _RSS_ATTRIBUTES, problems)
    channels = _children(root, "channel")
    if len(channels) != 1 or len(root) != 1:
        _add(problems, "MissingChannel", "rss", "exactly one <channel> and nothing else")
        return problems
    channel = channels[0]
    _check_children(channel, _RSS_CHANNEL_CHILDREN, problems)

    def plain(element: etree._Element | None) -> None:
        if element is not None:
            check_plain_text(element.text or "", _where(element), element, lines, problems, rss=True)

    _no_duplicates(
        channel,
        "title link description language lastBuildDate pubDate generator docs image ttl".split(),
        problems,
    )
    title = _one(channel, "title", problems, required=True)
    if title is not None and not _text(title):
        _add(problems, "NotBlank", _where(title))
    plain(title)
    link = _one(channel, "link", problems, required=True)
    check_uri(_text(link) or None, "channel/link", problems)
    plain(_one(channel, "description", problems, required=True))
    for tag in ("lastBuildDate", "pubDate"):
        element = _one(channel, tag, problems)
        if element is not None:
            check_rfc822(element.text, _where(element), problems)
    docs = _one(channel, "docs", problems)
    if docs is not None:
        check_uri(_text(docs), "channel/docs", problems)

    self_links = [el for el in _children(channel, f"{{{ATOM}}}link") if el.get("rel") == "self"]
    if not self_links:
        _add(problems, "MissingAtomSelfLink", "channel")
    elif len(self_links) > 1:
        _add(problems, "DuplicateSelfLink", "channel", f"{len(self_links)} self links")
    hub_links = [el.get("href") for el in _children(channel, f"{{{ATOM}}}link") if el.get("rel") == "hub"]
    _check_hubs(hub_links, hubs, "channel", problems)
    for atom_link in _children(channel, f"{{{ATOM}}}link"):
        _check_link_attributes(atom_link, lines, problems, rss=True)
    for self_link in self_links:
        if self_link.get("type") != "application/rss+xml":
            _add(problems, "SelfNotRss", _where(self_link), repr(self_link.get("type")))
        if self_url is not None and self_link.get("href") != self_url:
            _add(
                problems,
                "SelfDoesntMatchLocation",
                _where(self_link),
                f"{self_link.get('href')!r} != {self_url!r}",
            )

    language = _one(channel, "language", problems)
    if language is not None:
        check_language(_text(language), "channel/language", problems)

    image = _one(channel, "image", problems)
    if image is not None:
        _check_children(image, ("url", "title", "link", "width", "height", "description"), problems)
        _no_duplicates(image, ("url", "title", "link"), problems)
        for tag in ("url", "title", "link"):
            _one(image, tag, problems, required=True)
        image_url = _text(_one(image, "url", problems))
        check_uri(image_url, "channel/image/url", problems)
        extension = image_url.rsplit(".", 1)[-1].lower()
        if re.match(r"^\w+$", extension) and extension not in ("jpg", "jpeg", "gif", "png"):
            _add(problems, "ImageUrlFormat", "channel/image/url", image_url)
        image_title = _one(image, "title", problems)
        plain(image_title)
        if _text(image_title) != _text(title):
            _add(problems, "ImageTitleDoesntMatch", "channel/image/title")
        if _text(_one(image, "link", problems)) != _text(link):
            _add(problems, "ImageLinkDoesntMatch", "channel/image/link")

    guids: set[str] = set()
    for item in _children(channel, "item"):
        _check_rss_item(item, lines, problems, guids, channel_language=language is not None)
    return problems


def _check_rss_item(
    item: etree._Element, lines: list[str], problems: Problems, guids: set[str], *, channel_language: bool
) -> None:
    where = _where(item)
    _check_children(item, _RSS_ITEM_CHILDREN, problems)
    _no_duplicates(
        item,
        [
            *"title link description guid pubDate author source comments".split(),
            f"{{{CONTENT}}}encoded",
            f"{{{DC}}}language",
            f"{{{DC}}}rights",
            f"{{{ATOM}}}updated",
        ],
        problems,
    )
    if len(_children(item, "enclosure")) > 1:
        _add(problems, "DuplicateEnclosure", where)
    _check_enclosure_choice(
        where, _one(item, "enclosure", problems), _children(item, f"{{{MEDIA}}}content"), problems
    )
    rights = _one(item, f"{{{DC}}}rights", problems)
    if rights is not None:
        if not _text(rights):
            _add(problems, "NotBlank", _where(rights))
        check_plain_text(rights.text or "", _where(rights), rights, lines, problems, rss=True)
    title = _one(item, "title", problems)
    description = _one(item, "description", problems)
    if title is None and description is None:
        _add(problems, "ItemMustContainTitleOrDescription", where)
    if title is not None:
        if not _text(title):
            _add(problems, "NotBlank", _where(title))
        check_plain_text(title.text or "", _where(title), title, lines, problems, rss=True)
    link = _one(item, "link", problems)
    if link is not None:
        check_uri(_text(link), _where(link), problems)
    if description is not None:
        check_html(description.text or "", _where(description), problems)
    encoded = _one(item, f"{{{CONTENT}}}encoded", problems)
    if encoded is not None:
        if description is None:
            _add(problems, "NeedDescriptionBeforeContent", _where(encoded))
        check_html(encoded.text or "", _where(encoded), problems)

    guid = _one(item, "guid", problems)
    if guid is None:
        _add(problems, "MissingGuid", where)
    else:
        value = _text(guid)
        permalink = guid.get("isPermaLink", "true")
        if permalink not in ("true", "false"):
            _add(problems, "InvalidBooleanAttribute", f"{_where(guid)}@isPermaLink", repr(permalink))
        if permalink == "true":
            check_uri(value, _where(guid), problems, http=True)
            if value.lower().startswith(("tag:", "urn:uuid:")):
                _add(problems, "InvalidPermalink", _where(guid), value)
        else:
            check_uri(value, _where(guid), problems)
        if value in guids:
            _add(problems, "DuplicateValue", _where(guid), value)
        guids.add(value)

    pub_date = _one(item, "pubDate", problems)
    if pub_date is not None:
        check_rfc822(pub_date.text, _where(pub_date), problems)
    author = _one(item, "author", problems)
    creators = _children(item, f"{{{DC}}}creator")
    if author is not None:
        if not _EMAIL_WITH_NAME.match(_text(author)):
            _add(problems, "InvalidContact", _where(author), "author must be 'email (Name)'; use dc:creator")
        if creators:
            _add(problems, "DuplicateItemSemantics", _where(author), "author and dc:creator")
    for creator in creators:
        if not _text(creator):
            _add(problems, "NotBlank", _where(creator))
        check_plain_text(creator.text or "", _where(creator), creator, lines, problems, rss=True)
    for category in _children(item, "category"):
        if not _text(category):
            _add(problems, "NotBlank", _where(category))
        check_plain_text(category.text or "", _where(category), category, lines, problems, rss=True)
        if "domain" in category.attrib:
            check_uri(category.get("domain"), f"{_where(category)}@domain", problems)
    enclosure = _one(item, "enclosure", problems)
    if enclosure is not None:
        check_uri(enclosure.get("url"), f"{_where(enclosure)}@url", problems, http=True)
        length = enclosure.get("length")
        if length is None:
            _add(problems, "MissingAttribute", _where(enclosure), "length")
        elif not length.isdigit():
            code = "UseZeroForUnknown" if length == "-1" else "InvalidNonNegativeInteger"
            _add(problems, code, f"{_where(enclosure)}@length", repr(length))
        check_mime(enclosure.get("type"), f"{_where(enclosure)}@type", problems)
    source = _one(item, "source", problems)
    if source is not None:
        check_uri(source.get("url"), f"{_where(source)}@url", problems)
        check_plain_text(source.text or "", _where(source), source, lines, problems, rss=True)
    language = _one(item, f"{{{DC}}}language", problems)
    if language is not None:
        check_language(_text(language), _where(language), problems)
    elif not channel_language:
        _add(
            problems,
            "MissingItemLanguage",
            where,
            "a feed without channel language needs dc:language on every item",
        )
    updated = _one(item, f"{{{ATOM}}}updated", problems)
    if updated is not None:
        check_rfc3339(updated.text, _where(updated), problems)
    for atom_link in _children(item, f"{{{ATOM}}}link"):
        _check_link_attributes(atom_link, lines, problems, rss=True)
    for media in _children(item, f"{{{MEDIA}}}content"):
        _check_media(media, lines, problems)
    _check_media_extras(item, lines, problems)


# --- Atom 1.0 ----------------------------------------------------------------------------------


def _a(tag: str) -> str:
    return f"{{{ATOM}}}{tag}"


_ATOM_FEED_CHILDREN = [
    _a(tag)
    for tag in (
        "id title subtitle updated author contributor link category generator icon logo rights entry"
    ).split()
] + [f"{{{FH}}}archive"]
_ATOM_ENTRY_CHILDREN = [
    *(
        _a(tag)
        for tag in (
            "id title updated published author contributor content link summary category source rights"
        ).split()
    ),
    f"{{{MEDIA}}}content",
    f"{{{MEDIA}}}thumbnail",
    f"{{{MEDIA}}}credit",
]
_ATOM_ATTRIBUTES: dict[str, Iterable[str]] = {
    _a("link"): _ATOM_LINK_ATTRIBUTES,
    _a("category"): ("term", "scheme", "label"),
    _a("title"): ("type",),
    _a("subtitle"): ("type",),
    _a("summary"): ("type",),
    _a("content"): ("type", "src"),
    _a("rights"): ("type",),
    _a("generator"): ("uri", "version"),
    **_MEDIA_EXTRA_ATTRIBUTES,
}
_ATOM_METADATA_REQUIRED = ("id", "title", "updated")


def _check_text_construct(
    element: etree._Element | None, lines: list[str], problems: Problems, *, required: bool = True
) -> None:
    if element is None:
        return
    where = _where(element)
    text_type = element.get("type", "text")
    value = element.text or ""
    if len(element):
        _add(problems, "UndefinedElement", where, "markup inside a text construct")
    if text_type == "text":
        check_plain_text(value, where, element, lines, problems, rss=False)
    elif text_type == "html":
        check_html(value, where, problems)
    else:
        _add(problems, "InvalidTextType", where, repr(text_type))
    if required and not value.strip():
        _add(problems, "NotBlank", where)


def _check_person(person: etree._Element, lines: list[str], problems: Problems) -> None:
    name = _one(person, _a("name"), problems, required=True)
    if name is not None:
        if not _text(name):
            _add(problems, "NotBlank", _where(name))
        check_plain_text(name.text or "", _where(name), name, lines, problems, rss=False)
        if _EMAIL_IN_ANGLES.search(name.text or ""):
            _add(problems, "ContainsEmail", _where(name))
    for child in person:
        if child.tag not in (_a("name"), _a("email"), _a("uri")):
            _add(problems, "UndefinedElement", _where(child))


def _check_alternates(
    links: list[etree._Element], lines: list[str], problems: Problems
) -> list[tuple[str, str, str]]:
    seen: set[tuple[str, str]] = set()
    described: list[tuple[str, str, str]] = []
    for link in links:
        rel, link_type, hreflang = _check_link_attributes(link, lines, problems, rss=False)
        described.append((rel, link_type, hreflang))
        if rel == "alternate":
            if (link_type, hreflang) in seen:
                _add(problems, "DuplicateAtomLink", _where(link), f"type={link_type!r} hreflang={hreflang!r}")
            seen.add((link_type, hreflang))
    return described


def check_atom(data: bytes, self_url: str | None = None, hubs: Iterable[str] | None = None) -> Problems:
    """Problems the W3C validator (or our stricter conventions) would report for an Atom feed."""
    problems: Problems = []
    parsed = _parse_xml(data, problems)
    if parsed is None:
        return problems
    root, lines = parsed
    _check_namespaces(root, ATOM_NAMESPACES, problems)
    if root.tag != _a("feed"):
        _add(problems, "InvalidNamespace", "document", f"root is {root.tag}")
        return problems
    _check_children(root, _ATOM_FEED_CHILDREN, problems)
    _check_attributes(root, _ATOM_ATTRIBUTES, problems)

    seen_entry = False
    for child in root:
        if child.tag == _a("entry"):
            seen_entry = True
        elif seen_entry:
            _add(problems, "MisplacedMetadata", _where(child), "feed metadata after the first entry")
    _no_duplicates(
        root, [_a(tag) for tag in "id title subtitle updated generator icon logo rights".split()], problems
    )
    for tag in _ATOM_METADATA_REQUIRED:
        _one(root, _a(tag), problems, required=True)
    feed_id = _one(root, _a("id"), problems)
    if feed_id is not None:
        _check_atom_id(feed_id, problems)
    _check_text_construct(_one(root, _a("title"), problems), lines, problems)
    _check_text_construct(_one(root, _a("subtitle"), problems), lines, problems)
    updated = _one(root, _a("updated"), problems)
    if updated is not None:
        check_rfc3339(updated.text, "feed/updated", problems)
    authors = _children(root, _a("author"))
    if not authors:
        _add(problems, "MissingElement", "feed", "author (not every entry names one)")
    for author in authors:
        _check_person(author, lines, problems)
    for tag in ("icon", "logo"):
        element = _one(root, _a(tag), problems)
        if element is not None:
            check_uri(_text(element), _where(element), problems)
    generator = _one(root, _a("generator"), problems)
    if generator is not None:
        if not _text(generator):
            _add(problems, "NotBlank", "feed/generator")
        check_plain_text(generator.text or "", "feed/generator", generator, lines, problems, rss=False)

    links = _check_alternates(_children(root, _a("link")), lines, problems)
    self_links = [link for link in _children(root, _a("link")) if link.get("rel") == "self"]
    if not self_links:
        _add(problems, "MissingSelf", "feed")
    elif len(self_links) > 1:
        _add(problems, "DuplicateSelfLink", "feed", f"{len(self_links)} self links")
    hub_links = [link.get("href") for link in _children(root, _a("link")) if link.get("rel") == "hub"]
    _check_hubs(hub_links, hubs, "feed", problems)
    for link in self_links:
        if link.get("type") != "application/atom+xml":
            _add(problems, "SelfNotAtom", _where(link), repr(link.get("type")))
        if self_url is not None and link.get("href") != self_url:
            _add(problems, "SelfDoesntMatchLocation", _where(link), f"{link.get('href')!r} != {self_url!r}")
    if not any(rel == "alternate" for rel, _, _ in links):
        _add(problems, "MissingAlternateLink", "feed")

    feed_lang = root.get(f"{{{XML}}}lang")
    if feed_lang is not None:
        check_language(feed_lang, "feed@xml:lang", problems)

    ids: set[str] = set()
    updates: set[str] = set()
    for entry in _children(root, _a("entry")):
        _check_entry(entry, lines, problems, ids, updates, feed_has_language=feed_lang is not None)
    return problems


def _check_atom_id(element: etree._Element, problems: Problems) -> str:
    where = _where(element)
    value = element.text or ""
    if value != value.strip():
        _add(problems, "UnexpectedWhitespace", where)
    check_uri(value.strip(), where, problems)
    if canonical_uri(value) != value:
        _add(problems, "NonCanonicalURI", where, f"{value!r} (canonical {canonical_uri(value)!r})")
    return value


def _check_entry(
    entry: etree._Element,
    lines: list[str],
    problems: Problems,
    ids: set[str],
    updates: set[str],
    *,
    feed_has_language: bool,
) -> None:
    where = _where(entry)
    _check_children(entry, _ATOM_ENTRY_CHILDREN, problems)
    _no_duplicates(
        entry,
        [_a(tag) for tag in "id title updated published summary content source rights".split()],
        problems,
    )
    # id, title and updated are Atom's; published and summary are our convention for every entry.
    for tag in ("id", "title", "updated", "published", "summary"):
        _one(entry, _a(tag), problems, required=True)
    entry_id = _one(entry, _a("id"), problems)
    if entry_id is not None:
        value = _check_atom_id(entry_id, problems)
        if value in ids:
            _add(problems, "DuplicateEntries", _where(entry_id), value)
        ids.add(value)
    _check_text_construct(_one(entry, _a("title"), problems), lines, problems)
    _check_text_construct(_one(entry, _a("summary"), problems), lines, problems)
    for tag in ("updated", "published"):
        element = _one(entry, _a(tag), problems)
        if element is not None:
            check_rfc3339(element.text, _where(element), problems)
    updated = _one(entry, _a("updated"), problems)
    if updated is not None:
        if updated.text in updates:
            _add(problems, "DuplicateUpdated", _where(updated), updated.text or "")
        updates.add(updated.text or "")
    content = _one(entry, _a("content"), problems)
    if content is not None:
        if content.get("type") != "html":
            _add(problems, "ContentNotHtml", _where(content), repr(content.get("type")))
        _check_text_construct(content, lines, problems)
    for author in _children(entry, _a("author")):
        _check_person(author, lines, problems)

    links = _children(entry, _a("link"))
    described = _check_alternates(links, lines, problems)
    if not any(rel == "alternate" for rel, _, _ in described):
        _add(problems, "MissingContentOrAlternate", where, "no rel=alternate link")
    for link, (rel, link_type, _) in zip(links, described, strict=True):
        if rel == "enclosure" and not link_type:
            _add(problems, "MissingTypeAttr", _where(link), "enclosure links need a type")
    # Our convention: each enclosure link once, and described by a media:content of the same file.
    enclosure_links = [link for link in links if link.get("rel") == "enclosure"]
    media = {m.get("url"): m for m in _children(entry, f"{{{MEDIA}}}content")}
    hrefs = [link.get("href") for link in enclosure_links]
    if len(set(hrefs)) != len(hrefs):
        _add(problems, "DuplicateEnclosure", where, "an enclosure link appears twice")
    if set(hrefs) != set(media):
        _add(
            problems,
            "EnclosureMediaMismatch",
            where,
            f"links {sorted(map(str, hrefs))} vs media {sorted(media)}",
        )
    for link in enclosure_links:
        described_by = media.get(link.get("href"))
        if described_by is not None and described_by.get("type") != link.get("type"):
            _add(problems, "EnclosureTypeMismatch", _where(link), repr(link.get("type")))
        if described_by is not None and described_by.get("fileSize") != link.get("length"):
            _add(problems, "EnclosureLengthMismatch", _where(link), repr(link.get("length")))
    _check_text_construct(_one(entry, _a("rights"), problems), lines, problems)

    for category in _children(entry, _a("category")):
        cwhere = _where(category)
        if not category.get("term", "").strip():
            _add(problems, "MissingAttribute", cwhere, "term")
        for attribute in ("scheme", "label"):
            if attribute not in category.attrib:
                _add(problems, "MissingAttribute", cwhere, attribute)
        if "scheme" in category.attrib:
            check_uri(category.get("scheme"), f"{cwhere}@scheme", problems)
        if "label" in category.attrib:
            check_plain_text(
                category.get("label", ""), f"{cwhere}@label", category, lines, problems, rss=False
            )

    lang = entry.get(f"{{{XML}}}lang")
    if lang is not None:
        check_language(lang, f"{where}@xml:lang", problems)
    elif not feed_has_language:
        _add(problems, "MissingEntryLanguage", where, "a feed without xml:lang needs xml:lang on every entry")

    source = _one(entry, _a("source"), problems)
    if source is not None:
        _no_duplicates(source, [_a(tag) for tag in ("id", "title", "updated")], problems)
        for tag in ("id", "title", "updated"):
            if _one(source, _a(tag), problems) is None:
                _add(problems, "MissingSourceElement", _where(source), tag)
        source_id = _one(source, _a("id"), problems)
        if source_id is not None:
            _check_atom_id(source_id, problems)
        _check_text_construct(_one(source, _a("title"), problems), lines, problems)
        source_updated = _one(source, _a("updated"), problems)
        if source_updated is not None:
            check_rfc3339(source_updated.text, _where(source_updated), problems)
        _check_alternates(_children(source, _a("link")), lines, problems)
        for child in source:
            if child.tag not in _ATOM_FEED_CHILDREN or child.tag == _a("entry"):
                _add(problems, "UndefinedElement", _where(child))
    for media_content in _children(entry, f"{{{MEDIA}}}content"):
        _check_media(media_content, lines, problems)
    _check_media_extras(entry, lines, problems)


# --- JSON Feed 1.1 -----------------------------------------------------------------------------

_URL = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$"}
_DATE = {"type": "string", "pattern": _RFC3339.pattern}
_EXTENSIONS = {"^_[A-Za-z]": {"type": "object"}}
_AUTHOR = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1}, "url": _URL, "avatar": _URL},
    "anyOf": [{"required": ["name"]}, {"required": ["url"]}, {"required": ["avatar"]}],
    "patternProperties": _EXTENSIONS,
    "additionalProperties": False,
}
_THUMBNAIL = {
    "type": "object",
    "required": ["url"],
    "properties": {
        "url": _URL,
        "width": {"type": "integer", "minimum": 1},
        "height": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}
_CREDITS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "role": {"type": "string", "pattern": r"^[^A-Z]+$"},
            "scheme": _URL,
        },
        "additionalProperties": False,
    },
}
JSON_FEED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "JSON Feed 1.1 as published by feedsvc",
    "type": "object",
    "required": ["version", "title", "items"],
    "properties": {
        "version": {"const": JSON_FEED_VERSION},
        "title": {"type": "string", "minLength": 1},
        "home_page_url": _URL,
        "feed_url": _URL,
        "description": {"type": "string"},
        "user_comment": {"type": "string"},
        "next_url": _URL,
        "icon": _URL,
        "favicon": _URL,
        "authors": {"type": "array", "items": _AUTHOR},
        "author": _AUTHOR,  # deprecated in 1.1, still valid
        "language": {"type": "string", "pattern": _LANGUAGE.pattern},
        "expired": {"type": "boolean"},
        "hubs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "url"],
                "properties": {"type": {"type": "string"}, "url": _URL},
            },
        },
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
    },
    "patternProperties": _EXTENSIONS,
    "additionalProperties": False,
    "$defs": {
        "item": {
            "type": "object",
            "required": ["id"],
            "anyOf": [{"required": ["content_html"]}, {"required": ["content_text"]}],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "url": _URL,
                "external_url": _URL,
                "title": {"type": "string"},
                "content_html": {"type": "string"},
                "content_text": {"type": "string"},
                "summary": {"type": "string"},
                "image": _URL,
                "banner_image": _URL,
                "date_published": _DATE,
                "date_modified": _DATE,
                "authors": {"type": "array", "items": _AUTHOR},
                "author": _AUTHOR,
                "tags": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "language": {"type": "string", "pattern": _LANGUAGE.pattern},
                "attachments": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["url", "mime_type"],
                        "properties": {
                            "url": _URL,
                            "mime_type": {"type": "string", "pattern": _MIME.pattern},
                            "title": {"type": "string"},
                            "size_in_bytes": {"type": "integer", "minimum": 1},
                            "duration_in_seconds": {"type": "number", "minimum": 0},
                            "_media": {
                                "type": "object",
                                "minProperties": 1,
                                "properties": {
                                    "medium": {"enum": sorted(MEDIA_MEDIUMS)},
                                    "width": {"type": "integer", "minimum": 1},
                                    "height": {"type": "integer", "minimum": 1},
                                    "thumbnail": _THUMBNAIL,
                                    "credits": _CREDITS,
                                },
                                "additionalProperties": False,
                            },
                        },
                        "patternProperties": _EXTENSIONS,
                        "additionalProperties": False,
                    },
                },
                # Our extensions: the same post in other languages, and the partner it came from.
                "_translations": {
                    "type": "object",
                    "propertyNames": {"pattern": _LANGUAGE.pattern},
                    "additionalProperties": {
                        "type": "object",
                        "required": ["url"],
                        "properties": {"url": _URL, "title": {"type": "string", "minLength": 1}},
                        "additionalProperties": False,
                    },
                },
                "_source": {
                    "type": "object",
                    "required": ["title", "feed_url"],
                    "properties": {
                        "title": {"type": "string", "minLength": 1},
                        "feed_url": _URL,
                        "home_page_url": _URL,
                    },
                    "additionalProperties": False,
                },
                "_rights": {
                    "type": "object",
                    "required": ["text"],
                    "properties": {"text": {"type": "string", "minLength": 1}},
                    "additionalProperties": False,
                },
                "_media": {
                    "type": "object",
                    "required": ["credits"],
                    "properties": {"credits": _CREDITS},
                    "additionalProperties": False,
                },
            },
            "patternProperties": _EXTENSIONS,
            "additionalProperties": False,
        }
    },
}
jsonschema.Draft202012Validator.check_schema(JSON_FEED_SCHEMA)
_JSON_FEED_VALIDATOR = jsonschema.Draft202012Validator(JSON_FEED_SCHEMA)


def _json_urls(document: dict[str, Any]) -> Iterable[tuple[str, str]]:
    for key in ("home_page_url", "feed_url", "next_url", "icon", "favicon"):
        if key in document:
            yield key, document[key]
    for index, item in enumerate(document.get("items", [])):
        if not isinstance(item, dict):
            continue
        for key in ("url", "external_url", "image", "banner_image"):
            if key in item:
                yield f"items[{index}].{key}", item[key]
        for number, attachment in enumerate(item.get("attachments", [])):
            yield f"items[{index}].attachments[{number}].url", attachment.get("url")
            thumbnail = attachment.get("_media", {}).get("thumbnail")
            if thumbnail:
                yield f"items[{index}].attachments[{number}]._media.thumbnail.url", thumbnail.get("url")
        for language, translation in item.get("_translations", {}).items():
            yield f"items[{index}]._translations.{language}.url", translation.get("url")
        if "_source" in item:
            yield f"items[{index}]._source.feed_url", item["_source"].get("feed_url")
            if "home_page_url" in item["_source"]:
                yield f"items[{index}]._source.home_page_url", item["_source"]["home_page_url"]


def check_json_feed(data: bytes, self_url: str | None = None, hubs: Iterable[str] | None = None) -> Problems:
    """Problems against JSON Feed 1.1 (schema plus what a schema cannot say)."""
    problems: Problems = []
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        return [f"InvalidJSON at document: {error}"]
    for error in _JSON_FEED_VALIDATOR.iter_errors(document):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        _add(problems, "SchemaError", f"document{path}", error.message)
    if problems or not isinstance(document, dict):
        return problems
    for where, url in _json_urls(document):
        check_uri(url, where, problems)
    if self_url is not None and document.get("feed_url") != self_url:
        _add(problems, "SelfDoesntMatchLocation", "feed_url", f"{document.get('feed_url')!r} != {self_url!r}")
    json_hubs = document.get("hubs", [])
    for index, hub in enumerate(json_hubs):
        if hub.get("type") != "WebSub":
            _add(problems, "UnknownHubType", f"hubs[{index}].type", repr(hub.get("type")))
    _check_hubs([hub.get("url") for hub in json_hubs], hubs, "hubs", problems)
    feed_language = document.get("language")
    if feed_language is not None:
        check_language(feed_language, "language", problems)
    ids: set[str] = set()
    for index, item in enumerate(document["items"]):
        where = f"items[{index}]"
        if item["id"] in ids:
            _add(problems, "DuplicateValue", f"{where}.id", item["id"])
        ids.add(item["id"])
        for key in ("date_published", "date_modified"):
            if key in item:
                check_rfc3339(item[key], f"{where}.{key}", problems)
        if "language" in item:
            check_language(item["language"], f"{where}.language", problems)
        elif feed_language is None:
            _add(problems, "MissingItemLanguage", where, "a feed without language needs one on every item")
        if "content_html" in item:
            check_html(item["content_html"], f"{where}.content_html", problems)
        for key in ("title", "summary", "content_text"):
            if key in item:
                check_characters(item[key], f"{where}.{key}", problems)
    return problems


# --- OPML 2.0 ----------------------------------------------------------------------------------

OPML_OUTLINE_ATTRIBUTES = frozenset(
    (
        "text type isComment isBreakpoint created category description htmlUrl language title version "
        "xmlUrl url"
    ).split()
)
# What the validator accepts in <head>; OPML 2.0's <docs> is not among them.
_OPML_HEAD_CHILDREN = (
    "title dateCreated dateModified ownerName ownerEmail ownerId expansionState vertScrollState "
    "windowTop windowLeft windowBottom windowRight"
).split()


def _check_html_text(value: str, where: str, problems: Problems) -> None:
    """Plain text in a field the validator parses as HTML (OPML titles and texts)."""
    check_characters(value, where, problems)
    if "<" in value or "&" in value:
        check_html(value, where, problems)


def check_opml(data: bytes) -> Problems:
    """Problems the W3C validator would report for an OPML 2.0 subscription list."""
    problems: Problems = []
    parsed = _parse_xml(data, problems)
    if parsed is None:
        return problems
    root, _ = parsed
    _check_namespaces(root, {}, problems)
    if root.tag != "opml" or root.get("version") != "2.0":
        _add(problems, "InvalidOPMLVersion", "opml", f"{root.tag} version={root.get('version')!r}")
    head = _one(root, "head", problems, required=True)
    body = _one(root, "body", problems, required=True)
    _check_children(root, ("head", "body"), problems)
    _no_duplicates(root, ("head", "body"), problems)
    if head is not None:
        _check_children(head, _OPML_HEAD_CHILDREN, problems)
        _no_duplicates(head, _OPML_HEAD_CHILDREN, problems)
        title = _one(head, "title", problems, required=True)
        if title is not None:
            _check_html_text(title.text or "", "opml/head/title", problems)
        for tag in ("dateCreated", "dateModified"):
            element = _one(head, tag, problems, required=tag == "dateCreated")
            if element is not None:
                check_rfc822(element.text, _where(element), problems)
        owner = _one(head, "ownerName", problems)
        if owner is not None:
            _check_html_text(owner.text or "", "opml/head/ownerName", problems)
    if body is not None:
        outlines = _children(body, "outline")
        if not outlines or len(outlines) != len(body):
            _add(problems, "MissingElement", "opml/body", "outline elements only, at least one")
        for outline in body.iter("outline"):
            _check_outline(outline, problems)
    return problems


def _check_outline(outline: etree._Element, problems: Problems) -> None:
    where = _where(outline)
    attributes = outline.attrib
    for name in attributes:
        if name not in OPML_OUTLINE_ATTRIBUTES:
            _add(problems, "UnexpectedAttribute", where, name)
    if (outline.text or "").strip():
        _add(problems, "UnexpectedText", where)
    for child in outline:
        if child.tag != "outline":
            _add(problems, "UndefinedElement", _where(child))
    if "text" not in attributes:
        _add(problems, "MissingAttribute", where, "text")
    outline_type = attributes.get("type")
    if outline_type is None:
        if set(attributes) & {"description", "htmlUrl", "language", "title", "version", "xmlUrl"}:
            _add(problems, "MissingOutlineType", where)
    elif outline_type.lower() == "rss":
        if "xmlUrl" not in attributes:
            _add(problems, "MissingXmlURL", where)
        if "title" not in attributes:
            _add(problems, "MissingTitleAttr", where)
    elif outline_type.lower() == "link" and "url" not in attributes:
        _add(problems, "MissingUrlAttr", where)
    for name in ("text", "title", "description"):
        if name in attributes:
            _check_html_text(attributes[name], f"{where}@{name}", problems)
    for name in ("xmlUrl", "htmlUrl", "url"):
        if name in attributes:
            check_uri(attributes[name], f"{where}@{name}", problems)
    if "language" in attributes:
        check_language(attributes["language"], f"{where}@language", problems)
    if "created" in attributes:
        check_rfc822(attributes["created"], f"{where}@created", problems)
    if "category" in attributes:
        for path in attributes["category"].split(","):
            if not path.startswith("/") or path.strip() != path:
                _add(problems, "InvalidCategory", f"{where}@category", repr(path))
    for name in ("isComment", "isBreakpoint"):
        if name in attributes and attributes[name] not in ("true", "false"):
            _add(problems, "InvalidTrueFalse", f"{where}@{name}", attributes[name])


# --- archives (RFC 5005), sitemaps, Yandex ------------------------------------------------------

ARCHIVE_RELATIONS = ("current", "prev-archive", "next-archive")


def archive_links(format_name: str, data: bytes) -> dict[str, str]:
    """rel → href of a feed's archive navigation (atom:link in RSS and Atom, _archive in JSON Feed)."""
    if format_name == "json":
        document = json.loads(data)
        found = {key.replace("_", "-"): value for key, value in document.get("_archive", {}).items()}
        return {rel: found[rel] for rel in ARCHIVE_RELATIONS if rel in found}
    root = etree.fromstring(data)
    parent = root[0] if format_name == "rss" else root
    return {
        link.get("rel"): link.get("href")
        for link in parent.iterchildren(f"{{{ATOM}}}link")
        if link.get("rel") in ARCHIVE_RELATIONS
    }


def check_archive(format_name: str, data: bytes, *, archive: bool) -> Problems:
    """RFC 5005: archive documents carry fh:archive (empty) and rel="current"; current feeds neither."""
    problems: Problems = []
    links = archive_links(format_name, data)
    if format_name == "json":
        marked = json.loads(data).get("_archive", {}).get("archive") is True
        older = json.loads(data).get("next_url")
        if older != links.get("prev-archive"):
            _add(problems, "NextUrlNotPrevArchive", "next_url", repr(older))
    else:
        root = etree.fromstring(data)
        parent = root[0] if format_name == "rss" else root
        markers = list(parent.iterchildren(f"{{{FH}}}archive"))
        marked = bool(markers)
        for marker in markers:
            if len(marker) or (marker.text or "").strip():
                _add(problems, "ArchiveNotEmpty", _where(marker))
    if marked != archive:
        _add(problems, "ArchiveMarker", "document", f"archive={archive} but marked={marked}")
    if archive and "current" not in links:
        _add(problems, "MissingCurrentLink", "document")
    if not archive and ("current" in links or "next-archive" in links):
        _add(problems, "CurrentFeedNavigation", "document", repr(links))
    return problems


SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
YANDEX = "http://news.yandex.ru"
_SCHEMAS = Path(__file__).parent / "schemas"


def _schema(main: str) -> etree.XMLSchema:
    # One schema that imports the sitemaps.org one and the Google News extension, so the news elements
    # in a URL set are validated strictly (the URL set schema admits other namespaces "strict").
    wrapper = f"""<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">
      <xsd:import namespace="{SITEMAP}" schemaLocation="{main}"/>
      <xsd:import namespace="{NEWS}" schemaLocation="sitemap-news.xsd"/>
    </xsd:schema>"""
    return etree.XMLSchema(etree.XML(wrapper, base_url=(_SCHEMAS / "wrapper.xsd").as_uri()))


def check_sitemap(data: bytes, *, index: bool = False, limit: int = 50_000) -> Problems:
    """Validity against the sitemaps.org (and Google News) XML schemas, plus the protocol's limits."""
    problems: Problems = []
    parsed = _parse_xml(data, problems)
    if parsed is None:
        return problems
    root, _ = parsed
    schema = _schema("siteindex.xsd" if index else "sitemap.xsd")
    if not schema.validate(root):
        for error in schema.error_log:
            _add(problems, "SchemaError", f"line {error.line}", error.message)
    entries = list(root)
    if len(entries) > limit:
        _add(problems, "TooManyUrls", "document", f"{len(entries)} > {limit}")
    if len(data) > 50 * 1024 * 1024:
        _add(problems, "TooLarge", "document")
    for loc in root.iter(f"{{{SITEMAP}}}loc"):
        check_uri(loc.text, "loc", problems, http=True)
    for date in root.iter(f"{{{NEWS}}}publication_date", f"{{{SITEMAP}}}lastmod"):
        check_rfc3339(date.text, _where(date), problems)
    return problems


def check_yandex(data: bytes, self_url: str | None = None) -> Problems:
    """The Yandex news RSS profile: RSS 2.0 with the yandex namespace, genre and full text per item."""
    problems: Problems = []
    parsed = _parse_xml(data, problems)
    if parsed is None:
        return problems
    root, lines = parsed
    # feedgen declares content: on every RSS root; an unused declaration is harmless.
    _check_namespaces(root, {YANDEX: "yandex", MEDIA: "media", ATOM: "atom", CONTENT: "content"}, problems)
    if root.tag != "rss" or root.get("version") != "2.0" or len(root) != 1:
        _add(problems, "InvalidRSSVersion", "rss")
        return problems
    channel = root[0]
    for tag in ("title", "link", "description"):
        if not _text(_one(channel, tag, problems, required=True)):
            _add(problems, "NotBlank", f"channel/{tag}")
    check_uri(_text(_one(channel, "link", problems)), "channel/link", problems, http=True)
    allowed = {
        "title",
        "link",
        "pdalink",
        "description",
        "category",
        "enclosure",
        "pubDate",
        "author",
        "guid",
        f"{{{YANDEX}}}genre",
        f"{{{YANDEX}}}full-text",
        f"{{{MEDIA}}}content",
    }
    for item in _children(channel, "item"):
        where = _where(item)
        _check_children(item, allowed, problems)
        for tag in (
            "title",
            "link",
            "description",
            "pubDate",
            f"{{{YANDEX}}}genre",
            f"{{{YANDEX}}}full-text",
        ):
            _one(item, tag, problems, required=True)
        _no_duplicates(item, [*allowed - {"enclosure"}], problems)
        check_uri(_text(_one(item, "link", problems)), f"{where}/link", problems, http=True)
        check_rfc822(_text(_one(item, "pubDate", problems)), f"{where}/pubDate", problems)
        genre = _text(_one(item, f"{{{YANDEX}}}genre", problems))
        if genre not in ("message", "article", "interview"):
            _add(problems, "InvalidGenre", where, repr(genre))
        full = _one(item, f"{{{YANDEX}}}full-text", problems)
        if full is not None:
            check_plain_text(full.text or "", _where(full), full, lines, problems, rss=True)
            if not _text(full):
                _add(problems, "NotBlank", _where(full))
        for enclosure in _children(item, "enclosure"):
            check_uri(enclosure.get("url"), f"{where}/enclosure@url", problems, http=True)
            check_mime(enclosure.get("type"), f"{where}/enclosure@type", problems)
            if not (enclosure.get("length") or "").isdigit():
                _add(problems, "InvalidNonNegativeInteger", f"{where}/enclosure@length")
        for tag in ("title", "category", "author"):
            element = _one(item, tag, problems)
            if element is not None:
                check_plain_text(element.text or "", _where(element), element, lines, problems, rss=True)
    return problems


# --- entry points ------------------------------------------------------------------------------

CHECKERS: dict[str, Callable[..., Problems]] = {
    "rss": check_rss,
    "atom": check_atom,
    "json": check_json_feed,
}


def check(
    format_name: str, data: bytes, self_url: str | None = None, hubs: Iterable[str] | None = None
) -> Problems:
    """Problems in ``data``, a document in ``format_name`` ("rss", "atom", "json" or "opml");
    with ``hubs``, the document must name exactly these WebSub hubs."""
    if format_name == "opml":
        return check_opml(data)
    return CHECKERS[format_name](data, self_url=self_url, hubs=hubs)


def assert_valid(
    format_name: str, data: bytes, self_url: str | None = None, hubs: Iterable[str] | None = None
) -> None:
    problems = check(format_name, data, self_url, hubs)
    assert not problems, f"{format_name} document has {len(problems)} problem(s):\n" + "\n".join(problems)
