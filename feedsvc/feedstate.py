"""Per-scope feed versions, bumped inside the transaction that changes what a feed shows.

Every process reads the version from the database on each poll, so a write by any process (an API
worker, the ingestion worker) is visible on the very next request anywhere, and rendered feeds can be
cached under keys that include the version: a cached entry is never stale, only unused.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from feedsvc.models import FeedState, utcnow


@dataclass(frozen=True, slots=True)
class State:
    token: str
    modified_at: datetime
    next_due_at: datetime | None = None  # when time alone changes the scope's content


_table = FeedState.__table__


def read(conn: Connection | Session, scope: str) -> State | None:
    """The scope's current version (one primary-key lookup), or None if it has none yet."""
    row = conn.execute(
        select(_table.c.token, _table.c.modified_at, _table.c.next_due_at).where(_table.c.scope == scope)
    ).first()
    return None if row is None else State(row[0], row[1], row[2])


def bump(
    session: Session,
    scopes: Iterable[str],
    now: datetime | None = None,
    due: Mapping[str, datetime] | None = None,
) -> None:
    """Give each scope a new version (creating its row if needed), in the caller's transaction.

    ``due``: times at which a scope's content changes by itself; a scope's ``next_due_at`` becomes the
    earlier of the stored one and the given one (a stale earlier one only costs one spare bump).
    """
    keys = sorted(set(scopes))  # a fixed order keeps concurrent writers from deadlocking
    if not keys:
        return
    now = now or utcnow()
    due = due or {}
    rows = [
        {"scope": key, "token": secrets.token_hex(8), "modified_at": now, "next_due_at": due.get(key)}
        for key in keys
    ]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_table)
    stored, given = _table.c.next_due_at, stmt.excluded.next_due_at
    earlier = case(
        (given.is_(None), stored),
        (stored.is_(None), given),
        (given < stored, given),
        else_=stored,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[_table.c.scope],
        set_={"token": stmt.excluded.token, "modified_at": stmt.excluded.modified_at, "next_due_at": earlier},
    )
    session.execute(stmt, rows)


def count_shown(session: Session, scopes: Iterable[str], now: datetime) -> None:
    """Store how many posts each feed scope shows as of ``now`` (in the bumping transaction, so the
    count belongs to the version)."""
    from feedsvc.feedquery import count_scope  # the feed queries live there

    for key in sorted(set(scopes)):
        session.execute(
            update(_table).where(_table.c.scope == key).values(shown=count_scope(session, key, now))
        )


def forget(session: Session, scopes: Iterable[str]) -> None:
    """Drop scopes that no longer exist (a deleted category)."""
    session.execute(delete(_table).where(_table.c.scope.in_(list(scopes))))


class StateReader:
    """The poll hot path: one indexed read on a connection of its own per process and thread.

    It skips the pool and SQL compilation (most of the cost of a cached poll went there) and runs in
    autocommit, so every read sees the latest committed version.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        mark = "?" if self.sqlite else "%s"
        self.sql = f"SELECT token, modified_at, next_due_at FROM feed_states WHERE scope = {mark}"
        self._local = threading.local()

    def _connection(self) -> Any:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # a forked worker must not share its parent's socket
            local.conn = None
            local.pid = os.getpid()
        if local.conn is None:
            pooled = self.engine.raw_connection()
            conn = pooled.driver_connection
            pooled.detach()  # ours for the life of the thread, not the pool's
            if not self.sqlite:
                conn.autocommit = True
            local.conn = conn
        return local.conn

    def _drop(self) -> None:
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken
                conn.close()

    def read(self, scope: str, retry: bool = True) -> State | None:
        for attempt in (1, 2):
            try:
                cursor = self._connection().cursor()
                try:
                    cursor.execute(self.sql, (scope,))
                    row = cursor.fetchone()
                finally:
                    cursor.close()
                break
            except Exception as error:
                # A connection the server closed (restart, idle timeout): reconnect once; but not
                # after a deadline passed, when a reconnect would only wait on a hung server again.
                self._drop()
                if attempt == 2 or not retry or "did not answer in time" in str(error):
                    raise
        if row is None:
            return None
        return State(row[0], _aware(row[1]), None if row[2] is None else _aware(row[2]))


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite returns the stored text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)
