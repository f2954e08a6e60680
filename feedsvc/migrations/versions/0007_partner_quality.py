"""partner quality: WebSub subscriptions, full text, publishing rhythm, re-GUID repairs

Revision ID: 0007
Revises: 0006

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedsvc.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("full_text", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("publish_gap_s", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("hub_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("topic_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("push_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("push_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("push_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("push_lease_until", feedsvc.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("push_verified_at", feedsvc.models.UTCDateTime(), nullable=True))
    with op.batch_alter_table("source_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_title_key", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_source_items_link_title", ["source_id", "link_title_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("source_items", schema=None) as batch_op:
        batch_op.drop_index("ix_source_items_link_title")
        batch_op.drop_column("link_title_key")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        for name in (
            "push_verified_at", "push_lease_until", "push_state", "push_token", "push_secret", "topic_url", "hub_url",
            "publish_gap_s", "full_text",
        ):  # fmt: skip
            batch_op.drop_column(name)
