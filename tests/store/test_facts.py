"""Fact derivation: worked examples with known answers, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from engine.decision.model import FactSheet
from engine.store.errors import CustomerNotFound
from engine.store.facts_sql import derive_fact_sheets, fact_sheet_for, load_fact_sheet
from engine.store.generate import generate
from tests.store.builders import NOW, customer, load, paid_invoices

FIRST_DUE = dt.date(2025, 11, 1)


def renamed(prefix: str, invoices: list[dict[str, Any]], payments: list[dict[str, Any]]) -> None:
    """Give a second series of invoices and their payments their own ids."""
    for row in invoices + payments:
        row["id"] = prefix + row["id"]
    for row in payments:
        row["invoice_id"] = prefix + row["invoice_id"]


def test_twelve_invoices_each_paid_three_days_late_average_three(
    store: Engine, tmp_path: Path
) -> None:
    """A debtor who paid 12 invoices each 3 days late has avg_days_late 3 and never paid on time."""
    invoices, payments = paid_invoices("C-1", count=12, days_late=3, first_due=FIRST_DUE)
    load(store, tmp_path, customers=[customer("C-1")], invoices=invoices, payments=payments)
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["behaviour.avg_days_late"] == 3
    assert sheet["behaviour.on_time_ratio"] == 0
    assert sheet["balance.open_amount"] == 0
    assert sheet["balance.oldest_due_date"] is None


def test_only_the_last_twelve_paid_invoices_count(store: Engine, tmp_path: Path) -> None:
    """Five old invoices paid 30 days late no longer weigh once 12 newer ones were paid on time."""
    old_inv, old_pay = paid_invoices(
        "C-1", count=5, days_late=30, first_due=FIRST_DUE - dt.timedelta(days=400)
    )
    renamed("old-", old_inv, old_pay)
    new_inv, new_pay = paid_invoices("C-1", count=12, days_late=0, first_due=FIRST_DUE)
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=old_inv + new_inv,
        payments=old_pay + new_pay,
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["behaviour.avg_days_late"] == 0
    assert sheet["behaviour.on_time_ratio"] == 1


def test_paying_early_does_not_make_up_for_paying_late(store: Engine, tmp_path: Path) -> None:
    """Six invoices 5 days early and six 4 days late: 2 days late on average, half on time."""
    early_inv, early_pay = paid_invoices("C-1", count=6, days_late=-5, first_due=FIRST_DUE)
    late_inv, late_pay = paid_invoices(
        "C-1", count=6, days_late=4, first_due=FIRST_DUE + dt.timedelta(days=180)
    )
    renamed("late-", late_inv, late_pay)
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=early_inv + late_inv,
        payments=early_pay + late_pay,
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["behaviour.avg_days_late"] == 2
    assert sheet["behaviour.on_time_ratio"] == 0.5


def test_partial_payments_leave_the_rest_open(store: Engine, tmp_path: Path) -> None:
    """An invoice of 1000 with 400 and 100 paid leaves 500 open, overdue since its due date."""
    invoice = {
        "id": "I-1",
        "customer_id": "C-1",
        "amount": "1000.00",
        "issue_date": "2026-10-01",
        "due_date": "2026-10-31",
    }
    payments = [
        {"id": "P-1", "customer_id": "C-1", "invoice_id": "I-1", "amount": "400.00"},
        {"id": "P-2", "customer_id": "C-1", "invoice_id": "I-1", "amount": "100.00"},
    ]
    for p in payments:
        p["paid_at"] = "2026-11-05T12:00:00+01:00"
    load(store, tmp_path, customers=[customer("C-1")], invoices=[invoice], payments=payments)
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["balance.open_amount"] == Decimal("500.00")
    assert sheet["balance.open_invoices"] == 1
    assert sheet["balance.oldest_due_date"] == dt.date(2026, 10, 31)
    assert sheet["balance.max_days_overdue"] == 23
    assert sheet["behaviour.avg_days_late"] is None  # nothing fully paid yet: unknown


def test_a_payment_not_yet_made_at_now_does_not_count(store: Engine, tmp_path: Path) -> None:
    """Deciding as of an earlier `now` ignores the payments that came later."""
    invoices, payments = paid_invoices("C-1", count=1, days_late=10, first_due=dt.date(2026, 10, 1))
    load(store, tmp_path, customers=[customer("C-1")], invoices=invoices, payments=payments)
    before = fact_sheet_for(store, "C-1", dt.datetime(2026, 10, 5, tzinfo=dt.UTC))
    after = fact_sheet_for(store, "C-1", NOW)
    assert before["balance.open_amount"] == Decimal("100.00")
    assert after["balance.open_amount"] == 0
    assert after["behaviour.avg_days_late"] == 10


def test_the_typical_pay_hour_is_local_time(store: Engine, tmp_path: Path) -> None:
    """A Berlin debtor paying at 08:30 UTC in winter pays at 9 o'clock, mostly on Fridays."""
    invoices, payments = paid_invoices("C-1", count=4, days_late=0, first_due=dt.date(2026, 1, 9))
    for k, payment in enumerate(payments):
        day = dt.date(2026, 1, 9) + dt.timedelta(days=7 * k)  # Fridays
        payment["paid_at"] = f"{day.isoformat()}T08:30:00Z"
    payments[-1]["paid_at"] = "2026-02-03T17:00:00Z"  # one Tuesday evening
    load(
        store,
        tmp_path,
        customers=[customer("C-1", country="DE", timezone="Europe/Berlin")],
        invoices=invoices,
        payments=payments,
    )
    sheet = fact_sheet_for(store, "C-1", dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert sheet["behaviour.typical_pay_hour"] == 9
    assert sheet["behaviour.typical_pay_weekday"] == 4


def test_paid_after_is_the_share_of_reminders_paid_within_three_days(
    store: Engine, tmp_path: Path
) -> None:
    """Two WhatsApp reminders both paid in 2 days (1.0); of two emails one paid in 5 days (0.0)."""
    invoices, payments = paid_invoices("C-1", count=4, days_late=0, first_due=dt.date(2026, 6, 1))
    sent = ["2026-06-01", "2026-07-01", "2026-07-31", "2026-08-30"]
    channels = ["whatsapp", "whatsapp", "email", "email"]
    wait_days = [2, 2, 5, 30]
    messages = []
    for k, (day, channel, wait) in enumerate(zip(sent, channels, wait_days, strict=True)):
        at = dt.datetime.fromisoformat(f"{day}T09:00:00+00:00")
        messages.append({"id": f"M-{k}", "customer_id": "C-1", "channel": channel, "sent_at": at})
        payments[k]["paid_at"] = (at + dt.timedelta(days=wait)).isoformat()
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=invoices,
        payments=payments,
        messages=messages,
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["behaviour.paid_after.whatsapp"] == 1
    assert sheet["behaviour.paid_after.email"] == 0
    assert sheet["behaviour.paid_after.letter"] is None
    assert sheet["journey.messages_sent"] == 4
    assert sheet["journey.last_channel"] == "email"


def test_a_promise_without_the_money_is_broken(store: Engine, tmp_path: Path) -> None:
    """A promise that ran out unpaid is broken; a kept one is not; a running one pauses."""
    invoice = {
        "id": "I-1",
        "customer_id": "C-1",
        "amount": "300.00",
        "issue_date": "2026-08-01",
        "due_date": "2026-08-31",
    }
    promises = [
        {
            "id": "PR-broken",
            "customer_id": "C-1",
            "amount": "300.00",
            "promised_at": "2026-09-10T10:00:00Z",
            "promised_until": "2026-09-20",
        },
        {
            "id": "PR-kept",
            "customer_id": "C-1",
            "amount": "100.00",
            "promised_at": "2026-10-01T10:00:00Z",
            "promised_until": "2026-10-10",
        },
        {
            "id": "PR-running",
            "customer_id": "C-1",
            "amount": "200.00",
            "promised_at": "2026-11-20T10:00:00Z",
            "promised_until": "2026-11-30",
        },
    ]
    payments = [
        {
            "id": "P-1",
            "customer_id": "C-1",
            "invoice_id": "I-1",
            "amount": "100.00",
            "paid_at": "2026-10-08T10:00:00Z",
        }
    ]
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice],
        payments=payments,
        promises=promises,
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["behaviour.broken_promises"] == 1
    assert sheet["journey.promised_until"] == dt.date(2026, 11, 30)
    assert sheet["balance.open_amount"] == Decimal("200.00")


