"""What a message claims on its send date: overdue invoices demanded, later ones only listed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.messages.claim import ClaimError, claim_on

ON = dt.date(2026, 11, 24)


def inv(iid: str, amount: str, due: str, currency: str = "EUR") -> dict[str, str]:
    return {"id": iid, "amount": amount, "due_date": due, "currency": currency}


def test_only_invoices_past_their_due_date_are_demanded() -> None:
    """15,900 open, of which 3,400 falls due after the send date: 12,500 is demanded."""
    claim = claim_on(
        [inv("A", "12500.00", "2026-10-15"), inv("B", "3400.00", "2026-11-24")],
        on=ON,
        fallback_amount=Decimal("15900.00"),
        currency="EUR",
        fallback_due_date=dt.date(2026, 10, 15),
    )
    assert claim.amount == Decimal("12500.00")
    assert [line.id for line in claim.demanded] == ["A"]
    assert [line.id for line in claim.upcoming] == ["B"]  # due today: not yet overdue
    assert not claim.before_due and claim.single_due_date


def test_before_anything_is_due_the_message_is_about_what_falls_due_next() -> None:
    """A nudge asks for the invoices of the nearest due date, not the whole balance."""
    claim = claim_on(
        [inv("A", "100.00", "2026-11-30"), inv("B", "50.00", "2026-12-30")],
        on=ON,
        fallback_amount=Decimal("150.00"),
        currency="EUR",
        fallback_due_date=dt.date(2026, 11, 30),
    )
    assert (claim.amount, claim.due_date, claim.before_due) == (
        Decimal("100.00"),
        dt.date(2026, 11, 30),
        True,
    )


def test_without_invoices_the_decided_amount_stands() -> None:
    """A preview from facts alone (no invoice list) demands the decision's amount."""
    claim = claim_on(
        [], on=ON, fallback_amount=Decimal("80.00"), currency="EUR", fallback_due_date=None
    )
    assert claim.amount == Decimal("80.00") and claim.lines == ()


@pytest.mark.parametrize(
    ("invoices", "problem"),
    [
        (
            [inv("A", "10.00", "2026-10-01"), inv("B", "5.00", "2026-10-01", "USD")],
            "USD besides EUR",
        ),
        ([inv("A", "10.00", "first of May")], "invoice A: due_date 'first of May' is not a date"),
        ([inv("A", "ten", "2026-10-01")], "invoice A: amount 'ten' is not a number"),
    ],
)
def test_invoices_a_message_cannot_state_truthfully_are_refused(
    invoices: list[dict[str, str]], problem: str
) -> None:
    """Two currencies, or a due date that is not a date: a clear error, no message."""
    with pytest.raises(ClaimError, match=problem):
        claim_on(
            invoices, on=ON, fallback_amount=Decimal(1), currency="EUR", fallback_due_date=None
        )
