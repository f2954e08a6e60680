"""The stored schema. Alembic migrations in ``feedsvc/migrations`` create and change it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false as sql_false

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("language", "slug", name="uq_posts_language_slug"),
        # The two feed queries walk these indexes newest first and stop at the limit.
        Index("ix_posts_feed_all", "visible", "published_at", "id"),
        Index("ix_posts_feed_language", "visible", "language", "published_at", "id"),
        Index("ix_posts_translation_group", "translation_group"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)  # GUID in feeds: never changes
    language: Mapped[str] = mapped_column(String(16))
    slug: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)  # external article; None → our own page
    image_url: Mapped[str | None] = mapped_column(Text)
    image_type: Mapped[str | None] = mapped_column(String(100))
    image_length: Mapped[int] = mapped_column(BigInteger, default=0)
    published_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    translation_group: Mapped[int | None] = mapped_column(BigInteger)
    visible: Mapped[bool] = mapped_column(Boolean, default=True)
    # Yandex genre: message, article or interview.
    genre: Mapped[str] = mapped_column(String(16), default="message", server_default="message")
    # Whether the post goes to aggregator profiles (news sitemap, Yandex) and hub deliveries.
    aggregate: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Partner items: the source they came from (named in feeds as RSS <source> / atom:source).
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL", name="fk_posts_source_id"), index=True
    )
    # Partner items: their rights statement and Media RSS credits of the item as a whole.
    rights: Mapped[str | None] = mapped_column(Text)
    media_credits: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)

    categories: Mapped[list[Category]] = relationship(
        secondary="post_categories", lazy="selectin", order_by="Category.slug", viewonly=True
    )


class PostCategory(Base):
    """Post ↔ category, with the post's feed sort keys copied in so a category feed is one index walk."""

    __tablename__ = "post_categories"
    __table_args__ = (
        Index("ix_post_categories_feed", "category_id", "language", "visible", "published_at", "post_id"),
    )

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[int] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(16))
    published_at: Mapped[datetime]
    visible: Mapped[bool] = mapped_column(Boolean, default=True)


class PostEnclosure(Base):
    """A media file of a post (audio, video, image, document), in the partner's order."""

    __tablename__ = "post_enclosures"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(100))  # MIME type, always known (guessed when not given)
    length: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes; 0 when unknown
    medium: Mapped[str] = mapped_column(String(16))  # Media RSS: image, audio, video, document, executable
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    thumbnail_url: Mapped[str | None] = mapped_column(Text)
    thumbnail_width: Mapped[int | None] = mapped_column(Integer)
    thumbnail_height: Mapped[int | None] = mapped_column(Integer)
    media_credits: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)  # [{name, role, scheme}]


