"""media and credit: post enclosures with thumbnails and credits, item rights, partner home pages

Revision ID: 0004
Revises: 0003

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "post_enclosures",
        sa.Column("post_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("medium", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("thumbnail_url", sa.Text(), nullable=True),
        sa.Column("thumbnail_width", sa.Integer(), nullable=True),
        sa.Column("thumbnail_height", sa.Integer(), nullable=True),
        sa.Column("media_credits", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", "position"),
    )
    # Batch mode: SQLite cannot alter tables in place beyond adding columns.
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("rights", sa.Text(), nullable=True))
        batch.add_column(sa.Column("media_credits", sa.JSON(), nullable=True))
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("home_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("home_url")
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("media_credits")
        batch.drop_column("rights")
    op.drop_table("post_enclosures")
