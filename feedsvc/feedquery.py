"""Reading what a feed shows: a fixed number of indexed, limited queries, whatever the archive's size."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import Connection, Row, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from feedsvc.feeds.model import (
    Alternate,
    Category,
    Credit,
    Enclosure,
    Feed,
    Image,
    Item,
    SourceRef,
    Thumbnail,
)
from feedsvc.models import Category as CategoryRow
from feedsvc.models import Post, PostCategory, PostEnclosure, Source, utcnow
from feedsvc.scopes import Scope, scope_of
from feedsvc.site import Site

_P = Post.__table__.c
_PC = PostCategory.__table__.c
_C = CategoryRow.__table__.c
_S = Source.__table__.c
_E = PostEnclosure.__table__.c

_ITEM_COLUMNS = (
    _P.id,
    _P.uid,
    _P.language,
    _P.slug,
    _P.title,
    _P.summary,
    _P.content,
    _P.author,
    _P.url,
    _P.image_url,
    _P.image_type,
    _P.image_length,
    _P.published_at,
    _P.updated_at,
    _P.translation_group,
    _P.rights,
    _P.media_credits,
    _P.genre,
    _S.name.label("source_name"),
    _S.url.label("source_url"),
    _S.home_url.label("source_home_url"),
)


ITEM_COLUMNS = _ITEM_COLUMNS  # for the other readers of items (aggregator documents)


def _newest(stmt: Select) -> Select:
    # Partner items name their source; a left join keeps it to the same one query.
    stmt = stmt.outerjoin(Source.__table__, _S.id == _P.source_id)
    return stmt.order_by(_P.published_at.desc(), _P.id.desc()).limit(bindparam("limit"))


# Built once with bind parameters: constructing statements per render cost more than running them.
# Scheduled posts (published_at after now) are stored but shown nowhere until their time.
_SHOWN = (_P.visible.is_(True), _P.published_at <= bindparam("now"))
_ALL = _newest(select(*_ITEM_COLUMNS).where(*_SHOWN))
_LANGUAGE = _newest(select(*_ITEM_COLUMNS).where(*_SHOWN, _P.language == bindparam("language")))
# Walk the category index newest first; the posts are then fetched by primary key.
_CATEGORY_IDS = (
    select(_PC.post_id)
    .where(
        _PC.category_id == bindparam("category"),
        _PC.language == bindparam("language"),
        _PC.visible.is_(True),
        _PC.published_at <= bindparam("now"),
    )
    .order_by(_PC.published_at.desc(), _PC.post_id.desc())
    .limit(bindparam("limit"))
    .subquery()
)
_CATEGORY = _newest(select(*_ITEM_COLUMNS).join(_CATEGORY_IDS, _CATEGORY_IDS.c.post_id == _P.id))
_CATEGORIES_OF = (
    select(_PC.post_id, _C.slug, _C.names)
    .join(CategoryRow.__table__, _C.id == _PC.category_id)
    .where(_PC.post_id.in_(bindparam("ids", expanding=True)))
    .order_by(_PC.post_id, _C.slug)
)
_ENCLOSURES_OF = (
    select(PostEnclosure.__table__)
    .where(_E.post_id.in_(bindparam("ids", expanding=True)))
    .order_by(_E.post_id, _E.position)
)
_TRANSLATIONS = (
    select(_P.id, _P.language, _P.slug, _P.url, _P.title, _P.translation_group)
    .where(_P.translation_group.in_(bindparam("groups", expanding=True)), _P.visible.is_(True))
    .order_by(_P.language)
)


def _post_rows(
    conn: Connection, scope: Scope, limit: int, category_id: int | None, now: datetime
) -> list[Row]:
    if category_id is not None:
        return list(
            conn.execute(
                _CATEGORY, {"category": category_id, "language": scope.language, "limit": limit, "now": now}
            )
        )
    if scope.language is not None:
        return list(conn.execute(_LANGUAGE, {"language": scope.language, "limit": limit, "now": now}))
    return list(conn.execute(_ALL, {"limit": limit, "now": now}))


def load_items(
    conn: Connection,
    site: Site,
    scope: Scope,
    limit: int,
    category_id: int | None,
    now: datetime | None = None,
    post_ids: list[int] | None = None,
) -> list[Item]:
    """The feed's items, newest first, as of ``now``; ``post_ids`` (when given) receives their ids."""
    rows = _post_rows(conn, scope, limit, category_id, now or utcnow())
    if post_ids is not None:
        post_ids.extend(r.id for r in rows)
    return decorate(conn, site, rows)


def decorate(conn: Connection, site: Site, rows: list[Row]) -> list[Item]:
    """Items from post rows (``_ITEM_COLUMNS``), with their categories, translations and media."""
    if not rows:
        return []
    cats: dict[int, list[tuple[str, dict[str, str]]]] = defaultdict(list)
    for post_id, slug, names in conn.execute(_CATEGORIES_OF, {"ids": [r.id for r in rows]}):
        cats[post_id].append((slug, names))
    groups = {r.translation_group for r in rows if r.translation_group is not None}
    translations: dict[int, list[Row]] = defaultdict(list)
    if groups:
        for t in conn.execute(_TRANSLATIONS, {"groups": list(groups)}):
            translations[t.translation_group].append(t)
    enclosures: dict[int, list[Enclosure]] = defaultdict(list)
    # Only partner items have media files beyond their image (our posts have just that).
    partner_ids = [r.id for r in rows if r.source_url is not None]
    if partner_ids:
        for e in conn.execute(_ENCLOSURES_OF, {"ids": partner_ids}):
            enclosures[e.post_id].append(_enclosure(e))
    return [
        _item(
            site, r, cats.get(r.id, ()), translations.get(r.translation_group, ()), enclosures.get(r.id, ())
        )
        for r in rows
    ]


