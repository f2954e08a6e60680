"""JSON Feed 1.1 writer (https://jsonfeed.org/version/1.1), built directly with the json module.

Translations, the partner source, rights and Media RSS details have no JSON Feed field, so they
travel in extension objects (JSON Feed extensions are objects whose key starts with "_"):
``_translations`` (keyed by language), ``_source`` ({title, feed_url, home_page_url}), ``_rights``
({text}), and ``_media`` on an attachment ({medium, width, height, thumbnail, credits}) or on the
item (its own credits).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from feedsvc.feeds.base import EntryCache, FeedWriter, PreparedItem, prepare, rfc3339
from feedsvc.feeds.model import Credit, Enclosure, Feed, Thumbnail

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

# Built once: compact separators and no circular-reference bookkeeping for plain dicts.
_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))


def _credits(credits: tuple[Credit, ...]) -> list[dict[str, str]]:
    return [
        {"name": c.name, **({"role": c.role} if c.role else {}), **({"scheme": c.scheme} if c.scheme else {})}
        for c in credits
    ]


def _thumbnail(thumbnail: Thumbnail) -> dict[str, Any]:
    data: dict[str, Any] = {"url": thumbnail.url}
    if thumbnail.width:
        data["width"] = thumbnail.width
    if thumbnail.height:
        data["height"] = thumbnail.height
    return data


def _attachment(enclosure: Enclosure) -> dict[str, Any]:
    data: dict[str, Any] = {"url": enclosure.url, "mime_type": enclosure.mime_type}
    if enclosure.length > 0:
        data["size_in_bytes"] = enclosure.length
    media: dict[str, Any] = {}
    if enclosure.medium != enclosure.mime_type.split("/", 1)[0]:
        media["medium"] = enclosure.medium  # only when the MIME type does not say it
    if enclosure.width:
        media["width"] = enclosure.width
    if enclosure.height:
        media["height"] = enclosure.height
    if enclosure.thumbnail:
        media["thumbnail"] = _thumbnail(enclosure.thumbnail)
    if enclosure.credits:
        media["credits"] = _credits(enclosure.credits)
    if media:
        data["_media"] = media
    return data


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
    if item.enclosures:
        data["attachments"] = [_attachment(enclosure) for enclosure in item.enclosures]
    if item.alternates:
        translations: dict[str, dict[str, str]] = {}
        for alternate in item.alternates:
            translation = {"url": alternate.url}
            if alternate.title:
                translation["title"] = alternate.title
            translations[alternate.language] = translation
        data["_translations"] = translations
    if item.source is not None:
        source = {"title": item.source.name, "feed_url": item.source.url}
        if item.source.home_url:
            source["home_page_url"] = item.source.home_url
        data["_source"] = source
    if item.rights:
        data["_rights"] = {"text": item.rights}
    if item.credits:
        data["_media"] = {"credits": _credits(item.credits)}
    return data


class JsonFeedWriter(FeedWriter):
    name = "json"
    suffix = "json"
    content_type: ClassVar[str] = "application/feed+json; charset=utf-8"

    def _entry(self, item: PreparedItem, language: str | None, entries: EntryCache | None) -> dict[str, Any]:
        if entries is None:
            return _item(item)
        key = (self.suffix, language, item)
        data = entries.get(key)
        if data is None:
            data = _item(item)
            entries.built += 1
            entries.put(key, data)
        return data

    def render(self, feed: Feed, entries: EntryCache | None = None) -> bytes:
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
        if prepared.hubs:
            document["hubs"] = [{"type": "WebSub", "url": hub} for hub in prepared.hubs]
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
        document["items"] = [self._entry(item, prepared.language, entries) for item in prepared.items]
        return _ENCODER.encode(document).encode("utf-8")
