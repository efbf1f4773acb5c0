"""A rendered letter as an A4 PDF: DIN 5008 form B, the address in the envelope window, QR code.

Positions in millimetres from the top-left corner of the sheet (DIN 5008 form B): the
address field starts 20 mm from the left edge and 45 mm from the top; its first 17.7 mm hold
the return address line, the recipient follows. The information block (date, reference) sits
125 mm from the left; the subject at 103.46 mm; fold marks at 105 and 210 mm, the punch mark
at 148.5 mm. Dutch window envelopes (C5/DL, window left) take the same position.
Core PDF fonts with Windows-1252 text, so no font files are needed (€, ß, ë are in it).

The payment block (amount, pay-by date, IBAN, reference and the EPC QR code) sits right under
the subject on page 1, so the call to action comes first and the text can say "the QR code at
the top of this letter". Text that does not fit flows onto further pages, each with a header
(creditor, subject) and every page numbered ("Pagina 1 van 2"). Recipient lines wrap inside the
DIN 5008 window; an address that cannot fit even in a smaller font is refused.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

from engine.errors import PayjourneyError
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
RECIPIENT_LINES_MAX_MM = 27.3  # 45 mm field minus the 17.7 mm zone above the recipient
RECIPIENT_FONT_SIZES = (10.0, 9.0, 8.0)
FOOTER_Y = 283.0
WORDS = {
    "nl": {
        "date": "Datum",
        "iban": "IBAN",
        "scan": "Scan met de bank-app om te betalen",
        "amount": "Bedrag",
        "to": "T.n.v.",
        "pay_by": "Uiterlijk betalen op",
        "page": "Pagina {n} van {nb}",
    },
    "de": {
        "date": "Datum",
        "iban": "IBAN",
        "scan": "Mit der Banking-App scannen und zahlen",
        "amount": "Betrag",
        "to": "Empfänger",
        "pay_by": "Zahlbar bis",
        "page": "Seite {n} von {nb}",
    },
}


class LetterError(PayjourneyError):
    """The letter cannot be laid out (e.g. an address too long for the envelope window)."""


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
    amount: str | None = None  # "€ 1.234,50": shown in the payment block
    pay_by: str | None = None  # "1 december 2026": the message's one deadline


_AMOUNT_SPACE = re.compile(r"(?<=€) (?=\d)|(?<=\d) (?=€)")


def _text(value: str) -> str:
    """Text the core fonts can print: Windows-1252, anything else as '?'. An amount keeps its
    euro sign on the same line (a no-break space between them)."""
    value = _AMOUNT_SPACE.sub("\u00a0", value)
    return value.encode("cp1252", "replace").decode("cp1252")


class _Sheet(FPDF):
    """An A4 letter whose pages after the first carry a header, and all a numbered footer."""

    def __init__(self, parts: LetterParts, words: dict[str, str]) -> None:
        super().__init__(format="A4", unit="mm")
        self.parts = parts
        self.words = words

    def header(self) -> None:
        if self.page_no() == 1:
            return
        c = self.parts.creditor
        self.set_font("helvetica", "B", 10)
        self.set_xy(LEFT, 12)
        self.cell(0, 5, _text(c.name), new_x="LMARGIN", new_y="NEXT")
        self.set_font("helvetica", "", 8)
        self.set_x(LEFT)
        line = f"{self.parts.subject} - {self.parts.reference_label}: {self.parts.reference}"
        self.cell(0, 4, _text(line), new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(180, 180, 180)
        self.line(LEFT, 23, 210 - RIGHT, 23)
        self.set_y(28)

    def footer(self) -> None:
        c = self.parts.creditor
        self.set_font("helvetica", "", 7)
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
        self.set_xy(LEFT, FOOTER_Y)
        self.cell(0, 4, _text(footer), new_x="LMARGIN", new_y="NEXT")
        self.set_x(LEFT)
        page = self.words["page"].format(n=self.page_no(), nb="{nb}")
        self.cell(0, 4, _text(page), align="R")


def _recipient_lines(pdf: FPDF, recipient: Sequence[str]) -> tuple[float, list[str]]:
    """The recipient lines wrapped to the window's width, in the largest font that fits."""
    width = ADDRESS_WIDTH - 5
    lines = [line for line in recipient if line.strip()]
    for size in RECIPIENT_FONT_SIZES:
        pdf.set_font("helvetica", "", size)
        height = size * 0.45
        wrapped: list[str] = []
        for line in lines:
            found = pdf.multi_cell(width, height, _text(line), dry_run=True, output="LINES")
            wrapped.extend(found if isinstance(found, list) else [])
        if len(wrapped) * height <= RECIPIENT_LINES_MAX_MM:
            return size, wrapped
    raise LetterError(
        "the recipient address does not fit the envelope window (DIN 5008: at most "
        f"{RECIPIENT_LINES_MAX_MM} mm of lines, {ADDRESS_WIDTH - 5:.0f} mm wide): "
        + " / ".join(lines)
        + "; shorten the name or the contact name in the contacts file"
    )


