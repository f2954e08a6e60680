"""reach: scheduled posts come due by feed state, aggregator flags and the Yandex genre

Revision ID: 0006
Revises: 0005

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedsvc.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_due_at", feedsvc.models.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_feed_states_next_due_at", ["next_due_at"], unique=False)
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("genre", sa.String(length=16), nullable=False, server_default="message")
        )
        batch_op.add_column(sa.Column("aggregate", sa.Boolean(), nullable=False, server_default=sa.true()))
    # sources.aggregate came with 0005 (it also decides hub deliveries).
    # Partner items stored before the flag existed stay out of the aggregator profiles, as new ones do.
    op.execute("UPDATE posts SET aggregate = false WHERE source_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("aggregate")
        batch_op.drop_column("genre")
    with op.batch_alter_table("feed_states", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_states_next_due_at")
        batch_op.drop_column("next_due_at")
