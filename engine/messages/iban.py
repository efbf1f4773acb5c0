"""IBANs: the check digits (ISO 13616 mod 97) and the grouped form people read."""

from __future__ import annotations

import re

from engine.errors import PayjourneyError

_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")


class InvalidIban(PayjourneyError, ValueError):
    """An IBAN whose form or check digits are wrong."""


def mod97(text: str) -> int:
    """ISO 7064 mod 97-10 of letters and digits (letters count as 10..35), as IBAN and RF use."""
    digits = "".join(str(int(c, 36)) for c in text)
    return int(digits) % 97


def normalise_iban(iban: str) -> str:
    """The IBAN without spaces, upper case; InvalidIban when its check digits are wrong."""
    compact = re.sub(r"\s+", "", iban).upper()
    if not _IBAN.match(compact) or mod97(compact[4:] + compact[:4]) != 1:
        raise InvalidIban(f"{iban!r} is not a valid IBAN; check the creditor's IBAN setting")
    return compact


def format_iban(iban: str) -> str:
    """An IBAN in groups of four, as people read it: NL91 ABNA 0417 1643 00."""
    compact = normalise_iban(iban)
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
