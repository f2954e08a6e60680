"""JSON Feed 1.1 writer (https://jsonfeed.org/version/1.1), built directly with the json module.

Translations and the partner source have no JSON Feed field, so they travel in the extension
objects ``_translations`` (keyed by language) and ``_source``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from feedsvc.feeds.base import FeedWriter, PreparedItem, prepare, rfc3339
from feedsvc.feeds.model import Feed

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

# Built once: compact separators and no circular-reference bookkeeping for plain dicts.
_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))


def _item(item: PreparedItem) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": item.guid,
        "url": item.url,
        "title": item.title,
    }
    if item.content_html:
        data["content_html"] = item.content_html
    else:
        # An item needs content_html or content_text.
        data["content_text"] = item.summary
    data["summary"] = item.summary
    data["date_published"] = rfc3339(item.published)
    data["date_modified"] = rfc3339(item.updated)
    if item.mark_language:
        data["language"] = item.language
    if item.author:
        data["authors"] = [{"name": item.author}]
    if item.categories:
        data["tags"] = [category.label for category in item.categories]
    if item.image is not None:
        data["image"] = item.image.url
        attachment: dict[str, Any] = {"url": item.image.url, "mime_type": item.image.mime_type}
        if item.image.length > 0:
            attachment["size_in_bytes"] = item.image.length
        data["attachments"] = [attachment]
    if item.alternates:
        translations: dict[str, dict[str, str]] = {}
        for alternate in item.alternates:
            translation = {"url": alternate.url}
            if alternate.title:
                translation["title"] = alternate.title
            translations[alternate.language] = translation
        data["_translations"] = translations
    if item.source is not None:
        data["_source"] = {"name": item.source.name, "feed_url": item.source.url}
    return data


class JsonFeedWriter(FeedWriter):
    name = "json"
    suffix = "json"
    content_type: ClassVar[str] = "application/feed+json; charset=utf-8"

    def render(self, feed: Feed) -> bytes:
        prepared = prepare(feed)
        document: dict[str, Any] = {
            "version": JSON_FEED_VERSION,
            "title": prepared.title,
            "home_page_url": prepared.home_url,
            "feed_url": prepared.self_url,
            "description": prepared.description,
        }
        if prepared.icon_url:
            document["icon"] = prepared.icon_url
        if prepared.favicon_url:
            document["favicon"] = prepared.favicon_url
        if prepared.language:
            document["language"] = prepared.language
        # As in Atom, the feed is the author of items that name none.
        document["authors"] = [{"name": prepared.title}]
        # Archives (RFC 5005): next_url pages back to older posts; _archive names every neighbour.
        older = prepared.link("prev-archive")
        if older:
            document["next_url"] = older
        if prepared.links:
            document["_archive"] = {link.rel.replace("-", "_"): link.href for link in prepared.links}
            if prepared.archive:
                document["_archive"]["archive"] = True
        document["items"] = [_item(item) for item in prepared.items]
        return _ENCODER.encode(document).encode("utf-8")
