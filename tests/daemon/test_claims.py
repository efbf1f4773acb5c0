"""Claims and leases on due steps (`engine.daemon.claims`), statement by statement.

The daemon tests show claims at work in whole ticks; these pin each statement's conditions: which
steps a claim takes, in which order, what a lease sweep settles and how, and that a step is only
ever renewed or given back by the daemon holding it. Each runs on SQLite and PostgreSQL (the
statements are the same; PostgreSQL adds the row locks).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert, select, update

from engine.daemon import claims
from engine.store import tables as t

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
M = t.Message.__table__  # type: ignore[attr-defined]
C = t.Customer.__table__  # type: ignore[attr-defined]

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=5)
ME, OTHER = "daemon-me", "daemon-other"


class _Steps:
    """Adds steps of one customer, each its own journey step."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0
        with engine.begin() as conn:
            conn.execute(insert(C).values(id="C-1", kind="consumer", country="NL", created_at=NOW))

    def add(
        self,
        send_at: dt.datetime,
        status: str = "scheduled",
        claimed_by: str | None = None,
        claimed_until: dt.datetime | None = None,
    ) -> int:
        self.count += 1
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    insert(S)
                    .values(
                        customer_id="C-1",
                        journey="p",
                        step=self.count,
                        steps=9,
                        ruleset_version="sha256:test",
                        action="send",
                        channel="email",
                        send_at=send_at,
                        status=status,
                        claimed_by=claimed_by,
                        claimed_until=claimed_until,
                        created_at=NOW - dt.timedelta(days=1),
                        updated_at=NOW - dt.timedelta(days=1),
                    )
                    .returning(S.c.id)
                ).scalar_one()
            )

    def message(self, step_id: int, status: str, sending_until: dt.datetime | None) -> str:
        key = f"pj-{step_id}-email"
        with self.engine.begin() as conn:
            conn.execute(
                insert(M).values(
                    id=key,
                    customer_id="C-1",
                    scheduled_step_id=step_id,
                    channel="email",
                    status=status,
                    sending_until=sending_until,
                    created_at=NOW - dt.timedelta(hours=1),
                )
            )
        return key

    def row(self, step_id: int) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(S).where(S.c.id == step_id)).one()

    def message_row(self, key: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(M).where(M.c.id == key)).one()


@pytest.fixture
def steps(store: Engine) -> _Steps:
    return _Steps(store)


def claim(engine: Engine, *, horizon: dt.datetime = NOW, limit: int = 10) -> list[Any]:
    with engine.begin() as conn:
        return list(
            claims.claim_due(conn, daemon_id=ME, now=NOW, horizon=horizon, lease=LEASE, limit=limit)
        )


# ------------------------------------------------------------------ claim_due


def test_a_claim_takes_scheduled_and_fallback_steps_due_by_the_horizon_inclusive(
    steps: _Steps,
) -> None:
    """Due at the horizon counts; a minute after does not; other statuses are never taken."""
    at_horizon = steps.add(NOW)
    fallback = steps.add(NOW - dt.timedelta(hours=1), status="fallback")
    steps.add(NOW + dt.timedelta(minutes=1))
    for status in ("claimed", "sent", "cancelled", "unknown"):
        steps.add(NOW - dt.timedelta(hours=2), status=status, claimed_by=OTHER)
    taken = claim(steps.engine)
    assert [r.id for r in taken] == [fallback, at_horizon]


def test_a_claim_marks_each_step_with_the_daemon_its_lease_and_the_time(steps: _Steps) -> None:
    """The rows come back as they now are: claimed by us until now + lease, updated now."""
    step_id = steps.add(NOW - dt.timedelta(minutes=3))
    (row,) = claim(steps.engine)
    stored = steps.row(step_id)
    for seen in (row, stored):
        assert (seen.status, seen.claimed_by) == ("claimed", ME)
        assert (seen.claimed_until, seen.updated_at) == (NOW + LEASE, NOW)
    assert row._asdict() == stored._asdict()  # every column comes back, not only the id


def test_a_claim_takes_the_oldest_first_up_to_its_limit_and_returns_them_in_order(
    steps: _Steps,
) -> None:
    """Limit 3 of 5 due: the three oldest (same time: lower id first), oldest first."""
    late = steps.add(NOW - dt.timedelta(minutes=1))
    first = steps.add(NOW - dt.timedelta(hours=3))
    tie_a = steps.add(NOW - dt.timedelta(hours=2))
    tie_b = steps.add(NOW - dt.timedelta(hours=2))
    last = steps.add(NOW - dt.timedelta(minutes=30))
    assert [r.id for r in claim(steps.engine, limit=3)] == [first, tie_a, tie_b]
    assert [steps.row(i).status for i in (late, last)] == ["scheduled", "scheduled"]
    assert [r.id for r in claim(steps.engine, limit=3)] == [last, late]


