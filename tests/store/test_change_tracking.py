"""Change tracking: a write to any table the facts read marks that debtor stale (migration 0008's
triggers), and a re-plan computes facts for stale debtors only."""

from __future__ import annotations

import datetime as dt
import functools
import importlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, Table, delete, insert, inspect, select, text, update
from sqlalchemy.sql import visitors

from engine.decision.decide import decide
from engine.rules.compile import CompiledRules
from engine.store import facts_sql, planner
from engine.store import tables as t
from engine.store.events import record_event
from engine.store.forget import forget
from engine.store.generate import generate
from engine.store.migrate import alembic_config, head_revision, upgrade
from engine.store.planner import Decider, PlanSummary, plan
from engine.store.rows import EventRow
from tests.store.builders import NOW, load
from tests.store.test_plan_incremental import schedule

C = t.Customer.__table__
CT = t.Contact.__table__
I = t.Invoice.__table__  # noqa: E741
PR = t.PromiseToPay.__table__
D = t.Dispute.__table__
J = t.Journey.__table__
M = t.Message.__table__
E = t.Event.__table__
FP = t.PlanFingerprint.__table__
DEBTORS = 30
TRACKING = importlib.import_module("engine.store.migrations.versions.0008_plan_change_tracking")


def stale(store: Engine) -> set[str]:
    """Debtors whose fingerprint a write marked stale (or that have none)."""
    with store.connect() as conn:
        alive = set(conn.execute(select(C.c.id).where(C.c.forgotten_at.is_(None))).scalars())
        current = set(
            conn.execute(select(FP.c.customer_id).where(FP.c.salt.is_not(None))).scalars()
        )
    return alive - current


@pytest.fixture
def planned(store: Engine, default_rules: CompiledRules) -> Iterator[Decider]:
    """A generated portfolio planned until nothing is stale (the second plan re-decides the
    debtors whose journey the first one started)."""
    generate(store, debtors=DEBTORS, seed=5, today=NOW.date())
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW, batch=10, workers=1)
    plan(store, decider, NOW, batch=10, workers=1)
    assert stale(store) == set()
    yield decider


