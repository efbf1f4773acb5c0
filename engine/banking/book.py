"""Booking statements in the store: entries once, matched credits as payments, returns undone.

The store adapter around the pure matcher. `import_statements` reads every file first (a broken
entry anywhere: nothing is loaded), skips entries already imported (statement id + entry
reference), matches the new ones against the invoices still open, and writes entries, matches
and payment rows in one transaction. Then `settle` records a `paid` (or `reversed`) event per
entry and re-decides those debtors through the daemon's journey life cycle
(`engine.daemon.jobs.refresh_customers`), the very code a payment sent to `POST /v1/events` or
`payjourney record` takes: paid in full ends the journey, a partial payment re-plans it, a return
reopens it. Settling is idempotent, so a re-import also finishes what an interrupted import left
undone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, tuple_, update

from engine.banking.entry import StatementEntry
from engine.banking.errors import BrokenStatement, EntryProblem
from engine.banking.match import BookedCredit, Match, Matcher, OpenInvoice, link_return
from engine.banking.read import read_statement
from engine.daemon.jobs import refresh_customers
from engine.daemon.settings import PROMISE_GRACE
from engine.rules.compile import CompiledRules
from engine.store import tables as t
from engine.store.events import record_event
from engine.store.rows import EventRow, PaymentRow

E = t.BankEntry.__table__  # type: ignore[attr-defined]
BM = t.BankMatch.__table__  # type: ignore[attr-defined]
I = t.Invoice.__table__  # type: ignore[attr-defined]  # noqa: E741
P = t.Payment.__table__  # type: ignore[attr-defined]
C = t.Customer.__table__  # type: ignore[attr-defined]
S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
J = t.Journey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    """What an import did, per file and in total."""

    entries: int
    already_imported: int
    matched: Counter[str] = field(default_factory=Counter)  # per rule
    unmatched: int = 0
    returns: int = 0
    returns_unlinked: int = 0
    other_debits: int = 0
    steps_cancelled: int = 0
    journeys_done: int = 0


def entry_key(entry: StatementEntry) -> str:
    """A short stable id for ids derived from an entry (payments, events)."""
    raw = f"{entry.statement_id}\x00{entry.reference}".encode()
    return hashlib.sha256(raw).hexdigest()[:20]


def open_invoices(conn: Connection, customer_id: str | None = None) -> list[OpenInvoice]:
    """Every invoice of a known (not forgotten) customer with something left to pay (of one
    customer, when given)."""
    paid = (
        select(P.c.invoice_id, func.sum(P.c.amount).label("paid"))
        .where(P.c.invoice_id.is_not(None))
        .group_by(P.c.invoice_id)
        .subquery()
    )
    rows = conn.execute(
        select(I.c.id, I.c.customer_id, I.c.number, I.c.amount, I.c.currency, I.c.due_date,
               paid.c.paid)
        .select_from(I.outerjoin(paid, paid.c.invoice_id == I.c.id).join(C, C.c.id == I.c.customer_id))
        .where(C.c.forgotten_at.is_(None),
               *([I.c.customer_id == customer_id] if customer_id else []))
    )  # fmt: skip
    out = []
    for r in rows:
        left = r.amount - (r.paid or Decimal(0))
        if left > 0:
            out.append(
                OpenInvoice(
                    id=r.id,
                    customer_id=r.customer_id,
                    number=r.number,
                    open_amount=left,
                    currency=r.currency,
                    due_date=r.due_date,
                )
            )
    return out


def known_payers(conn: Connection) -> dict[str, set[str]]:
    """Payer IBAN -> the customers that paid from it before."""
    payers: dict[str, set[str]] = defaultdict(set)
    rows = conn.execute(
        select(P.c.payer_iban, P.c.customer_id).where(P.c.payer_iban.is_not(None)).distinct()
    )
    for iban, customer in rows:
        payers[str(iban).replace(" ", "").upper()].add(customer)
    return payers


def _read_all(paths: Sequence[Path]) -> list[tuple[Path, str, list[StatementEntry]]]:
    files: list[tuple[Path, str, list[StatementEntry]]] = []
    problems: list[EntryProblem] = []
    for path in paths:
        try:
            kind, entries = read_statement(path)
        except BrokenStatement as exc:
            problems.extend(exc.problems)
            continue
        except OSError as exc:
            problems.append(EntryProblem(path=str(path), position=0, problem=str(exc)))
            continue
        files.append((path, kind, entries))
    if problems:
        raise BrokenStatement(problems)
    return files


def _already(conn: Connection, entries: Sequence[StatementEntry]) -> set[tuple[str, str]]:
    keys = [(e.statement_id, e.reference) for e in entries]
    found: set[tuple[str, str]] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = conn.execute(
            select(E.c.statement_id, E.c.entry_reference).where(
                tuple_(E.c.statement_id, E.c.entry_reference).in_(chunk)
            )
        )
        found.update((a, b) for a, b in rows)
    return found


def _credits_for(conn: Connection, returns: Sequence[StatementEntry]) -> list[BookedCredit]:
    """Matched, not yet reversed credits a return of this import might undo."""
    erefs = {e.end_to_end_id for e in returns if e.end_to_end_id}
    ibans = {e.payer_iban for e in returns if e.payer_iban}
    if not erefs and not ibans:
        return []
    reversed_ids = select(E.c.reverses_id).where(E.c.reverses_id.is_not(None))
    rows = conn.execute(
        select(E.c.id, E.c.customer_id, E.c.amount, E.c.payer_iban, E.c.end_to_end_id).where(
            E.c.status == "matched",
            E.c.direction == "credit",
            E.c.id.not_in(reversed_ids),
            (E.c.end_to_end_id.in_(erefs) | E.c.payer_iban.in_(ibans)),
        )
    )
    return [
        BookedCredit(
            key=str(r.id),
            customer_id=r.customer_id,
            amount=r.amount,
            payer_iban=r.payer_iban,
            end_to_end_id=r.end_to_end_id,
        )
        for r in rows
    ]


def paid_at(entry: StatementEntry, zone: str, now: dt.datetime) -> dt.datetime:
    """When the money counts as paid: the slip's moment, else noon of the booking day in the
    customer's time zone, but never after the import (a statement of today read at 08:00 must
    count at once, or the 08:30 reminder would still go to a debtor who paid)."""
    at = entry.booked_at or dt.datetime.combine(entry.booked_on, dt.time(12), ZoneInfo(zone))
    return min(at, now)


def _entry_row(
    entry: StatementEntry, *, source: str, kind: str, now: dt.datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "statement_id": entry.statement_id,
        "entry_reference": entry.reference,
        "position": entry.position,
        "source": source,
        "format": kind,
        "account_iban": entry.account_iban,
        "booked_on": entry.booked_on,
        "amount": entry.amount,
        "currency": entry.currency,
        "direction": entry.direction,
        "payer_name": entry.payer_name,
        "payer_iban": entry.payer_iban,
        "remittance": entry.remittance or None,
        "creditor_reference": (entry.creditor_reference or None),
        "end_to_end_id": entry.end_to_end_id,
        "return_reason": entry.return_reason,
        "imported_at": now,
        "rule": None,
        "reason": None,
        "customer_id": None,
        "reverses_id": None,
        **extra,
    }


#: The payment method a booked entry becomes, by where it came from.
METHODS = {"camt053": "bank_transfer", "mt940": "bank_transfer", "barzahlen": "barzahlen"}


def payment_rows(match: Match, zone: str, kind: str, now: dt.datetime) -> list[dict[str, Any]]:
    entry = match.entry
    key = entry_key(entry)
    rows = []
    for k, part in enumerate(match.allocations, start=1):
        row = PaymentRow.model_validate(
            {
                "id": f"bank-{key}-{k}",
                "customer_id": match.customer_id,
                "invoice_id": part.invoice_id,
                "amount": part.amount,
                "currency": entry.currency,
                "paid_at": paid_at(entry, zone, now),
                "method": METHODS.get(kind, "bank_transfer"),
                "payer_name": entry.payer_name,
                "payer_iban": entry.payer_iban,
            }
        )
        rows.append(row.record_in(zone))
    return rows


def entry_event(
    entry: StatementEntry, customer_id: str, kind: str, data: dict[str, Any], at: dt.datetime
) -> EventRow:
    return EventRow.model_validate(
        {
            "id": f"bank-{entry_key(entry)}",
            "customer_id": customer_id,
            "kind": kind,
            "occurred_at": at,
            "invoice_id": data.get("invoice_id"),
            "data": {
                "amount": str(entry.amount),
                "currency": entry.currency,
                "statement_id": entry.statement_id,
                "entry_reference": entry.reference,
                # the payment rows are booked with the entry: the event must not add another
                "booked": True,
                **data,
            },
        }
    )


def match_rows(entry_id: int, match: Match, payments: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    return [
        {
            "entry_id": entry_id,
            "customer_id": match.customer_id,
            "invoice_id": part.invoice_id,
            "amount": part.amount,
            "payment_id": payment["id"],
            "rule": match.rule,
            "reason": match.reason,
        }
        for part, payment in zip(match.allocations, payments, strict=True)
    ]


def paid_event(match: Match, at: dt.datetime) -> EventRow:
    assert match.customer_id is not None
    invoices = [a.invoice_id for a in match.allocations if a.invoice_id]
    return entry_event(
        match.entry,
        match.customer_id,
        "paid",
        {
            "rule": match.rule,
            "reason": match.reason,
            "invoice_id": invoices[0] if len(invoices) == 1 else None,
            "invoices": invoices,
            "on_account": str(match.on_account),
        },
        at,
    )


def import_statements(
    engine: Engine,
    paths: Sequence[Path],
    *,
    rules: CompiledRules,
    now: dt.datetime | None = None,
    grace: dt.timedelta = PROMISE_GRACE,
) -> ImportReport:
    """Import statement files: see the module docstring. Raises BrokenStatement (nothing
    loaded) when any entry of any file is broken."""
    files = _read_all(paths)
    return book_entries(
        engine,
        [(path.name, kind, e) for path, kind, entries in files for e in entries],
        rules=rules,
        now=now,
        grace=grace,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Settled:
    """What settling did to the debtors: steps cancelled, journeys ended, each one's state."""

    steps_cancelled: int = 0
    journeys_done: int = 0
    states: dict[str, str | None] = field(default_factory=dict)


