"""`payjourney forget`: personal data erased, financial and audit records kept pseudonymised."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from engine.decision.decide import decide
from engine.rules.compile import CompiledRules
from engine.store import tables as t
from engine.store.errors import CustomerNotFound
from engine.store.facts_sql import derive_fact_sheets, fact_sheet_for
from engine.store.forget import forget
from engine.store.planner import plan
from tests.store.builders import NOW, customer, load


@pytest.fixture
def debtor(store: Engine, tmp_path: Path, default_rules: CompiledRules) -> Engine:
    """C-1 with a payer, an overdue invoice, a partial payment, a message, an event and a plan."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1", name="Sanne de Vries", kind="consumer"), customer("C-2")],
        contacts=[
            {
                "id": "K-1",
                "customer_id": "C-1",
                "name": "Sanne de Vries",
                "email": "sanne@example.nl",
                "phone": "+31611111111",
                "street": "Kerkstraat 1",
                "city": "Utrecht",
            }
        ],
        invoices=[
            {
                "id": "I-1",
                "customer_id": "C-1",
                "amount": "250.00",
                "issue_date": "2026-10-01",
                "due_date": "2026-10-15",
                "description": "Abonnement Sanne de Vries",
            }
        ],
        payments=[
            {
                "id": "P-1",
                "customer_id": "C-1",
                "invoice_id": "I-1",
                "amount": "50.00",
                "paid_at": "2026-10-20T10:00:00Z",
                "payer_name": "S. de Vries",
                "payer_iban": "NL91ABNA0417164300",
            }
        ],
        messages=[
            {
                "id": "M-1",
                "customer_id": "C-1",
                "channel": "email",
                "sent_at": "2026-10-22T09:00:00Z",
                "template": "reminder-1",
            }
        ],
        events=[
            {
                "id": "E-1",
                "customer_id": "C-1",
                "kind": "replied",
                "occurred_at": "2026-10-23T09:00:00Z",
                "data": {"from": "sanne@example.nl", "text": "Ik betaal volgende week"},
            }
        ],
    )
    plan(store, functools.partial(decide, default_rules), NOW)
    return store


def test_forgetting_erases_the_person_and_keeps_the_books(debtor: Engine) -> None:
    """Names, addresses, numbers and free text go; amounts and dates stay under a pseudonym."""
    report = forget(debtor, "C-1", now=NOW)
    with debtor.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.Contact.__table__)).scalar() == 0
        person = conn.execute(
            select(t.Customer.__table__).where(t.Customer.__table__.c.id == report.pseudonym)
        ).one()
        invoice = conn.execute(select(t.Invoice.__table__)).one()
        payment = conn.execute(select(t.Payment.__table__)).one()
        message = conn.execute(select(t.Message.__table__)).one()
        event = conn.execute(select(t.Event.__table__)).one()
        step = conn.execute(select(t.ScheduledStep.__table__)).one()
        ids = set(conn.execute(select(t.Customer.__table__.c.id)).scalars())
    assert ids == {report.pseudonym, "C-2"}
    assert person.name is None and person.forgotten_at is not None
    assert (invoice.customer_id, str(invoice.amount), invoice.description) == (
        report.pseudonym,
        "250.00",
        None,
    )
    assert (str(payment.amount), payment.payer_name, payment.payer_iban) == ("50.00", None, None)
    assert (message.channel, message.template, message.recipient) == ("email", "reminder-1", None)
    assert event.data == {} and event.kind == "replied"
    assert step.status == "cancelled"
    assert all(
        "customer.id" not in entry["facts"] and "customer.name" not in entry["facts"]
        for entry in step.trace
    )
    assert report.contacts_deleted == 1


def test_a_forgotten_customer_has_no_facts_and_is_not_planned(
    debtor: Engine, default_rules: CompiledRules
) -> None:
    """After forget, facts for the old id are not found and planning skips the pseudonym."""
    forget(debtor, "C-1", now=NOW)
    with pytest.raises(CustomerNotFound):
        fact_sheet_for(debtor, "C-1", NOW)
    assert [s["customer.id"] for s in derive_fact_sheets(debtor, NOW)] == ["C-2"]
    summary = plan(debtor, functools.partial(decide, default_rules), NOW)
    assert summary.debtors == 1


def test_forgetting_twice_or_an_unknown_id_says_not_found(debtor: Engine) -> None:
    """The second forget of the same id finds nothing to erase."""
    forget(debtor, "C-1", now=NOW)
    with pytest.raises(CustomerNotFound):
        forget(debtor, "C-1", now=NOW)
