"""partner sources and their items

Revision ID: 0002
Revises: 0001

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedsvc.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_hosts",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("retry_after_until", feedsvc.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("host"),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("category_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("category_map", sa.JSON(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("syndicate", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("body_hash", sa.String(length=64), nullable=True),
        sa.Column("hint_s", sa.Integer(), nullable=True),
        sa.Column("last_fetch_at", feedsvc.models.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", feedsvc.models.UTCDateTime(), nullable=True),
        sa.Column("last_outcome", sa.String(length=32), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_warning", sa.Text(), nullable=True),
        sa.Column("last_new", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.Integer(), nullable=False),
        sa.Column("consecutive_errors", sa.Integer(), nullable=False),
        sa.Column("next_fetch_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", feedsvc.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.create_index("ix_sources_due", ["enabled", "next_fetch_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sources_host"), ["host"], unique=False)

    op.create_table(
        "source_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_key", sa.String(length=64), nullable=False),
        sa.Column("guid", sa.Text(), nullable=True),
        sa.Column("post_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "item_key", name="uq_source_items_key"),
    )
    with op.batch_alter_table("source_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_source_items_post_id"), ["post_id"], unique=False)

    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_posts_source_id"), ["source_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_posts_source_id", "sources", ["source_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_posts_source_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_posts_source_id"))
        batch_op.drop_column("source_id")

    with op.batch_alter_table("source_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_items_post_id"))

    op.drop_table("source_items")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sources_host"))
        batch_op.drop_index("ix_sources_due")

    op.drop_table("sources")
    op.drop_table("source_hosts")
