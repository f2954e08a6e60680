"""feed state counts: the number of posts a feed scope shows, kept with its version

Revision ID: 0008
Revises: 0007

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shown", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_states", schema=None) as batch_op:
        batch_op.drop_column("shown")