@pytest.fixture
def facts_read(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The debtors each facts read of a plan asks for (an id list; a range is ('range', a, b)),
    from the parameters of its chunks (the chunks of one shape share one query)."""
    asked: list[Any] = []
    real = planner._chunk_queries

    def spy(*args: Any, **kw: Any) -> Any:
        chunks, sizes = real(*args, **kw)
        for chunk in chunks:
            params = chunk.params
            asked.append(
                sorted(params["ids"])
                if "ids" in params
                else ("range", params["id_from"], params.get("id_to"))
            )
        return chunks, sizes

    monkeypatch.setattr(planner, "_chunk_queries", spy)
    return asked


def decided(summary: PlanSummary) -> int:
    return sum(summary.actions.values())


def _one(store: Engine, query: Any) -> Any:
    with store.connect() as conn:
        return conn.execute(query).first()


def test_an_untouched_portfolio_is_re_planned_without_computing_facts(
    store: Engine, planned: Decider, facts_read: list[Any]
) -> None:
    """Nothing written since the last plan: the re-plan runs no facts query and decides nobody."""
    again = plan(store, planned, NOW + dt.timedelta(minutes=20), batch=10, workers=1)
    assert facts_read == []
    assert (again.debtors, again.unchanged, decided(again)) == (DEBTORS, DEBTORS, 0)


def _journeyed(conn: Connection) -> str:
    return str(conn.execute(select(J.c.customer_id).order_by(J.c.customer_id)).scalars().first())


def _touch_customer(conn: Connection, cid: str) -> None:
    conn.execute(update(C).where(C.c.id == cid).values(tags=["tracked"]))


def _touch_contact(conn: Connection, cid: str) -> None:
    conn.execute(update(CT).where(CT.c.customer_id == cid).values(role="tracked-role"))


def _add_invoice(conn: Connection, cid: str) -> None:
    conn.execute(
        insert(I).values(
            id="I-tracked",
            customer_id=cid,
            amount=Decimal("321.00"),
            currency="EUR",
            issue_date=NOW.date() - dt.timedelta(days=40),
            due_date=NOW.date() - dt.timedelta(days=10),
            updated_at=NOW,
        )
    )


def _add_promise(conn: Connection, cid: str) -> None:
    conn.execute(
        insert(PR).values(
            id="PR-tracked",
            customer_id=cid,
            amount=Decimal("10.00"),
            currency="EUR",
            promised_at=NOW - dt.timedelta(hours=2),
            promised_until=NOW.date() + dt.timedelta(days=5),
        )
    )


def _add_dispute(conn: Connection, cid: str) -> None:
    at = NOW - dt.timedelta(hours=2)
    conn.execute(insert(D).values(id="D-tracked", customer_id=cid, opened_at=at))


def _step_journey(conn: Connection, cid: str) -> None:
    conn.execute(update(J).where(J.c.customer_id == cid).values(steps_sent=J.c.steps_sent + 5))


def _settle_journey(conn: Connection, cid: str) -> None:
    """Paid in full: the journey is done, and new debt would be its next round."""
    conn.execute(update(J).where(J.c.customer_id == cid).values(state="done"))


def _add_message(conn: Connection, cid: str) -> None:
    at = NOW - dt.timedelta(hours=1)
    conn.execute(
        insert(M).values(
            id="M-tracked", customer_id=cid, channel="sms", status="sent", sent_at=at, created_at=at
        )
    )


def _add_event(conn: Connection, cid: str) -> None:
    at = NOW - dt.timedelta(minutes=30)
    conn.execute(
        insert(E).values(
            id="E-tracked", customer_id=cid, kind="clicked", occurred_at=at, data={}, recorded_at=at
        )
    )


def _delete_payments(conn: Connection, cid: str) -> None:
    conn.execute(delete(t.Payment.__table__).where(t.Payment.__table__.c.customer_id == cid))


WRITES: dict[str, Callable[[Connection, str], None]] = {
    "customer updated": _touch_customer,
    "contact updated": _touch_contact,
    "invoice inserted": _add_invoice,
    "promise inserted": _add_promise,
    "dispute inserted": _add_dispute,
    "journey's steps_sent updated": _step_journey,
    "message inserted": _add_message,
    "event inserted": _add_event,
    "payments deleted": _delete_payments,
}


@pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
def test_a_write_to_any_table_the_facts_read_re_decides_that_debtor_only(
    store: Engine, planned: Decider, facts_read: list[Any], write: str
) -> None:
    """A statement on one debtor's rows marks that debtor stale; the re-plan reads its facts
    alone and decides it again."""
    with store.begin() as conn:
        cid = _journeyed(conn)
        WRITES[write](conn, cid)
    assert stale(store) == {cid}
    again = plan(store, planned, NOW, batch=10, workers=1)
    assert facts_read == [[cid]]
    assert (again.unchanged, decided(again)) == (DEBTORS - 1, 1)
    assert stale(store) == set()


def test_the_importer_and_recorded_events_mark_their_debtors_stale(
    store: Engine, planned: Decider, tmp_path: Path
) -> None:
    """A payment file through `payjourney import` and a promise recorded as an event (the path
    of the API, webhooks and `payjourney record`) each re-decide their debtor (two who owe
    something: the planner reads no more than the balance of a debtor with nothing open)."""
    sheets = facts_sql.derive_fact_sheets(store, NOW)
    first, second = [str(s["customer.id"]) for s in sheets if s["balance.open_amount"]][:2]
    payment = {
        "id": "P-tracked",
        "customer_id": first,
        "amount": "5.00",
        "paid_at": "2026-11-23T08:30:00Z",
    }
    load(store, tmp_path, payments=[payment])
    promise = EventRow.model_validate(
        {
            "id": "E-promise",
            "customer_id": second,
            "kind": "promised",
            "occurred_at": NOW - dt.timedelta(minutes=10),
            "data": {"amount": "50.00", "until": str(NOW.date() + dt.timedelta(days=7))},
        }
    )
    record_event(store, promise, now=NOW)
    assert stale(store) == {first, second}
    again = plan(store, planned, NOW, batch=10, workers=1)
    assert (again.unchanged, decided(again)) == (DEBTORS - 2, 2)


def test_a_payment_of_a_debtor_with_nothing_open_renews_its_fingerprint_undecided(
    store: Engine, planned: Decider, tmp_path: Path, facts_read: list[Any]
) -> None:
    """Money on account from a debtor who owes nothing changes no fact the plan reads for it
    (its balance stays empty, and its decision is no payment request): the re-plan reads it,
    decides nobody and leaves nothing stale."""
    sheets = facts_sql.derive_fact_sheets(store, NOW)
    settled = next(str(s["customer.id"]) for s in sheets if not s["balance.open_amount"])
    payment = {
        "id": "P-settled",
        "customer_id": settled,
        "amount": "5.00",
        "paid_at": "2026-11-23T08:30:00Z",
    }
    load(store, tmp_path, payments=[payment])
    assert stale(store) == {settled}
    again = plan(store, planned, NOW, batch=10, workers=1)
    assert facts_read == [[settled]]
    assert (again.unchanged, decided(again)) == (DEBTORS, 0)
    assert stale(store) == set()


def test_forgetting_a_debtor_leaves_the_rest_unchanged(store: Engine, planned: Decider) -> None:
    """`payjourney forget` rewrites the debtor's rows under a pseudonym (the triggers see both
    ids): the forgotten debtor is never planned again and the others are not decided again."""
    with store.connect() as conn:
        gone = conn.execute(select(C.c.id).order_by(C.c.id).limit(1)).scalar_one()
    forget(store, gone, now=NOW)
    again = plan(store, planned, NOW, batch=10, workers=1)
    assert (again.debtors, again.unchanged, decided(again)) == (DEBTORS - 1, DEBTORS - 1, 0)


def test_a_touched_debtor_whose_facts_are_the_same_is_not_decided_again(
    store: Engine, planned: Decider, facts_read: list[Any]
) -> None:
    """A write that changes no fact (the row's own bookkeeping) costs one debtor's facts query:
    the fingerprint is the same, so the debtor is not decided, and is current again after."""
    with store.begin() as conn:
        cid = _journeyed(conn)
        conn.execute(update(C).where(C.c.id == cid).values(updated_at=NOW))
    assert stale(store) == {cid}
    again = plan(store, planned, NOW, batch=10, workers=1)
    assert facts_read == [[cid]]
    assert (again.unchanged, decided(again)) == (DEBTORS, 0)
    assert stale(store) == set()


def test_many_stale_debtors_are_read_by_range_and_match_a_plain_plan(
    store: Engine, planned: Decider, facts_read: list[Any]
) -> None:
    """When most of a chunk is stale its whole id range is read; the schedule is the one a
    plain plan of everybody writes."""
    with store.begin() as conn:
        ids = list(conn.execute(select(C.c.id).order_by(C.c.id)).scalars())
        conn.execute(update(C).where(C.c.id.in_(ids[:12])).values(tags=["bulk"]))
    again = plan(store, planned, NOW, batch=10, workers=1)
    assert facts_read[0][0] == "range" and [ids[10], ids[11]] in facts_read
    assert decided(again) == 12
    incremental = schedule(store)
    plan(store, planned, NOW, batch=10, workers=1, incremental=False)
    assert schedule(store) == incremental


def _tables_read(query: Any) -> set[str]:
    return {node.name for node in visitors.iterate(query) if isinstance(node, Table)}


def test_every_table_the_facts_read_is_tracked(store: Engine) -> None:
    """The migration's triggers cover exactly the tables fact_query reads, and exist in the
    database (a later migration that rebuilds a table on SQLite would drop them)."""
    read = _tables_read(facts_sql.fact_query(NOW)) | _tables_read(facts_sql.fact_query(NOW, ["x"]))
    assert read == set(TRACKING.WATCHED)
    with store.connect() as conn:
        if store.dialect.name == "postgresql":
            names = set(
                conn.execute(
                    text("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'pj_stale_plan_%'")
                ).scalars()
            )
        else:
            names = set(
                conn.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                ).scalars()
            )
    expected = {
        f"pj_stale_plan_{table}_{kind}" for table in read for kind in ("insert", "update", "delete")
    }
    assert names == expected


def test_the_tracking_migration_downgrades_and_upgrades(store: Engine) -> None:
    """0008 down: no triggers, no salt column; up again: both back, and planning works."""
    config = alembic_config(store)
    with store.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007")
    with store.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("plan_fingerprint")}
        if store.dialect.name == "postgresql":
            left = conn.execute(
                text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pj_stale%'")
            )
        else:
            left = conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"))
        assert left.scalar_one() == 0
    assert "salt" not in columns
    assert upgrade(store) == head_revision()
    test_every_table_the_facts_read_is_tracked(store)


def test_a_settled_journey_marks_its_debtor_stale_and_its_new_round_settles_in_one_more_plan(
    store: Engine, planned: Decider, facts_read: list[Any]
) -> None:
    """A journey marked done (the facts then count no step and name the next round) marks the
    debtor stale; the re-plan decides it and starts the round, which rewrites the journey
    (state, round, started_at): decided once more by the next plan, as a new journey is."""
    with store.begin() as conn:
        cid = _journeyed(conn)
        _settle_journey(conn, cid)
    assert stale(store) == {cid}
    again = plan(store, planned, NOW, batch=10, workers=1)
    assert facts_read == [[cid]]
    assert decided(again) == 1
    journey = _one(store, select(J.c.state, J.c.round).where(J.c.customer_id == cid))
    assert (journey.state, journey.round) == ("active", 2)
    plan(store, planned, NOW, batch=10, workers=1)
    assert stale(store) == set()
