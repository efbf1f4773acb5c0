"""Generated bank statements: entries paying a portfolio's open invoices the ways payers do.

For tests, the demo and `bench/match.py`: each entry is drawn in one payer style — our RF
reference (structured, or typed into the text), the invoice number in free text with the
prefixes, spaces and line breaks people add, a collected direct debit with our end-to-end id,
no reference from a known account for one invoice or the sum of two, a partial payment, or
money nobody can place. `write_camt053` writes them as a camt.053.001.02 file.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal

from lxml import etree

from engine.banking.entry import StatementEntry
from engine.banking.match import OpenInvoice
from engine.messages.payments.options import payment_reference

#: Payer styles and their share of the generated entries.
STYLES: Mapping[str, float] = {
    "rf_structured": 0.30,
    "rf_in_text": 0.05,
    "invoice_number": 0.25,
    "direct_debit": 0.10,
    "iban_one_invoice": 0.10,
    "iban_two_invoices": 0.05,
    "partial": 0.05,
    "unplaceable": 0.10,
}
_PREFIXES = ("", "Factuur ", "Rechnung ", "RE ", "Nr. ", "Invoice no. ", "Fact.nr ")


def _number_text(rng: random.Random, number: str) -> str:
    """An invoice number as payers type it: other prefixes, spaces, a line break."""
    digits = number.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ-. ") if rng.random() < 0.3 else number
    shape = rng.random()
    if shape < 0.3:
        digits = digits.replace("-", " ")
    elif shape < 0.45:
        cut = rng.randrange(1, len(digits))
        digits = digits[:cut] + "\n" + digits[cut:]
    return f"{rng.choice(_PREFIXES)}{digits} {rng.choice(('', 'dank u', 'mfG', 'thanks'))}".strip()


def statement_entries(
    invoices: Sequence[OpenInvoice],
    payer_ibans: Mapping[str, str],
    *,
    count: int,
    seed: int = 1,
    booked_on: dt.date,
    statement_id: str = "GEN-STMT-1",
    account_iban: str = "NL91ABNA0417164300",
) -> list[tuple[str, StatementEntry]]:
    """`count` credit entries (style, entry), each paying a different open invoice; once all
    are paid, the rest are unplaceable."""
    rng = random.Random(seed)
    by_customer: dict[str, list[OpenInvoice]] = defaultdict(list)
    for invoice in invoices:
        by_customer[invoice.customer_id].append(invoice)
    pool = list(invoices)
    rng.shuffle(pool)
    used: set[str] = set()
    styles, weights = list(STYLES), list(STYLES.values())
    out: list[tuple[str, StatementEntry]] = []
    for position in range(1, count + 1):
        style = rng.choices(styles, weights=weights)[0]
        while pool and pool[-1].id in used:
            pool.pop()
        if pool:
            invoice = pool.pop()
        else:  # every open invoice is paid: the rest is money nobody can place
            invoice, style = invoices[rng.randrange(len(invoices))], "unplaceable"
        used.add(invoice.id)
        fields: dict[str, object] = {}
        amount = invoice.open_amount
        iban = payer_ibans.get(invoice.customer_id)
        if style == "rf_structured":
            fields["creditor_reference"] = payment_reference(None, [invoice.id])
        elif style == "rf_in_text":
            ref = payment_reference(None, [invoice.id])
            fields["remittance"] = " ".join(ref[i : i + 4] for i in range(0, len(ref), 4))
        elif style == "invoice_number":
            fields["remittance"] = _number_text(rng, invoice.number or invoice.id)
        elif style == "direct_debit":
            fields["end_to_end_id"] = invoice.id
        elif style == "iban_one_invoice":
            fields["remittance"] = rng.choice(("betaling", "Zahlung", "", "termijn"))
        elif style == "iban_two_invoices":
            others = [i for i in by_customer[invoice.customer_id] if i.id not in used]
            if others:
                used.add(others[0].id)
                amount += others[0].open_amount
        elif style == "partial":
            amount = max(Decimal("0.01"), (amount / 2).quantize(Decimal("0.01")))
            fields["remittance"] = _number_text(rng, invoice.number or invoice.id)
        else:
            amount = Decimal(rng.randint(500, 90000)) / 100
            fields["remittance"] = rng.choice(("gift", "terugbetaling", "Miete", "zie mail"))
            iban = None
        out.append(
            (
                style,
                StatementEntry(
                    statement_id=statement_id,
                    reference=f"G{position:08d}",
                    position=position,
                    account_iban=account_iban,
                    booked_on=booked_on,
                    amount=amount,
                    currency=invoice.currency,
                    direction="credit",
                    payer_name=f"Payer {invoice.customer_id}" if iban else "Onbekend",
                    payer_iban=iban or "NL20INGB0001234567",
                    **fields,  # type: ignore[arg-type]
                ),
            )
        )
    return out


def write_camt053(entries: Sequence[StatementEntry], *, statement_id: str, account_iban: str) -> bytes:  # fmt: skip
    """The entries as a camt.053.001.02 document (one Ntry per entry, one TxDtls each)."""
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"

    def sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:  # fmt: skip
        node = etree.SubElement(parent, f"{{{ns}}}{tag}", attrib)
        if text is not None:
            node.text = text
        return node

    document = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})  # type: ignore[dict-item]
    statement = sub(sub(document, "BkToCstmrStmt"), "Stmt")
    sub(statement, "Id", statement_id)
    sub(sub(sub(statement, "Acct"), "Id"), "IBAN", account_iban)
    for entry in entries:
        ntry = sub(statement, "Ntry")
        sub(ntry, "NtryRef", entry.reference)
        sub(ntry, "Amt", f"{entry.amount:.2f}", Ccy=entry.currency)
        sub(ntry, "CdtDbtInd", "CRDT" if entry.direction == "credit" else "DBIT")
        sub(ntry, "Sts", "BOOK")
        sub(sub(ntry, "BookgDt"), "Dt", entry.booked_on.isoformat())
        sub(sub(ntry, "ValDt"), "Dt", entry.booked_on.isoformat())
        tx = sub(sub(ntry, "NtryDtls"), "TxDtls")
        sub(sub(tx, "Refs"), "EndToEndId", entry.end_to_end_id or "NOTPROVIDED")
        parties = sub(tx, "RltdPties")
        if entry.payer_name:
            sub(sub(parties, "Dbtr"), "Nm", entry.payer_name)
        if entry.payer_iban:
            sub(sub(sub(parties, "DbtrAcct"), "Id"), "IBAN", entry.payer_iban)
        remittance = sub(tx, "RmtInf")
        for line in entry.remittance.splitlines():
            sub(remittance, "Ustrd", line)
        if entry.creditor_reference:
            ref = sub(sub(remittance, "Strd"), "CdtrRefInf")
            sub(sub(sub(ref, "Tp"), "CdOrPrtry"), "Cd", "SCOR")
            sub(ref, "Ref", entry.creditor_reference)
    return bytes(
        etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