def settle(
    engine: Engine,
    events: Sequence[EventRow],
    *,
    rules: CompiledRules,
    now: dt.datetime,
    grace: dt.timedelta = PROMISE_GRACE,
) -> Settled:
    """Record each money event once (`record_event`: facts re-derived) and re-decide its debtor
    through the daemon's journey life cycle, `refresh_customers`: the one path every payment
    takes, from a statement, a slip, a person's assignment, `POST /v1/events` or `payjourney
    record`. Idempotent: the events are stored once by id, a re-decision changes nothing twice."""
    for event in events:
        record_event(engine, event, now=now)
    customers = sorted({e.customer_id for e in events})
    if not customers:
        return Settled()
    with engine.connect() as conn:
        pending = set(
            conn.execute(
                select(S.c.id).where(
                    S.c.customer_id.in_(customers), S.c.status.in_(("scheduled", "fallback"))
                )
            ).scalars()
        )
        done_before = set(
            conn.execute(
                select(J.c.customer_id).where(J.c.customer_id.in_(customers), J.c.state == "done")
            ).scalars()
        )
    states = refresh_customers(engine, rules, customers, now, grace=grace)
    cancelled = 0
    if pending:
        with engine.connect() as conn:
            cancelled = len(
                conn.execute(
                    select(S.c.id).where(S.c.id.in_(pending), S.c.status == "cancelled")
                ).all()
            )
    done = sum(1 for c in customers if states.get(c) == "done" and c not in done_before)
    return Settled(steps_cancelled=cancelled, journeys_done=done, states=states)


