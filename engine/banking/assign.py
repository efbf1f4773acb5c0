"""A person's assignment of an entry on the unmatched list: a credit booked for the customer
they name, or a return linked to the credit it undoes; then settled like any payment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, insert, select, update

from engine.banking.book import (
    BM,
    C,
    E,
    P,
    match_rows,
    open_invoices,
    paid_at,
    paid_event,
    payment_rows,
    settle,
    stored_entry,
    undo_credit,
)
from engine.banking.entry import StatementEntry
from engine.banking.errors import BankingError
from engine.banking.match import Match, Matcher
from engine.daemon.settings import PROMISE_GRACE
from engine.rules.compile import CompiledRules
from engine.store.rows import EventRow


class CannotAssign(BankingError):
    """An entry a person cannot assign to that target: an unknown customer, an invoice not
    theirs, no credit for a return to undo."""


class UnknownEntry(CannotAssign):
    """No statement entry with that id."""


class EntryNotOpen(CannotAssign):
    """The entry is not on the unmatched list (booked already, or money out)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """A person's assignment, done: the credit booked (`match`) or the credit a return undid
    (`reverses`, with the payments removed), and the debtor's journey afterwards."""

    entry_id: int
    customer_id: str
    direction: str
    reason: str
    match: Match | None = None
    reverses: int | None = None
    payments_undone: tuple[str, ...] = ()
    journey: str | None = None


def _assign_return(
    conn: Connection,
    entry_id: int,
    entry: StatementEntry,
    customer_id: str,
    invoice_ids: Sequence[str],
    *,
    reverses: int | None,
    by: str,
    at: dt.datetime,
) -> tuple[Assignment, EventRow]:
    """Link a return to the credit of `customer_id` it reverses, and undo that credit."""
    credits = select(E.c.id, E.c.amount).where(
        E.c.customer_id == customer_id, E.c.direction == "credit", E.c.status == "matched"
    )
    if reverses is not None:
        credits = credits.where(E.c.id == reverses)
    else:
        credits = credits.where(E.c.amount == entry.amount)
        if invoice_ids:
            on = select(BM.c.entry_id).where(BM.c.invoice_id.in_(list(invoice_ids)))
            credits = credits.where(E.c.id.in_(on))
    found = conn.execute(credits.order_by(E.c.id)).all()
    if reverses is not None and not found:
        raise CannotAssign(
            f"entry {reverses} is no booked credit of {customer_id}; `payjourney payments --json`"
            " shows each entry's status and customer"
        )
    if not found:
        on_what = f" on {', '.join(invoice_ids)}" if invoice_ids else ""
        raise CannotAssign(
            f"{customer_id} has no booked credit of {entry.amount} {entry.currency}{on_what} for"
            f" this return to undo; name the credit it reverses (`reverses`, the entry id"
            " `payjourney payments --json` shows)"
        )
    if len(found) > 1:
        raise CannotAssign(
            f"{customer_id} has {len(found)} booked credits this return may undo (entries"
            f" {', '.join(str(r.id) for r in found)}); name the one it reverses (`reverses`)"
        )
    original = int(found[0].id)
    if entry.amount > found[0].amount:
        raise CannotAssign(
            f"the return ({entry.amount}) is more than credit {original} ({found[0].amount});"
            " name the credit it reverses"
        )
    payment_ids, event = undo_credit(conn, entry, original, customer_id, at)
    why = (
        f"return {entry.return_reason or '(no reason code)'} of entry {original}, assigned by"
        f" {by}; {len(payment_ids)} payment(s) undone"
    )
    conn.execute(
        update(E)
        .where(E.c.id == entry_id)
        .values(status="return", reason=why, customer_id=customer_id, reverses_id=original)
    )
    done = Assignment(
        entry_id=entry_id,
        customer_id=customer_id,
        direction="return",
        reason=why,
        reverses=original,
        payments_undone=tuple(payment_ids),
    )
    return done, event


def assign_entry(
    engine: Engine,
    entry_id: int,
    customer_id: str,
    invoice_ids: Sequence[str] = (),
    *,
    rules: CompiledRules,
    by: str = "a person",
    reverses: int | None = None,
    now: dt.datetime | None = None,
    grace: dt.timedelta = PROMISE_GRACE,
) -> Assignment:
    """A person's decision for an entry on the unmatched list, settled like a matched one.

    A credit is booked for the customer (rule `manual`) on `invoice_ids` (default: their open
    invoices oldest first, the rest on account), which also teaches rule 4 the payer's account.
    A return undoes the customer's credit it reverses: the entry `reverses` names, else the one
    matched credit of that customer with the return's amount (on `invoice_ids`, when given).
    CannotAssign says what is wrong and changes nothing."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        row = conn.execute(select(E).where(E.c.id == entry_id)).first()
        if row is None or row.status != "unmatched" or row.direction not in ("credit", "return"):
            state = "no such entry" if row is None else f"it is {row.direction}, {row.status}"
            raise (UnknownEntry if row is None else EntryNotOpen)(
                f"entry {entry_id} cannot be assigned ({state}); `payjourney payments"
                " --unmatched` lists the entries waiting for a person"
            )
        zone = conn.execute(select(C.c.timezone).where(C.c.id == customer_id)).scalar()
        if zone is None:
            raise CannotAssign(f"no customer {customer_id!r}; check the id")
        # take the entry off the list first: of two people assigning it at once, one wins
        taken = conn.execute(
            update(E).where(E.c.id == entry_id, E.c.status == "unmatched").values(status="taken")
        ).rowcount
        if taken != 1:
            raise EntryNotOpen(f"entry {entry_id} was assigned by someone else just now")
        entry = stored_entry(row)
        at = paid_at(entry, zone, now)
        if row.direction == "return":
            done, event = _assign_return(
                conn, entry_id, entry, customer_id, invoice_ids, reverses=reverses, by=by, at=at
            )
            events = [event]
        else:
            if reverses is not None:
                raise CannotAssign(f"entry {entry_id} is a credit; `reverses` is for returns")
            try:
                match = Matcher(open_invoices(conn, customer_id), {}).assign(
                    entry, customer_id, invoice_ids, by=by
                )
            except ValueError as exc:
                raise CannotAssign(str(exc)) from exc
            payments = payment_rows(match, zone, row.format, now)
            conn.execute(insert(P), payments)
            conn.execute(insert(BM), match_rows(entry_id, match, payments))
            conn.execute(
                update(E)
                .where(E.c.id == entry_id)
                .values(
                    status="matched", rule="manual", reason=match.reason, customer_id=customer_id
                )
            )
            done = Assignment(
                entry_id=entry_id,
                customer_id=customer_id,
                direction="credit",
                reason=match.reason,
                match=match,
            )
            events = [paid_event(match, at)]
    settled = settle(engine, events, rules=rules, now=now, grace=grace)
    return replace(done, journey=settled.states.get(customer_id))
