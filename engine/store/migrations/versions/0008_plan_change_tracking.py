"""plan change tracking: a write to any table the facts read marks the debtor's fingerprint stale

Each plan fingerprint keeps the salt (ruleset version and hour bucket, as a digest) it was
computed with; triggers on every table `engine.store.facts_sql.fact_query` reads set it to NULL
for the debtors a statement touched. A re-plan then computes facts only for debtors without a
fingerprint of its own salt. PostgreSQL: statement-level triggers over transition tables (a bulk
import or COPY marks its debtors in one set-based UPDATE per statement); SQLite: row triggers.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables the facts SQL reads, with the column naming the debtor. Frozen here as of this
#: revision; tests/store/test_change_tracking.py holds it equal to what fact_query reads.
WATCHED: dict[str, str] = {
    "customer": "id",
    "contact": "customer_id",
    "invoice": "customer_id",
    "payment": "customer_id",
    "promise_to_pay": "customer_id",
    "dispute": "customer_id",
    "journey": "customer_id",
    "message": "customer_id",
    "event": "customer_id",
}
#: A journey row changes the facts only through these columns (the plan rewrites the rest of it
#: for every debtor it decides: those writes must not mark the debtor stale).
JOURNEY_FACTS = ("customer_id", "steps_sent", "started_at")

_STALE = "UPDATE plan_fingerprint SET salt = NULL WHERE salt IS NOT NULL AND customer_id"


def _pg_function(table: str, column: str) -> str:
    if table == "journey":
        changed = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in JOURNEY_FACTS)
        updated = (
            f"SELECT o.{column} FROM pj_old o JOIN pj_new n ON n.id = o.id WHERE {changed}"
            f" UNION SELECT n.{column} FROM pj_old o JOIN pj_new n ON n.id = o.id WHERE {changed}"
        )
    else:
        updated = f"SELECT {column} FROM pj_old UNION SELECT {column} FROM pj_new"
    # EXECUTE plans each statement for the rows at hand (a cached plan made for a 1,000-row
    # insert would also be used for a million-row COPY, and the other way round)
    return f"""
CREATE FUNCTION pj_stale_plan_{table}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE '{_STALE} IN (SELECT {column} FROM pj_new)';
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE '{_STALE} IN (SELECT {column} FROM pj_old)';
    ELSE
        EXECUTE '{_STALE} IN ({updated})';
    END IF;
    RETURN NULL;
END
$body$
"""


def _pg_triggers(table: str) -> list[str]:
    name = f"pj_stale_plan_{table}"
    return [
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS pj_new"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        f"CREATE TRIGGER {name}_update AFTER UPDATE ON {table}"
        f" REFERENCING OLD TABLE AS pj_old NEW TABLE AS pj_new"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS pj_old"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
    ]


def _sqlite_triggers(table: str, column: str) -> list[str]:
    name = f"pj_stale_plan_{table}"
    of, when = "", ""
    if table == "journey":
        of = " OF " + ", ".join(JOURNEY_FACTS)
        when = " WHEN " + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in JOURNEY_FACTS)
    return [
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {_STALE} = NEW.{column}; END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE{of} ON {table}{when}"
        f" BEGIN {_STALE} IN (OLD.{column}, NEW.{column}); END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {_STALE} = OLD.{column}; END",
    ]


def upgrade() -> None:
    with op.batch_alter_table("plan_fingerprint", schema=None) as batch_op:
        batch_op.add_column(sa.Column("salt", sa.String(length=64), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, column in WATCHED.items():
        if postgres:
            op.execute(_pg_function(table, column))
            for statement in _pg_triggers(table):
                op.execute(statement)
        else:
            for statement in _sqlite_triggers(table, column):
                op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        for kind in ("insert", "update", "delete"):
            on = f" ON {table}" if postgres else ""
            op.execute(f"DROP TRIGGER IF EXISTS pj_stale_plan_{table}_{kind}{on}")
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS pj_stale_plan_{table}()")
    with op.batch_alter_table("plan_fingerprint", schema=None) as batch_op:
        batch_op.drop_column("salt")
