"""credit notes (invoice.corrects_invoice_id) and the payment's local calendar day

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoice") as batch:
        batch.add_column(sa.Column("corrects_invoice_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("payment") as batch:
        batch.add_column(sa.Column("local_date", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment") as batch:
        batch.drop_column("local_date")
    with op.batch_alter_table("invoice") as batch:
        batch.drop_column("corrects_invoice_id")
