"""Statement files as Dutch and German banks deliver them read into entries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from engine.banking.errors import BrokenStatement, UnknownStatementFormat
from engine.banking.read import read_statement

FIXTURES = Path(__file__).with_name("fixtures")


def test_a_camt053_batch_booking_becomes_one_entry_per_transaction() -> None:
    """A batched Ntry with three TxDtls gives three entries, each with its own payer and text."""
    kind, entries = read_statement(FIXTURES / "camt053_v02_batch.xml")
    assert kind == "camt053"
    batch = [e for e in entries if e.reference.startswith("N0002/")]
    assert [e.amount for e in batch] == [Decimal("350.00"), Decimal("100.00"), Decimal("100.00")]
    assert [e.payer_name for e in batch] == [
        "Schmidt Logistik GmbH",
        "Visser Retail",
        "J. de Vries",
    ]
    assert batch[0].remittance == "Rechnungen RE 2026 2001 und RE-2026-\n2002 abzgl. nichts"
    assert {e.position for e in batch} == {2}


def test_camt053_reads_the_structured_rf_reference_and_skips_pending_lines() -> None:
    """The SCOR creditor reference is kept; a PDNG entry is not money yet."""
    _, entries = read_statement(FIXTURES / "camt053_v02_batch.xml")
    first = entries[0]
    assert first.creditor_reference == "RF31I1001"
    assert first.end_to_end_id is None  # NOTPROVIDED
    assert first.account_iban == "NL91ABNA0417164300"
    assert first.booked_on == dt.date(2026, 11, 23)
    assert not [e for e in entries if e.reference == "N0008"]


def test_a_returned_direct_debit_is_a_return_with_its_reason_code() -> None:
    """DBIT with RtrInf/Rsn/Cd MD06 is a return; a bank fee is another debit."""
    _, entries = read_statement(FIXTURES / "camt053_v02_batch.xml")
    by_ref = {e.reference: e for e in entries}
    assert by_ref["N0006"].direction == "return"
    assert by_ref["N0006"].return_reason == "MD06"
    assert by_ref["N0006"].end_to_end_id == "I-6001"
    assert by_ref["N0007"].direction == "debit"


def test_camt053_v08_reads_the_party_form_and_the_account_servicer_reference() -> None:
    """Version .001.08 puts the name under Dbtr/Pty/Nm and the status under Sts/Cd."""
    _, (entry,) = read_statement(FIXTURES / "camt053_v08_return.xml")
    assert entry.payer_name == "Erika Musterfrau"
    assert entry.reference == "COBA-RL-778"
    assert (entry.direction, entry.return_reason) == ("return", "AC04")


def test_german_mt940_structured_86_subfields_are_mapped() -> None:
    """?20-?29 purpose with EREF+/SVWZ+, ?31 IBAN, ?32 name, ?34 return reason."""
    kind, (credit, ret) = read_statement(FIXTURES / "de_structured.sta")
    assert kind == "mt940"
    assert credit.payer_iban == "DE89370400440532013000"
    assert credit.payer_name == "Beispiel GmbH"
    assert credit.end_to_end_id == "C-2001-INV"
    assert "RE-2026-0042" in credit.remittance
    assert (ret.direction, ret.return_reason, ret.amount) == ("return", "AC04", Decimal("250.00"))
    # German banks send :20:STARTUMSE every day: the account and :28C: make the id unique
    assert credit.statement_id == "10020030/1234567890:00112/001:STARTUMSE"


def test_dutch_mt940_free_text_tags_are_mapped_across_line_breaks() -> None:
    """/IBAN/…/NAME/…/REMI/… with the invoice number wrapped onto the next line."""
    _, (entry,) = read_statement(FIXTURES / "nl_freetext.sta")
    assert entry.payer_iban == "NL20INGB0001234567"
    assert entry.payer_name == "J. DE VRIES"
    assert entry.remittance == "Factuur INV-2026-0077 betaling"
    assert entry.account_iban == "NL91ABNA0417164300"


def test_a_broken_camt_entry_is_reported_with_its_position_and_line(tmp_path: Path) -> None:
    """An entry without an amount breaks the file: entry 2, its line, nothing read."""
    text = (FIXTURES / "camt053_v02_batch.xml").read_text()
    broken = text.replace('<Amt Ccy="EUR">550.00</Amt>', "", 1)
    path = tmp_path / "broken.xml"
    path.write_text(broken)
    with pytest.raises(BrokenStatement, match=r"broken.xml: entry 2 \(line \d+\): no amount"):
        read_statement(path)


def test_an_invalid_payer_iban_is_a_broken_entry(tmp_path: Path) -> None:
    """An IBAN-shaped account with wrong check digits is refused (schwifty), with its entry."""
    text = (FIXTURES / "nl_freetext.sta").read_text().replace("NL20INGB", "NL21INGB")
    path = tmp_path / "bad.sta"
    path.write_text(text)
    with pytest.raises(BrokenStatement, match=r"bad.sta: entry 1: account 'NL21INGB0001234567'"):
        read_statement(path)


def test_a_batch_whose_parts_do_not_add_up_is_broken(tmp_path: Path) -> None:
    """Three transactions that do not sum to the entry amount are a broken entry."""
    text = (FIXTURES / "camt053_v02_batch.xml").read_text()
    path = tmp_path / "sum.xml"
    path.write_text(text.replace('<Amt Ccy="EUR">550.00</Amt>', '<Amt Ccy="EUR">551.00</Amt>'))
    with pytest.raises(BrokenStatement, match=r"add up to 550\.00, not the entry amount 551\.00"):
        read_statement(path)


def test_any_other_file_says_which_formats_are_read(tmp_path: Path) -> None:
    """A CSV is neither CAMT.053 nor MT940, and the error says what to export."""
    path = tmp_path / "export.csv"
    path.write_text("date,amount\n2026-11-23,10.00\n")
    with pytest.raises(UnknownStatementFormat, match=r"export CAMT\.053"):
        read_statement(path)
