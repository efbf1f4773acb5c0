"""Importing bank statements: payments booked with their rule, returns undone, nothing twice."""

from __future__ import annotations

import datetime as dt
import functools
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from engine.banking.book import import_statements
from engine.banking.entry import StatementEntry
from engine.banking.errors import BrokenStatement
from engine.banking.generate import write_camt053
from engine.banking.listing import statement_entries
from engine.decision.decide import decide
from engine.store import tables as t
from engine.store.facts_sql import fact_sheet_for
from engine.store.planner import plan
from tests.daemon.harness import rules
from tests.store.builders import NOW, customer, load

FIXTURES = Path(__file__).parents[1] / "banking" / "fixtures"
CAMT = FIXTURES / "camt053_v02_batch.xml"
P = t.Payment.__table__  # type: ignore[attr-defined]
E = t.BankEntry.__table__  # type: ignore[attr-defined]
S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
J = t.Journey.__table__  # type: ignore[attr-defined]


def inv(iid: str, cid: str, amount: str, number: str | None = None) -> dict[str, Any]:
    return {
        "id": iid,
        "customer_id": cid,
        "amount": amount,
        "number": number,
        "issue_date": "2026-09-01",
        "due_date": "2026-10-01",
    }


def portfolio(store: Engine, tmp_path: Path) -> None:
    """The debtors the CAMT fixture pays, and C-5's account known from an earlier payment."""
    load(
        store,
        tmp_path,
        customers=[customer(f"C-{n}") for n in range(1, 8)],
        invoices=[
            inv("I-1001", "C-1", "1190.00", "2026-1001"),
            inv("I-2001", "C-2", "100.00", "RE-2026-2001"),
            inv("I-2002", "C-2", "250.00", "RE-2026-2002"),
            inv("I-3001", "C-3", "500.00", "2026-3001"),
            inv("I-4001", "C-4", "80.00", "INV-4001"),
            inv("I-5001", "C-5", "120.00"),
            inv("I-5002", "C-5", "80.00"),
            inv("I-5000", "C-5", "10.00"),
            inv("I-6001", "C-6", "60.00"),
        ],
        payments=[
            {
                "id": "P-old",
                "customer_id": "C-5",
                "invoice_id": "I-5000",
                "amount": "10.00",
                "paid_at": "2026-10-02T10:00:00",
                "payer_iban": "DE02120300000000202051",
            },
        ],
    )


def paid_on(store: Engine, invoice_id: str) -> Decimal:
    with store.connect() as conn:
        total = conn.execute(
            select(func.sum(P.c.amount)).where(P.c.invoice_id == invoice_id)
        ).scalar()
    return Decimal(total or 0)


def test_a_camt_statement_is_matched_rule_by_rule(store: Engine, tmp_path: Path) -> None:
    """RF, invoice numbers (split), prefix + partial, overpayment, IBAN + sum, end-to-end id;
    the return MD06 undoes the direct debit; the gift stays unmatched; the fee is ignored."""
    portfolio(store, tmp_path)
    report = import_statements(store, [CAMT], rules=rules(), now=NOW)
    assert dict(report.matched) == {
        "rf_reference": 1,
        "invoice_number": 3,
        "payer_iban_amount": 1,
        "end_to_end_id": 1,
    }
    assert (report.unmatched, report.returns, report.returns_unlinked) == (1, 1, 0)
    assert report.other_debits == 1
    assert paid_on(store, "I-1001") == Decimal("1190.00")
    assert (paid_on(store, "I-2001"), paid_on(store, "I-2002")) == (Decimal("100"), Decimal("250"))
    assert paid_on(store, "I-3001") == Decimal("200.00")  # partial: 300 left open
    assert paid_on(store, "I-4001") == Decimal("80.00")
    assert (paid_on(store, "I-5001"), paid_on(store, "I-5002")) == (Decimal(120), Decimal(80))
    assert paid_on(store, "I-6001") == Decimal(0)  # collected, then returned: open again
    with store.connect() as conn:
        on_account = conn.execute(
            select(P.c.customer_id, P.c.amount).where(P.c.invoice_id.is_(None))
        ).all()
        assert on_account == [("C-4", Decimal("20.00"))]
        statuses = dict(conn.execute(select(E.c.entry_reference, E.c.status)).all())
    assert statuses["N0005"] == "reversed" and statuses["N0006"] == "return"
    facts = fact_sheet_for(store, "C-3", NOW + dt.timedelta(days=1))
    assert facts["balance.open_amount"] == Decimal("300.00")


