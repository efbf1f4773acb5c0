"""Plan fingerprints: what each debtor's last planned decision was made from, so that a re-plan
decides only the debtors whose facts, rules or time bucket changed.

A fingerprint hashes the debtor's raw fact row (the result row of `fact_query`: its history as
of `now`), the ruleset version and the time bucket (the UTC hour of `now`). On PostgreSQL the
hash is md5 of the row's text, computed and compared in the facts query itself, so an unchanged
debtor's row never leaves the database; on SQLite it is a BLAKE2b of the row in Python.

Within one bucket a debtor's decision stands until its stored rows change: a plan later in the
same hour keeps the send time decided earlier in it (already due or still ahead) instead of
moving it. Anything that rewrites a debtor's schedule outside `plan` must `forget` its
fingerprint (the daemon's re-decide after an event does); `plan(..., incremental=False)`
re-decides all.

Change tracking: each fingerprint keeps the digest of the salt it was computed with. Triggers
on every table the facts SQL reads (migration 0008) set it to NULL for each debtor a write
touches, whichever code path wrote (import, events, payments, the daemon, forget). A re-plan
selects the `stale` debtors (no fingerprint of its own salt) with one anti-join and computes
facts for those only; their fresh fingerprint is still compared with the stored one, so a
touched debtor whose facts came out the same is not decided again (its salt is renewed).
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
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

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


def salt_key(run_salt: str) -> str:
    """The digest of a salt stored with each fingerprint (the `salt` column)."""
    return hashlib.blake2b(run_salt.encode(), digest_size=16).hexdigest()


def fingerprinted(
    query: Select[Any],
    run_salt: str,
    *,
    in_sql: bool,
    skip_unchanged: bool,
    store_at: dt.datetime | None = None,
) -> Select[Any]:
    """`query` (a fact_query) with each debtor's stored fingerprint as `stored_fingerprint` and
    its salt digest as `stored_salt`; with `in_sql` (PostgreSQL) also the fresh one as
    `fingerprint`, and with `skip_unchanged` only the debtors whose fingerprint differs or whose
    stored salt is not current (a touched debtor: its salt is renewed when the facts are the same).

    `store_at` (with `in_sql`): the statement also stores the fresh fingerprint of every row it
    returns, planned at `store_at` and current for `run_salt` (an upsert in the same statement:
    the rows never travel to Python and back). The caller commits it with that chunk's
    schedule, or forgets the debtors it could not decide."""
    facts = query.order_by(None).subquery(_FACTS)
    if in_sql:
        # one index probe per debtor, whatever the statistics say: the table grows from empty
        # to the whole portfolio during a first plan, and a plan made from its statistics at
        # the start scanned it whole for every row (LIMIT keeps PostgreSQL from flattening it)
        fp: Any = (
            select(FP.c.fingerprint, FP.c.salt)
            .where(FP.c.customer_id == facts.c.id)
            .limit(1)
            .lateral("stored")
        )
        source = facts.outerjoin(fp, true())
    else:
        fp = FP
        source = facts.outerjoin(FP, FP.c.customer_id == facts.c.id)
    stored = fp.c.fingerprint.label("stored_fingerprint")
    joined = select(facts, stored, fp.c.salt.label("stored_salt")).select_from(source)
    if not in_sql:
        return joined.order_by(facts.c.id)
    # the whole row's text: every fact column, in a stable text form
    row_text = cast(literal_column(_FACTS), Text)
    fresh = func.md5(row_text + bindparam("fingerprint_salt", run_salt, type_=Text))
    joined = joined.add_columns(fresh.label("fingerprint"))
    current = bindparam("salt_key", salt_key(run_salt), type_=Text)
    if skip_unchanged:
        joined = joined.where(
            or_(fp.c.fingerprint.is_distinct_from(fresh), fp.c.salt.is_distinct_from(current))
        )
    if store_at is None:
        return joined.order_by(facts.c.id)
    read = joined.cte("planned")
    at = bindparam("planned_at", store_at, type_=FP.c.planned_at.type)
    insert = postgresql.insert(FP).from_select(
        ["customer_id", "fingerprint", "planned_at", "salt"],
        select(read.c.id, read.c.fingerprint, at, current),
    )
    written = insert.on_conflict_do_update(
        index_elements=[FP.c.customer_id],
        set_={
            "fingerprint": insert.excluded.fingerprint,
            "planned_at": insert.excluded.planned_at,
            "salt": insert.excluded.salt,
        },
    ).cte("stored_prints")
    return select(read).add_cte(written).order_by(read.c.id)


def is_current(run_salt: str, customer_id: Any) -> ColumnElement[bool]:
    """True where the customer `customer_id` has a fingerprint of this salt (not stale): planned
    with these rules in this hour, and no row of it written since."""
    return (
        select(FP.c.customer_id)
        .where(FP.c.customer_id == customer_id, FP.c.salt == salt_key(run_salt))
        .exists()
    )


def current_count(conn: Connection, run_salt: str) -> int:
    """How many fingerprints carry this salt (none: every debtor is planned from scratch)."""
    query = select(func.count()).select_from(FP).where(FP.c.salt == salt_key(run_salt))
    return int(conn.execute(query).scalar_one())


def in_python(values: Sequence[Any], run_salt: str) -> str:
    """The fingerprint of a raw fact row computed here (SQLite has no md5)."""
    return hashlib.blake2b((repr(tuple(values)) + run_salt).encode(), digest_size=16).hexdigest()


def store(
    conn: Connection, prints: Iterable[tuple[str, str]], now: dt.datetime, run_salt: str
) -> None:
    """Remember what each (customer id, fingerprint) was planned from, current for `run_salt`."""
    key = salt_key(run_salt)
    rows = [{"customer_id": c, "fingerprint": f, "planned_at": now, "salt": key} for c, f in prints]
    if rows:
        upsert(conn, FP, rows, key=("customer_id",))


def forget(conn: Connection, customer_ids: Sequence[str]) -> None:
    """The next plan re-decides these debtors (their schedule was changed outside `plan`)."""
    if customer_ids:
        conn.execute(delete(FP).where(FP.c.customer_id.in_(list(customer_ids))))
