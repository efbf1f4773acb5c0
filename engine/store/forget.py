"""`payjourney forget`: GDPR erasure of a debtor's personal data.

Personal data goes: the payer contacts, names, addresses, numbers, free text, event payloads, the
recipient of each message. Financial and audit records stay (bookkeeping law keeps invoices and
payments 7 years in NL, 10 in DE) under a random pseudonym that nothing in the store links back
to the old id: amounts, dates, channels, templates, content hashes, ruleset versions, traces
without personal values.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from engine.store import tables as t
from engine.store.errors import CustomerNotFound

C = t.Customer.__table__  # type: ignore[attr-defined]
#: Facts in a trace that identify a person; dropped from kept audit traces.
PERSONAL_FACTS = frozenset({"customer.id", "customer.name"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgetReport:
    """What `forget` did."""

    pseudonym: str
    contacts_deleted: int
    records_kept: dict[str, int]


def _scrub_trace(trace: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for entry in trace or []:
        if not isinstance(entry, dict):
            continue
        facts = entry.get("facts") or {}
        kept = {k: v for k, v in facts.items() if k not in PERSONAL_FACTS}
        entries.append({**entry, "facts": kept})
    return entries


def _rewrite_traces(conn: Connection, model: Any, customer_id: str) -> None:
    """Drop personal fact values from the kept traces of one (pseudonymised) customer."""
    table = model.__table__
    rows = conn.execute(select(table.c.id, table.c.trace).where(table.c.customer_id == customer_id))
    for row_id, trace in rows.all():
        conn.execute(update(table).where(table.c.id == row_id).values(trace=_scrub_trace(trace)))


def forget(engine: Engine, customer_id: str, *, now: dt.datetime | None = None) -> ForgetReport:
    """Erase the customer's personal data and pseudonymise what must be kept, in one transaction."""
    now = now or dt.datetime.now(dt.UTC)
    pseudonym = f"forgotten-{secrets.token_hex(8)}"
    with engine.begin() as conn:
        found = (
            conn.execute(select(C).where(C.c.id == customer_id, C.c.forgotten_at.is_(None)))
            .mappings()
            .first()
        )
        if found is None:
            raise CustomerNotFound(customer_id)
        conn.execute(
            insert(C).values(
                id=pseudonym,
                name=None,
                kind=found["kind"],
                country=found["country"],
                language=None,
                timezone=found["timezone"],
                employees=None,
                industry=None,
                credit_score=None,
                tags=[],
                created_at=found["created_at"],
                updated_at=now,
                forgotten_at=now,
            )
        )
        contact = t.Contact.__table__  # type: ignore[attr-defined]
        contacts = conn.execute(delete(contact).where(contact.c.customer_id == customer_id))
        links = t.DebtorLink.__table__  # type: ignore[attr-defined]
        conn.execute(delete(links).where(links.c.customer_id == customer_id))  # no page opens
        erase: dict[Any, dict[str, Any]] = {
            t.Invoice: {"description": None},
            t.Payment: {"payer_name": None, "payer_iban": None},
            t.PromiseToPay: {},
            t.Dispute: {"reason": None},
            t.Journey: {"state": "done", "updated_at": now},
            t.ScheduledStep: {},
            t.Message: {"recipient": None},
            t.Event: {"data": {}},
            t.ChannelBlock: {"reason": None},
            # the debtor's own page: their words and addresses go, the records stay
            t.Task: {"text": None, "data": {}, "note": None},
            t.PaymentPlan: {},
            t.ConsentRecord: {"address": None},
        }
        kept: dict[str, int] = {}
        for model, values in erase.items():
            table = model.__table__
            result = conn.execute(
                update(table)
                .where(table.c.customer_id == customer_id)
                .values(customer_id=pseudonym, **values)
            )
            kept[table.name] = result.rowcount
        # nothing more is ever sent to a forgotten debtor
        steps = t.ScheduledStep.__table__  # type: ignore[attr-defined]
        conn.execute(
            update(steps)
            .where(steps.c.customer_id == pseudonym, steps.c.status.in_(("scheduled", "claimed")))
            .values(status="cancelled", claimed_by=None, claimed_until=None, updated_at=now)
        )
        _rewrite_traces(conn, t.ScheduledStep, pseudonym)
        _rewrite_traces(conn, t.Message, pseudonym)
        conn.execute(delete(C).where(C.c.id == customer_id))
    return ForgetReport(pseudonym=pseudonym, contacts_deleted=contacts.rowcount, records_kept=kept)
