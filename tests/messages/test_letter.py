"""Letters on paper: the recipient inside the DIN 5008 window, long letters paginated with a
header and page numbers, the QR code where the text says it is (under the subject, page 1)."""

from __future__ import annotations

import re

import pytest
from fpdf import FPDF

from engine.messages.creditor import Creditor
from engine.messages.letter_pdf import LetterError, LetterParts, build_letter

MM = 72 / 25.4


def letter(recipient: list[str], body: str = "Text", qr: bool = True) -> FPDF:
    pdf = build_letter(
        LetterParts(
            creditor=Creditor.example("DE"),
            recipient=recipient,
            date="24. November 2026",
            subject="2. Mahnung",
            body=body,
            reference="RF34C1001",
            reference_label="Verwendungszweck",
            epc_payload="BCD\n002\n1\nSCT\n\nBeispiel GmbH\nDE89370400440532013000\nEUR10.00"
            if qr
            else None,
            language="de",
            amount="10,00 €",
            pay_by="1. Dezember 2026",
        )
    )
    pdf.compress = False
    return pdf


def placed(pdf: FPDF, data: bytes) -> list[tuple[float, float, str]]:
    """(x mm, y mm from the top, text) of every text line on page 1."""
    first_page = data.split(b"/Type /Page\n", 2)[1] if b"/Type /Page\n" in data else data
    out = []
    for found in re.finditer(rb"BT ([\d.]+) ([\d.]+) Td \((.*?)\) Tj", first_page):
        text = found[3].decode("cp1252")
        out.append((float(found[1]) / MM, (pdf.h_pt - float(found[2])) / MM, text))
    return out


def test_a_long_company_name_wraps_inside_the_envelope_window() -> None:
    """ "Müller Haustechnik Sanitär und Heizung GmbH & Co. KG" wraps onto a second line inside
    the 85 mm window instead of running 19 mm past it, so the envelope never hides "Co. KG"."""
    name = "Müller Haustechnik Sanitär und Heizung GmbH & Co. KG"
    pdf = letter([name, "z. Hd. Buchhaltung", "Industriestraße 112a", "45127 Essen"])
    data = bytes(pdf.output())
    pdf.set_font("helvetica", "", 10)
    lines = [p for p in placed(pdf, data) if 62.7 <= p[1] <= 95 and p[0] < 100]
    texts = [t for _, _, t in lines]
    assert "Co. KG" in " ".join(texts) and name not in texts
    for x, y, text in lines:
        assert x >= 20 and x + pdf.get_string_width(text) <= 105, (text, x)
        assert 62.7 <= y <= 90, (text, y)


def test_an_address_that_cannot_fit_the_window_is_refused_with_what_to_shorten() -> None:
    """Twelve address lines do not fit even in 8 pt: a clear error, not a hidden line."""
    with pytest.raises(LetterError, match="does not fit the envelope window"):
        letter([f"Zeile {n} mit einem recht langen Text darin" for n in range(12)])


def test_a_long_letter_flows_onto_a_second_page_with_header_and_page_numbers() -> None:
    """Sixty invoice lines take two pages; page 2 repeats creditor, subject and reference and
    both pages say "Seite n von 2"."""
    body = "\n".join(
        f"- Rechnung R-{n:04d}: 100,00 €, fällig seit 1. Oktober 2026" for n in range(60)
    )
    pdf = letter(["Weber Bau GmbH", "Hauptstraße 1", "10115 Berlin"], body=body)
    data = bytes(pdf.output())
    assert pdf.pages_count == 2
    # fpdf2 writes the page total ({nb}) as its own text piece: "(Seite 1 von ) Tj (2) Tj"
    assert b"(Seite 1 von ) Tj (2) Tj" in data and b"(Seite 2 von ) Tj (2) Tj" in data
    assert data.count(b"2. Mahnung - Verwendungszweck: RF34C1001") == 1  # the page-2 header


def test_the_qr_code_sits_under_the_subject_on_page_one_beside_amount_and_date() -> None:
    """The payment block comes first: amount and pay-by date next to the QR code on page 1,
    before the text that refers to "the code at the top of this letter"."""
    body = "\n".join(f"Absatz {n}" for n in range(80))
    pdf = letter(["Weber Bau GmbH", "Hauptstraße 1", "10115 Berlin"], body=body)
    data = bytes(pdf.output())
    page_one = placed(pdf, data)
    amount = next(y for _, y, t in page_one if t.startswith("Betrag: 10,00"))
    first_text = next(y for _, y, t in page_one if t == "Absatz 0")
    assert 103 < amount < first_text
    assert pdf.pages_count >= 2
