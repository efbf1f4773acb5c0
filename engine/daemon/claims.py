"""Claims on due steps: taken in batches with a lease, taken over when the lease runs out.

On PostgreSQL `SELECT ... FOR UPDATE SKIP LOCKED` lets several daemons claim side by side
without waiting for each other or taking the same row. On SQLite exactly one daemon runs
(`engine.daemon.lock`), so the same statements without the row locks are enough.

A lease that ran out while its message was `sending` means the daemon died (or hung) between
committing the outbox row and hearing the provider's answer: nobody knows whether the message
left. That step and message become `unknown`, are never resent blindly, and wait for a person
(`payjourney messages --status unknown`, `payjourney reconcile`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, exists, select, update

from engine.daemon import records
from engine.store import tables as t

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
M = t.Message.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True, kw_only=True)
class Expired:
    """What a lease sweep did."""

    retaken: int  # steps whose daemon never reached the provider: scheduled again
    unknown: int  # steps (and their messages) whose send may or may not have happened


def claim_due(
    conn: Connection,
    *,
    daemon_id: str,
    now: dt.datetime,
    horizon: dt.datetime,
    lease: dt.timedelta,
    limit: int,
) -> Sequence[Row[Any]]:
    """Claim up to `limit` scheduled steps due by `horizon`, oldest first, for `lease`."""
    due = (
        select(S.c.id)
        .where(S.c.status.in_(("scheduled", "fallback")), S.c.send_at <= horizon)
        .order_by(S.c.send_at, S.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = [row.id for row in conn.execute(due)]
    if not ids:
        return []
    claimed = conn.execute(
        update(S)
        .where(records.among(conn, S.c.id, ids), S.c.status.in_(("scheduled", "fallback")))
        .values(status="claimed", claimed_by=daemon_id, claimed_until=now + lease, updated_at=now)
        .returning(*S.c)
    ).all()
    return sorted(claimed, key=lambda r: (r.send_at, r.id))


def expire_leases(conn: Connection, *, now: dt.datetime) -> Expired:
    """Settle claims whose lease ran out: retake the untouched ones, mark the rest `unknown`."""
    stale = [
        row.id
        for row in conn.execute(
            select(S.c.id)
            .where(S.c.status == "claimed", S.c.claimed_until < now)
            .with_for_update(skip_locked=True)
        )
    ]
    # an outbox row left `sending` past its lease: the provider may or may not have it
    lost = M.c.status == "sending"
    conn.execute(
        update(M)
        .where(lost, M.c.sending_until < now)
        .values(status="unknown", last_error="the sending daemon's lease ran out mid-send")
    )
    unknown = 0
    retaken = 0
    if stale:
        was_sending = exists().where(
            M.c.scheduled_step_id == S.c.id, M.c.status.in_(("sending", "unknown"))
        )
        unknown = conn.execute(
            update(S)
            .where(S.c.id.in_(stale), was_sending)
            .values(
                status="unknown",
                claimed_until=None,
                last_error="lease ran out while sending: settle with `payjourney reconcile`",
                updated_at=now,
            )
        ).rowcount
        retaken = conn.execute(
            update(S)
            .where(S.c.id.in_(stale), S.c.status == "claimed")
            .values(status="scheduled", claimed_by=None, claimed_until=None, updated_at=now)
        ).rowcount
    return Expired(retaken=retaken, unknown=unknown)


def renew(
    conn: Connection, *, step_id: int, daemon_id: str, now: dt.datetime, lease: dt.timedelta
) -> bool:
    """Extend our claim on a step right before the provider call; False when it is not ours."""
    result = conn.execute(
        update(S)
        .where(S.c.id == step_id, S.c.claimed_by == daemon_id, S.c.status == "claimed")
        .values(claimed_until=now + lease, updated_at=now)
    )
    return result.rowcount == 1


def renew_many(
    conn: Connection,
    *,
    step_ids: Sequence[int],
    daemon_id: str,
    now: dt.datetime,
    lease: dt.timedelta,
) -> set[int]:
    """`renew` for a chunk of steps in one statement; returns the ids still ours."""
    if not step_ids:
        return set()
    rows = conn.execute(
        update(S)
        .where(
            records.among(conn, S.c.id, step_ids),
            S.c.claimed_by == daemon_id,
            S.c.status == "claimed",
        )
        .values(claimed_until=now + lease, updated_at=now)
        .returning(S.c.id)
    )
    return {row.id for row in rows}


def release(conn: Connection, *, step_ids: Sequence[int], daemon_id: str, now: dt.datetime) -> int:
    """Give claimed steps back untouched (clean shutdown): another daemon may send them now."""
    if not step_ids:
        return 0
    return conn.execute(
        update(S)
        .where(
            records.among(conn, S.c.id, step_ids),
            S.c.claimed_by == daemon_id,
            S.c.status == "claimed",
        )
        .values(status="scheduled", claimed_by=None, claimed_until=None, updated_at=now)
    ).rowcount
