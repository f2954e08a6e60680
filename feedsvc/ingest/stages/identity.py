"""Item identity within a source (``ParsedItem.key``), stable across fetches of the same document:

* the GUID / Atom id / JSON Feed id, verbatim (hashed as ``guid-sha256:…`` if over 512 chars);
  never resolved against the feed URL, so a feed that moves keeps its keys;
* no GUID: ``link-sha256:`` + sha256 of the link without tracking parameters, scheme and host in
  lower case (``feedsvc.urls.normalize_link``): ``?utm_source=…`` added later is the same item;
* no GUID, no link: ``title-sha256:`` + sha256 of title and date (or content when undated);
* one key shared by several *different* items of a document (a CMS template that puts the
  site URL in every ``<guid>``, a feed that links every item to its home page): each of them
  gets ``<key>#`` + 16 hex of sha256(link) when their links differ, else of link + title +
  date. None is lost, and the result does not depend on the order of the items;
* items still sharing a key are the same item listed twice: the first one is kept.

A GUID that changes while link and title stay (a CMS re-import) is repaired by the store, which
looks up a recent item with the same ``link_title_key``.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime

from feedsvc.ingest.item import ParsedItem
from feedsvc.urls import normalize_link

MAX_GUID_LENGTH = 512


def sha256(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8", errors="replace")).hexdigest()


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def item_key(guid: str | None, link: str | None, title: str, published: datetime | None, content: str) -> str:
    if guid is not None:
        return guid if len(guid) <= MAX_GUID_LENGTH else "guid-sha256:" + sha256(guid)
    if link is not None:
        return "link-sha256:" + sha256(normalize_link(link))
    return "title-sha256:" + sha256(title, _iso(published) or sha256(content))


def link_title_key(link: str | None, title: str) -> str | None:
    """What a re-GUIDed item still shares with its earlier self."""
    return sha256(normalize_link(link), title.casefold()) if link and title else None


def disambiguate(items: list[ParsedItem]) -> list[ParsedItem]:
    """Apply the colliding-key and duplicate rules from the module docstring."""
    groups: dict[str, list[ParsedItem]] = {}
    for item in items:
        groups.setdefault(item.key, []).append(item)
    renamed: dict[int, str] = {}
    for key, group in groups.items():
        # Exact repeats (same content hash) are one item listed twice: they collapse below.
        distinct = list({item.content_hash: item for item in group}.values())
        if len(distinct) < 2:
            continue
        links = [normalize_link(item.link) if item.link else None for item in distinct]
        by_link = all(links) and len(set(links)) == len(links)
        for item in group:
            link = normalize_link(item.link) if item.link else ""
            basis = sha256(link) if by_link else sha256(link, item.title, _iso(item.published))
            renamed[id(item)] = f"{key}#{basis[:16]}"
    result: list[ParsedItem] = []
    seen: set[str] = set()
    for item in items:
        key = renamed.get(id(item), item.key)
        if key in seen:
            continue
        seen.add(key)
        result.append(item if key == item.key else replace(item, key=key))
    return result
