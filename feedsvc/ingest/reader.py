"""Feed bytes → ``ParsedFeed``: the one entry point over the database-free stages.

decode (``stages.decode``) → guard against entity tricks (``stages.guard``) → the format's parser
(``stages.xml`` via feedparser, ``stages.jsonfeed``) → normalise each item (``stages.normalise``:
``clean``, ``dates``, ``identity``).

``parse_feed`` raises only ``ParseError``. An ill-formed feed is read as far as possible and the
problem recorded in ``ParsedFeed.bozo``; skipped or repaired items in ``ParsedFeed.warnings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

from feedsvc.ingest import ParseError
from feedsvc.ingest.item import FeedHints, Image, ParsedFeed, ParsedItem, RawItem
from feedsvc.ingest.stages import decode, guard
from feedsvc.ingest.stages.jsonfeed import parse_json_feed
from feedsvc.ingest.stages.xml import parse_xml_feed
from feedsvc.text import xml_safe

__all__ = [
    "MAX_ITEMS", "FeedHints", "Image", "ParseError", "ParsedFeed", "ParsedItem", "RawItem", "parse_feed",
]  # fmt: skip

MAX_ITEMS = 500


def _is_json(text: str, content_type: str) -> bool:
    first = text[:1]
    if first == "{" or first == "[":
        return True
    return first != "<" and "json" in content_type


def parse_feed(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    *,
    default_tz: tzinfo = UTC,
    now: datetime | None = None,
    max_items: int = MAX_ITEMS,
) -> ParsedFeed:
    """Parse a fetched feed. ``url`` is the final URL (base for relative links); ``default_tz``
    is the source's zone for dates without one; ``now`` is when it was fetched (dates after it
    are reported as warnings)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    content_type = lowered.get("content-type", "").lower()
    if not body or not body.strip():
        raise ParseError("empty document")
    decoded = decode.decode(body, content_type)
    text = xml_safe(decoded.text).lstrip("\ufeff \t\r\n")
    if not text:
        raise ParseError("empty document")
    max_items = max(1, max_items)
    if _is_json(text, content_type):
        parsed = parse_json_feed(
            text, url, default_tz=default_tz, now=now, max_items=max_items, encoding=decoded.encoding
        )
    else:
        guard.check(text)
        parsed = parse_xml_feed(
            text, decoded.encoding, lowered, url, default_tz=default_tz, now=now, max_items=max_items
        )
    if decoded.warning:
        parsed = replace(parsed, warnings=(decoded.warning, *parsed.warnings))
    return parsed
