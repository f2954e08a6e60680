"""Parsed partner items → posts, in the caller's transaction (one per fetch: stored whole or not at all);
the rows themselves are written by ``feedsvc.write``.

Identity is (source, sha256 of the item key); the unique constraint on ``source_items`` backs it. New
items are inserted in bulk (a fixed handful of statements per fetch), changed ones are updated in
place keeping their GUID, and items the operator deleted stay deleted.

Dates: a new item keeps its partner's date when it is usable (not in the future, not before 1970);
otherwise it is dated when first seen, and that date stays put on later fetches. An item counts as
updated only when its content hash (title, link, content, author, media; no dates) changes.

A GUID that changes while link and title stay the same (a CMS re-import) is the same item when
the earlier one was first seen within ``REGUID_WINDOW``: its identity row takes the new key.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from feedsvc import write
from feedsvc.ingest.item import Credit, ParsedItem
from feedsvc.ingest.stages.dates import usable_date
from feedsvc.models import Category, Source, SourceItem
from feedsvc.posts import guess_image_type
from feedsvc.sanitize import html_to_text
from feedsvc.text import make_slug, summarize

_ITEMS = SourceItem.__table__
REGUID_WINDOW = timedelta(days=1)


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)


def item_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _category_ids(session: Session, source: Source) -> dict[str, int]:
    """Our slug → id for every category the source's map files items under."""
    slugs = set(source.category_map.values())
    if not slugs:
        return {}
    return {
        slug: cid
        for slug, cid in session.execute(select(Category.slug, Category.id).where(Category.slug.in_(slugs)))
    }


def _categories_for(
    source: Source, item: ParsedItem, by_slug: dict[str, int], slugs: dict[int, str]
) -> list[tuple[int, str]]:
    """(id, slug) of our categories for a partner item: its mapped terms, else the source's default."""
    mapping = {term.casefold(): slug for term, slug in source.category_map.items()}
    mapped = [by_slug[mapping[t.casefold()]] for t in item.categories if mapping.get(t.casefold()) in by_slug]
    ids = list(dict.fromkeys(mapped)) or ([source.category_id] if source.category_id is not None else [])
    return [(cid, slugs[cid]) for cid in ids if cid in slugs]


def _credits(credits: tuple[Credit, ...]) -> list[dict[str, str]] | None:
    rows = [
        {"name": c.name, **({"role": c.role} if c.role else {}), **({"scheme": c.scheme} if c.scheme else {})}
        for c in credits
    ]
    return rows or None


def _enclosures(item: ParsedItem) -> list[dict[str, object]]:
    """post_enclosures columns for the item's media files, in its order (``write`` numbers them)."""
    return [
        {
            "url": e.url,
            "type": e.mime_type,
            "length": e.length,
            "medium": e.medium,
            "width": e.width,
            "height": e.height,
            "thumbnail_url": e.thumbnail.url if e.thumbnail else None,
            "thumbnail_width": e.thumbnail.width if e.thumbnail else None,
            "thumbnail_height": e.thumbnail.height if e.thumbnail else None,
            "media_credits": _credits(e.credits),
        }
        for e in item.enclosures
    ]


def _fields(item: ParsedItem, now: datetime, new: bool) -> dict[str, object]:
    """Post columns from an item. A new item without a usable date is dated ``now`` (first seen);
    an edit only moves the date to another usable one."""
    content = item.content_html or item.summary_html
    summary = item.summary or summarize(html_to_text(content))
    image = item.image
    fields: dict[str, object] = {
        "title": item.title,
        "summary": summary,
        "content": content,
        "author": item.author,
        "url": item.link,
        "image_url": image.url if image else None,
        "image_type": (image.mime_type or guess_image_type(image.url)) if image else None,
        "image_length": (image.length or 0) if image else 0,
        "rights": item.rights,
        "media_credits": _credits(item.credits),
    }
    if usable_date(item.published, now):
        fields["published_at"] = item.published
    elif new:
        fields["published_at"] = now
    return fields


def known_hashes(session: Session, source_id: int, items: list[ParsedItem]) -> dict[str, str]:
    """Key → stored content hash of the items of ``items`` the source has stored before."""
    wanted = {item_key(item.key): item.key for item in items}
    rows = session.execute(
        select(_ITEMS.c.item_key, _ITEMS.c.content_hash).where(
            _ITEMS.c.source_id == source_id, _ITEMS.c.item_key.in_(list(wanted))
        )
    )
    return {wanted[key]: content_hash for key, content_hash in rows}


