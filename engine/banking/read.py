"""Reading a statement file of either format: CAMT.053 XML or MT940, told apart by content."""

from __future__ import annotations

from pathlib import Path

from engine.banking.camt053 import read_camt053
from engine.banking.entry import StatementEntry
from engine.banking.errors import UnknownStatementFormat
from engine.banking.mt940 import read_mt940


def statement_format(data: bytes) -> str | None:
    """ "camt053", "mt940" or None, from the first bytes of a file."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:4096]
    if head.startswith(b"<"):
        return "camt053"
    if b":20:" in head and (b":61:" in data or b":60F:" in head):
        return "mt940"
    return None


def read_statement(path: Path) -> tuple[str, list[StatementEntry]]:
    """The format and every entry of a statement file; BrokenStatement when an entry is broken
    (nothing of the file is used), UnknownStatementFormat for any other file."""
    data = path.read_bytes()
    kind = statement_format(data)
    if kind == "camt053":
        return kind, read_camt053(path, data)
    if kind == "mt940":
        return kind, read_mt940(path)
    raise UnknownStatementFormat(str(path), "neither XML nor MT940 tags :20:/:61:")
