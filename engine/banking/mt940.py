"""MT940 statements read with the `mt-940` package; this module maps its fields to entries.

German banks fill `:86:` with structured sub-fields (`?20`-`?29` purpose with SEPA keywords
EREF+/SVWZ+, `?31` IBAN, `?32` name, `?34` return reason), which `mt-940` splits. Dutch banks
put `/TAG/value` pairs (`/IBAN/…/NAME/…/REMI/…/EREF/…`) or labelled free text there; both are
read here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import mt940

from engine.banking.entry import RETURN_REASONS, InvalidAccount, StatementEntry, iban_or_none
from engine.banking.errors import BrokenStatement, EntryProblem

_OPTIONS = mt940.Options(
    applicant_iban=True,  # ?31 is the counterparty account, not part of the name
    merge_keeps_values=True,
    reversal_sign=True,
    case_insensitive_marks=True,
    unbounded_details=True,
    strip_bom=True,
)
#: German business transaction codes (GVC) of returned direct debits and transfers.
_RETURN_GVC = frozenset({"108", "109", "159", "160", "184", "186"})
_DUTCH_TAGS = ("TRTP", "IBAN", "BIC", "NAME", "REMI", "EREF", "CSID", "MARF", "ORDP", "RTRN", "ID")
_DUTCH = re.compile(r"/(" + "|".join(_DUTCH_TAGS) + r")/")
_LABELLED = re.compile(r"(IBAN|BIC|NAAM|OMSCHRIJVING|KENMERK|MACHTIGING)\s*:\s*", re.IGNORECASE)
_REASON = re.compile(r"\b(" + "|".join(sorted(RETURN_REASONS)) + r")\b")


def _dutch_fields(text: str) -> dict[str, str]:
    """`/IBAN/NL20…/NAME/J. de Vries/REMI/…` -> {"IBAN": …, "NAME": …, "REMI": …}."""
    parts = _DUTCH.split(text)
    fields: dict[str, str] = {}
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        fields.setdefault(key, value.strip().strip("/").strip())
    return fields


def _labelled_fields(text: str) -> dict[str, str]:
    parts = _LABELLED.split(text)
    fields = {"": parts[0].strip()}
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        fields.setdefault(key.upper(), value.strip())
    return fields


def _details(data: dict[str, Any]) -> dict[str, str | None]:
    """Name, IBAN, remittance, references and return reason from whichever :86: form it is."""
    if "transaction_details" not in data:  # mt-940 recognised the German structured form
        return {
            "name": data.get("applicant_name"),
            "iban": data.get("applicant_iban") or data.get("gvc_applicant_iban"),
            "text": " ".join(
                str(p) for p in (data.get("purpose"), data.get("additional_purpose")) if p
            ),
            "eref": data.get("end_to_end_reference"),
            "reason": data.get("return_debit_notes"),
            "code": data.get("transaction_code"),
        }
    # lines are wrapped at a fixed width: join them without a space, as the bank split them
    raw = "".join(str(data["transaction_details"] or "").splitlines())
    if _DUTCH.search(raw):
        fields = _dutch_fields(raw)
        remi = fields.get("REMI", "")
        creditor_ref = None
        if remi.startswith("STRD/"):  # /REMI/STRD/CUR/RF18…/
            creditor_ref = remi.rsplit("/", 1)[-1]
        remi = re.sub(r"^(USTD|STRD)/+(CUR/)?", "", remi)
        return {
            "name": fields.get("NAME"),
            "iban": fields.get("IBAN"),
            "text": remi,
            "eref": fields.get("EREF"),
            "creditor_ref": creditor_ref,
            "reason": fields.get("RTRN"),
        }
    fields = _labelled_fields(raw)
    return {
        "name": fields.get("NAAM"),
        "iban": fields.get("IBAN"),
        "text": fields.get("OMSCHRIJVING") or fields.get("KENMERK") or fields[""],
    }


def _entry(
    data: dict[str, Any], *, statement_id: str, account: str | None, position: int
) -> StatementEntry:
    amount_obj = data.get("amount")
    if amount_obj is None:
        raise ValueError("the :61: line has no amount")
    signed = Decimal(str(amount_obj.amount))
    currency = str(amount_obj.currency or data.get("currency") or "")
    if not currency:
        raise ValueError("no currency (the :60F: opening balance names it)")
    date = data.get("entry_date") or data.get("date")
    if not isinstance(date, dt.date):
        raise ValueError("the :61: line has no booking date")
    details = _details(data)
    status = str(data.get("status") or "").upper()
    reason = details.get("reason")
    if reason is None and signed < 0:
        found = _REASON.search(details.get("text") or "")
        reason = found.group(1) if found else None
    if signed > 0:
        direction = "credit"
    elif reason or status == "RC" or details.get("code") in _RETURN_GVC:
        direction = "return"
    else:
        direction = "debit"
    eref = details.get("eref")
    if eref in ("NOTPROVIDED", "NONREF"):
        eref = None
    bank_ref = str(data.get("bank_reference") or "").strip()
    digest = hashlib.sha256(
        f"{date}|{signed}|{data.get('customer_reference')}|{details}".encode()
    ).hexdigest()[:12]
    reference = f"{bank_ref}#{position}" if bank_ref else f"#{position}-{digest}"
    return StatementEntry(
        statement_id=statement_id,
        reference=reference,
        position=position,
        account_iban=account,
        booked_on=dt.date(date.year, date.month, date.day),
        amount=abs(signed),
        currency=currency,
        direction=direction,
        payer_name=details.get("name"),
        payer_iban=iban_or_none(details.get("iban")),
        remittance=details.get("text") or "",
        creditor_reference=details.get("creditor_ref"),
        end_to_end_id=eref,
        return_reason=reason,
    )


def _statement_id(data: dict[str, Any], account_field: str) -> str:
    # German banks send `:20:STARTUMSE` on every statement: the account and :28C: make it unique
    number = "/".join(str(data[k]) for k in ("statement_number", "sequence_number") if data.get(k))
    return f"{account_field}:{number}:{data.get('transaction_reference') or ''}"


def read_mt940(path: Path, text: str | None = None) -> list[StatementEntry]:
    """Every entry of an MT940 file (one or more statements); BrokenStatement with each broken
    entry's position when any cannot be read."""
    name = str(path)
    if text is None:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # German banks often still export ISO 8859-1
    try:
        statements = mt940.parse_statements(text, options=_OPTIONS)
    except Exception as exc:  # mt-940 raises bare ValueError/RuntimeError on bad tags
        raise BrokenStatement(
            [EntryProblem(path=name, position=0, problem=f"MT940 does not parse: {exc}")]
        ) from exc
    entries: list[StatementEntry] = []
    problems: list[EntryProblem] = []
    position = 0
    for statement in statements:
        account_field = str(statement.data.get("account_identification") or "")
        try:
            account = iban_or_none(account_field)
        except InvalidAccount as exc:
            problems.append(EntryProblem(path=name, position=0, problem=str(exc)))
            account = None
        statement_id = _statement_id(statement.data, account_field)
        for transaction in statement:
            position += 1
            try:
                entries.append(
                    _entry(
                        transaction.data,
                        statement_id=statement_id,
                        account=account,
                        position=position,
                    )
                )
            except (ValueError, InvalidAccount, TypeError) as exc:
                problems.append(EntryProblem(path=name, position=position, problem=str(exc)))
    if problems:
        raise BrokenStatement(problems)
    return entries