def stored_entry(row: Any) -> StatementEntry:
    return StatementEntry(
        statement_id=row.statement_id,
        reference=row.entry_reference,
        position=row.position,
        account_iban=row.account_iban,
        booked_on=row.booked_on,
        amount=row.amount,
        currency=row.currency,
        direction=row.direction,
        payer_name=row.payer_name,
        payer_iban=row.payer_iban,
        remittance=row.remittance or "",
        end_to_end_id=row.end_to_end_id,
        return_reason=row.return_reason,
    )


def undo_credit(
    conn: Connection, entry: StatementEntry, original: int, customer_id: str, at: dt.datetime
) -> tuple[list[str], EventRow]:
    """Remove the payments the credit entry `original` became and mark it reversed; the
    `reversed` event to settle."""
    payment_ids = list(
        conn.execute(select(BM.c.payment_id).where(BM.c.entry_id == original)).scalars()
    )
    conn.execute(delete(P).where(P.c.id.in_(payment_ids)))
    conn.execute(update(E).where(E.c.id == original).values(status="reversed"))
    data = {"reason_code": entry.return_reason, "payments": payment_ids, "reverses": original}
    return payment_ids, entry_event(entry, customer_id, "reversed", data, at)


class _Booking:
    """One import's transaction: stores entries, books credits, undoes returns, and collects
    the events to settle once the transaction is committed."""

    def __init__(self, conn: Connection, now: dt.datetime, returns: Sequence[StatementEntry]) -> None:  # fmt: skip
        self.conn, self.now = conn, now
        self.matcher = Matcher(open_invoices(conn), known_payers(conn))
        self.zones: dict[str, str] = {cid: zone for cid, zone in conn.execute(select(C.c.id, C.c.timezone))}  # fmt: skip
        self.credits = _credits_for(conn, returns)
        self.matched: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.settle: list[EventRow] = []

    def store(self, source: str, kind: str, entry: StatementEntry, **fields: Any) -> int:
        row = _entry_row(entry, source=source, kind=kind, now=self.now, **fields)
        inserted = self.conn.execute(insert(E).values(row)).inserted_primary_key
        return int(inserted[0]) if inserted is not None else 0

    def credit(self, source: str, kind: str, entry: StatementEntry) -> None:
        match = self.matcher.match(entry)
        if not match.matched or match.customer_id is None:
            self.counts["unmatched"] += 1
            self.store(source, kind, entry, status="unmatched", reason=match.reason)
            return
        entry_id = self.store(
            source, kind, entry, status="matched", rule=match.rule, reason=match.reason,
            customer_id=match.customer_id,
        )  # fmt: skip
        self.matched[match.rule or ""] += 1
        zone = self.zones[match.customer_id]
        payments = payment_rows(match, zone, kind, self.now)
        self.conn.execute(insert(P), payments)
        self.conn.execute(insert(BM), match_rows(entry_id, match, payments))
        self.credits.append(
            BookedCredit(
                key=str(entry_id),
                customer_id=match.customer_id,
                amount=entry.amount,
                payer_iban=entry.payer_iban,
                end_to_end_id=entry.end_to_end_id,
            )
        )
        self.settle.append(paid_event(match, paid_at(entry, zone, self.now)))

    def returned(self, source: str, kind: str, entry: StatementEntry) -> None:
        """Undo the credit a return reverses: its payments removed, the invoice open again."""
        self.counts["returns"] += 1
        undone = link_return(entry, self.credits)
        if undone is None:
            self.counts["returns_unlinked"] += 1
            why = "a returned payment whose credit is not certain; assign it by hand"
            self.store(source, kind, entry, status="unmatched", reason=why)
            return
        self.credits.remove(undone)
        original = int(undone.key)
        at = paid_at(entry, self.zones[undone.customer_id], self.now)
        payment_ids, event = undo_credit(self.conn, entry, original, undone.customer_id, at)
        why = (
            f"return {entry.return_reason or '(no reason code)'} of entry {original};"
            f" {len(payment_ids)} payment(s) undone"
        )
        self.store(
            source, kind, entry, status="return", reason=why, customer_id=undone.customer_id,
            reverses_id=original,
        )  # fmt: skip
        self.settle.append(event)

    def other(self, source: str, kind: str, entry: StatementEntry) -> None:
        self.counts["other_debits"] += 1
        self.store(source, kind, entry, status="ignored", reason="money out, not a payment to us")