def test_only_unresolved_disputes_are_open(store: Engine, tmp_path: Path) -> None:
    """One dispute resolved, one still open: open_disputes is 1."""
    disputes = [
        {"id": "D-1", "customer_id": "C-1", "opened_at": "2026-09-01T10:00:00Z"},
        {
            "id": "D-2",
            "customer_id": "C-1",
            "opened_at": "2026-08-01T10:00:00Z",
            "resolved_at": "2026-08-15T10:00:00Z",
        },
    ]
    load(store, tmp_path, customers=[customer("C-1")], disputes=disputes)
    assert fact_sheet_for(store, "C-1", NOW)["behaviour.open_disputes"] == 1


def test_a_reaction_after_the_last_message_counts_as_reacted(store: Engine, tmp_path: Path) -> None:
    """A click after the last reminder sets journey.reacted; a click before it does not."""
    messages = [
        {"id": "M-1", "customer_id": "C-1", "channel": "email", "sent_at": "2026-11-20T08:00:00Z"}
    ]
    events = [
        {
            "id": "E-1",
            "customer_id": "C-1",
            "kind": "clicked",
            "occurred_at": "2026-11-19T08:00:00Z",
        }
    ]
    load(store, tmp_path, customers=[customer("C-1")], messages=messages, events=events)
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["journey.reacted"] is False
    assert sheet["journey.hours_since_last_message"] == 73
    assert sheet["journey.messages_last_7_days"] == 1
    late_click = [{**events[0], "id": "E-2", "occurred_at": "2026-11-21T08:00:00Z"}]
    load(store, tmp_path, events=late_click)
    assert fact_sheet_for(store, "C-1", NOW)["journey.reacted"] is True


