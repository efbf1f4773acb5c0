"""journey rounds: a debtor who settled and later owes again starts the journey from step 1

`journey.round` and `scheduled_step.round` (the schedule key gains the round). The facts now
read the journey's `state` and `round` too, so the change tracking of 0008 watches them.

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
#: The journey columns the facts read, before (0008) and from this revision on.
_FACTS_0008 = ("customer_id", "steps_sent", "started_at")
_FACTS = (*_FACTS_0008, "state", "round")
_STALE = "UPDATE plan_fingerprint SET salt = NULL WHERE salt IS NOT NULL AND customer_id"


def _journey_tracking(columns: Sequence[str], *, sqlite_all: bool = False) -> None:
    """Make 0008's journey trigger watch `columns` (SQLite: the update trigger, or all three
    when the table was rebuilt; PostgreSQL: the trigger function)."""
    changed_pg = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in columns)
    if op.get_bind().dialect.name == "postgresql":
        updated = (
            f"SELECT o.customer_id FROM pj_old o JOIN pj_new n ON n.id = o.id WHERE {changed_pg}"
            f" UNION SELECT n.customer_id FROM pj_old o JOIN pj_new n ON n.id = o.id"
            f" WHERE {changed_pg}"
        )
        op.execute(f"""
CREATE OR REPLACE FUNCTION pj_stale_plan_journey() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE '{_STALE} IN (SELECT customer_id FROM pj_new)';
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE '{_STALE} IN (SELECT customer_id FROM pj_old)';
    ELSE
        EXECUTE '{_STALE} IN ({updated})';
    END IF;
    RETURN NULL;
END
$body$
""")
        return
    name = "pj_stale_plan_journey"
    when = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
    statements = [
        f"DROP TRIGGER IF EXISTS {name}_update",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(columns)} ON journey"
        f" WHEN {when} BEGIN {_STALE} IN (OLD.customer_id, NEW.customer_id); END",
    ]
    if sqlite_all:  # SQLite rebuilt the table and dropped its triggers with the old one
        statements += [
            f"DROP TRIGGER IF EXISTS {name}_insert",
            f"CREATE TRIGGER {name}_insert AFTER INSERT ON journey"
            f" BEGIN {_STALE} = NEW.customer_id; END",
            f"DROP TRIGGER IF EXISTS {name}_delete",
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON journey"
            f" BEGIN {_STALE} = OLD.customer_id; END",
        ]
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    # a plain ADD COLUMN (no table rebuild on SQLite, so 0008's triggers on journey stay)
    op.add_column("journey", sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("scheduled_step", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
        batch_op.drop_constraint("uq_scheduled_step_once", type_="unique")
        batch_op.create_unique_constraint("uq_scheduled_step_once", _NEW_KEY)
    _journey_tracking(_FACTS)


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
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS pj_stale_plan_journey_update")  # it names `round`
    with op.batch_alter_table("journey", schema=None) as batch_op:
        batch_op.drop_column("round")
    _journey_tracking(_FACTS_0008, sqlite_all=True)
