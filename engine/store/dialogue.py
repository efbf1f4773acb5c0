"""The store side of the debtor's own page: personal links, tasks, payment plans, consent.

A personal link's token is 256 random bits shown once (in the message) and kept only as its
SHA-256; looking one up compares hashes, so the database never holds a usable token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert, or_, select, update

from engine.store import tables as t

L = t.DebtorLink.__table__  # type: ignore[attr-defined]
T = t.Task.__table__  # type: ignore[attr-defined]
P = t.PaymentPlan.__table__  # type: ignore[attr-defined]
K = t.ConsentRecord.__table__  # type: ignore[attr-defined]
C = t.Contact.__table__  # type: ignore[attr-defined]
M = t.Message.__table__  # type: ignore[attr-defined]
E = t.Event.__table__  # type: ignore[attr-defined]

#: How long a personal link works after the message that carried it.
LINK_TTL = dt.timedelta(days=60)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(
    conn: Connection,
    *,
    customer_id: str,
    journey: str,
    now: dt.datetime,
    ttl: dt.timedelta = LINK_TTL,
    message_id: str | None = None,
) -> str:
    """A fresh token for the debtor and journey; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        insert(L).values(
            customer_id=customer_id,
            journey=journey,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=now + ttl,
            message_id=message_id,
        )
    )
    return token


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    customer_id: str
    journey: str
    expires_at: dt.datetime


def find_link(engine: Engine, token: str, now: dt.datetime) -> Link | None:
    """The debtor a live token belongs to; None for a forged, expired or revoked one (the same
    answer for all three, so a guess learns nothing)."""
    if not token or len(token) > 128:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(L.c.customer_id, L.c.journey, L.c.expires_at).where(
                L.c.token_hash == token_digest(token),
                L.c.revoked_at.is_(None),
                L.c.expires_at > now,
            )
        ).first()
    if row is None:
        return None
    return Link(customer_id=row.customer_id, journey=row.journey, expires_at=row.expires_at)


def revoke_links(engine: Engine, customer_id: str, now: dt.datetime) -> int:
    """Every live link of the debtor stops working."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                update(L)
                .where(L.c.customer_id == customer_id, L.c.revoked_at.is_(None))
                .values(revoked_at=now)
            ).rowcount
        )


# ------------------------------------------------------------------ tasks


def add_task(
    conn: Connection,
    *,
    customer_id: str,
    kind: str,
    now: dt.datetime,
    text: str | None = None,
    channel: str | None = None,
    message_id: str | None = None,
    event_id: str | None = None,
    plan_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> int | None:
    """A task for the credit team; once per event id (None when that event made one already)."""
    if kind not in t.TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r}; expected one of {t.TASK_KINDS}")
    if event_id is not None:
        known = conn.execute(select(T.c.id).where(T.c.event_id == event_id)).first()
        if known is not None:
            return None
    found = conn.execute(
        insert(T).values(
            customer_id=customer_id,
            kind=kind,
            status="open",
            text=text,
            channel=channel,
            message_id=message_id,
            event_id=event_id,
            plan_id=plan_id,
            data=data or {},
            created_at=now,
        )
    )
    key = found.inserted_primary_key
    return int(key[0]) if key else None


def tasks(
    engine: Engine, *, status: str | None = "open", customer_id: str | None = None
) -> list[dict[str, Any]]:
    """Tasks, oldest first."""
    query = select(T).order_by(T.c.created_at, T.c.id)
    if status is not None:
        query = query.where(T.c.status == status)
    if customer_id is not None:
        query = query.where(T.c.customer_id == customer_id)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def task(engine: Engine, task_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(T).where(T.c.id == task_id)).mappings().first()
    return dict(row) if row else None


def close_task(
    conn: Connection, task_id: int, *, now: dt.datetime, by: str, note: str | None = None
) -> bool:
    """Close an open task; False when it is not open (closed already, or unknown)."""
    return bool(
        conn.execute(
            update(T)
            .where(T.c.id == task_id, T.c.status == "open")
            .values(status="closed", closed_at=now, closed_by=by, note=note)
        ).rowcount
    )


def history(engine: Engine, customer_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The debtor's latest messages and events, newest first: what a person reads beside a task."""
    with engine.connect() as conn:
        messages = conn.execute(
            select(M.c.id, M.c.channel, M.c.template, M.c.status, M.c.sent_at, M.c.created_at)
            .where(M.c.customer_id == customer_id)
            .order_by(M.c.created_at.desc())
            .limit(limit)
        ).all()
        events = conn.execute(
            select(E.c.id, E.c.kind, E.c.channel, E.c.occurred_at, E.c.data)
            .where(E.c.customer_id == customer_id)
            .order_by(E.c.occurred_at.desc())
            .limit(limit)
        ).all()
    rows: list[dict[str, Any]] = [
        {
            "at": _aware(m.sent_at or m.created_at),
            "what": "message",
            "detail": f"{m.template} by {m.channel} ({m.status})",
        }
        for m in messages
    ]
    rows += [
        {
            "at": _aware(e.occurred_at),
            "what": e.kind,
            "detail": ", ".join(
                f"{k}={v}" for k, v in sorted((e.data or {}).items()) if k != "text"
            ),
        }
        for e in events
    ]
    return sorted(rows, key=lambda r: r["at"], reverse=True)[:limit]


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# ------------------------------------------------------------------ payment plans


