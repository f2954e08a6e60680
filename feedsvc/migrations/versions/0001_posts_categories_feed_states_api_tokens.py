"""posts, categories, feed states, API tokens

Revision ID: 0001
Revises:

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedsvc.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("rights", sa.JSON(), nullable=False),
        sa.Column("created_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("created_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "feed_states",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("modified_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("image_type", sa.String(length=100), nullable=True),
        sa.Column("image_length", sa.BigInteger(), nullable=False),
        sa.Column("published_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.Column("created_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.Column("translation_group", sa.BigInteger(), nullable=True),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("language", "slug", name="uq_posts_language_slug"),
        sa.UniqueConstraint("uid"),
    )
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index("ix_posts_feed_all", ["visible", "published_at", "id"], unique=False)
        batch_op.create_index(
            "ix_posts_feed_language", ["visible", "language", "published_at", "id"], unique=False
        )
        batch_op.create_index("ix_posts_translation_group", ["translation_group"], unique=False)

    op.create_table(
        "post_categories",
        sa.Column("post_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("category_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("published_at", feedsvc.models.UTCDateTime(), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", "category_id"),
    )
    with op.batch_alter_table("post_categories", schema=None) as batch_op:
        batch_op.create_index(
            "ix_post_categories_feed",
            ["category_id", "language", "visible", "published_at", "post_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("post_categories", schema=None) as batch_op:
        batch_op.drop_index("ix_post_categories_feed")

    op.drop_table("post_categories")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_translation_group")
        batch_op.drop_index("ix_posts_feed_language")
        batch_op.drop_index("ix_posts_feed_all")

    op.drop_table("posts")
    op.drop_table("feed_states")
    op.drop_table("categories")
    op.drop_table("api_tokens")
