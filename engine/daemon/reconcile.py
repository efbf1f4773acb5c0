"""The outbox for people: list messages, and settle the ones whose send is `unknown`.

A message is `unknown` when its daemon died (or hung past its lease) after committing the outbox
row and before hearing the provider's answer. Nobody may resend it blindly: a person checks with
the provider (the message id is the SMTP Message-ID / provider reference) and says which it was.
`--sent` records it as sent and the journey moves on; `--not-sent` puts the step back on the
schedule, re-decided at dispatch and sent with the same idempotency key.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select, update

from engine.daemon import lifecycle
from engine.errors import PayjourneyError
from engine.store import tables as t

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
M = t.Message.__table__  # type: ignore[attr-defined]


class ReconcileError(PayjourneyError):
    """A message that cannot be reconciled (unknown id, or not `unknown`)."""


def list_messages(
    engine: Engine, *, status: str | None, customer_id: str | None, limit: int = 100
) -> list[dict[str, Any]]:
    """Messages, newest first, filtered by status and customer (no message text: ids and facts)."""
    query = (
        select(
            M.c.id,
            M.c.customer_id,
            M.c.scheduled_step_id,
            M.c.journey,
            M.c.step,
            M.c.channel,
            M.c.template,
            M.c.status,
            M.c.attempts,
            M.c.ruleset_version,
            M.c.provider_message_id,
            M.c.created_at,
            M.c.sent_at,
            M.c.last_error,
        )
        .order_by(M.c.created_at.desc(), M.c.id)
        .limit(limit)
    )
    if status:
        query = query.where(M.c.status == status)
    if customer_id:
        query = query.where(M.c.customer_id == customer_id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def reconcile(engine: Engine, message_id: str, *, sent: bool, now: dt.datetime) -> str:
    """Settle an `unknown` message; returns what was done, in a sentence."""
    with engine.begin() as conn:
        row = conn.execute(select(M).where(M.c.id == message_id).with_for_update()).first()
        if row is None:
            raise ReconcileError(
                f"no message {message_id!r}; list them with `payjourney messages --status unknown`"
            )
        if row.status != "unknown":
            raise ReconcileError(
                f"message {message_id} is {row.status!r}; only `unknown` messages are reconciled"
            )
        history = [
            *(row.status_history or []),
            {"status": "reconciled", "at": now.isoformat(), "as": "sent" if sent else "not_sent"},
        ]
        step = None
        if row.scheduled_step_id is not None:
            step = conn.execute(select(S).where(S.c.id == row.scheduled_step_id)).first()
        if sent:
            conn.execute(
                update(M)
                .where(M.c.id == message_id)
                .values(
                    status="sent",
                    sent_at=now,
                    status_history=history,
                    last_error="reconciled by a person: sent",
                )
            )
            if step is not None:
                conn.execute(
                    update(S)
                    .where(S.c.id == step.id)
                    .values(
                        status="sent",
                        claimed_until=None,
                        updated_at=now,
                        last_error="reconciled: sent",
                    )
                )
                lifecycle.step_sent(
                    conn, step.customer_id, step.step, now, handoff=step.action == "handoff"
                )
            return f"{message_id}: recorded as sent"
        conn.execute(
            update(M)
            .where(M.c.id == message_id)
            .values(
                status="not_sent",
                status_history=history,
                last_error="reconciled by a person: not sent",
            )
        )
        if step is not None and step.status == "unknown":
            conn.execute(
                update(S)
                .where(S.c.id == step.id)
                .values(
                    status="scheduled",
                    send_at=now,
                    claimed_by=None,
                    claimed_until=None,
                    updated_at=now,
                    last_error="reconciled: not sent; re-decided at dispatch",
                )
            )
            return f"{message_id}: not sent; its step is scheduled again (re-decided first)"
        return f"{message_id}: recorded as not sent"
