"""messages record the experiment and variant the debtor was in when they were sent

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("experiment", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("variant", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_message_experiment", ["experiment", "variant"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_experiment")
        batch_op.drop_column("variant")
        batch_op.drop_column("experiment")