@pytest.mark.mutation_postgres  # SQLite happens to read ties in id order anyway
def test_steps_due_at_the_same_moment_are_claimed_in_id_order_whatever_their_status(
    steps: _Steps,
) -> None:
    """A fallback step and a scheduled one due at the same second: the older row goes first,
    even when it was written to last (PostgreSQL then stores it after the other)."""
    moment = NOW - dt.timedelta(hours=1)
    fallback = steps.add(moment, status="fallback")
    scheduled = steps.add(moment)
    with steps.engine.begin() as conn:
        conn.execute(update(S).where(S.c.id == fallback).values(updated_at=NOW))
    assert [r.id for r in claim(steps.engine, limit=1)] == [fallback]
    assert [r.id for r in claim(steps.engine, limit=1)] == [scheduled]


def test_nothing_due_claims_nothing(steps: _Steps) -> None:
    steps.add(NOW + dt.timedelta(hours=1))
    assert claim(steps.engine) == []


class _TakenInBetween:
    """A connection on which another daemon claims `step_id` right after our first read."""

    def __init__(self, conn: Connection, step_id: int) -> None:
        self.conn, self.step_id, self.reads = conn, step_id, 0
        self.dialect = conn.dialect

    def execute(self, statement: Any, *args: Any) -> Any:
        result = self.conn.execute(statement, *args)
        self.reads += 1
        if self.reads != 1:
            return result
        rows = result.all()
        self.conn.execute(
            update(S)
            .where(S.c.id == self.step_id)
            .values(status="claimed", claimed_by=OTHER, claimed_until=NOW + LEASE)
        )
        return rows


def test_a_step_another_daemon_claimed_after_our_read_is_not_taken_over(steps: _Steps) -> None:
    """The claim's update repeats the status condition: a step claimed between our read and our
    update stays with the daemon that got it."""
    ours = steps.add(NOW - dt.timedelta(hours=2))
    theirs = steps.add(NOW - dt.timedelta(hours=1))
    with steps.engine.begin() as conn:
        racing: Any = _TakenInBetween(conn, theirs)
        taken = claims.claim_due(racing, daemon_id=ME, now=NOW, horizon=NOW, lease=LEASE, limit=9)
    assert [r.id for r in taken] == [ours]
    assert (steps.row(theirs).status, steps.row(theirs).claimed_by) == ("claimed", OTHER)


POSTGRESQL = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.mark.postgres
@pytest.mark.mutation_postgres
@POSTGRESQL
def test_on_postgresql_daemons_claim_side_by_side_without_waiting(steps: _Steps) -> None:
    """While one daemon's claim is still open (its rows locked), another claims the other due
    steps at once: it neither waits for those rows nor takes them."""
    first = steps.add(NOW - dt.timedelta(hours=2))
    second = steps.add(NOW - dt.timedelta(hours=1))
    with steps.engine.connect() as one, steps.engine.connect() as two:
        one.begin()
        taken = claims.claim_due(one, daemon_id=ME, now=NOW, horizon=NOW, lease=LEASE, limit=1)
        assert [r.id for r in taken] == [first]
        two.exec_driver_sql("SET lock_timeout = '5s'")  # the wait a blocking claim would hit
        theirs = claims.claim_due(two, daemon_id=OTHER, now=NOW, horizon=NOW, lease=LEASE, limit=9)
        assert [r.id for r in theirs] == [second]
        two.commit()
        one.commit()


@pytest.mark.postgres
@pytest.mark.mutation_postgres
@POSTGRESQL
def test_on_postgresql_a_lease_sweep_skips_a_claim_being_settled_elsewhere(steps: _Steps) -> None:
    """A stale claim whose row another transaction holds (its daemon settling it, or another
    sweep) is left to that one: the sweep neither waits nor touches it."""
    stale = steps.add(NOW - dt.timedelta(hours=1), "claimed", OTHER, NOW - dt.timedelta(minutes=1))
    with steps.engine.connect() as one, steps.engine.connect() as two:
        one.begin()
        one.execute(select(S.c.id).where(S.c.id == stale).with_for_update())
        two.exec_driver_sql("SET lock_timeout = '5s'")
        assert claims.expire_leases(two, now=NOW) == claims.Expired(retaken=0, unknown=0)
        two.commit()
        one.rollback()
    assert steps.row(stale).status == "claimed"


# ------------------------------------------------------------------ expire_leases


