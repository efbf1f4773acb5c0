"""A send chunk's writes: its outbox rows and its `sent` records go to the database in a fixed
number of statements whatever the chunk's size (PostgreSQL's change-tracking triggers fire per
statement), and they read back exactly as written, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from engine.daemon import lifecycle, records
from engine.store import tables as t
from tests.daemon.harness import STEP1, Clock, World, debtor

M = t.Message.__table__  # type: ignore[attr-defined]
J = t.Journey.__table__  # type: ignore[attr-defined]
NOW = STEP1 + dt.timedelta(hours=2)


def _statements(world: World) -> int:
    """Statements the database runs during one dispatch pass (an executemany counts once per
    row: that is what the server runs)."""
    count = 0

    def counted(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        nonlocal count
        count += len(params) if many else 1

    event.listen(world.store, "before_cursor_execute", counted)
    try:
        world.dispatcher.run_once()
    finally:
        event.remove(world.store, "before_cursor_execute", counted)
    return count


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_on_postgresql_twelve_sends_take_as_many_statements_as_three(
    store: Engine, tmp_path: Path
) -> None:
    """Sending and recording 12 first reminders runs no more statements than sending 3: the
    outbox rows, `sent` records, steps and journeys of a chunk are one statement each, so the
    change-tracking triggers fire per chunk, not per message."""
    for n in range(3):
        debtor(store, tmp_path, cid=f"C-{n}")
    world = World(store, tmp_path, Clock(NOW))
    world.plan()
    few = _statements(world)
    for n in range(10, 22):
        debtor(store, tmp_path, cid=f"C-{n}")
    world.plan()
    many = _statements(world)
    sent = [m for m in world.rows(t.Message) if m.status == "sent"]
    assert len(sent) == 15
    assert many == few


def test_outbox_rows_written_in_one_go_read_back_as_given(store: Engine) -> None:
    """Rows inserted together keep every value: text, numbers, NULLs, UTC times, JSON."""
    with store.begin() as conn:
        conn.execute(
            t.Customer.__table__.insert(),  # type: ignore[attr-defined]
            [{"id": "C-1", "kind": "business", "country": "NL", "name": "Klant", "tags": []}],
        )
    at = dt.datetime(2026, 11, 5, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    rows: list[dict[str, Any]] = [
        {
            "id": f"pj-{n}-email",
            "customer_id": "C-1",
            "scheduled_step_id": None,
            "journey": "everyone",
            "step": n,
            "channel": "email",
            "attempts": 1,
            "created_at": at,
            "sent_at": None,
            "provider_message_id": None,
            "last_error": None,
            "status": "sending",
            "sending_until": at + dt.timedelta(minutes=n),
            "recipient": "anna@example.nl",
            "content_hash": f"sha256:{n}",
            "ruleset_version": "v1",
            "template": "reminder-1",
            "locale": "nl_NL",
            "tone": "u",
            "experiment": None,
            "variant": None,
            "trace": [{"rule": "dispatch", "note": "it's “quoted” — € 5", "n": n}],
            "status_history": [{"status": "sending", "at": at.isoformat()}],
        }
        for n in (1, 2)
    ]
    with store.begin() as conn:
        records.insert_rows(conn, M, rows)
    with store.connect() as conn:
        back = [dict(r._mapping) for r in conn.execute(select(M).order_by(M.c.id))]
    assert back == [{**row, "created_at": at.astimezone(dt.UTC)} | _utc(row) for row in rows]


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    return {"sending_until": row["sending_until"].astimezone(dt.UTC)}


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_rows_naming_different_columns_are_refused(store: Engine) -> None:
    """Rows inserted together on PostgreSQL (one statement) must name the same columns: the
    error says so."""
    with store.begin() as conn, pytest.raises(ValueError, match="different columns"):
        records.insert_rows(conn, M, [{"id": "a", "channel": "email"}, {"id": "b"}])


def test_a_debtor_with_two_steps_in_one_chunk_counts_the_higher_and_is_at_the_last(
    store: Engine, tmp_path: Path
) -> None:
    """Steps 3 and then 2 of one debtor recorded together: steps_sent is 3, current_step 2,
    as when they were recorded one after the other; other debtors move on their own."""
    for cid in ("C-1", "C-2"):
        debtor(store, tmp_path, cid=cid)
    World(store, tmp_path, Clock(NOW)).plan()
    with store.begin() as conn:
        lifecycle.steps_sent(conn, [("C-1", 3, False), ("C-1", 2, False), ("C-2", 1, False)], NOW)
    with store.connect() as conn:
        journeys = {
            r.customer_id: (r.steps_sent, r.current_step)
            for r in conn.execute(select(J.c.customer_id, J.c.steps_sent, J.c.current_step))
        }
    assert journeys == {"C-1": (3, 2), "C-2": (1, 1)}
