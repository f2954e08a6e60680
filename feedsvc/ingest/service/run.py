"""One fetch of one source, end to end: claim → fetch → parse → (full text) → store → record, never raising.

The fetch, the parse and article fetches happen outside any transaction; what they produce is
written in one transaction together with the source's new status, so a source's fetch is stored
whole or not at all. Content a partner's hub pushes (``pushed``) takes the same path without the fetch.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from feedsvc import metrics, write
from feedsvc.ingest.item import ParsedFeed
from feedsvc.ingest.outcome import Outcome
from feedsvc.ingest.reader import ParseError, parse_feed
from feedsvc.ingest.service import claims, push, schedule
from feedsvc.ingest.service.settings import IngestSettings
from feedsvc.ingest.service.store import Counts, known_hashes, store_items
from feedsvc.ingest.stages import fulltext
from feedsvc.ingest.stages.fetch import FetchResult, fetch
from feedsvc.models import Source, SourceHost, utcnow

log = logging.getLogger(__name__)
RETRY_AFTER_CAP = 24 * 3600
RETRY_AFTER_DEFAULT = 3600  # a 429/503 without Retry-After
MAX_WARNING = 2000


@dataclass(frozen=True)
class Pushed:
    """A body a partner's hub delivered (signature already checked)."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class IngestResult:
    source_id: int
    outcome: Outcome  # new | updated | unchanged | error | gone | deferred | busy
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    status: int | None = None
    error: str | None = None
    warning: str | None = None
    elapsed_ms: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        detail = self.error or self.warning or ""
        return (
            f"source {self.source_id}: {self.outcome} (new {self.new}, updated {self.updated}, "
            f"unchanged {self.unchanged}) {self.elapsed_ms} ms {detail}"
        ).rstrip()


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def ingest_source(
    session: Session,
    source_id: int,
    owner: str,
    settings: IngestSettings,
    *,
    claimed: bool = False,
    pushed: Pushed | None = None,
) -> IngestResult:
    """Fetch (or take ``pushed``) and store one source. ``claimed``: the caller already holds the lease."""
    started = utcnow()
    if not claimed and not claims.claim(
        session, source_id, owner, started, settings.lease_seconds, settings.per_host, settings.max_concurrent
    ):
        return IngestResult(
            source_id, "busy", error="another fetch holds this source or its host; try again shortly"
        )
    try:
        result = _ingest(session, source_id, owner, settings, started, pushed)
    except Exception as exc:  # the worker must survive anything a partner sends
        log.exception("ingesting source %s failed", source_id)
        session.rollback()
        result = IngestResult(source_id, "error", error=f"internal error: {type(exc).__name__}: {exc}"[:500])
        _record_failure(session, source_id, owner, settings, result, started)
    else:
        try:
            push.after_fetch(session, source_id, settings)
        except Exception:  # a hub that misbehaves must not turn a stored fetch into an error
            log.exception("WebSub subscription of source %s failed", source_id)
            session.rollback()
    metrics.fetch_done(
        result.outcome,
        (utcnow() - started).total_seconds(),
        result.new,
        result.updated,
        source_id=source_id,
        status=result.status,
        error=result.error,
    )
    return result


def _with_full_text(
    session: Session, source_id: int, parsed: ParsedFeed, settings: IngestSettings
) -> ParsedFeed:
    """Excerpt-only items with their article's main text fetched (outside any transaction): new ones,
    and edited ones, whose update would otherwise put the excerpt back in place of the full text."""
    excerpts = [item for item in parsed.items if fulltext.is_excerpt(item, settings.full_text_min_chars)]
    if not excerpts:
        return parsed
    known = known_hashes(session, source_id, excerpts)
    session.commit()
    wanted = {item.key for item in excerpts if known.get(item.key) != item.content_hash}
    items = [
        fulltext.with_full_text(item, settings.fetch) if item.key in wanted else item for item in parsed.items
    ]
    return replace(parsed, items=items)


