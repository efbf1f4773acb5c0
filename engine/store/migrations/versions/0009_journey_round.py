"""journey rounds: a debtor who settled and later owes again starts the journey from step 1

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_KEY = ["customer_id", "journey", "step", "ruleset_version"]
_NEW_KEY = ["customer_id", "journey", "round", "step", "ruleset_version"]


def upgrade() -> None:
    with op.batch_alter_table("journey", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("scheduled_step", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
        batch_op.drop_constraint("uq_scheduled_step_once", type_="unique")
        batch_op.create_unique_constraint("uq_scheduled_step_once", _NEW_KEY)
    for table in ("journey", "scheduled_step"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("round", server_default=None)


def downgrade() -> None:
    later = op.get_bind().execute(sa.text("SELECT count(*) FROM scheduled_step WHERE round > 1"))
    if later.scalar():
        raise RuntimeError(
            "cannot downgrade below 0009: some debtors are in a second journey round (steps with"
            " round > 1), which the old schedule key cannot hold; nothing was changed"
        )
    with op.batch_alter_table("scheduled_step", schema=None) as batch_op:
        batch_op.drop_constraint("uq_scheduled_step_once", type_="unique")
        batch_op.create_unique_constraint("uq_scheduled_step_once", _OLD_KEY)
        batch_op.drop_column("round")
    with op.batch_alter_table("journey", schema=None) as batch_op:
        batch_op.drop_column("round")
