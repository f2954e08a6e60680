"""Per-scope feed versions, bumped inside the transaction that changes what a feed shows.

Every process reads the version from the database on each poll, so a write by any process (an API
worker, the ingestion worker) is visible on the very next request anywhere, and rendered feeds can be
cached under keys that include the version: a cached entry is never stale, only unused.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from feedsvc.models import FeedState, utcnow


@dataclass(frozen=True, slots=True)
class State:
    token: str
    modified_at: datetime


_table = FeedState.__table__


def read(conn: Connection | Session, scope: str) -> State | None:
    """The scope's current version (one primary-key lookup), or None if it has none yet."""
    row = conn.execute(select(_table.c.token, _table.c.modified_at).where(_table.c.scope == scope)).first()
    return None if row is None else State(row[0], row[1])


def bump(session: Session, scopes: Iterable[str], now: datetime | None = None) -> None:
    """Give each scope a new version (creating its row if needed), in the caller's transaction."""
    keys = sorted(set(scopes))  # a fixed order keeps concurrent writers from deadlocking
    if not keys:
        return
    now = now or utcnow()
    rows = [{"scope": key, "token": secrets.token_hex(8), "modified_at": now} for key in keys]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_table.c.scope],
        set_={"token": stmt.excluded.token, "modified_at": stmt.excluded.modified_at},
    )
    session.execute(stmt, rows)


def forget(session: Session, scopes: Iterable[str]) -> None:
    """Drop scopes that no longer exist (a deleted category)."""
    session.execute(delete(_table).where(_table.c.scope.in_(list(scopes))))
