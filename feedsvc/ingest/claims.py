"""Which worker fetches which source: a lease on the source row, taken atomically.

On PostgreSQL the candidates are picked with ``FOR UPDATE SKIP LOCKED`` so that workers do not queue
behind each other's row locks; the lease (owner, until) is what then keeps a source to one worker
while it fetches outside any transaction. SQLite serializes writers, so the same statements are safe
there with one worker (or several on one machine).

A fetch-now request (``fetch_requested_at``, set by the API) comes first in every claim round, and is
claimed even when its host asked us to wait or the source is disabled: the fetch then records that
outcome ("deferred", or the partner's answer) so the operator who asked sees one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.orm import Session

from feedsvc.models import Source, SourceHost


def _free(now: datetime):  # type: ignore[no-untyped-def]
    return or_(Source.lease_until.is_(None), Source.lease_until < now)


def claim(session: Session, source_id: int, owner: str, now: datetime, lease_s: int) -> bool:
    """Take the lease on one source; False if another worker holds it. Commits."""
    taken = session.execute(
        update(Source)
        .where(Source.id == source_id, _free(now))
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_s))
    ).rowcount
    session.commit()
    return bool(taken)


def claim_due(session: Session, owner: str, now: datetime, lease_s: int, limit: int) -> list[int]:
    """Lease up to ``limit`` sources: requested ones first, then those due whose host is not asking
    us to wait. Commits."""
    blocked_hosts = select(SourceHost.host).where(SourceHost.retry_after_until > now)
    requested = Source.fetch_requested_at.is_not(None)
    due = and_(Source.enabled.is_(True), Source.next_fetch_at <= now, Source.host.not_in(blocked_hosts))
    stmt = (
        select(Source.id)
        .where(or_(requested, due), _free(now))
        .order_by(case((requested, 0), else_=1), Source.fetch_requested_at, Source.next_fetch_at, Source.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=Source)
    ids = list(session.scalars(stmt))
    claimed = []
    for source_id in ids:
        taken = session.execute(
            update(Source)
            .where(and_(Source.id == source_id, _free(now)))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_s))
        ).rowcount
        if taken:
            claimed.append(source_id)
    session.commit()
    return claimed


def release(session: Session, source_id: int, owner: str) -> None:
    """Give a lease back without recording anything (a worker stopping before it fetched). Commits."""
    session.execute(
        update(Source)
        .where(Source.id == source_id, Source.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )
    session.commit()


def host_blocked_until(session: Session, host: str, now: datetime) -> datetime | None:
    until = session.scalar(select(SourceHost.retry_after_until).where(SourceHost.host == host))
    return until if until is not None and until > now else None
