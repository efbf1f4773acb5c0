"""The statement entry: one booked line of a bank statement, as every parser hands it on."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from decimal import Decimal

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

#: What a booked line does to our account: money in, a returned collection (a debit that undoes
#: an earlier credit, with its reason code), or any other money out (not ours to match).
DIRECTIONS = ("credit", "return", "debit")
#: SEPA return reason codes banks put on returned direct debits and transfers (EPC guidance).
RETURN_REASONS = frozenset(
    {
        "AC01", "AC04", "AC06", "AC13", "AG01", "AG02", "AM04", "AM05", "BE05", "CNOR", "DNOR",
        "FF01", "MD01", "MD02", "MD06", "MD07", "MS02", "MS03", "RC01", "RR01", "RR02", "RR03",
        "RR04", "SL01", "FOCR", "DUPL", "TECH", "FRAD",
    }
)  # fmt: skip
_LOOKS_LIKE_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$")


class InvalidAccount(ValueError):
    """An account that has the form of an IBAN but not its check digits."""


@functools.lru_cache(maxsize=65536)
def iban_or_none(text: str | None) -> str | None:
    """The compact IBAN of an account field; None for a field that is no IBAN at all (an old
    German account number, empty). An IBAN-shaped value with wrong digits is an error."""
    if not text:
        return None
    compact = re.sub(r"\s+", "", text).upper()
    if not _LOOKS_LIKE_IBAN.match(compact):
        return None
    try:
        return str(IBAN(compact).compact)
    except SchwiftyException as exc:
        raise InvalidAccount(f"account {text!r} is not a valid IBAN: {exc}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementEntry:
    """One booked line (or one transaction of a batched line) of a statement.

    `statement_id` with `reference` identifies it across imports: the same file twice is the
    same entries. `amount` is positive; `direction` says which way it went.
    """

    statement_id: str
    reference: str
    position: int
    account_iban: str | None
    booked_on: dt.date
    amount: Decimal
    currency: str
    direction: str
    payer_name: str | None = None
    payer_iban: str | None = None
    remittance: str = ""
    creditor_reference: str | None = None
    end_to_end_id: str | None = None
    return_reason: str | None = None
    booked_at: dt.datetime | None = None  # when a source knows the moment (a slip paid at a till)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.amount <= 0:
            raise ValueError(
                f"an entry amount is positive (direction says the sign): {self.amount}"
            )
        if not self.statement_id or not self.reference:
            raise ValueError("an entry needs its statement id and reference")
        if self.booked_at is not None and self.booked_at.tzinfo is None:
            raise ValueError("StatementEntry.booked_at must be timezone-aware")
        if len(self.currency) != 3:
            raise ValueError(f"currency must be an ISO 4217 code, got {self.currency!r}")
