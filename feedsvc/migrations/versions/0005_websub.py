"""WebSub hub and publisher, cache purges: outbox, subscriptions, pings, rate limits; sources.aggregate

Revision ID: 0005
Revises: 0004

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedsvc.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = feedsvc.models.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("aggregate", sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table(
        "websub_outbox",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("first_at", _TIME(), nullable=False),
        sa.Column("changed_at", _TIME(), nullable=False),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )
    op.create_table(
        "websub_subscriptions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("callback", sa.Text(), nullable=False),
        sa.Column("callback_host", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("fmt", sa.String(length=16), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("lease_seconds", sa.Integer(), nullable=False),
        sa.Column("expires_at", _TIME(), nullable=True),
        sa.Column("pending_mode", sa.String(length=16), nullable=True),
        sa.Column("pending_lease", sa.Integer(), nullable=True),
        sa.Column("pending_secret", sa.Text(), nullable=True),
        sa.Column("verify_due_at", _TIME(), nullable=True),
        sa.Column("verify_attempts", sa.Integer(), nullable=False),
        sa.Column("changed_at", _TIME(), nullable=True),
        sa.Column("covered_at", _TIME(), nullable=True),
        sa.Column("next_attempt_at", _TIME(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", _TIME(), nullable=True),
        sa.Column("last_attempt_at", _TIME(), nullable=True),
        sa.Column("last_delivery_at", _TIME(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("updated_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("websub_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_websub_subscriptions_scope", ["scope", "state"], unique=False)
        batch_op.create_index("ix_websub_subscriptions_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_websub_subscriptions_verify", ["verify_due_at"], unique=False)

    op.create_table(
        "websub_pings",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("changed_at", _TIME(), nullable=False),
        sa.Column("covered_at", _TIME(), nullable=True),
        sa.Column("next_attempt_at", _TIME(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", _TIME(), nullable=True),
        sa.Column("last_success_at", _TIME(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key", name="uq_websub_pings_key"),
    )
    with op.batch_alter_table("websub_pings", schema=None) as batch_op:
        batch_op.create_index("ix_websub_pings_due", ["next_attempt_at"], unique=False)

    op.create_table(
        "websub_rate_limits",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("window_start", _TIME(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("websub_rate_limits")
    with op.batch_alter_table("websub_pings", schema=None) as batch_op:
        batch_op.drop_index("ix_websub_pings_due")
    op.drop_table("websub_pings")
    with op.batch_alter_table("websub_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_websub_subscriptions_verify")
        batch_op.drop_index("ix_websub_subscriptions_due")
        batch_op.drop_index("ix_websub_subscriptions_scope")
    op.drop_table("websub_subscriptions")
    op.drop_table("websub_outbox")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("aggregate")
