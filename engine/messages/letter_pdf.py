"""A rendered letter as an A4 PDF: DIN 5008 form B, the address in the envelope window, QR code.

Positions in millimetres from the top-left corner of the sheet (DIN 5008 form B): the
address field starts 20 mm from the left edge and 45 mm from the top; its first 17.7 mm hold
the return address line, the recipient follows. The information block (date, reference) sits
125 mm from the left; the subject at 103.46 mm; fold marks at 105 and 210 mm, the punch mark
at 148.5 mm. Dutch window envelopes (C5/DL, window left) take the same position.
Core PDF fonts with Windows-1252 text, so no font files are needed (€, ß, ë are in it).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

from engine.messages.creditor import Creditor
from engine.messages.iban import format_iban
from engine.messages.payments.bank_transfer import qr_png

ADDRESS_X = 20.0
ADDRESS_TOP = 45.0
RETURN_LINE_Y = 50.0  # inside the 17.7 mm Zusatz- und Vermerkzone
RECIPIENT_Y = 62.7
ADDRESS_WIDTH = 85.0
INFO_X = 125.0
INFO_Y = 50.0
SUBJECT_Y = 103.46
LEFT = 25.0
RIGHT = 20.0
FOLD_MARKS = (105.0, 210.0)
PUNCH_MARK = 148.5
QR_SIZE = 32.0
WORDS = {
    "nl": {"date": "Datum", "iban": "IBAN", "scan": "Scan met de bank-app om te betalen"},
    "de": {"date": "Datum", "iban": "IBAN", "scan": "Mit der Banking-App scannen und zahlen"},
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LetterParts:
    """What goes on the sheet."""

    creditor: Creditor
    recipient: Sequence[str]  # name and address lines
    date: str  # "10 november 2026"
    subject: str
    body: str  # the rendered letter text
    reference: str
    reference_label: str
    epc_payload: str | None  # the bank-transfer QR, when bank transfer is offered
    language: str = "nl"


_AMOUNT_SPACE = re.compile(r"(?<=€) (?=\d)|(?<=\d) (?=€)")


def _text(value: str) -> str:
    """Text the core fonts can print: Windows-1252, anything else as '?'. An amount keeps its
    euro sign on the same line (a no-break space between them)."""
    value = _AMOUNT_SPACE.sub("\u00a0", value)
    return value.encode("cp1252", "replace").decode("cp1252")


def build_letter(parts: LetterParts) -> FPDF:
    """The letter as an FPDF document (one or more pages)."""
    words = WORDS.get(parts.language, WORDS["nl"])
    pdf = FPDF(format="A4", unit="mm")
    pdf.core_fonts_encoding = "cp1252"
    pdf.set_margins(LEFT, 20.0, RIGHT)
    pdf.set_auto_page_break(auto=True, margin=25.0)
    pdf.set_title(_text(parts.subject))
    pdf.set_author(_text(parts.creditor.name))
    pdf.add_page()
    c = parts.creditor
    # letterhead
    pdf.set_font("helvetica", "B", 14)
    pdf.set_xy(LEFT, 18)
    pdf.cell(0, 7, _text(c.name))
    pdf.set_font("helvetica", "", 8)
    pdf.set_xy(LEFT, 26)
    contact = " · ".join(x for x in (c.phone, c.email, c.website) if x)
    pdf.cell(0, 4, _text(contact.replace("·", "-")))
    # fold and punch marks
    pdf.set_draw_color(150, 150, 150)
    for y in (*FOLD_MARKS, PUNCH_MARK):
        pdf.line(3, y, 8 if y != PUNCH_MARK else 10, y)
    # address field: return line, then the recipient
    pdf.set_font("helvetica", "", 7)
    pdf.set_xy(ADDRESS_X + 5, RETURN_LINE_Y)
    back = f"{c.name}, {c.street}, {c.postcode} {c.city}"
    pdf.cell(ADDRESS_WIDTH - 5, 4, _text(back))
    pdf.set_font("helvetica", "", 10)
    pdf.set_xy(ADDRESS_X + 5, RECIPIENT_Y)
    for line in list(parts.recipient)[:6]:
        pdf.set_x(ADDRESS_X + 5)
        pdf.cell(ADDRESS_WIDTH - 5, 4.6, _text(line), new_x="LMARGIN", new_y="NEXT")
    # information block
    pdf.set_font("helvetica", "", 9)
    pdf.set_xy(INFO_X, INFO_Y)
    for label, value in (
        (parts.reference_label, parts.reference),
        (words["date"], parts.date),
    ):
        pdf.set_x(INFO_X)
        pdf.cell(0, 4.6, _text(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    # subject and body
    pdf.set_xy(LEFT, SUBJECT_Y)
    pdf.set_font("helvetica", "B", 11)
    pdf.multi_cell(0, 5.5, _text(parts.subject), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("helvetica", "", 10)
    pdf.multi_cell(0, 5, _text(parts.body), align="L", new_x="LMARGIN", new_y="NEXT")
    if parts.epc_payload:
        _qr_block(pdf, parts, words)
    # footer with the creditor's registration, on the last page
    pdf.set_auto_page_break(auto=False)
    pdf.set_font("helvetica", "", 7)
    footer = " - ".join(
        x
        for x in (
            f"{c.name}, {c.street}, {c.postcode} {c.city}",
            c.registration,
            f"IBAN {format_iban(c.iban)}",
            f"BIC {c.bic}" if c.bic else None,
        )
        if x
    )
    pdf.set_xy(LEFT, 285)
    pdf.cell(0, 4, _text(footer))
    return pdf


def _qr_block(pdf: FPDF, parts: LetterParts, words: dict[str, str]) -> None:
    assert parts.epc_payload is not None
    if pdf.get_y() + QR_SIZE + 10 > 270:
        pdf.add_page()
    y = pdf.get_y() + 6
    pdf.image(io.BytesIO(qr_png(parts.epc_payload)), x=LEFT, y=y, w=QR_SIZE, h=QR_SIZE)
    pdf.set_xy(LEFT + QR_SIZE + 5, y + 8)
    pdf.set_font("helvetica", "", 9)
    for line in (
        words["scan"],
        f"{words['iban']}: {format_iban(parts.creditor.iban)}",
        f"{parts.reference_label}: {parts.reference}",
    ):
        pdf.set_x(LEFT + QR_SIZE + 5)
        pdf.cell(0, 5, _text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(y + QR_SIZE + 2)


def write_letter(parts: LetterParts, path: Path) -> Path:
    """Write the letter PDF to `path` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    build_letter(parts).output(str(path))
    return path