def _reguided(
    session: Session, source: Source, items: dict[str, ParsedItem], known: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Rows of items whose GUID changed while link and title stayed: new key → the earlier row."""
    candidates = {
        item.link_key: key
        for key, item in items.items()
        if key not in known and item.guid is not None and item.link_key is not None
    }
    if not candidates:
        return {}
    rows = session.execute(
        select(
            _ITEMS.c.item_key,
            _ITEMS.c.post_id,
            _ITEMS.c.content_hash,
            _ITEMS.c.deleted,
            _ITEMS.c.link_title_key,
        ).where(
            _ITEMS.c.source_id == source.id,
            _ITEMS.c.link_title_key.in_(list(candidates)),
            _ITEMS.c.first_seen_at >= now - REGUID_WINDOW,
            _ITEMS.c.item_key.not_in(list(items)),
        )
    )
    found: dict[str, Any] = {}
    for row in rows:
        new_key = candidates.get(row.link_title_key)
        if new_key is not None and new_key not in found:
            found[new_key] = row
    return found


def store_items(session: Session, source: Source, items: list[ParsedItem], now: datetime) -> Counts:
    counts = Counts()
    if not items:
        return counts
    keys = {item_key(item.key): item for item in items}
    known = {
        row.item_key: row
        for row in session.execute(
            select(_ITEMS.c.item_key, _ITEMS.c.post_id, _ITEMS.c.content_hash, _ITEMS.c.deleted).where(
                _ITEMS.c.source_id == source.id, _ITEMS.c.item_key.in_(list(keys))
            )
        )
    }
    for new_key, row in _reguided(session, source, keys, known, now).items():
        session.execute(
            update(_ITEMS)
            .where(_ITEMS.c.source_id == source.id, _ITEMS.c.item_key == row.item_key)
            .values(item_key=new_key, guid=keys[new_key].guid)
        )
        known[new_key] = row
        counts.warnings.append(
            f"GUID of {keys[new_key].link} changed to {keys[new_key].guid!r}; kept as the same item"
        )
    cat_slugs = {cid: slug for slug, cid in _category_slugs(session).items()}
    by_slug = _category_ids(session, source)
    new_posts: list[dict[str, object]] = []
    new_links: list[list[tuple[int, str]]] = []
    new_enclosures: list[list[dict[str, object]]] = []
    new_items: list[dict[str, object]] = []
    for tick, (key, item) in enumerate(keys.items()):
        # Distinct "updated" instants: validators warn about entries sharing one.
        stamp = now + timedelta(microseconds=tick)
        cats = _categories_for(source, item, by_slug, cat_slugs)
        seen = known.get(key)
        if seen is not None:
            if seen.deleted or seen.post_id is None or seen.content_hash == item.content_hash:
                counts.unchanged += 1
                continue
            fields = {**_fields(item, now, new=False), "updated_at": stamp}
            write.update_post_row(session, seen.post_id, fields, cats, _enclosures(item))
            session.execute(
                update(_ITEMS)
                .where(_ITEMS.c.source_id == source.id, _ITEMS.c.item_key == key)
                .values(content_hash=item.content_hash, link_title_key=item.link_key)
            )
            counts.updated += 1
            continue
        # A short hash of (source, identity) keeps slugs unique without a query per item.
        slug = f"{make_slug(item.title, max_length=60)}-{item_key(f'{source.id}:{key}')[:12]}"
        new_posts.append(
            {
                **_fields(item, now, new=True),
                "uid": str(uuid.uuid4()),
                "language": source.language,
                "slug": slug,
                "created_at": now,
                "updated_at": stamp,
                "translation_group": None,
                "visible": source.syndicate,
                "source_id": source.id,
                "aggregate": source.aggregate,
            }
        )
        new_items.append(
            {
                "source_id": source.id,
                "item_key": key,
                "guid": item.guid,
                "content_hash": item.content_hash,
                "deleted": False,
                "first_seen_at": now,
                "link_title_key": item.link_key,
            }
        )
        new_links.append(cats)
        new_enclosures.append(_enclosures(item))
        counts.new += 1
    if new_posts:
        ids = write.insert_posts(session, new_posts, new_links, new_enclosures)
        for row, post_id in zip(new_items, ids, strict=True):
            row["post_id"] = post_id
        session.execute(insert(_ITEMS), new_items)
    return counts


def _category_slugs(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Category.slug, Category.id)).all())  # type: ignore[arg-type]
