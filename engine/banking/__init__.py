"""Payments in: bank statements (CAMT.053, MT940) read, matched to open invoices, and booked."""

from engine.banking.entry import StatementEntry
from engine.banking.errors import BankingError, BrokenStatement
from engine.banking.match import Allocation, Match, Matcher, OpenInvoice

__all__ = [
    "Allocation",
    "BankingError",
    "BrokenStatement",
    "Match",
    "Matcher",
    "OpenInvoice",
    "StatementEntry",
]
