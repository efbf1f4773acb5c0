"""self-service: debtors' personal links (hashed tokens), tasks, payment plans, consent records

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "debtor_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("journey", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", engine.store.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", engine.store.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", engine.store.types.UTCDateTime(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_debtor_link_customer_id", "debtor_link", ["customer_id"])
    op.create_table(
        "task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("text", sa.String(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("plan_id", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", engine.store.types.UTCDateTime(), nullable=False),
        sa.Column("closed_at", engine.store.types.UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_task_customer_id", "task", ["customer_id"])
    op.create_index("ix_task_status_created", "task", ["status", "created_at"])
    op.create_table(
        "payment_plan",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("total", engine.store.types.MoneyAmount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("instalments", sa.JSON(), nullable=False),
        sa.Column("current", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", engine.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", engine.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payment_plan_customer_id", "payment_plan", ["customer_id"])
    op.create_table(
        "consent_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("preferred", sa.Boolean(), nullable=False),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", engine.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consent_record_customer_id", "consent_record", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_consent_record_customer_id", table_name="consent_record")
    op.drop_table("consent_record")
    op.drop_index("ix_payment_plan_customer_id", table_name="payment_plan")
    op.drop_table("payment_plan")
    op.drop_index("ix_task_status_created", table_name="task")
    op.drop_index("ix_task_customer_id", table_name="task")
    op.drop_table("task")
    op.drop_index("ix_debtor_link_customer_id", table_name="debtor_link")
    op.drop_table("debtor_link")
