"""What a message claims on its send date: the amount demanded and the invoices it concerns.

A payment request demands what is overdue on the day it goes out, nothing that falls due later
(those invoices may be mentioned, labelled "not yet due"). Before anything is overdue (a nudge)
the message is about the invoices that fall due next. The payment link and the EPC QR code ask
for the same amount.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.errors import PayjourneyError


class ClaimError(PayjourneyError):
    """An invoice the message would list is malformed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoiceLine:
    """One open invoice as a message lists it."""

    id: str
    amount: Decimal  # what is still open of it
    currency: str
    due_date: dt.date | None
    issue_date: dt.date | None
    overdue: bool  # past its due date on the send date


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """The amount a message demands on `on`, in `currency`, and the invoices behind it."""

    on: dt.date
    amount: Decimal
    currency: str
    due_date: dt.date | None  # the oldest due date of the invoices demanded
    demanded: tuple[InvoiceLine, ...]  # overdue (or, before anything is, falling due next)
    upcoming: tuple[InvoiceLine, ...]  # open, not yet due, not demanded
    before_due: bool  # nothing is overdue yet: a message ahead of the due date

    @property
    def lines(self) -> tuple[InvoiceLine, ...]:
        """Every open invoice: the demanded ones first, then the ones not yet due."""
        return self.demanded + self.upcoming

    @property
    def single_due_date(self) -> bool:
        """All demanded invoices fell (or fall) due on the same day."""
        return len({line.due_date for line in self.demanded}) <= 1


def _date(value: Any, invoice_id: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ClaimError(
            f"invoice {invoice_id}: due_date {value!r} is not a date (use YYYY-MM-DD)"
        ) from exc


def _line(inv: Mapping[str, Any], on: dt.date, currency: str) -> InvoiceLine:
    invoice_id = str(inv.get("id", ""))
    try:
        amount = Decimal(str(inv.get("amount", "0")))
    except (ArithmeticError, ValueError) as exc:
        raise ClaimError(
            f"invoice {invoice_id}: amount {inv.get('amount')!r} is not a number"
        ) from exc
    due = _date(inv.get("due_date"), invoice_id)
    return InvoiceLine(
        id=invoice_id,
        amount=amount,
        currency=str(inv.get("currency") or currency),
        due_date=due,
        issue_date=_date(inv.get("issue_date"), invoice_id),
        overdue=due is not None and due < on,
    )


def claim_on(
    invoices: Sequence[Mapping[str, Any]],
    *,
    on: dt.date,
    fallback_amount: Decimal,
    currency: str,
    fallback_due_date: dt.date | None,
) -> Claim:
    """The claim of a message sent on `on` (the customer's calendar day).

    `invoices` are the open invoices (`amount` is what is still open of each). Without them
    (a preview from facts only) the claim is `fallback_amount`, due since `fallback_due_date`.
    """
    parsed = [_line(inv, on, currency) for inv in invoices if not inv.get("paid_date")]
    lines = [line for line in parsed if line.amount > 0]
    if not lines:
        return Claim(
            on=on,
            amount=fallback_amount,
            currency=currency,
            due_date=fallback_due_date,
            demanded=(),
            upcoming=(),
            before_due=fallback_due_date is not None and fallback_due_date >= on,
        )
    others = sorted({line.currency for line in lines} - {currency})
    if others:
        raise ClaimError(
            f"open invoices in {', '.join(others)} besides {currency}: a message demands one "
            "currency; the import keeps one currency per debtor"
        )
    lines.sort(key=lambda line: (line.due_date or dt.date.max, line.id))
    overdue = tuple(line for line in lines if line.overdue)
    if overdue:
        demanded = overdue
        upcoming = tuple(line for line in lines if not line.overdue)
    else:  # before the due date: the invoices that fall due next
        first = lines[0].due_date
        demanded = tuple(line for line in lines if line.due_date == first)
        upcoming = tuple(line for line in lines if line.due_date != first)
    return Claim(
        on=on,
        amount=sum((line.amount for line in demanded), Decimal("0.00")),
        currency=currency,
        due_date=demanded[0].due_date,
        demanded=demanded,
        upcoming=upcoming,
        before_due=not overdue,
    )
