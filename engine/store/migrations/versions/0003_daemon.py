"""the daemon: several messages per step (fallback), the send lease, channel blocks, heartbeats

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0001 left message.scheduled_step_id's unique constraint unnamed; SQLite batch mode needs a name
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _drop_step_unique() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("message_scheduled_step_id_key", "message", type_="unique")
        return
    with op.batch_alter_table("message", naming_convention=_NAMES, recreate="always") as batch:
        batch.drop_constraint("uq_message_scheduled_step_id", type_="unique")


def upgrade() -> None:
    _drop_step_unique()
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_error", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("sending_until", engine.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_message_scheduled_step_id"), ["scheduled_step_id"], unique=False
        )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.alter_column("attempts", server_default=None)
    op.create_table(
        "channel_block",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("blocked_at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("customer_id", "channel"),
    )
    op.create_table(
        "daemon",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", engine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ruleset_version", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    # claims of a daemon: its own rows, for renewing and releasing them
    with op.batch_alter_table("scheduled_step", schema=None) as batch_op:
        batch_op.create_index(
            "ix_scheduled_step_claimed", ["status", "claimed_until"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("scheduled_step", schema=None) as batch_op:
        batch_op.drop_index("ix_scheduled_step_claimed")
    op.drop_table("daemon")
    op.drop_table("channel_block")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_scheduled_step_id"))
        batch_op.drop_column("sending_until")
        batch_op.drop_column("last_error")
        batch_op.drop_column("attempts")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_message_scheduled_step_id", ["scheduled_step_id"])