def book_entries(
    engine: Engine,
    items: Sequence[tuple[str, str, StatementEntry]],
    *,
    rules: CompiledRules,
    now: dt.datetime | None = None,
    grace: dt.timedelta = PROMISE_GRACE,
) -> ImportReport:
    """Book entries (source name, format, entry) that are all readable: match, store, settle.
    Entries already stored (statement id + reference) are skipped."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        seen = _already(conn, [e for _, _, e in items])
        # new entries only; a statement listing one entry twice (an export bug) books it once
        fresh = list(
            {
                (e.statement_id, e.reference): (src, kind, e)
                for src, kind, e in items
                if (e.statement_id, e.reference) not in seen
            }.values()
        )
        run = _Booking(conn, now, [e for _, _, e in fresh if e.direction == "return"])
        by_direction = {"credit": run.credit, "return": run.returned, "debit": run.other}
        for source, kind, entry in sorted(fresh, key=lambda f: (f[2].booked_on, f[2].position)):
            by_direction[entry.direction](source, kind, entry)
        if seen:
            run.settle.extend(_unsettled(conn, seen, now))
    settled = settle(engine, run.settle, rules=rules, now=now, grace=grace)
    return ImportReport(
        entries=len(items),
        already_imported=len(items) - len(fresh),
        matched=run.matched,
        unmatched=run.counts["unmatched"],
        returns=run.counts["returns"],
        returns_unlinked=run.counts["returns_unlinked"],
        other_debits=run.counts["other_debits"],
        steps_cancelled=settled.steps_cancelled,
        journeys_done=settled.journeys_done,
    )


def _unsettled(conn: Connection, keys: Iterable[tuple[str, str]], now: dt.datetime) -> list[EventRow]:  # fmt: skip
    """Matched entries of a re-import: settling again is harmless and finishes a run that
    stopped between booking and settling (their events, if stored, keep their first version)."""
    keys = list(keys)
    events = []
    for start in range(0, len(keys), 500):
        rows = conn.execute(
            select(E, C.c.timezone)
            .join(C, C.c.id == E.c.customer_id)
            .where(
                and_(
                    tuple_(E.c.statement_id, E.c.entry_reference).in_(keys[start : start + 500]),
                    E.c.status == "matched",
                )
            )
        )
        for r in rows:
            entry = stored_entry(r)
            at = paid_at(entry, r.timezone, now)
            events.append(
                entry_event(entry, r.customer_id, "paid", {"rule": r.rule, "reason": r.reason}, at)
            )
    return events
