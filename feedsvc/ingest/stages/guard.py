"""Refuse XML entity tricks before any XML parser sees the document.

Feeds have no legitimate need to declare entities, so any entity declaration is refused:

* billion laughs (nested entities) and the quadratic blowup (one large entity referenced
  thousands of times; feedparser's fallback parser substitutes "safe-looking" internal entities
  itself, and would build a title of hundreds of millions of characters);
* external entities (XXE: ``<!ENTITY x SYSTEM "file:///etc/passwd">``);
* parameter entities (``<!ENTITY % p …>`` / ``%p;``) that smuggle either of the above.

A DOCTYPE that only names an external DTD (``<!DOCTYPE rss PUBLIC "-//Netscape…" "…dtd">``, as
RSS 0.91 feeds do) is allowed: no parser here loads it. Declarations inside CDATA sections are
text, not markup, and are allowed.

The check runs on decoded text, so a UTF-16 or KOI8-R body cannot hide its declarations, and is
a handful of regex scans: linear and fast on a 10 MiB body.
"""

from __future__ import annotations

import bisect
import re

from feedsvc.ingest import ParseError

# XML requires upper case and no space after "<!"; loose (SGML-style) parsers are laxer, so are we.
_ENTITY_RE = re.compile(r"<!\s*ENTITY\b", re.IGNORECASE)
_PARAMETER_RE = re.compile(r"\s*%")
_EXTERNAL_RE = re.compile(r"\b(?:SYSTEM|PUBLIC)\b")
# Where feedparser's prolog handling stops too (its pattern is <\w on bytes).
_ROOT_START_RE = re.compile(r"<[A-Za-z0-9_]")
_CDATA_OPEN = "<![CDATA["
_CDATA_CLOSE = "]]>"


class UnsafeXMLError(ParseError):
    """The document declares entities: expansion bombs or external (XXE) entities."""


def _cdata_spans(text: str, pos: int) -> list[tuple[int, int]]:
    """(start, end) of every CDATA section from ``pos`` on, in order; one linear pass."""
    spans: list[tuple[int, int]] = []
    while (opened := text.find(_CDATA_OPEN, pos)) != -1:
        closed = text.find(_CDATA_CLOSE, opened + len(_CDATA_OPEN))
        end = len(text) if closed == -1 else closed + len(_CDATA_CLOSE)
        spans.append((opened, end))
        pos = end
    return spans


def check(document: str | bytes) -> None:
    """Raise ``UnsafeXMLError`` if ``document`` declares entities; return None if it is safe.

    Pass decoded text; bytes are decoded here with the same rules the parser uses.
    """
    if isinstance(document, bytes):
        from feedsvc.ingest.stages.decode import decode  # local: keeps the module import-light

        document = decode(document).text
    match = _ENTITY_RE.search(document)
    if match is None:
        return
    # CDATA only counts once the root element has started: before it, CDATA is not XML at all,
    # and feedparser's fallback parser lifts entity declarations out of that prolog regardless.
    root = _ROOT_START_RE.search(document)
    body_start = root.start() if root else len(document)
    spans = _cdata_spans(document, body_start)
    starts = [start for start, _ in spans]
    while match is not None:
        i = bisect.bisect_right(starts, match.start()) - 1
        if i >= 0 and spans[i][0] < match.start() < spans[i][1]:
            # Text inside CDATA (an article about XML, say) is not markup.
            match = _ENTITY_RE.search(document, spans[i][1])
            continue
        declaration = document[match.end() : match.end() + 2048].split(">", 1)[0]
        if _PARAMETER_RE.match(declaration):
            raise UnsafeXMLError("refused: the document declares a parameter entity")
        if _EXTERNAL_RE.search(declaration):
            raise UnsafeXMLError("refused: the document declares an external entity (XXE)")
        raise UnsafeXMLError("refused: the document declares entities (entity expansion)")