def test_the_unmatched_list_shows_the_account_holder_from_the_statement(
    store: Engine, tmp_path: Path
) -> None:
    """The gift from J. de Vries waits for a person, with name, IBAN and text."""
    portfolio(store, tmp_path)
    import_statements(store, [CAMT], rules=rules(), now=NOW)
    (row,) = statement_entries(store, unmatched_only=True)
    assert (row["payer_name"], row["payer_iban"]) == ("J. de Vries", "NL20INGB0001234567")
    assert row["remittance"] == "voor de bloemen"
    assert row["reason"] == "no reference, no invoice number, unknown payer"


def test_importing_the_same_statement_twice_changes_nothing(store: Engine, tmp_path: Path) -> None:
    """Statement id + entry reference: the second import books no payment, no entry."""
    portfolio(store, tmp_path)
    import_statements(store, [CAMT], rules=rules(), now=NOW)
    with store.connect() as conn:
        before = conn.execute(select(func.count()).select_from(P)).scalar()
    again = import_statements(store, [CAMT], rules=rules(), now=NOW)
    assert again.already_imported == again.entries == 9
    assert sum(again.matched.values()) == 0
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(P)).scalar() == before
        assert conn.execute(select(func.count()).select_from(E)).scalar() == 9


def test_a_file_with_a_broken_entry_loads_nothing(store: Engine, tmp_path: Path) -> None:
    """One entry without an amount: the error names it, no entry of the files is stored."""
    portfolio(store, tmp_path)
    broken = tmp_path / "broken.xml"
    broken.write_text(CAMT.read_text().replace('<Amt Ccy="EUR">200.00</Amt>', "", 1))
    with pytest.raises(BrokenStatement, match=r"broken.xml: entry 3 \(line \d+\)"):
        import_statements(store, [FIXTURES / "de_structured.sta", broken], rules=rules(), now=NOW)
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(E)).scalar() == 0


def test_a_later_return_with_ac04_reopens_the_invoice_and_the_journey(
    store: Engine, tmp_path: Path
) -> None:
    """A direct debit collected with our RF as end-to-end id settles C-7 (journey done); the
    Rücklastschrift AC04 a day later reopens the invoice and sets the journey active again."""
    load(store, tmp_path, customers=[customer("C-7")], invoices=[inv("I-7001", "C-7", "75.00")])
    with store.begin() as conn:
        conn.execute(insert(J).values(customer_id="C-7", persona="p", ruleset_version="v"))
    collected = tmp_path / "collected.xml"
    collected.write_text(
        (FIXTURES / "camt053_v08_return.xml")
        .read_text()
        .replace("<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>CRDT</CdtDbtInd>")
        .replace("<RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf>", "")
        .replace("UPDD", "ESDD")
        .replace("2026-11-25-DE89", "2026-11-24-DE89")
    )
    first = import_statements(store, [collected], rules=rules(), now=NOW)
    assert dict(first.matched) == {"end_to_end_id": 1} and first.journeys_done == 1
    returned = import_statements(
        store, [FIXTURES / "camt053_v08_return.xml"], rules=rules(), now=NOW
    )
    assert (returned.returns, returned.returns_unlinked) == (1, 0)
    assert paid_on(store, "I-7001") == Decimal(0)
    with store.connect() as conn:
        assert conn.execute(select(J.c.state)).scalar() == "active"
        kinds = conn.execute(select(t.Event.kind).order_by(t.Event.occurred_at)).scalars().all()
    assert kinds == ["paid", "reversed"]


