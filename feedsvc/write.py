"""The one way to write: every insert, update and delete of posts, their category rows and enclosures,
categories and feed versions happens here, for the API, ingestion and the demo loader alike.

Callers prepare values (validated, cleaned) and call these functions inside a session; the functions
record which feed scopes and posts they touched. At commit the session's hooks bump every touched
scope *last*, in sorted order, and after the commit one ``FeedsChanged`` event goes to the listeners
(hub pings, cache purges, metrics). Every write transaction therefore takes its locks in one order:
sources, categories, posts, category rows, enclosures, feed versions. ``run`` retries, a bounded number of
times, a transaction the database aborted for a deadlock or a serialization failure.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from feedsvc import feedstate
from feedsvc.errors import Conflict
from feedsvc.models import Category, FeedState, Post, PostCategory, PostEnclosure, Source, SourceItem, utcnow
from feedsvc.scopes import (
    ARCHIVE,
    NEWS_WINDOW,
    OPML_SCOPE,
    REACH,
    REACH_TICK,
    archive_scope,
    is_feed_scope,
    reach_scope,
    scopes_for,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_POSTS = Post.__table__
_LINKS = PostCategory.__table__
_CATEGORIES = Category.__table__
_ENCLOSURES = PostEnclosure.__table__
# Deadlock detected, serialization failure: the database undid the whole transaction; run it again.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}


@dataclass(frozen=True, slots=True)
class FeedsChanged:
    """What one committed transaction changed: the feed scopes whose content moved, and the posts."""

    scopes: frozenset[str]
    post_ids: frozenset[int]
    at: datetime


Listener = Callable[[FeedsChanged], None]
# Runs inside the committing transaction, after the version bump: what it writes commits with the change.
TransactionListener = Callable[[Session, FeedsChanged], None]


@dataclass
class _Pending:
    scopes: set[str] = field(default_factory=set)
    forgotten: set[str] = field(default_factory=set)
    post_ids: set[int] = field(default_factory=set)
    # Feed scopes whose archive pages may change (a post that may sit in one changed).
    archived: set[str] = field(default_factory=set)
    # Scope → earliest time its content changes by itself (a scheduled post, a post leaving a window).
    due: dict[str, datetime] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.scopes or self.forgotten or self.post_ids)


_KEY = "feedsvc.pending_changes"


def _pending(session: Session) -> _Pending:
    pending = session.info.get(_KEY)
    if pending is None:
        pending = session.info[_KEY] = _Pending()
    return pending


def mark(
    session: Session, scopes: Iterable[str], post_ids: Iterable[int] = (), *, archived: bool = True
) -> None:
    """Record that these scopes change in this transaction (their versions are bumped at commit).

    ``archived``: the change may touch posts in the scopes' archive pages; only adding posts at the
    newest end (and time making posts due) leaves archive pages as they were.
    """
    pending = _pending(session)
    scopes = set(scopes)
    pending.scopes.update(scopes)
    pending.post_ids.update(post_ids)
    if archived:
        pending.archived.update(s for s in scopes if is_feed_scope(s))


def _now(session: Session) -> datetime:
    # The due step passes its own clock, so a moved clock in tests moves the versions' times too.
    return session.info.get("feedsvc.now") or utcnow()


def schedule(session: Session, scopes: Iterable[str], published_at: datetime, aggregate: bool = True) -> None:
    """Record when these scopes change by time alone because of a post published at ``published_at``:
    a scheduled post at that time; an aggregated post when it leaves the news window."""
    now = _now(session)
    due = _pending(session).due
    scopes = set(scopes)
    reach = {reach_scope(s) for s in scopes if _is_language(s)} | ({REACH} if scopes else set())
    if published_at > now:
        when_by_scope = dict.fromkeys(scopes | (reach if aggregate else set()), published_at)
    elif aggregate and published_at > now - NEWS_WINDOW:
        when_by_scope = dict.fromkeys(reach, published_at + NEWS_WINDOW)
    else:
        return
    for scope, when in when_by_scope.items():
        if scope not in due or when < due[scope]:
            due[scope] = when


def _is_language(scope: str) -> bool:
    return is_feed_scope(scope) and scope != "*" and "/" not in scope


def _recent(session: Session, published_at: datetime) -> bool:
    """A new post this recent lands after every archived one (archive pages are older than any current
    feed's oldest item), so adding it leaves the archive pages as they are."""
    return published_at > _now(session) - timedelta(minutes=10)


# -- session hooks --------------------------------------------------------------------------------


class Events:
    """The "feeds changed" event of one app: listeners run after each commit that changed feeds."""

    def __init__(self) -> None:
        self.listeners: list[Listener] = []
        self.in_transaction: list[TransactionListener] = []

    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def subscribe_in_transaction(self, listener: TransactionListener) -> None:
        """``listener`` runs before each commit that changed feeds; an error aborts the write."""
        self.in_transaction.append(listener)

    def emit(self, change: FeedsChanged) -> None:
        for listener in list(self.listeners):
            try:
                listener(change)
            except Exception:  # a listener's failure must never undo or fail a committed write
                log.exception("feeds-changed listener %r failed", listener)


def install(factory: sessionmaker[Session], events: Events) -> None:
    """Bump versions last in every transaction of ``factory`` and emit the event after its commit."""

    @event.listens_for(factory, "before_commit")
    def _bump(session: Session) -> None:
        pending = session.info.get(_KEY)
        if not pending:
            return
        session.flush()  # every row change first: feed versions are the last locks taken
        now = _now(session)
        keep = pending.scopes - pending.forgotten
        # Derived scopes follow theirs: a language's aggregator documents, a scope's archive pages.
        languages = {s for s in keep if _is_language(s)}
        keep |= {reach_scope(lang) for lang in languages} | ({REACH} if languages else set())
        keep |= {archive_scope(s) for s in pending.archived - pending.forgotten}
        due = dict(pending.due)
        for scope in keep:
            if scope.endswith(REACH):  # time windows move on even when no post changes
                due[scope] = min(due.get(scope, now + REACH_TICK), now + REACH_TICK)
        if pending.forgotten:
            gone = pending.forgotten | {archive_scope(s) for s in pending.forgotten}
            feedstate.forget(session, sorted(gone))
        feedstate.bump(session, keep, now, due)
        feedstate.count_shown(session, [s for s in keep if is_feed_scope(s)], now)
        change = FeedsChanged(frozenset(keep), frozenset(pending.post_ids), now)
        for listener in events.in_transaction:
            listener(session, change)
        session.info["feedsvc.committing"] = change

    @event.listens_for(factory, "after_commit")
    def _emit(session: Session) -> None:
        session.info.pop(_KEY, None)
        session.info.pop("feedsvc.now", None)
        change = session.info.pop("feedsvc.committing", None)
        if change is not None:
            events.emit(change)

    @event.listens_for(factory, "after_rollback")
    def _discard(session: Session) -> None:
        session.info.pop(_KEY, None)
        session.info.pop("feedsvc.now", None)
        session.info.pop("feedsvc.committing", None)


def retryable(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    # SQLite: another writer held the file past the busy timeout.
    return "database is locked" in str(orig or "")


def run(session: Session, work: Callable[[Session], T], attempts: int = 4) -> T:
    """Run ``work`` and commit; on a deadlock or serialization failure roll back and run it again."""
    for attempt in range(1, attempts + 1):
        try:
            result = work(session)
            session.commit()
            return result
        except StaleDataError as exc:
            session.rollback()
            raise Conflict("changed or deleted by another request meanwhile; retry") from exc
        except DBAPIError as exc:
            session.rollback()
            if attempt == attempts or not retryable(exc):
                raise
            log.info("write aborted by the database (%s); retry %d", type(exc.orig).__name__, attempt)
            time.sleep(random.uniform(0.005, 0.02) * attempt)  # let the other writer finish
    raise AssertionError("unreachable")


# -- posts ----------------------------------------------------------------------------------------


def _link_rows(
    post_id: int, language: str, published_at: datetime, visible: bool, category_ids: Iterable[int]
) -> list[dict[str, Any]]:
    return [
        {
            "post_id": post_id,
            "category_id": cid,
            "language": language,
            "published_at": published_at,
            "visible": visible,
        }
        for cid in dict.fromkeys(category_ids)
    ]


def _post_scopes(language: str, slugs: Iterable[str], visible: bool = True) -> set[str]:
    return scopes_for(language, list(slugs)) if visible else set()


def add_post(session: Session, post: Post, categories: list[Category]) -> Post:
    """Insert one post (the API's way) with its category rows."""
    session.add(post)
    session.flush()
    if categories:
        session.execute(
            insert(_LINKS),
            _link_rows(post.id, post.language, post.published_at, post.visible, [c.id for c in categories]),
        )
    session.expire(post, ["categories"])
    scopes = _post_scopes(post.language, [c.slug for c in categories], post.visible)
    mark(session, scopes, [post.id], archived=not _recent(session, post.published_at))
    schedule(session, scopes, post.published_at, post.aggregate)
    return post


def change_post(
    session: Session, post: Post, values: Mapping[str, Any], categories: list[Category] | None = None
) -> Post:
    """Apply ``values`` to a post; ``categories`` (when given) replace its categories."""
    before = _post_scopes(post.language, [c.slug for c in post.categories], post.visible)
    cats = list(post.categories) if categories is None else categories
    for name, value in values.items():
        setattr(post, name, value)
    post.updated_at = utcnow()
    session.flush()
    session.execute(delete(_LINKS).where(_LINKS.c.post_id == post.id))
    if cats:
        session.execute(
            insert(_LINKS),
            _link_rows(post.id, post.language, post.published_at, post.visible, [c.id for c in cats]),
        )
    session.expire(post, ["categories"])
    after = _post_scopes(post.language, [c.slug for c in cats], post.visible)
    mark(session, before | after, [post.id])
    schedule(session, after, post.published_at, post.aggregate)
    return post


def set_translation_group(session: Session, post: Post, group: int | None) -> None:
    """File a post in a translation group; its feeds show the links to its translations."""
    if post.translation_group == group:
        return
    post.translation_group = group
    if post.id is not None:
        mark(session, _post_scopes(post.language, [c.slug for c in post.categories], post.visible), [post.id])


def show_with(session: Session, posts: Iterable[Post]) -> None:
    """Feeds that show these posts change too (a sibling translation gained or lost a link)."""
    for p in posts:
        mark(session, _post_scopes(p.language, [c.slug for c in p.categories], p.visible), [p.id])


Enclosure = Mapping[str, Any]  # post_enclosures columns but post_id and position


def _enclosure_rows(post_id: int, enclosures: Sequence[Enclosure]) -> list[dict[str, Any]]:
    return [{**e, "post_id": post_id, "position": i} for i, e in enumerate(enclosures)]


def _put_enclosures(session: Session, by_post: Mapping[int, Sequence[Enclosure]], *, replace: bool) -> None:
    if replace and by_post:
        session.execute(delete(_ENCLOSURES).where(_ENCLOSURES.c.post_id.in_(list(by_post))))
    rows = [row for post_id, encs in by_post.items() for row in _enclosure_rows(post_id, encs)]
    if rows:
        session.execute(insert(_ENCLOSURES), rows)


def replace_enclosures(session: Session, post_id: int, enclosures: Sequence[Enclosure]) -> None:
    """A post's media files become ``enclosures``, in this order; the feeds showing it change."""
    _put_enclosures(session, {post_id: enclosures}, replace=True)
    mark(session, _scopes_of_posts(session, [post_id]), [post_id])


def insert_posts(
    session: Session,
    rows: list[dict[str, Any]],
    categories: list[list[tuple[int, str]]],
    enclosures: list[Sequence[Enclosure]] | None = None,
) -> list[int]:
    """Bulk insert (ingestion, demo loader): ``rows`` are posts columns, ``categories`` per row
    (id, slug) pairs, ``enclosures`` per row its media files. A fixed handful of statements,
    whatever the count."""
    if not rows:
        return []
    if all("id" in row for row in rows):
        session.execute(insert(_POSTS), rows)
        ids = [row["id"] for row in rows]
    else:
        ids = list(
            session.execute(
                insert(_POSTS).returning(_POSTS.c.id, sort_by_parameter_order=True), rows
            ).scalars()
        )
    links: list[dict[str, Any]] = []
    scopes: set[str] = set()
    old: set[str] = set()
    for post_id, row, cats in zip(ids, rows, categories, strict=True):
        links += _link_rows(
            post_id, row["language"], row["published_at"], row["visible"], [c for c, _ in cats]
        )
        these = _post_scopes(row["language"], [s for _, s in cats], row["visible"])
        scopes |= these
        if not _recent(session, row["published_at"]):
            old |= these
        schedule(session, these, row["published_at"], row.get("aggregate", True))
    if links:
        session.execute(insert(_LINKS), links)
    if enclosures:
        _put_enclosures(session, dict(zip(ids, enclosures, strict=True)), replace=False)
    mark(session, scopes - old, ids, archived=False)
    mark(session, old, ids)
    return ids


def update_post_row(
    session: Session,
    post_id: int,
    values: dict[str, Any],
    categories: list[tuple[int, str]],
    enclosures: Sequence[Enclosure] | None = None,
) -> None:
    """Bulk-path update of one post by id (ingestion): new values, new category rows and, when
    ``enclosures`` is given, new media files (None keeps them)."""
    old = session.execute(
        select(_POSTS.c.language, _POSTS.c.visible, _POSTS.c.published_at).where(_POSTS.c.id == post_id)
    ).first()
    if old is None:
        return
    old_slugs = _slugs_of(session, [post_id])
    session.execute(update(_POSTS).where(_POSTS.c.id == post_id).values(**values))
    language = values.get("language", old.language)
    visible = values.get("visible", old.visible)
    published = values.get("published_at", old.published_at)
    session.execute(delete(_LINKS).where(_LINKS.c.post_id == post_id))
    if categories:
        session.execute(
            insert(_LINKS), _link_rows(post_id, language, published, visible, [c for c, _ in categories])
        )
    if enclosures is not None:
        _put_enclosures(session, {post_id: enclosures}, replace=True)
    after = _post_scopes(language, [s for _, s in categories], visible)
    mark(session, _post_scopes(old.language, old_slugs, old.visible) | after, [post_id])
    aggregate = values.get("aggregate")
    if aggregate is None:
        aggregate = session.scalar(select(_POSTS.c.aggregate).where(_POSTS.c.id == post_id))
    schedule(session, after, published, bool(aggregate))


def _slugs_of(session: Session, post_ids: list[int]) -> list[str]:
    return list(
        session.scalars(
            select(_CATEGORIES.c.slug)
            .join(_LINKS, _LINKS.c.category_id == _CATEGORIES.c.id)
            .where(_LINKS.c.post_id.in_(post_ids))
            .distinct()
        )
    )


def _scopes_of_posts(session: Session, post_ids: list[int]) -> set[str]:
    """Every scope that shows any of these posts, or a translation of one of them."""
    if not post_ids:
        return set()
    rows = session.execute(
        select(_POSTS.c.id, _POSTS.c.language, _POSTS.c.visible, _POSTS.c.translation_group).where(
            _POSTS.c.id.in_(post_ids)
        )
    ).all()
    groups = {r.translation_group for r in rows if r.translation_group is not None}
    if groups:
        rows += session.execute(
            select(_POSTS.c.id, _POSTS.c.language, _POSTS.c.visible, _POSTS.c.translation_group).where(
                _POSTS.c.translation_group.in_(groups)
            )
        ).all()
    slugs: dict[int, list[str]] = {}
    for pid, slug in session.execute(
        select(_LINKS.c.post_id, _CATEGORIES.c.slug)
        .join(_CATEGORIES, _CATEGORIES.c.id == _LINKS.c.category_id)
        .where(_LINKS.c.post_id.in_([r.id for r in rows]))
    ):
        slugs.setdefault(pid, []).append(slug)
    scopes: set[str] = set()
    for r in rows:
        scopes |= _post_scopes(r.language, slugs.get(r.id, []), r.visible)
    return scopes


def delete_post(session: Session, post_id: int) -> bool:
    """Delete a post by id; False if it was already gone. A partner item's identity stays as a
    tombstone so the next fetch does not bring it back."""
    scopes = _scopes_of_posts(session, [post_id])
    session.execute(update(SourceItem).where(SourceItem.post_id == post_id).values(deleted=True))
    gone = session.execute(delete(_POSTS).where(_POSTS.c.id == post_id).returning(_POSTS.c.id)).first()
    if gone is None:
        return False
    session.expire_all()  # the ORM must not flush stale copies of the deleted rows
    mark(session, scopes, [post_id])
    return True


def set_visibility(session: Session, post_ids: list[int], visible: bool) -> None:
    """Show or hide posts (a partner source switched to store-only or back)."""
    if not post_ids:
        return
    before = _scopes_of_posts(session, post_ids)
    session.execute(update(_POSTS).where(_POSTS.c.id.in_(post_ids)).values(visible=visible))
    session.execute(update(_LINKS).where(_LINKS.c.post_id.in_(post_ids)).values(visible=visible))
    mark(session, before | _scopes_of_posts(session, post_ids), post_ids)


def posts_changed(session: Session, post_ids: list[int]) -> None:
    """What feeds show of these posts changed outside their rows (their source was renamed)."""
    mark(session, _scopes_of_posts(session, post_ids), post_ids)


def detach_source(session: Session, source_id: int) -> None:
    """A partner source is deleted but its posts stay: they no longer name it in feeds."""
    ids = list(session.scalars(select(_POSTS.c.id).where(_POSTS.c.source_id == source_id)))
    if not ids:
        return
    session.execute(update(_POSTS).where(_POSTS.c.id.in_(ids)).values(source_id=None))
    mark(session, _scopes_of_posts(session, ids), ids)


def set_source_home(session: Session, source: Source, home_url: str | None) -> None:
    """Record the partner's home page (named in the atom:source and ``_source`` of its items); the
    feeds showing its items change when it does."""
    if source.home_url == home_url:
        return
    source.home_url = home_url
    post_ids = list(session.scalars(select(_POSTS.c.id).where(_POSTS.c.source_id == source.id)))
    mark(session, _scopes_of_posts(session, post_ids), post_ids)


# -- categories and feed versions -----------------------------------------------------------------


def _category_scopes(languages: Iterable[str], slug: str) -> set[str]:
    return {f"{lang}/{slug}" for lang in languages}


def _languages_used(session: Session, category_id: int) -> set[str]:
    return set(
        session.scalars(select(_LINKS.c.language).where(_LINKS.c.category_id == category_id).distinct())
    )


def add_category(session: Session, languages: Iterable[str], category: Category) -> Category:
    session.add(category)
    session.flush()
    mark(session, _category_scopes(languages, category.slug) | {OPML_SCOPE}, archived=False)
    return category


def rename_category(
    session: Session, languages: Iterable[str], category: Category, names: dict[str, str]
) -> Category:
    category.names = names
    category.updated_at = utcnow()
    session.flush()
    # Item categories carry the label in every feed that shows the category's posts.
    used = _languages_used(session, category.id)
    mark(
        session, _category_scopes(languages, category.slug) | used | ({"*"} if used else set()) | {OPML_SCOPE}
    )
    return category


def delete_category(session: Session, languages: Iterable[str], slug: str) -> bool:
    """Delete a category (its posts stay, under their other categories); False if already gone."""
    row = session.execute(
        select(_CATEGORIES.c.id).where(_CATEGORIES.c.slug == slug).with_for_update()
    ).first()
    if row is None:
        return False
    used = _languages_used(session, row.id)
    session.execute(delete(_CATEGORIES).where(_CATEGORIES.c.id == row.id))
    session.expire_all()
    mark(session, used | ({"*"} if used else set()) | {OPML_SCOPE})
    _pending(session).forgotten |= _category_scopes(languages, slug)
    return True


def ensure_state(session: Session, scope: str) -> None:
    """Give a scope that has never been written a first version (its first poll)."""
    mark(session, [scope], archived=False)


def touch(session: Session, scopes: Iterable[str]) -> None:
    """New versions for scopes whose content changed without a row change (time made a post due)."""
    mark(session, scopes, archived=False)


# -- time: scheduled posts come due ---------------------------------------------------------------


def next_due(session: Session, scope: str, now: datetime) -> datetime | None:
    """The next time after ``now`` at which ``scope``'s content changes by itself, or None."""
    if scope.endswith(ARCHIVE) or not (is_feed_scope(scope) or scope.endswith(REACH)):
        return None  # archive pages only hold published posts; the OPML list has no posts
    reach = scope.endswith(REACH)
    key = (scope.removesuffix(REACH) or "*") if reach else scope
    language, _, slug = key.partition("/")
    if slug:
        stmt = (
            select(func.min(_LINKS.c.published_at))
            .join(_CATEGORIES, _CATEGORIES.c.id == _LINKS.c.category_id)
            .where(_CATEGORIES.c.slug == slug, _LINKS.c.language == language, _LINKS.c.visible.is_(True))
        )
        column = _LINKS.c.published_at
    else:
        stmt = select(func.min(_POSTS.c.published_at)).where(_POSTS.c.visible.is_(True))
        if language != "*":
            stmt = stmt.where(_POSTS.c.language == language)
        if reach:
            stmt = stmt.where(_POSTS.c.aggregate.is_(True))
        column = _POSTS.c.published_at
    candidates = [session.scalar(stmt.where(column > now))]
    if reach:
        leaving = session.scalar(stmt.where(column > now - NEWS_WINDOW, column <= now))
        candidates += [leaving + NEWS_WINDOW if leaving is not None else None, now + REACH_TICK]
    found = [c for c in candidates if c is not None]
    return min(found) if found else None


def make_due(session: Session, scope: str, seen: datetime, now: datetime) -> bool:
    """Bump ``scope`` because its due time ``seen`` has passed, unless another process already did:
    the conditional update lets exactly one of any number of concurrent callers through."""
    session.info["feedsvc.now"] = now
    states = _states()
    moved = session.execute(
        update(states)
        .where(states.c.scope == scope, states.c.next_due_at == seen)
        .values(next_due_at=next_due(session, scope, now))
    )
    if moved.rowcount != 1:
        return False
    touch(session, [scope])
    return True


def come_due(session: Session, now: datetime, limit: int = 1000) -> list[str]:
    """Bump every scope whose due time has passed (one transaction, hence one FeedsChanged event for
    all the feeds a scheduled post appears in); returns the scopes this caller bumped."""
    return [scope for scope, seen in due_scopes(session, now, limit) if make_due(session, scope, seen, now)]


def due_scopes(session: Session, now: datetime, limit: int = 1000) -> list[tuple[str, datetime]]:
    """(scope, due time) of every scope whose content time has changed, oldest due first."""
    states = _states()
    return [
        (row.scope, row.next_due_at)
        for row in session.execute(
            select(states.c.scope, states.c.next_due_at)
            .where(states.c.next_due_at <= now)
            .order_by(states.c.next_due_at)
            .limit(limit)
        )
    ]


def _states() -> Any:
    return FeedState.__table__