def test_a_lease_sweep_retakes_claims_that_ran_out_before_any_send(steps: _Steps) -> None:
    """Ran out (strictly before now): scheduled again, unclaimed, updated now. A lease ending
    exactly now, or later, is still its daemon's."""
    ran_out = steps.add(
        NOW - dt.timedelta(hours=1), "claimed", OTHER, NOW - dt.timedelta(seconds=1)
    )
    ends_now = steps.add(NOW - dt.timedelta(hours=1), "claimed", OTHER, NOW)
    running = steps.add(NOW - dt.timedelta(hours=1), "claimed", OTHER, NOW + LEASE)
    with steps.engine.begin() as conn:
        expired = claims.expire_leases(conn, now=NOW)
    assert expired == claims.Expired(retaken=1, unknown=0)
    row = steps.row(ran_out)
    assert (row.status, row.claimed_by, row.claimed_until, row.updated_at) == (
        "scheduled",
        None,
        None,
        NOW,
    )
    for kept, until in ((ends_now, NOW), (running, NOW + LEASE)):
        row = steps.row(kept)
        assert (row.status, row.claimed_by, row.claimed_until) == ("claimed", OTHER, until)


def test_a_lease_that_ran_out_mid_send_makes_step_and_message_unknown(steps: _Steps) -> None:
    """A message left `sending` past its lease may or may not have left: it and its step become
    `unknown` (the step keeps who claimed it), never scheduled again; a clean claim beside it
    is retaken."""
    gone = NOW - dt.timedelta(minutes=1)
    mid_send = steps.add(NOW - dt.timedelta(hours=1), "claimed", OTHER, gone)
    clean = steps.add(NOW - dt.timedelta(hours=1), "claimed", OTHER, gone)
    key = steps.message(mid_send, "sending", gone)
    with steps.engine.begin() as conn:
        expired = claims.expire_leases(conn, now=NOW)
    assert expired == claims.Expired(retaken=1, unknown=1)
    row = steps.row(mid_send)
    assert (row.status, row.claimed_by, row.claimed_until, row.updated_at) == (
        "unknown",
        OTHER,
        None,
        NOW,
    )
    assert row.last_error == "lease ran out while sending: settle with `payjourney reconcile`"
    message = steps.message_row(key)
    assert message.status == "unknown"
    assert message.last_error == "the sending daemon's lease ran out mid-send"
    assert steps.row(clean).status == "scheduled"


def test_a_step_whose_message_is_already_unknown_stays_unknown(steps: _Steps) -> None:
    """An earlier sweep (or a person) marked the message unknown: its step is not resent."""
    gone = NOW - dt.timedelta(minutes=1)
    step_id = steps.add(NOW - dt.timedelta(hours=1), "claimed", OTHER, gone)
    steps.message(step_id, "unknown", None)
    with steps.engine.begin() as conn:
        assert claims.expire_leases(conn, now=NOW) == claims.Expired(retaken=0, unknown=1)
    assert steps.row(step_id).status == "unknown"


def test_a_message_still_inside_its_sending_lease_is_left_sending(steps: _Steps) -> None:
    """Sending until now or later: the daemon may still hear the provider's answer; and a message
    past its time that is no longer `sending` keeps its status."""
    running = steps.add(NOW - dt.timedelta(hours=1), "claimed", OTHER, NOW + LEASE)
    sending = steps.message(running, "sending", NOW)
    done = steps.add(NOW - dt.timedelta(hours=1), "sent", OTHER, None)
    sent = steps.message(done, "sent", NOW - dt.timedelta(hours=1))
    stale = steps.add(NOW - dt.timedelta(hours=1), "claimed", OTHER, NOW - dt.timedelta(minutes=1))
    with steps.engine.begin() as conn:
        assert claims.expire_leases(conn, now=NOW) == claims.Expired(retaken=1, unknown=0)
    assert steps.message_row(sending).status == "sending"
    assert steps.message_row(sent).status == "sent"
    assert steps.row(running).status == "claimed"
    assert steps.row(stale).status == "scheduled"


def test_a_step_whose_message_is_still_sending_is_never_retaken(steps: _Steps) -> None:
    """The step's lease ran out but its message's has not: the provider call may be under way,
    so the step becomes `unknown`, never scheduled again (which would send it twice)."""
    step_id = steps.add(
        NOW - dt.timedelta(hours=1), "claimed", OTHER, NOW - dt.timedelta(minutes=1)
    )
    key = steps.message(step_id, "sending", NOW + LEASE)
    with steps.engine.begin() as conn:
        assert claims.expire_leases(conn, now=NOW) == claims.Expired(retaken=0, unknown=1)
    assert (steps.row(step_id).status, steps.message_row(key).status) == ("unknown", "sending")


def test_a_step_whose_earlier_channel_failed_is_retaken(steps: _Steps) -> None:
    """A fallback step claimed again: its first channel's message failed (or was sent), the
    lease ran out before the next message was written: nothing is in doubt, it is retaken."""
    for status in ("failed", "sent", "delivered"):
        step_id = steps.add(
            NOW - dt.timedelta(hours=1), "claimed", OTHER, NOW - dt.timedelta(minutes=1)
        )
        steps.message(step_id, status, None)
        with steps.engine.begin() as conn:
            assert claims.expire_leases(conn, now=NOW) == claims.Expired(retaken=1, unknown=0)
        assert steps.row(step_id).status == "scheduled", status


