"""The outbox: which scopes still have to be told about, written in the changing transaction itself.

Durability: the row commits (or rolls back) with the change, so a process that dies right after a
commit loses nothing; the worker finds the row on its next pass. Coalescing: one row per scope,
updated in place (ON CONFLICT) by every further write, so a burst becomes one row and one round of
pings and deliveries once the scope has been quiet for ``WEBSUB_QUIET`` seconds.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from feedsvc.models import Post, WebSubOutbox, utcnow
from feedsvc.scopes import is_feed_scope
from feedsvc.write import FeedsChanged

_OUTBOX = WebSubOutbox.__table__


def notifies(session: Session, post_ids: Iterable[int]) -> bool:
    """The one rule for whether a change reaches hubs and subscribers: unless every post it touched
    says it does not go to aggregators (``posts.aggregate``: on for our own posts by default, for a
    partner item its source's choice) or is scheduled (it notifies when it comes due). A change
    without posts (a renamed category, a post coming due) or of posts that are gone (deleted)
    notifies too."""
    ids = sorted(set(post_ids))
    if not ids:
        return True
    now = utcnow()
    # In chunks, stopping at the first post that notifies: a bulk load touches a million posts, and a
    # statement takes a bounded number of parameters (SQLite 32,766, PostgreSQL 65,535).
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = session.execute(select(Post.aggregate, Post.published_at).where(Post.id.in_(chunk))).all()
        if len(rows) < len(chunk):
            return True  # a deleted post: whose it was cannot be told any more
        if any(aggregate and published_at <= now for aggregate, published_at in rows):
            return True
    return False


_CHUNK = 1000


def record(session: Session, change: FeedsChanged) -> None:
    """Add or refresh the outbox row of every changed scope (a transaction listener)."""
    # Feeds only (not the OPML list, aggregator profiles or archive pages); sorted: one lock order.
    scopes = sorted(s for s in change.scopes if is_feed_scope(s))
    if not scopes:
        return
    notify = notifies(session, change.post_ids)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_OUTBOX)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_OUTBOX.c.scope],
        set_={
            "changed_at": stmt.excluded.changed_at,
            "notify": _OUTBOX.c.notify | stmt.excluded.notify,
        },
    )
    at = change.at
    session.execute(stmt, [{"scope": s, "first_at": at, "changed_at": at, "notify": notify} for s in scopes])
