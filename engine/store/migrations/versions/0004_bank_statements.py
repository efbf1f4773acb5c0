"""bank statements: imported entries (unique per statement and entry reference), their matches

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.String(length=160), nullable=False),
        sa.Column("entry_reference", sa.String(length=160), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("account_iban", sa.String(length=34), nullable=True),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("amount", engine.store.types.MoneyAmount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("payer_name", sa.String(), nullable=True),
        sa.Column("payer_iban", sa.String(length=34), nullable=True),
        sa.Column("remittance", sa.String(), nullable=True),
        sa.Column("creditor_reference", sa.String(length=35), nullable=True),
        sa.Column("end_to_end_id", sa.String(length=35), nullable=True),
        sa.Column("return_reason", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("imported_at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["reverses_id"], ["bank_entry.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reverses_id"),
        sa.UniqueConstraint("statement_id", "entry_reference", name="uq_bank_entry_once"),
    )
    with op.batch_alter_table("bank_entry", schema=None) as batch_op:
        batch_op.create_index("ix_bank_entry_status", ["status"], unique=False)
        batch_op.create_index("ix_bank_entry_end_to_end", ["end_to_end_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bank_entry_payer_iban"), ["payer_iban"], unique=False)
    op.create_table(
        "bank_match",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("amount", engine.store.types.MoneyAmount(), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["bank_entry.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bank_match", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_match_entry_id"), ["entry_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bank_match", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_match_entry_id"))
    op.drop_table("bank_match")
    with op.batch_alter_table("bank_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_entry_payer_iban"))
        batch_op.drop_index("ix_bank_entry_end_to_end")
        batch_op.drop_index("ix_bank_entry_status")
    op.drop_table("bank_entry")
