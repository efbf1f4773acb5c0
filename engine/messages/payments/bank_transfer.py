"""Bank transfer: IBAN check, ISO 11649 (RF) creditor reference, EPC069-12 payload and QR code."""

from __future__ import annotations

import base64
import functools
import re
import struct
import zlib
from decimal import Decimal

import numpy as np

from engine.messages.iban import InvalidIban, mod97, normalise_iban
from engine.messages.payments.base import PaymentError
from engine.messages.payments.qr import Matrix, epc_qr_matrix

EPC_MAX_BYTES = 331
EPC_MAX_AMOUNT = Decimal("999999999.99")
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")


def rf_reference(base: str) -> str:
    """An ISO 11649 creditor reference ("RF18 ...") for an invoice or customer id.

    Banks check its digits, so a mistyped reference is refused at the payer's bank instead of
    landing as an unmatched payment.
    """
    body = re.sub(r"[^A-Za-z0-9]", "", base).upper()
    if not 1 <= len(body) <= 21:
        raise PaymentError(f"an RF reference needs 1-21 letters or digits, got {base!r}")
    check = 98 - mod97(body + "RF00")
    return f"RF{check:02d}{body}"


def is_rf_reference(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    return compact.startswith("RF") and len(compact) <= 25 and mod97(compact[4:] + compact[:4]) == 1


def epc_payload(
    *,
    name: str,
    iban: str,
    amount: Decimal,
    bic: str | None = None,
    reference: str | None = None,
    text: str | None = None,
    currency: str = "EUR",
) -> str:
    """The EPC069-12 (GiroCode) payload: version 002, UTF-8, SEPA credit transfer.

    Lines: BCD, 002, 1 (UTF-8), SCT, BIC, name (<= 70), IBAN, EUR amount, purpose (empty),
    structured reference (an RF reference) or else unstructured text (<= 140), and no
    information to the payer. At most 331 bytes.
    """
    if currency != "EUR":
        raise PaymentError(f"an EPC QR code pays euros only, not {currency}")
    if not Decimal("0.01") <= amount <= EPC_MAX_AMOUNT:
        raise PaymentError(f"an EPC QR amount must be 0.01-999999999.99 EUR, got {amount}")
    name = name.strip()
    if not name or len(name) > 70:
        raise PaymentError("the beneficiary name must be 1-70 characters")
    bic_line = ""
    if bic:
        bic_line = bic.replace(" ", "").upper()
        if not _BIC.match(bic_line):
            raise PaymentError(f"{bic!r} is not a valid BIC")
    structured, unstructured = "", ""
    if reference and is_rf_reference(reference):
        structured = reference.replace(" ", "").upper()
    elif reference or text:
        # one line without blanks at its end: a line break would end field 11 and start a twelfth
        joined = " ".join(p for p in (reference, text) if p)
        unstructured = " ".join(joined.splitlines())[:140].rstrip()
    try:
        beneficiary_iban = normalise_iban(iban)
    except InvalidIban as exc:
        raise PaymentError(str(exc)) from exc
    lines = [
        "BCD",
        "002",
        "1",
        "SCT",
        bic_line,
        name,
        beneficiary_iban,
        f"EUR{amount.quantize(Decimal('0.01'))}",
        "",
        structured,
        unstructured,
    ]
    payload = "\n".join(lines).rstrip("\n")
    if len(payload.encode("utf-8")) > EPC_MAX_BYTES:
        raise PaymentError("the EPC payload is longer than 331 bytes; shorten name or text")
    return payload


#: Quiet zone around the code, in modules (the QR standard asks for 4).
QR_BORDER = 4


def epc_qr(payload: str) -> Matrix:
    """The QR code of an EPC payload (True = dark module, no quiet zone): its UTF-8 bytes in
    one byte-mode segment, error correction M as EPC069-12 requires, version at most 13."""
    return epc_qr_matrix(payload.encode("utf-8"))


def png_bytes(matrix: Matrix, *, scale: int, border: int = QR_BORDER) -> bytes:
    """The code as a 1-bit greyscale PNG: `scale` pixels a module, `border` light modules of
    quiet zone around it (the same pixels segno's PNG writer drew).

    Written directly (signature, IHDR, one zlib IDAT, IEND): Pillow's encoder took 0.25 ms a
    code through its tile machinery, this about 0.05 ms. Each module row is one scanline
    (filter 0) followed by `scale - 1` scanlines of filter 2, "the same as above", which are
    all zeros and cost zlib next to nothing. Pillow and zbarimg read it in the tests and
    bench/qr_decode.py."""
    side = matrix.shape[0] + 2 * border
    light = np.ones((side, side), dtype=bool)  # 1 = white in a 1-bit greyscale PNG
    light[border : side - border, border : side - border] = ~matrix
    scanline = np.packbits(light.repeat(scale, axis=1), axis=1)  # one per module row
    rows = np.zeros((side, scale, scanline.shape[1] + 1), dtype=np.uint8)
    rows[:, 0, 1:] = scanline  # filter type 0 (none) in column 0
    rows[:, 1:, 0] = 2  # filter type 2 (up), the row's bytes all 0: equal to the one above
    width = side * scale
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"".join(
        (
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)),
            _png_chunk(b"IEND", b""),
        )
    )


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.lru_cache(maxsize=256)
def qr_data_uri(payload: str, *, scale: int = 4) -> str:
    """The QR code as a PNG data URI for HTML email and previews."""
    return (
        "data:image/png;base64,"
        + base64.b64encode(png_bytes(epc_qr(payload), scale=scale)).decode()
    )


@functools.lru_cache(maxsize=256)
def qr_png(payload: str, *, scale: int = 6) -> bytes:
    """The QR code as PNG bytes, for letters."""
    return png_bytes(epc_qr(payload), scale=scale)
