"""Which worker fetches which source: a lease on the source row, taken atomically.

On PostgreSQL the candidates are picked with ``FOR UPDATE SKIP LOCKED`` so that workers do not queue
behind each other's row locks; the lease (owner, until) is what then keeps a source to one worker
while it fetches outside any transaction. SQLite serializes writers, so the same statements are safe
there with one worker (or several on one machine).

Politeness: a claim is refused while ``per_host`` live leases already hold sources on the same host,
or ``max_concurrent`` live leases exist at all (0: no cap). The check and the lease are one UPDATE;
on PostgreSQL claims also take a transaction-scoped advisory lock, so two workers cannot both see
a free host under READ COMMITTED.

A fetch-now request (``fetch_requested_at``, set by the API) comes first in every claim round, and is
claimed even when its host asked us to wait or the source is disabled: the fetch then records that
outcome ("deferred", or the partner's answer) so the operator who asked sees one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from feedsvc.models import Source, SourceHost


def _free(now: datetime):  # type: ignore[no-untyped-def]
    return or_(Source.lease_until.is_(None), Source.lease_until < now)


_CLAIMS_LOCK = 0x66656564  # "feed": the advisory lock all claims of this service serialize on


def _polite(now: datetime, per_host: int, max_concurrent: int):  # type: ignore[no-untyped-def]
    """Room for one more fetch on this row's host, and overall."""
    other = aliased(Source)
    live = other.lease_until > now
    same_host = select(func.count()).where(other.host == Source.host, live).scalar_subquery()
    conditions = [same_host < max(per_host, 1)]
    if max_concurrent > 0:
        conditions.append(select(func.count()).where(live).scalar_subquery() < max_concurrent)
    return and_(*conditions)


def _serialize(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIMS_LOCK})


def _take(
    session: Session,
    source_id: int,
    owner: str,
    now: datetime,
    lease_s: int,
    per_host: int,
    max_concurrent: int,
) -> bool:
    return bool(
        session.execute(
            update(Source)
            .where(Source.id == source_id, _free(now), _polite(now, per_host, max_concurrent))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def claim(
    session: Session,
    source_id: int,
    owner: str,
    now: datetime,
    lease_s: int,
    per_host: int = 1,
    max_concurrent: int = 0,
) -> bool:
    """Take the lease on one source; False if another worker holds it or politeness says wait. Commits."""
    _serialize(session)
    taken = _take(session, source_id, owner, now, lease_s, per_host, max_concurrent)
    session.commit()
    return taken


def claim_due(
    session: Session,
    owner: str,
    now: datetime,
    lease_s: int,
    limit: int,
    per_host: int = 1,
    max_concurrent: int = 0,
) -> list[int]:
    """Lease up to ``limit`` sources: requested ones first, then those due whose host is not asking
    us to wait. Commits."""
    _serialize(session)
    stmt = _due(now, limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=Source)
    ids = list(session.scalars(stmt))
    claimed = []
    for source_id in ids:
        if _take(session, source_id, owner, now, lease_s, per_host, max_concurrent):
            claimed.append(source_id)
    session.commit()
    return claimed


def due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Sources due now, without claiming them (each is claimed when its turn comes)."""
    return list(session.scalars(_due(now, limit)))


def _due(now: datetime, limit: int):  # type: ignore[no-untyped-def]
    blocked_hosts = select(SourceHost.host).where(SourceHost.retry_after_until > now)
    requested = Source.fetch_requested_at.is_not(None)
    due = and_(Source.enabled.is_(True), Source.next_fetch_at <= now, Source.host.not_in(blocked_hosts))
    return (
        select(Source.id)
        .where(or_(requested, due), _free(now))
        .order_by(case((requested, 0), else_=1), Source.fetch_requested_at, Source.next_fetch_at, Source.id)
        .limit(limit)
    )


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
