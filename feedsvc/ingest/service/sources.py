"""Partner sources: validation, writing, and the status an operator reads."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedsvc import write
from feedsvc.errors import Conflict, InvalidInput, NotFound
from feedsvc.ingest.service.run import host_of
from feedsvc.ingest.service.settings import IngestSettings
from feedsvc.models import Category, Post, Source, SourceItem, utcnow
from feedsvc.site import Site
from feedsvc.text import url_problem

FIELDS = (
    "url",
    "name",
    "language",
    "category",
    "category_map",
    "interval_s",
    "syndicate",
    "aggregate",
    "full_text",
    "timezone",
    "enabled",
)


def check_url(url: str) -> str:
    # The API's schema checks too; OPML imports arrive here without it.
    problem = url_problem(url.strip())
    if problem:
        raise InvalidInput(problem, field="url")
    return url.strip()


def _category_id(session: Session, slug: str | None, field: str = "category") -> int | None:
    if slug is None:
        return None
    cid = session.scalar(select(Category.id).where(Category.slug == slug))
    if cid is None:
        raise InvalidInput(f"unknown category {slug!r}", field=field)
    return cid


def _check_map(session: Session, mapping: dict[str, str]) -> dict[str, str]:
    wanted = set(mapping.values())
    known = set(session.scalars(select(Category.slug).where(Category.slug.in_(wanted)))) if wanted else set()
    missing = sorted(wanted - known)
    if missing:
        raise InvalidInput(f"maps to unknown categories: {', '.join(missing)}", field="category_map")
    return {term.strip(): slug for term, slug in mapping.items() if term.strip()}


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}", field="timezone") from exc
    return name


def get_source(session: Session, source_id: int) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        raise NotFound(f"source {source_id} does not exist")
    return source


def create_source(session: Session, site: Site, settings: IngestSettings, data: dict[str, Any]) -> Source:
    url = check_url(data["url"])
    if session.scalar(select(Source.id).where(Source.url == url)) is not None:
        raise Conflict(f"a source with URL {url} exists already", field="url")
    language = data["language"]
    if language not in site.languages:
        raise InvalidInput(
            f"unknown language {language!r}; configured: {', '.join(site.languages)}", field="language"
        )
    interval = data.get("interval_s") or settings.default_interval
    if interval < settings.min_interval:
        raise InvalidInput(f"must be at least {settings.min_interval} seconds", field="interval_s")
    now = utcnow()
    source = Source(
        url=url,
        name=(data.get("name") or host_of(url))[:200],
        host=host_of(url),
        language=language,
        category_id=_category_id(session, data.get("category")),
        category_map=_check_map(session, data.get("category_map") or {}),
        timezone=_check_zone(data.get("timezone") or "UTC"),
        interval_s=interval,
        syndicate=data.get("syndicate", True),
        aggregate=data.get("aggregate", False),
        full_text=bool(data.get("full_text", False)),
        enabled=True,
        next_fetch_at=now,
        consecutive_errors=0,
        last_new=0,
        last_updated=0,
        created_at=now,
        updated_at=now,
    )
    session.add(source)
    session.flush()
    return source


def update_source(
    session: Session, site: Site, settings: IngestSettings, source: Source, data: dict[str, Any]
) -> Source:
    credit = (source.name, source.url)  # what feeds show in each item's <source>
    if "url" in data:
        url = check_url(data["url"])
        clash = session.scalar(select(Source.id).where(Source.url == url, Source.id != source.id))
        if clash is not None:
            raise Conflict(f"source {clash} has this URL already", field="url")
        if url != source.url:
            source.url, source.host = url, host_of(url)
            source.etag = source.last_modified = source.body_hash = None
    if data.get("name"):
        source.name = data["name"][:200]
    if "language" in data:
        if data["language"] not in site.languages:
            raise InvalidInput(f"unknown language {data['language']!r}", field="language")
        source.language = data["language"]  # applies to items fetched from now on
    if "category" in data:
        source.category_id = _category_id(session, data["category"])
    if "category_map" in data:
        source.category_map = _check_map(session, data["category_map"] or {})
    if "timezone" in data:
        source.timezone = _check_zone(data["timezone"] or "UTC")
    if "interval_s" in data:
        if data["interval_s"] < settings.min_interval:
            raise InvalidInput(f"must be at least {settings.min_interval} seconds", field="interval_s")
        source.interval_s = data["interval_s"]
    if "enabled" in data and data["enabled"] and not source.enabled:
        # The operator re-enables a source: start afresh, fetch at once.
        source.enabled, source.disabled_reason, source.consecutive_errors = True, None, 0
        source.next_fetch_at = utcnow()
    elif "enabled" in data and not data["enabled"]:
        source.enabled, source.disabled_reason = False, "disabled by the operator"
    if "aggregate" in data:
        source.aggregate = data["aggregate"]  # for items fetched from now on, as a new language is
    if "full_text" in data:
        source.full_text = bool(data["full_text"])
    if "syndicate" in data and data["syndicate"] != source.syndicate:
        source.syndicate = data["syndicate"]
        _resyndicate(session, source)
    source.updated_at = utcnow()
    session.flush()
    if (source.name, source.url) != credit:
        credited = session.scalars(select(Post.id).where(Post.source_id == source.id))
        write.posts_changed(session, list(credited))
    return source


def _resyndicate(session: Session, source: Source) -> None:
    """Show or hide the source's stored items in the public feeds."""
    ids = list(session.scalars(select(Post.id).where(Post.source_id == source.id)))
    write.set_visibility(session, ids, source.syndicate)


def delete_source(session: Session, source: Source, purge: bool) -> int:
    """Delete a source; with ``purge`` its stored posts go too. Returns how many posts were deleted."""
    deleted = 0
    if purge:
        for post_id in list(session.scalars(select(Post.id).where(Post.source_id == source.id))):
            deleted += write.delete_post(session, post_id)
    else:
        write.detach_source(session, source.id)
    session.delete(source)
    session.flush()
    return deleted


def source_json(session: Session, source: Source) -> dict[str, Any]:
    items = session.scalar(
        select(func.count()).where(SourceItem.source_id == source.id, SourceItem.deleted.is_(False))
    )
    category = (
        session.scalar(select(Category.slug).where(Category.id == source.category_id))
        if source.category_id
        else None
    )
    return {
        "id": source.id,
        "url": source.url,
        "name": source.name,
        "language": source.language,
        "category": category,
        "category_map": source.category_map,
        "timezone": source.timezone,
        "interval_s": source.interval_s,
        "syndicate": source.syndicate,
        "aggregate": source.aggregate,
        "full_text": source.full_text,
        "enabled": source.enabled,
        "disabled_reason": source.disabled_reason,
        "health": {
            "last_fetch_at": source.last_fetch_at,
            "last_success_at": source.last_success_at,
            "last_outcome": source.last_outcome,
            "last_status": source.last_status,
            "last_error": source.last_error,
            "last_warning": source.last_warning,
            "consecutive_errors": source.consecutive_errors,
            "next_fetch_at": source.next_fetch_at,
            "last_new": source.last_new,
            "last_updated": source.last_updated,
            "etag": source.etag,
            "last_modified": source.last_modified,
            "feed_hint_s": source.hint_s,
            "publish_gap_s": source.publish_gap_s,
            "leased_by": source.lease_owner if source.lease_until and source.lease_until > utcnow() else None,
        },
        "push": {
            "hub_url": source.hub_url,
            "topic_url": source.topic_url,
            "state": source.push_state,
            "lease_until": source.push_lease_until,
        },
        "items_stored": items or 0,
        "created_at": source.created_at,
    }
