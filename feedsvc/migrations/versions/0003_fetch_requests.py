"""fetch requests: the API asks, the ingestion worker fetches

Revision ID: 0003
Revises: 0002

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedsvc.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fetch_requested_at", feedsvc.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_result", sa.JSON(), nullable=True))
        batch_op.create_index("ix_sources_fetch_requested", ["fetch_requested_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index("ix_sources_fetch_requested")
        batch_op.drop_column("last_result")
        batch_op.drop_column("fetch_requested_at")
