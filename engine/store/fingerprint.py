"""Plan fingerprints: what each debtor's last planned decision was made from, so that a re-plan
decides only the debtors whose facts, rules or time bucket changed.

A fingerprint hashes the debtor's raw fact row (the result row of `fact_query`: its history as
of `now`), the ruleset version and the time bucket (the UTC hour of `now`). On PostgreSQL the
hash is md5 of the row's text, computed and compared in the facts query itself, so an unchanged
debtor's row never leaves the database; on SQLite it is a BLAKE2b of the row in Python.

Within one bucket a debtor's decision stands until its facts change: a plan later in the same
hour keeps the send time decided earlier in it (already due or still ahead) instead of moving
it. Anything that rewrites a debtor's schedule outside `plan` must `forget` its fingerprint
(the daemon's re-decide after an event does); `plan(..., incremental=False)` re-decides all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    Text,
    bindparam,
    cast,
    delete,
    func,
    literal_column,
    select,
)

from engine.store import tables as t
from engine.store.bulk import upsert

FP = t.PlanFingerprint.__table__  # type: ignore[attr-defined]
#: How long a decision stands when nothing about the debtor changes.
BUCKET = dt.timedelta(hours=1)
_FACTS = "facts"


def salt(ruleset_version: str, now: dt.datetime) -> str:
    """What every fingerprint of one plan run shares: the ruleset version and the time bucket."""
    utc = now.astimezone(dt.UTC)
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    bucket = start + (utc - start) // BUCKET * BUCKET
    return f"|{ruleset_version}|{bucket.isoformat()}"


def fingerprinted(
    query: Select[Any], run_salt: str, *, in_sql: bool, skip_unchanged: bool
) -> Select[Any]:
    """`query` (a fact_query) with each debtor's stored fingerprint as `stored_fingerprint`; with
    `in_sql` (PostgreSQL) also the fresh one as `fingerprint`, and with `skip_unchanged` only the
    debtors whose fingerprint differs."""
    facts = query.order_by(None).subquery(_FACTS)
    stored = FP.c.fingerprint.label("stored_fingerprint")
    joined = select(facts, stored).select_from(facts.outerjoin(FP, FP.c.customer_id == facts.c.id))
    if in_sql:
        # the whole row's text: every fact column, in a stable text form
        row_text = cast(literal_column(_FACTS), Text)
        fresh = func.md5(row_text + bindparam("fingerprint_salt", run_salt, type_=Text))
        joined = joined.add_columns(fresh.label("fingerprint"))
        if skip_unchanged:
            joined = joined.where(FP.c.fingerprint.is_distinct_from(fresh))
    return joined.order_by(facts.c.id)


def in_python(values: Sequence[Any], run_salt: str) -> str:
    """The fingerprint of a raw fact row computed here (SQLite has no md5)."""
    return hashlib.blake2b((repr(tuple(values)) + run_salt).encode(), digest_size=16).hexdigest()


def store(conn: Connection, prints: Iterable[tuple[str, str]], now: dt.datetime) -> None:
    """Remember what each (customer id, fingerprint) was planned from."""
    rows = [{"customer_id": c, "fingerprint": f, "planned_at": now} for c, f in prints]
    if rows:
        upsert(conn, FP, rows, key=("customer_id",))


def forget(conn: Connection, customer_ids: Sequence[str]) -> None:
    """The next plan re-decides these debtors (their schedule was changed outside `plan`)."""
    if customer_ids:
        conn.execute(delete(FP).where(FP.c.customer_id.in_(list(customer_ids))))