def _ingest(
    session: Session,
    source_id: int,
    owner: str,
    settings: IngestSettings,
    started: datetime,
    pushed: Pushed | None = None,
) -> IngestResult:
    source = session.get(Source, source_id)
    if source is None:
        return IngestResult(source_id, "error", error="source does not exist")
    url, etag, last_modified, body_hash = source.url, source.etag, source.last_modified, source.body_hash
    zone, host, full_text = _zone(source.timezone), source.host, source.full_text
    blocked = claims.host_blocked_until(session, host, started) if pushed is None else None
    session.commit()  # nothing held open while we fetch
    if blocked is not None:
        result = IngestResult(
            source_id, "deferred", error=f"{host} asked us to wait until {blocked.isoformat()}"
        )
        _finish(session, source_id, owner, settings, result, started, next_at=blocked)
        return result

    if pushed is not None:
        fetched = FetchResult(url, "ok", 200, url, body=pushed.body, headers=pushed.headers)
        body_hash = None  # a delivery is new content by definition
    else:
        fetched = fetch(url, etag=etag, last_modified=last_modified, settings=settings.fetch)
    parsed: ParsedFeed | None = None
    result = IngestResult(source_id, "unchanged", status=fetched.status)
    digest = hashlib.sha256(fetched.body).hexdigest() if fetched.outcome == "ok" else None
    if fetched.outcome == "ok" and digest != body_hash:
        try:
            parsed = parse_feed(
                fetched.body, fetched.headers, fetched.final_url, default_tz=zone, now=started
            )
        except ParseError as exc:
            result.outcome, result.error = "error", f"not a usable feed: {exc}"
    if parsed is not None and full_text:
        parsed = _with_full_text(session, source_id, parsed, settings)
    elif fetched.outcome in {"error", "gone", "retry_later"}:
        result.outcome = "gone" if fetched.outcome == "gone" else "error"
        result.error = fetched.error or f"HTTP {fetched.status}"

    source = _lock(session, source_id)
    if source is None or source.lease_owner != owner:
        session.rollback()  # deleted meanwhile, or our lease expired and another worker took over
        return IngestResult(source_id, "busy", error="lease lost; nothing written")
    now = utcnow()
    if fetched.moved_permanently_to:
        source.url, source.host = fetched.moved_permanently_to, host_of(fetched.moved_permanently_to)
    if parsed is not None:
        write.set_source_home(session, source, parsed.link or source.home_url)
        counts: Counts = store_items(session, source, parsed.items, now)
        result.new, result.updated, result.unchanged = counts.new, counts.updated, counts.unchanged
        result.outcome = "new" if counts.new else "updated" if counts.updated else "unchanged"
        notes = [parsed.bozo] if parsed.bozo else []
        notes += [*parsed.warnings, *counts.warnings]
        result.warning = "; ".join(notes)[:MAX_WARNING] or None
        if not parsed.items and parsed.bozo:
            result.outcome, result.error = "error", f"no items could be read: {parsed.bozo}"
        push.discovered(source, parsed, fetched)
        gap = schedule.publish_gap(parsed.items, now)
        source.publish_gap_s = gap if gap is not None else source.publish_gap_s
    if pushed is not None:
        # A delivery says nothing about the polled document: validators and schedule stay as they are.
        source.lease_owner = source.lease_until = None
        source.last_new, source.last_updated = result.new, result.updated
        if result.warning:
            source.last_warning = result.warning
        session.commit()
        result.elapsed_ms = int((utcnow() - started).total_seconds() * 1000)
        return result
    if result.outcome not in {"error", "gone"}:
        source.etag, source.last_modified = (
            fetched.etag or source.etag,
            fetched.last_modified or source.last_modified,
        )
        if fetched.outcome == "ok":
            source.etag, source.last_modified, source.body_hash = fetched.etag, fetched.last_modified, digest
        source.hint_s = schedule.hint_seconds(parsed, fetched) or (source.hint_s if parsed is None else None)
    next_at = None
    if fetched.outcome == "retry_later":
        wait = min(fetched.retry_after or RETRY_AFTER_DEFAULT, RETRY_AFTER_CAP)
        next_at = schedule.after(now, wait)
        _block_host(session, source.host, next_at)
    result.elapsed_ms = int((now - started).total_seconds() * 1000)
    _apply(source, settings, result, now, next_at, started)
    session.commit()
    return result


def _lock(session: Session, source_id: int) -> Source | None:
    stmt = select(Source).where(Source.id == source_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _block_host(session: Session, host: str, until: datetime) -> None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(SourceHost).values(host=host, retry_after_until=until)
    session.execute(stmt.on_conflict_do_update(index_elements=["host"], set_={"retry_after_until": until}))


def _apply(
    source: Source,
    settings: IngestSettings,
    result: IngestResult,
    now: datetime,
    next_at: datetime | None,
    started: datetime,
) -> None:
    """Record the outcome on the source and schedule its next fetch; release the lease."""
    # A fetch-now request made while this fetch was already under way stays pending: the
    # operator asked for a fetch that starts after the request.
    if source.fetch_requested_at is not None and source.fetch_requested_at <= started:
        source.fetch_requested_at = None
    source.last_result = result.as_dict()
    source.last_fetch_at = now
    source.last_outcome = result.outcome
    source.last_status = result.status
    source.lease_owner = source.lease_until = None
    source.updated_at = now
    base = schedule.interval(
        source.interval_s,
        source.hint_s,
        settings.min_interval,
        settings.max_interval,
        source.publish_gap_s,
        pushing=source.push_state == "active",
    )
    if result.outcome == "gone":
        source.enabled = False
        source.disabled_reason = f"the partner says the feed is gone (HTTP 410) at {now:%Y-%m-%d %H:%M} UTC"
        source.last_error = result.error
        source.consecutive_errors += 1
    elif result.outcome == "error":
        source.last_error = result.error
        source.consecutive_errors += 1
        if source.consecutive_errors >= settings.max_errors:
            source.enabled = False
            source.disabled_reason = (
                f"{source.consecutive_errors} failed fetches in a row; last: {result.error}"
            )
        delay = schedule.backoff(source.consecutive_errors, base, settings.backoff_cap, settings.min_interval)
        source.next_fetch_at = next_at or schedule.after(now, delay)
        return
    elif result.outcome == "deferred":
        source.next_fetch_at = next_at or schedule.after(now, schedule.jittered(base, settings.min_interval))
        return
    else:
        source.last_success_at = now
        source.consecutive_errors = 0
        source.last_error = None
        source.last_new, source.last_updated = result.new, result.updated
        source.last_warning = result.warning
    source.next_fetch_at = next_at or schedule.after(now, schedule.jittered(base, settings.min_interval))


def _finish(
    session: Session,
    source_id: int,
    owner: str,
    settings: IngestSettings,
    result: IngestResult,
    started: datetime,
    next_at: datetime | None = None,
) -> None:
    source = _lock(session, source_id)
    if source is not None and source.lease_owner == owner:
        now = utcnow()
        result.elapsed_ms = int((now - started).total_seconds() * 1000)
        _apply(source, settings, result, now, next_at, started)
    session.commit()


def _record_failure(
    session: Session,
    source_id: int,
    owner: str,
    settings: IngestSettings,
    result: IngestResult,
    started: datetime,
) -> None:
    try:
        _finish(session, source_id, owner, settings, result, started)
    except Exception:  # the database itself is failing: leave the lease to expire
        log.exception("could not record the failure of source %s", source_id)
        session.rollback()