class FeedState(Base):
    """One row per feed scope ("*", "ru", "ru/events"): bumped in the transaction that changes it.

    Its token is the feed's ETag and cache-key part, so every process sees a change on its next request.
    """

    __tablename__ = "feed_states"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    modified_at: Mapped[datetime]
    # Posts the scope's feed shows in all (published, visible), counted when the version is bumped:
    # the archive links need it on every render, and counting there grew with the archive.
    shown: Mapped[int | None] = mapped_column(Integer)
    # The earliest time the scope's content changes without a write (a scheduled post comes due, a
    # post leaves a time window); pollers and the worker bump the scope once it has passed.
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    rights: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Source(Base):
    """A partner feed: where to fetch it, what its items become, and the health of its last fetches."""

    __tablename__ = "sources"
    __table_args__ = (
        Index("ix_sources_due", "enabled", "next_fetch_at"),
        Index("ix_sources_fetch_requested", "fetch_requested_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(200))
    home_url: Mapped[str | None] = mapped_column(Text)  # the partner's site, as its feed says
    host: Mapped[str] = mapped_column(String(255), index=True)  # politeness is per host
    language: Mapped[str] = mapped_column(String(16))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="SET NULL"))
    category_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # partner term → our slug
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # for dates without a usable zone
    interval_s: Mapped[int] = mapped_column(Integer)
    syndicate: Mapped[bool] = mapped_column(Boolean, default=True)
    # Its items go to aggregator profiles and hub deliveries: off for partners unless chosen.
    aggregate: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # Validators sent back verbatim on the next fetch.
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_hash: Mapped[str | None] = mapped_column(String(64))
    hint_s: Mapped[int | None] = mapped_column(Integer)  # the feed's own ttl / sy:update* / max-age
    last_fetch_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(String(32))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_warning: Mapped[str | None] = mapped_column(Text)  # an ill-formed feed ingested as far as it went
    last_new: Mapped[int] = mapped_column(Integer, default=0)
    last_updated: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    next_fetch_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    # Fetch-now: the API records the request, a worker performs it and clears it with the outcome.
    fetch_requested_at: Mapped[datetime | None]
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # IngestResult of the last fetch
    # Excerpt-only partner: fetch the article page of new items for their full text.
    full_text: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sql_false())
    publish_gap_s: Mapped[int | None] = mapped_column(Integer)  # median gap between its recent items
    # WebSub: the partner's hub pushes to /websub/callback/<id>/<push_token>, signed with push_secret.
    hub_url: Mapped[str | None] = mapped_column(Text)
    topic_url: Mapped[str | None] = mapped_column(Text)
    push_secret: Mapped[str | None] = mapped_column(String(64))
    push_token: Mapped[str | None] = mapped_column(String(64))
    push_state: Mapped[str | None] = mapped_column(String(16))  # pending | active | unsubscribing | failed
    push_lease_until: Mapped[datetime | None]  # while failed: when to try again
    push_verified_at: Mapped[datetime | None]  # with push_lease_until: the lease the hub granted
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SourceItem(Base):
    """Identity of a partner item: (source, key). The unique constraint keeps racing workers honest."""

    __tablename__ = "source_items"
    __table_args__ = (
        UniqueConstraint("source_id", "item_key", name="uq_source_items_key"),
        Index("ix_source_items_link_title", "source_id", "link_title_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(64))  # sha256 of the GUID (or link, or title + date)
    guid: Mapped[str | None] = mapped_column(Text)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)  # the operator deleted it: never again
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    link_title_key: Mapped[str | None] = mapped_column(String(64))  # finds an item whose GUID changed


class SourceHost(Base):
    """A host that asked us (429/503 Retry-After) to wait: every source on it waits."""

    __tablename__ = "source_hosts"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    retry_after_until: Mapped[datetime]


# -- WebSub and cache purges (feedsvc.websub) -----------------------------------------------------


class WebSubOutbox(Base):
    """A scope whose feeds changed and whose hubs, subscribers and caches are still to be told.

    Written in the transaction of the change itself, so no committed change can be missed; a burst
    of writes updates the one row, which the worker takes once the scope has been quiet a moment.
    """

    __tablename__ = "websub_outbox"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_at: Mapped[datetime]  # oldest change not yet sent: bounds the wait under constant writes
    changed_at: Mapped[datetime]  # newest change
    notify: Mapped[bool] = mapped_column(Boolean, default=True)  # False: only cache purges are due


class WebSubSubscription(Base):
    """A subscriber's callback for one of our feed URLs (the topic), its lease and delivery health."""

    __tablename__ = "websub_subscriptions"
    __table_args__ = (
        Index("ix_websub_subscriptions_scope", "scope", "state"),
        Index("ix_websub_subscriptions_due", "state", "next_attempt_at"),
        Index("ix_websub_subscriptions_verify", "verify_due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of callback and topic
    callback: Mapped[str] = mapped_column(Text)
    callback_host: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(200))
    fmt: Mapped[str] = mapped_column(String(16))
    limit: Mapped[int] = mapped_column(Integer)
    # pending (never verified), active, unsubscribed, expired, failed (deliveries kept failing),
    # denied (verification refused)
    state: Mapped[str] = mapped_column(String(16))
    secret: Mapped[str | None] = mapped_column(Text)
    lease_seconds: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None]
    # The latest request, applied once the callback confirms it.
    pending_mode: Mapped[str | None] = mapped_column(String(16))
    pending_lease: Mapped[int | None] = mapped_column(Integer)
    pending_secret: Mapped[str | None] = mapped_column(Text)
    verify_due_at: Mapped[datetime | None]
    verify_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Delivery: pending while changed_at is newer than covered_at (the change the last success sent).
    changed_at: Mapped[datetime | None]
    covered_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive
    first_failure_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_delivery_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebSubPing(Base):
    """One notification to send to a configured party: a publish ping to an external hub
    (kind "hub") or a purge to the cache in front (kind "purge"), for one feed URL."""

    __tablename__ = "websub_pings"
    __table_args__ = (
        UniqueConstraint("kind", "key", name="uq_websub_pings_key"),
        Index("ix_websub_pings_due", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(64))  # sha256 of target and topic
    target: Mapped[str] = mapped_column(Text)  # the hub URL; the purge URL template
    topic: Mapped[str] = mapped_column(Text)  # the feed URL
    scope: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime]
    covered_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class WebSubRateLimit(Base):
    """Subscription requests counted per fixed one-minute window, per callback host and client IP."""

    __tablename__ = "websub_rate_limits"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime]
    hits: Mapped[int] = mapped_column(Integer)


class WorkerHeartbeat(Base):
    """The last sign of life of each worker process (``feedsvc worker``, its WebSub thread,
    ``feedsvc websub-worker``), written at most every few seconds; ``feedsvc status`` reads it."""

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(150), primary_key=True)  # kind and worker@host:pid
    kind: Mapped[str] = mapped_column(String(16))  # ingest | websub
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime] = mapped_column(index=True)
    passes: Mapped[int] = mapped_column(Integer, default=0)