def test_a_debtor_paying_the_rf_reference_from_our_letter_ends_the_journey(
    store: Engine, tmp_path: Path
) -> None:
    """End to end: C-1 has a reminder scheduled; the bank transfer with the RF reference printed
    on our letter arrives; after import the reminder is cancelled and the journey is done."""
    from engine.messages.payments.options import payment_reference

    load(store, tmp_path, customers=[customer("C-1")], invoices=[inv("I-1001", "C-1", "1190.00")])
    # the reference the letter and the EPC QR code carry for a debtor with this one invoice
    assert payment_reference("C-1", ["I-1001"]) == "RF31I1001"
    send_at = NOW + dt.timedelta(days=1)
    with store.begin() as conn:
        conn.execute(
            insert(J).values(customer_id="C-1", persona="p", ruleset_version="v", current_step=1)
        )
        conn.execute(
            insert(S).values(
                customer_id="C-1",
                journey="p",
                step=2,
                steps=3,
                ruleset_version="v",
                action="send",
                template="reminder",
                channel="email",
                send_at=send_at,
            )
        )
    statement = tmp_path / "stmt.xml"
    entry_1 = CAMT.read_text().split("<!-- 2:")[0] + "</Stmt></BkToCstmrStmt></Document>"
    statement.write_text(entry_1)
    report = import_statements(store, [statement], rules=rules(), now=NOW)
    assert dict(report.matched) == {"rf_reference": 1}
    assert (report.steps_cancelled, report.journeys_done) == (1, 1)
    with store.connect() as conn:
        assert conn.execute(select(S.c.status)).scalar() == "cancelled"
        assert conn.execute(select(J.c.state)).scalar() == "done"
    assert fact_sheet_for(store, "C-1", NOW + dt.timedelta(days=1))[
        "balance.open_amount"
    ] == Decimal("0.00")


def test_a_partial_payment_keeps_the_reminder(store: Engine, tmp_path: Path) -> None:
    """Something still open: the planned reminder stays, now asking for what is left."""
    load(
        store,
        tmp_path,
        customers=[customer("C-3")],
        invoices=[inv("I-3001", "C-3", "500.00", "2026-3001")],
    )
    summary = plan(store, functools.partial(decide, rules()), NOW)
    assert summary.scheduled_new == 1
    statement = tmp_path / "partial.xml"
    text = CAMT.read_text()
    statement.write_text(
        text.split("<!-- 1:")[0]
        + "<!--"
        + text.split("<!-- 3:")[1].split("<!-- 4:")[0]
        + "</Stmt></BkToCstmrStmt></Document>"
    )
    report = import_statements(store, [statement], rules=rules(), now=NOW)
    assert dict(report.matched) == {"invoice_number": 1} and report.steps_cancelled == 0
    with store.connect() as conn:
        steps = conn.execute(select(S.c.status, S.c.amount_due)).all()
        assert steps == [("scheduled", Decimal("300.00"))]
        assert conn.execute(select(J.c.state)).scalar() == "active"