def add_plan(
    conn: Connection,
    *,
    plan_id: str,
    customer_id: str,
    status: str,
    total: Decimal,
    currency: str,
    instalments: Sequence[dict[str, Any]],
    now: dt.datetime,
    source: str = "page",
) -> None:
    conn.execute(
        insert(P).values(
            id=plan_id,
            customer_id=customer_id,
            status=status,
            total=total,
            currency=currency,
            instalments=list(instalments),
            current=0,
            source=source,
            created_at=now,
            updated_at=now,
        )
    )


def plan(conn: Connection, plan_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(P).where(P.c.id == plan_id)).mappings().first()
    return dict(row) if row else None


def plans(
    engine: Engine, *, customer_id: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    query = select(P).order_by(P.c.created_at)
    if customer_id is not None:
        query = query.where(P.c.customer_id == customer_id)
    if status is not None:
        query = query.where(P.c.status == status)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def set_plan(conn: Connection, plan_id: str, *, now: dt.datetime, **values: Any) -> None:
    conn.execute(update(P).where(P.c.id == plan_id).values(updated_at=now, **values))


# ------------------------------------------------------------------ consent


def record_consent(
    engine: Engine,
    *,
    customer_id: str,
    channel: str,
    address: str | None,
    now: dt.datetime,
    source: str,
) -> None:
    """The debtor prefers `channel` (at `address`, when given): the primary contact's preferred
    channel and consent change, and a consent record keeps when, how and what."""
    values: dict[str, Any] = {"preferred_channel": channel, "updated_at": now}
    if channel in ("email", "sms", "whatsapp"):
        values[f"consent_{channel}"] = True
    if address:
        values[{"email": "email", "sms": "phone", "whatsapp": "whatsapp"}.get(channel, "email")] = (
            address
        )
    with engine.begin() as conn:
        contact = conn.execute(
            select(C.c.id)
            .where(C.c.customer_id == customer_id)
            .order_by(C.c.is_primary.desc(), C.c.id)
            .limit(1)
        ).first()
        if contact is not None:
            conn.execute(update(C).where(C.c.id == contact.id).values(**values))
        else:
            conn.execute(
                insert(C).values(id=f"{customer_id}-page", customer_id=customer_id, **values)
            )
        conn.execute(
            insert(K).values(
                customer_id=customer_id,
                channel=channel,
                granted=True,
                preferred=True,
                address=address,
                source=source,
                recorded_at=now,
            )
        )


def open_plan(engine: Engine, customer_id: str) -> dict[str, Any] | None:
    """The debtor's plan in force or awaiting approval, if any."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(P)
                .where(
                    P.c.customer_id == customer_id,
                    or_(P.c.status == "active", P.c.status == "awaiting_approval"),
                )
                .order_by(P.c.created_at.desc())
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None