def build_letter(parts: LetterParts) -> FPDF:
    """The letter as an FPDF document (one or more pages)."""
    words = WORDS.get(parts.language, WORDS["nl"])
    pdf = _Sheet(parts, words)
    pdf.core_fonts_encoding = "cp1252"
    pdf.set_margins(LEFT, 20.0, RIGHT)
    pdf.set_auto_page_break(auto=True, margin=297 - FOOTER_Y + 4)
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
    # address field: return line, then the recipient, wrapped inside the window
    pdf.set_font("helvetica", "", 7)
    pdf.set_xy(ADDRESS_X + 5, RETURN_LINE_Y)
    back = f"{c.name}, {c.street}, {c.postcode} {c.city}"
    pdf.cell(ADDRESS_WIDTH - 5, 4, _text(back))
    size, lines = _recipient_lines(pdf, parts.recipient)
    pdf.set_font("helvetica", "", size)
    pdf.set_xy(ADDRESS_X + 5, RECIPIENT_Y)
    for line in lines:
        pdf.set_x(ADDRESS_X + 5)
        pdf.cell(ADDRESS_WIDTH - 5, size * 0.45, line, new_x="LMARGIN", new_y="NEXT")
    # information block
    pdf.set_font("helvetica", "", 9)
    pdf.set_xy(INFO_X, INFO_Y)
    for label, value in (
        (parts.reference_label, parts.reference),
        (words["date"], parts.date),
    ):
        pdf.set_x(INFO_X)
        pdf.cell(0, 4.6, _text(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    # subject, the payment block (call to action first), then the text
    pdf.set_xy(LEFT, SUBJECT_Y)
    pdf.set_font("helvetica", "B", 11)
    pdf.multi_cell(0, 5.5, _text(parts.subject), align="L", new_x="LMARGIN", new_y="NEXT")
    if parts.epc_payload:
        _qr_block(pdf, parts, words)
    pdf.ln(4)
    pdf.set_font("helvetica", "", 10)
    pdf.multi_cell(0, 4.6, _text(parts.body), align="L", new_x="LMARGIN", new_y="NEXT")
    return pdf


def _qr_block(pdf: FPDF, parts: LetterParts, words: dict[str, str]) -> None:
    assert parts.epc_payload is not None
    y = pdf.get_y() + 4
    pdf.image(io.BytesIO(qr_png(parts.epc_payload)), x=LEFT, y=y, w=QR_SIZE, h=QR_SIZE)
    pdf.set_xy(LEFT + QR_SIZE + 5, y + 1)
    rows: list[tuple[str, bool]] = []
    if parts.amount:
        rows.append((f"{words['amount']}: {parts.amount}", True))
    if parts.pay_by:
        rows.append((f"{words['pay_by']}: {parts.pay_by}", True))
    bic = f" (BIC {parts.creditor.bic})" if parts.creditor.bic else ""
    rows += [
        (f"{words['to']}: {parts.creditor.name}", False),
        (f"{words['iban']}: {format_iban(parts.creditor.iban)}{bic}", False),
        (f"{parts.reference_label}: {parts.reference}", False),
        (words["scan"], False),
    ]
    for line, bold in rows:
        pdf.set_font("helvetica", "B" if bold else "", 9)
        pdf.set_x(LEFT + QR_SIZE + 5)
        pdf.cell(0, 4.6, _text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(y + QR_SIZE + 1)


def write_letter(parts: LetterParts, path: Path) -> Path:
    """Write the letter PDF to `path` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    build_letter(parts).output(str(path))
    return path