def test_mt940_statements_import_through_the_cli(db_url: str, tmp_path: Path) -> None:
    """The real command: German structured and Dutch free text MT940 in one call, then the
    unmatched list names the account holder."""
    from engine.store.db import make_engine

    engine = make_engine(db_url)
    load(
        engine,
        tmp_path,
        customers=[customer("C-9")],
        invoices=[inv("I-9", "C-9", "1190.00", "RE-2026-0042")],
    )
    engine.dispose()
    cli = [sys.executable, "-c", "from engine.cli import main; main()", "--db", db_url]
    files = [str(FIXTURES / "de_structured.sta"), str(FIXTURES / "nl_freetext.sta")]
    done = subprocess.run([*cli, "import-statement", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "3 entries, 0 already imported; matched 1 (invoice_number: 1)" in done.stdout
    listing = subprocess.run([*cli, "payments", "--unmatched"], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert "J. DE VRIES" in listing.stdout and "Max Mustermann" in listing.stdout


def test_a_generated_statement_for_a_generated_portfolio_is_mostly_matched(
    db_url: str, tmp_path: Path
) -> None:
    """`generate` then `generate-statement` then `import-statement`: every open invoice the
    statement pays is found; once all are paid, the rest is unplaceable and unmatched."""
    cli = [sys.executable, "-c", "from engine.cli import main; main()", "--db", db_url]
    out = tmp_path / "generated.xml"
    for args in (
        ["generate", "--debtors", "60", "--seed", "3", "--today", "2026-11-20"],
        ["generate-statement", str(out), "--entries", "40", "--seed", "3", "--today", "2026-11-21"],
    ):
        done = subprocess.run([*cli, *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    from engine.store.db import make_engine

    engine = make_engine(db_url)
    report = import_statements(engine, [out], rules=rules(), now=NOW)
    engine.dispose()
    matched = sum(report.matched.values())
    assert matched + report.unmatched == 40
    assert matched >= 12
    assert {"rf_reference", "invoice_number", "end_to_end_id"} <= set(report.matched)


def test_a_person_assigns_an_unmatched_entry_and_the_account_is_known_next_time(
    store: Engine, tmp_path: Path
) -> None:
    """J. de Vries's 100 EUR is assigned to C-4 by hand: 55 pays I-4002, 45 stays on account;
    then a later 99 EUR from that account, without reference, matches C-4's I-4003 by rule 4."""
    from engine.banking.assign import CannotAssign, assign_entry

    portfolio(store, tmp_path)
    load(store, tmp_path, invoices=[inv("I-4002", "C-4", "55.00")])
    import_statements(store, [CAMT], rules=rules(), now=NOW)
    (row,) = statement_entries(store, unmatched_only=True)
    with pytest.raises(CannotAssign, match="no open invoice of C-4"):
        assign_entry(store, row["id"], "C-4", ["I-1001"], rules=rules(), now=NOW)
    done = assign_entry(store, row["id"], "C-4", rules=rules(), by="anna", now=NOW)
    assert done.match is not None
    match = done.match
    assert [(a.invoice_id, a.amount) for a in match.allocations] == [
        ("I-4002", Decimal("55.00")),
        (None, Decimal("45.00")),
    ]
    assert statement_entries(store, unmatched_only=True) == []
    with pytest.raises(CannotAssign, match="credit, matched"):
        assign_entry(store, row["id"], "C-4", rules=rules(), now=NOW)
    load(store, tmp_path, invoices=[inv("I-4003", "C-4", "99.00")])
    later = StatementEntry(
        statement_id="STMT-2026-12-01",
        reference="N0100",
        position=1,
        account_iban="NL91ABNA0417164300",
        booked_on=dt.date(2026, 12, 1),
        amount=Decimal("99.00"),
        currency="EUR",
        direction="credit",
        payer_name="J. de Vries",
        payer_iban="NL20INGB0001234567",
        remittance="december",
    )
    path = tmp_path / "december.xml"
    path.write_bytes(
        write_camt053([later], statement_id="STMT-2026-12-01", account_iban="NL91ABNA0417164300")
    )
    assert dict(import_statements(store, [path], rules=rules(), now=NOW).matched) == {
        "payer_iban_amount": 1
    }


def test_importing_again_finishes_an_import_that_stopped_before_settling(
    store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after booking, before the reminder is cancelled; importing the same
    file again books nothing twice and cancels the reminder."""
    import engine.banking.book as book

    load(store, tmp_path, customers=[customer("C-1")], invoices=[inv("I-1001", "C-1", "1190.00")])
    with store.begin() as conn:
        conn.execute(
            insert(S).values(
                customer_id="C-1", journey="p", step=1, steps=2, ruleset_version="v",
                action="send", send_at=NOW,
            )
        )  # fmt: skip
    statement = tmp_path / "stmt.xml"
    statement.write_text(
        CAMT.read_text().split("<!-- 2:")[0] + "</Stmt></BkToCstmrStmt></Document>"
    )

    def dies(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed")

    with monkeypatch.context() as patch:
        patch.setattr(book, "refresh_customers", dies)
        with pytest.raises(SystemExit):
            import_statements(store, [statement], rules=rules(), now=NOW)
    with store.connect() as conn:
        assert conn.execute(select(S.c.status)).scalar() == "scheduled"
    again = import_statements(store, [statement], rules=rules(), now=NOW)
    assert again.already_imported == 1 and again.steps_cancelled == 1
    assert paid_on(store, "I-1001") == Decimal("1190.00")


def _return(ref: str, amount: str) -> StatementEntry:
    return StatementEntry(
        statement_id="STMT-R", reference=ref, position=1, account_iban="NL91ABNA0417164300",
        booked_on=dt.date(2026, 11, 23), amount=Decimal(amount), currency="EUR",
        direction="return", return_reason="MD06", end_to_end_id=f"BANK-{ref}",
    )  # fmt: skip


def test_a_return_matching_two_credits_is_assigned_by_naming_the_one_it_undoes(
    store: Engine, tmp_path: Path
) -> None:
    """C-5 paid 120 twice (two invoices); an unlinked 120 return cannot say which: the error
    lists both entries; naming one with `reverses` undoes exactly that credit."""
    from engine.banking.assign import CannotAssign, assign_entry
    from engine.banking.book import book_entries

    load(
        store,
        tmp_path,
        customers=[customer("C-5")],
        invoices=[
            inv("I-51", "C-5", "120.00", "2026-0051"),
            inv("I-52", "C-5", "120.00", "2026-0052"),
        ],
    )
    paid = [
        StatementEntry(
            statement_id="STMT-P",
            reference=f"N{n}",
            position=n,
            account_iban="NL91ABNA0417164300",
            booked_on=dt.date(2026, 11, 22),
            amount=Decimal("120.00"),
            currency="EUR",
            direction="credit",
            remittance=f"factuur 2026-005{n}",
        )
        for n in (1, 2)
    ]
    items = [("p.xml", "camt053", e) for e in [*paid, _return("R1", "120.00")]]
    report = book_entries(store, items, rules=rules(), now=NOW)
    assert report.returns_unlinked == 1
    (line,) = statement_entries(store, unmatched_only=True)
    credits = [e["id"] for e in statement_entries(store) if e["direction"] == "credit"]
    with pytest.raises(CannotAssign, match=rf"2 booked credits .*entries {credits[0]}, {credits[1]}"):  # fmt: skip
        assign_entry(store, line["id"], "C-5", rules=rules(), now=NOW)
    done = assign_entry(store, line["id"], "C-5", rules=rules(), reverses=credits[1], now=NOW)
    assert done.reverses == credits[1] and len(done.payments_undone) == 1
    assert (paid_on(store, "I-51"), paid_on(store, "I-52")) == (Decimal("120.00"), Decimal(0))
    statuses = {e["id"]: e["status"] for e in statement_entries(store)}
    assert statuses == {credits[0]: "matched", credits[1]: "reversed", line["id"]: "return"}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_people_assigning_one_entry_at_once_book_it_once(store: Engine, tmp_path: Path) -> None:
    """Anna and Ben assign the same unmatched credit in the same instant: one wins, the other
    is told it was just assigned, and the money is booked once."""
    import threading

    from engine.banking.assign import EntryNotOpen, assign_entry
    from engine.banking.book import book_entries

    load(store, tmp_path, customers=[customer("C-4")], invoices=[inv("I-4", "C-4", "80.00")])
    gift = StatementEntry(
        statement_id="STMT-G", reference="N1", position=1, account_iban="NL91ABNA0417164300",
        booked_on=dt.date(2026, 11, 23), amount=Decimal("80.00"), currency="EUR",
        direction="credit", remittance="?",
    )  # fmt: skip
    book_entries(store, [("g.xml", "camt053", gift)], rules=rules(), now=NOW)
    (line,) = statement_entries(store, unmatched_only=True)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def assign(who: str) -> None:
        start.wait()
        try:
            assign_entry(store, line["id"], "C-4", rules=rules(), by=who, now=NOW)
            outcomes.append("booked")
        except EntryNotOpen:
            outcomes.append("refused")

    threads = [threading.Thread(target=assign, args=(who,)) for who in ("anna", "ben")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["booked", "refused"]
    assert paid_on(store, "I-4") == Decimal("80.00")
