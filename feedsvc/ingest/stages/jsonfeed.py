"""JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1) → the same ``ParsedFeed`` as XML feeds.

Lenient where partners are sloppy (numeric ids, a 1.0 ``author`` object next to 1.1 ``authors``,
relative URLs, ``http://`` version URLs), strict where it matters: a JSON document that is not
an object with an ``items`` list or a JSON Feed ``version`` is not a feed (``ParseError``).
Wrongly typed fields are ignored one by one and noted in ``bozo``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from feedsvc.ingest import ParseError
from feedsvc.ingest.item import FeedHints, ParsedFeed, RawItem
from feedsvc.ingest.stages import media
from feedsvc.ingest.stages.normalise import absolute_http_url, as_str, build_items, make_image
from feedsvc.text import clean_title, summarize, xml_safe

_VERSION_PREFIXES = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")


def _format(version: str | None) -> str:
    if version is None:
        return "json"
    tail = version.rsplit("/", 1)[-1]
    return {"1": "json10", "1.1": "json11"}.get(tail, "json")


def _author(obj: Mapping[str, Any]) -> str | None:
    authors = obj.get("authors")
    if isinstance(authors, list):
        names = [as_str(a.get("name")) for a in authors if isinstance(a, Mapping)]
        joined = ", ".join(n for n in names if n)
        if joined:
            return joined
    author = obj.get("author")  # JSON Feed 1.0
    if isinstance(author, Mapping):
        return as_str(author.get("name"))
    return None


def _item_to_raw(item: Mapping[str, Any], base: str, problems: list[str]) -> RawItem:
    raw = RawItem()
    item_id = item.get("id")
    if isinstance(item_id, bool):
        item_id = None
    # 1.0 feeds in the wild use numbers; the spec says to read them as strings.
    raw.guid = str(item_id) if isinstance(item_id, int | float) else as_str(item_id)
    raw.link = as_str(item.get("url")) or as_str(item.get("external_url"))
    raw.title = as_str(item.get("title"))
    raw.content_html = as_str(item.get("content_html"))
    raw.content_text = as_str(item.get("content_text"))
    raw.summary_text = as_str(item.get("summary"))  # plain text by definition
    raw.author = _author(item)
    tags = item.get("tags")
    if isinstance(tags, list):
        raw.categories = [t for t in tags if isinstance(t, str)]
    elif tags is not None:
        problems.append("tags is not a list")
    raw.published = as_str(item.get("date_published"))
    raw.updated = as_str(item.get("date_modified"))
    for key in ("image", "banner_image"):
        image = make_image(item.get(key), None, None, base)
        if image is not None:
            raw.images.append(image)
    attachments = item.get("attachments")
    if isinstance(attachments, list):
        for attachment in attachments:
            if isinstance(attachment, Mapping):
                image = make_image(
                    attachment.get("url"), attachment.get("mime_type"), attachment.get("size_in_bytes"), base
                )
                if image is not None:
                    raw.images.append(image)
    raw.media = media.from_json_item(item, base)
    return raw


def parse_json_feed(
    text: str,
    url: str,
    *,
    default_tz: tzinfo,
    now: datetime,
    max_items: int = 500,
    encoding: str = "utf-8",
) -> ParsedFeed:
    """Parse JSON Feed text; raises ``ParseError`` for invalid JSON or JSON that is not a feed."""
    try:
        document = json.loads(text)
    except RecursionError:
        raise ParseError("invalid JSON: nested too deeply") from None
    except ValueError as exc:
        raise ParseError(f"invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ParseError(
            f"JSON is not a JSON Feed: the top level is {type(document).__name__}, not an object"
        )
    version = as_str(document.get("version"))
    is_versioned = version is not None and version.startswith(_VERSION_PREFIXES)
    items = document.get("items")
    if not is_versioned and not isinstance(items, list):
        raise ParseError("JSON is not a JSON Feed: no JSON Feed version and no items list")
    problems: list[str] = []
    if not is_versioned:
        problems.append("missing or unknown JSON Feed version")
    if not isinstance(items, list):
        problems.append("items is missing or not a list")
        items = []
    home = absolute_http_url(document.get("home_page_url"), url)
    objects = [item for item in items[:max_items] if isinstance(item, Mapping)]
    if len(objects) < len(items[:max_items]):
        problems.append(f"{len(items[:max_items]) - len(objects)} item(s) are not objects and were skipped")
    raw_items = []
    warnings: list[str] = []
    for n, item in enumerate(objects):
        try:
            raw_items.append(_item_to_raw(item, url, problems))
        except Exception as exc:  # one unreadable item must not cost the others
            warnings.append(f"item {n + 1} skipped: {type(exc).__name__}: {exc}"[:300])
    hub = None
    hubs = document.get("hubs")
    if isinstance(hubs, list):
        for candidate in hubs:
            if isinstance(candidate, Mapping) and (hub := absolute_http_url(candidate.get("url"), None)):
                break
    return ParsedFeed(
        format=_format(version if is_versioned else None),
        title=clean_title(as_str(document.get("title"))),
        link=home,
        self_url=absolute_http_url(document.get("feed_url"), url),
        description=summarize(xml_safe(as_str(document.get("description")) or "")),
        language=as_str(document.get("language")),
        icon=absolute_http_url(document.get("icon"), url) or absolute_http_url(document.get("favicon"), url),
        hints=FeedHints(websub_hub=hub, expired=document.get("expired") is True),
        bozo="; ".join(dict.fromkeys(problems)) or None,
        items=build_items(raw_items, url, default_tz=default_tz, now=now, warnings=warnings),
        encoding=encoding,
        truncated=max(0, len(items) - max_items),
        warnings=tuple(warnings),
    )