def test_a_lease_sweep_touches_only_claimed_steps(steps: _Steps) -> None:
    """A step in another status with an old `claimed_until` (sent, unknown) is not settled."""
    old = NOW - dt.timedelta(hours=1)
    sent = steps.add(old, "sent", OTHER, old)
    unknown = steps.add(old, "unknown", OTHER, old)
    steps.message(sent, "unknown", None)  # an earlier channel's message, settled by a person
    with steps.engine.begin() as conn:
        assert claims.expire_leases(conn, now=NOW) == claims.Expired(retaken=0, unknown=0)
    assert (steps.row(sent).status, steps.row(unknown).status) == ("sent", "unknown")


# ------------------------------------------------------------------ renew, renew_many, release


def test_renewing_extends_only_our_own_claim(steps: _Steps) -> None:
    """Our claim runs until now + lease again; another daemon's, or a step not claimed, is not
    ours: False and unchanged."""
    old = NOW - dt.timedelta(hours=1)
    mine = steps.add(old, "claimed", ME, NOW + dt.timedelta(minutes=1))
    theirs = steps.add(old, "claimed", OTHER, NOW + dt.timedelta(minutes=1))
    given_back = steps.add(old, "scheduled", ME, None)
    with steps.engine.begin() as conn:
        answers = [
            claims.renew(conn, step_id=i, daemon_id=ME, now=NOW, lease=LEASE)
            for i in (mine, theirs, given_back, 999_999)
        ]
    assert answers == [True, False, False, False]
    row = steps.row(mine)
    assert (row.claimed_until, row.updated_at) == (NOW + LEASE, NOW)
    assert steps.row(theirs).claimed_until == NOW + dt.timedelta(minutes=1)
    assert steps.row(given_back).claimed_until is None


def test_renewing_many_returns_the_steps_still_ours_and_extends_only_those(steps: _Steps) -> None:
    old = NOW - dt.timedelta(hours=1)
    mine = [steps.add(old, "claimed", ME, old) for _ in range(2)]
    theirs = steps.add(old, "claimed", OTHER, old)
    retaken = steps.add(old, "scheduled", None, None)
    sent = steps.add(old, "sent", ME, None)  # ours once, sent since
    other_mine = steps.add(old, "claimed", ME, old)  # ours, not asked about
    with steps.engine.begin() as conn:
        still = claims.renew_many(
            conn, step_ids=[*mine, theirs, retaken, sent], daemon_id=ME, now=NOW, lease=LEASE
        )
        assert claims.renew_many(conn, step_ids=[], daemon_id=ME, now=NOW, lease=LEASE) == set()
    assert still == set(mine)
    assert [(steps.row(i).claimed_until, steps.row(i).updated_at) for i in mine] == [
        (NOW + LEASE, NOW)
    ] * 2
    assert steps.row(theirs).claimed_until == old
    assert (steps.row(retaken).status, steps.row(retaken).claimed_until) == ("scheduled", None)
    assert (steps.row(sent).status, steps.row(sent).claimed_until) == ("sent", None)
    assert steps.row(other_mine).claimed_until == old


def test_releasing_gives_back_only_our_claims_untouched(steps: _Steps) -> None:
    """At a clean shutdown our claims become scheduled again, unclaimed, updated now; another
    daemon's claim and a step already sent stay as they are."""
    old = NOW - dt.timedelta(hours=1)
    mine = [steps.add(old, "claimed", ME, NOW + LEASE) for _ in range(2)]
    theirs = steps.add(old, "claimed", OTHER, NOW + LEASE)
    sent = steps.add(old, "sent", ME, NOW + LEASE)
    kept = steps.add(old, "claimed", ME, NOW + LEASE)  # ours, but not given back
    with steps.engine.begin() as conn:
        released = claims.release(conn, step_ids=[*mine, theirs, sent], daemon_id=ME, now=NOW)
        assert claims.release(conn, step_ids=[], daemon_id=ME, now=NOW) == 0
    assert released == 2
    for step_id in mine:
        row = steps.row(step_id)
        assert (row.status, row.claimed_by, row.claimed_until, row.updated_at) == (
            "scheduled",
            None,
            None,
            NOW,
        )
    assert (steps.row(theirs).status, steps.row(theirs).claimed_by) == ("claimed", OTHER)
    assert (steps.row(sent).status, steps.row(sent).claimed_by) == ("sent", ME)
    assert (steps.row(kept).status, steps.row(kept).claimed_by) == ("claimed", ME)