def _credits(stored: object) -> tuple[Credit, ...]:
    if not isinstance(stored, list):
        return ()
    return tuple(
        Credit(c["name"], c.get("role"), c.get("scheme"))
        for c in stored
        if isinstance(c, dict) and c.get("name")
    )


def _enclosure(e: Row) -> Enclosure:
    return Enclosure(
        url=e.url,
        mime_type=e.type,
        length=e.length or 0,
        medium=e.medium,
        width=e.width,
        height=e.height,
        thumbnail=Thumbnail(e.thumbnail_url, e.thumbnail_width, e.thumbnail_height)
        if e.thumbnail_url
        else None,
        credits=_credits(e.media_credits),
    )


def _item(site: Site, r: Row, cats: object, group: object, enclosures: object = ()) -> Item:
    lang = r.language
    return Item(
        guid=f"urn:uuid:{r.uid}",
        url=site.post_url(lang, r.slug, r.url),
        title=r.title,
        summary=r.summary,
        content_html=r.content,
        published=r.published_at,
        updated=r.updated_at,
        language=lang,
        author=r.author,
        categories=tuple(
            Category(
                slug=slug,
                label=site.category_label(names, lang, slug),
                scheme=f"{site.base_url}/{lang}/{slug}/",
            )
            for slug, names in cats  # type: ignore[attr-defined]
        ),
        image=Image(r.image_url, r.image_type or "image/jpeg", r.image_length or 0) if r.image_url else None,
        alternates=tuple(
            Alternate(t.language, site.post_url(t.language, t.slug, t.url), t.title)
            for t in group  # type: ignore[attr-defined]
            if t.id != r.id
        ),
        source=SourceRef(r.source_name, r.source_url, r.source_home_url) if r.source_name else None,
        enclosures=tuple(enclosures),  # type: ignore[arg-type]
        rights=r.rights,
        credits=_credits(r.media_credits),
    )


# -- archives (RFC 5005): pages of a scope's posts counted from the oldest ---------------------------


def _scope_keys(scope: Scope, category_id: int | None) -> tuple[Select, object, object]:
    """Ids of the scope's shown posts with their sort key (published_at, id), unordered."""
    if category_id is not None:
        stmt = select(_PC.post_id.label("id"), _PC.published_at.label("published_at")).where(
            _PC.category_id == category_id,
            _PC.language == scope.language,
            _PC.visible.is_(True),
        )
        return stmt, _PC.published_at, _PC.post_id
    stmt = select(_P.id, _P.published_at).where(_P.visible.is_(True))
    if scope.language is not None:
        stmt = stmt.where(_P.language == scope.language)
    return stmt, _P.published_at, _P.id


def count_shown(conn: Connection, scope: Scope, category_id: int | None, now: datetime) -> int:
    stmt, published, _ = _scope_keys(scope, category_id)
    return conn.execute(
        select(func.count()).select_from(stmt.where(published <= now).subquery())
    ).scalar_one()


def count_scope(session: Session, key: str, now: datetime) -> int | None:
    """``count_shown`` of a scope by its key ("*", "ru", "ru/events"); None for a category that is gone."""
    scope = scope_of(key)
    category_id = None
    if scope.category is not None:
        category_id = session.scalar(select(_C.id).where(_C.slug == scope.category))
        if category_id is None:
            return None
    return count_shown(session.connection(), scope, category_id, now)


def post_key(conn: Connection, post_id: int) -> tuple[datetime, int] | None:
    row = conn.execute(select(_P.published_at, _P.id).where(_P.id == post_id)).first()
    return None if row is None else (row.published_at, row.id)


def archive_items(
    conn: Connection,
    site: Site,
    scope: Scope,
    category_id: int | None,
    now: datetime,
    *,
    offset: int,
    limit: int,
    before: tuple[datetime, int] | None = None,
) -> list[Item]:
    """The posts ranked ``offset + 1`` … ``offset + limit`` from the oldest (and older than ``before``),
    newest first as in every feed. Ranks of old posts do not move when posts are added."""
    stmt, published, ident = _scope_keys(scope, category_id)
    stmt = stmt.where(published <= now)
    if before is not None:
        stmt = stmt.where(or_(published < before[0], and_(published == before[0], ident < before[1])))
    ids = [row.id for row in conn.execute(stmt.order_by(published, ident).offset(offset).limit(limit))]
    if not ids:
        return []
    rows = list(
        conn.execute(
            select(*_ITEM_COLUMNS)
            .outerjoin(Source.__table__, _S.id == _P.source_id)
            .where(_P.id.in_(ids))
            .order_by(_P.published_at.desc(), _P.id.desc())
        )
    )
    return decorate(conn, site, rows)


def build_feed(
    conn: Connection,
    site: Site,
    scope: Scope,
    *,
    self_url: str,
    feed_id: str,
    limit: int,
    updated: datetime,
    category_id: int | None = None,
    category_name: str | None = None,
    hubs: tuple[str, ...] = (),
    post_ids: list[int] | None = None,
    now: datetime | None = None,
) -> Feed:
    return Feed(
        title=site.title(scope.language, category_name),
        description=site.description(scope.language)
        if category_name is None
        else f"{category_name} — {site.description(scope.language)}",
        home_url=site.url(scope.path),
        self_url=self_url,
        language=scope.language,
        updated=updated,
        feed_id=feed_id,
        items=load_items(conn, site, scope, limit, category_id, now, post_ids) if limit > 0 else [],
        hubs=hubs,
    )
