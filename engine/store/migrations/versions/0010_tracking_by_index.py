"""plan change tracking by index probes: the PostgreSQL triggers of 0008/0009 look up the touched
debtors' fingerprints by primary key, whatever the statistics say

The triggers marked a statement's debtors stale with `customer_id IN (SELECT ... FROM pj_new)`.
For an upsert that inserted nothing (ON CONFLICT DO UPDATE fires the INSERT trigger with an empty
transition table) and statistics taken while `plan_fingerprint` was still small, PostgreSQL
walked every fingerprint in a nested loop: 34 ms per one-debtor re-decide at 100,000 debtors,
and the same for every chunk a plan writes. `customer_id = ANY (ARRAY(SELECT ...))` is an index
probe per touched debtor (none for an empty table). SQLite's row triggers are unchanged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables the facts SQL reads, with the column naming the debtor (as of 0009).
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
#: The journey columns the facts read (0009).
JOURNEY_FACTS = ("customer_id", "steps_sent", "started_at", "state", "round")
_STALE = "UPDATE plan_fingerprint SET salt = NULL WHERE salt IS NOT NULL AND customer_id"


def _function(table: str, column: str, *, by_index: bool) -> str:
    if table == "journey":
        changed = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in JOURNEY_FACTS)
        updated = (
            f"SELECT o.{column} FROM pj_old o JOIN pj_new n ON n.id = o.id WHERE {changed}"
            f" UNION SELECT n.{column} FROM pj_old o JOIN pj_new n ON n.id = o.id WHERE {changed}"
        )
    else:
        updated = f"SELECT {column} FROM pj_old UNION SELECT {column} FROM pj_new"

    def stale(ids: str) -> str:
        return f"{_STALE} = ANY (ARRAY({ids}))" if by_index else f"{_STALE} IN ({ids})"

    return f"""
CREATE OR REPLACE FUNCTION pj_stale_plan_{table}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE '{stale(f"SELECT {column} FROM pj_new")}';
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE '{stale(f"SELECT {column} FROM pj_old")}';
    ELSE
        EXECUTE '{stale(updated)}';
    END IF;
    RETURN NULL;
END
$body$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in WATCHED.items():
        op.execute(_function(table, column, by_index=True))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in WATCHED.items():
        op.execute(_function(table, column, by_index=False))