def test_a_settled_journey_counts_nothing_and_new_debt_is_its_next_round(
    store: Engine, tmp_path: Path
) -> None:
    """A journey marked done (paid in full) after two steps: its facts say round 2 with no
    step or message of it sent, so new debt starts from step 1; an active one keeps its count."""
    from sqlalchemy import insert, update

    from engine.store import tables as t

    messages = [
        {"id": "M-1", "customer_id": "C-1", "channel": "email", "sent_at": "2026-11-20T08:00:00Z"}
    ]
    load(store, tmp_path, customers=[customer("C-1")], messages=messages)
    journey = t.Journey.__table__  # type: ignore[attr-defined]
    started = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with store.begin() as conn:
        conn.execute(
            insert(journey).values(
                customer_id="C-1",
                persona="everyone",
                ruleset_version="v1",
                state="active",
                steps_sent=2,
                round=1,
                started_at=started,
                updated_at=started,
            )
        )
    active = fact_sheet_for(store, "C-1", NOW)
    assert (active["journey.steps_sent"], active["journey.round"]) == (2, 1)
    assert active["journey.messages_sent"] == 1
    with store.begin() as conn:
        conn.execute(update(journey).values(state="done"))
    settled = fact_sheet_for(store, "C-1", NOW)
    assert (settled["journey.steps_sent"], settled["journey.round"]) == (0, 2)
    assert settled["journey.messages_sent"] == 0
    assert settled["journey.messages_last_7_days"] == 1  # the weekly cap still sees it


def test_the_payer_contact_decides_role_consent_and_reach(store: Engine, tmp_path: Path) -> None:
    """The primary contact's role, consent and addresses become the customer facts."""
    contacts = [
        {
            "id": "K-2",
            "customer_id": "C-1",
            "is_primary": False,
            "role": "owner",
            "email": "owner@x.example",
        },
        {
            "id": "K-1",
            "customer_id": "C-1",
            "role": "accounts_payable",
            "email": "ap@x.example",
            "phone": "+31600000000",
            "consent_sms": True,
            "language": "de",
            "preferred_channel": "sms",
        },
    ]
    load(store, tmp_path, customers=[customer("C-1", language="nl")], contacts=contacts)
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["customer.payer_role"] == "accounts_payable"
    assert sheet["customer.consent.sms"] is True
    assert sheet["customer.consent.whatsapp"] is False
    assert sheet["customer.language"] == "de"
    assert sheet["customer.reachable_by"] == ("email", "sms", "whatsapp", "phone")


def test_the_portfolio_query_agrees_with_the_one_customer_query(
    store: Engine, tmp_path: Path
) -> None:
    """Set-based facts for everyone equal the facts recomputed for each customer alone."""
    generate(store, debtors=40, seed=11, today=NOW.date())
    everyone = {sheet["customer.id"]: sheet for sheet in derive_fact_sheets(store, NOW)}
    assert len(everyone) == 40
    for sheet in everyone.values():
        assert FactSheet.build(dict(sheet.values)) == sheet  # the unchecked stream is valid
    for customer_id in list(everyone)[::7]:
        assert fact_sheet_for(store, customer_id, NOW) == everyone[customer_id]


def test_an_unknown_customer_says_how_to_load_it(store: Engine) -> None:
    """Asking for facts of an id that is not stored names the id and the import command."""
    with pytest.raises(CustomerNotFound, match=r"'C-404'.*payjourney import"):
        fact_sheet_for(store, "C-404", NOW)


def test_load_fact_sheet_opens_the_store_by_url(db_url: str, store: Engine, tmp_path: Path) -> None:
    """`explain --customer` reads facts through load_fact_sheet(db_url, id, now)."""
    load(store, tmp_path, customers=[customer("C-1")])
    assert load_fact_sheet(db_url, "C-1", NOW)["customer.id"] == "C-1"
