"""CAMT.053 (ISO 20022 BankToCustomerStatement, camt.053.001.02 and later) read by element paths.

lxml parses; this module only maps the standard's paths to statement entries. Paths are matched
by local name, so every version's namespace (…053.001.02 to …053.001.13) reads the same; where
versions differ (the amount of a transaction, the party of v08+) both forms are tried.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from lxml import etree

from engine.banking.entry import InvalidAccount, StatementEntry, iban_or_none
from engine.banking.errors import BrokenStatement, EntryProblem, UnknownStatementFormat

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
#: Bank transaction sub-families that mark a returned collection or transfer (ISO 20022 BTC).
_RETURN_SUBFAMILIES = frozenset({"UPDD", "RRTN", "RPCR", "ARET"})

Element = etree._Element


def _strip_namespaces(root: Element) -> None:
    """Every version's namespace off the tags, so one set of paths reads them all."""
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.startswith("{"):
            node.tag = node.tag.rpartition("}")[2]


def _children(node: Element, name: str) -> Iterator[Element]:
    yield from node.iterchildren(name)


@functools.cache
def _xpath(path: str) -> etree.XPath:
    # compiled once: lxml's find() re-parses its path on every call
    return etree.XPath(path)


def _all(node: Element, path: str) -> list[Element]:
    """Elements at a slash path of local names below `node`."""
    found = _xpath(path)(node)
    assert isinstance(found, list)
    return [e for e in found if isinstance(e, etree._Element)]


def _first(node: Element, *paths: str) -> Element | None:
    for path in paths:
        hits = _all(node, path)
        if hits:
            return hits[0]
    return None


def _text(node: Element, *paths: str) -> str | None:
    hit = _first(node, *paths)
    if hit is None or hit.text is None:
        return None
    return hit.text.strip() or None


def _line(node: Element) -> int | None:
    line = node.sourceline
    return line if isinstance(line, int) else None


class _Broken(Exception):
    pass


def _amount(node: Element, *paths: str) -> tuple[Decimal, str]:
    hit = _first(node, *paths)
    if hit is None or not (hit.text or "").strip():
        raise _Broken(f"no amount ({' or '.join(paths)})")
    try:
        amount = Decimal(hit.text.strip())  # type: ignore[union-attr]
    except InvalidOperation as exc:
        raise _Broken(f"amount {hit.text!r} is not a number") from exc
    currency = hit.get("Ccy")
    if not currency or len(currency) != 3:
        raise _Broken("the amount has no Ccy attribute (ISO 4217 currency)")
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise _Broken(f"amount {amount} must be positive with at most two decimals")
    return amount, currency


def _date(node: Element, base: str) -> dt.date:
    text = _text(node, f"{base}/Dt", f"{base}/DtTm")
    if text is None:
        raise _Broken(f"no {base}/Dt")
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError as exc:
        raise _Broken(f"{base} {text!r} is not a date") from exc


def _remittance(tx: Element) -> tuple[str, str | None]:
    lines = [
        (u.text or "").strip()
        for u in _all(tx, "RmtInf/Ustrd")
        if u.text is not None and u.text.strip()
    ]
    reference = None
    for strd in _all(tx, "RmtInf/Strd"):
        ref = _text(strd, "CdtrRefInf/Ref")
        if ref:
            reference = reference or ref
        lines.extend(
            (r.text or "").strip() for r in _all(strd, "RfrdDocInf/Nb") if r.text is not None
        )
        lines.extend((r.text or "").strip() for r in _all(strd, "AddtlRmtInf") if r.text)
    return "\n".join(lines), reference


def _party(tx: Element, role: str) -> tuple[str | None, str | None]:
    """(name, account) of the debtor or creditor, v02-v07 (`Dbtr/Nm`) or v08+ (`Dbtr/Pty/Nm`)."""
    name = _text(tx, f"RltdPties/{role}/Pty/Nm", f"RltdPties/{role}/Nm")
    account = _text(tx, f"RltdPties/{role}Acct/Id/IBAN", f"RltdPties/{role}Acct/Id/Othr/Id")
    return name, account


def _direction(entry: Element, tx: Element | None, reason: str | None) -> str:
    indicator = _text(entry, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise _Broken(f"CdtDbtInd is {indicator!r}, expected CRDT or DBIT")
    if indicator == "CRDT":
        return "credit"
    subfamily = _text(entry, "BkTxCd/Domn/Fmly/SubFmlyCd")
    if tx is not None:
        subfamily = _text(tx, "BkTxCd/Domn/Fmly/SubFmlyCd") or subfamily
    reversal = _text(entry, "RvslInd") == "true"
    if reason or reversal or subfamily in _RETURN_SUBFAMILIES:
        return "return"
    return "debit"


def _entry_reference(entry: Element, position: int) -> str:
    ref = _text(entry, "NtryRef") or _text(entry, "AcctSvcrRef")
    if ref:
        return ref
    # no reference from the bank: the position and a digest of the entry keep re-imports equal
    digest = hashlib.sha256(etree.tostring(entry, method="c14n")).hexdigest()[:12]
    return f"#{position}-{digest}"


def read_camt053(path: Path, data: bytes | None = None) -> list[StatementEntry]:
    """Every booked entry of a CAMT.053 file; BrokenStatement (all problems, with the entry's
    position and line) when any entry cannot be read."""
    name = str(path)
    try:
        root = etree.fromstring(data if data is not None else path.read_bytes(), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise BrokenStatement(
            [EntryProblem(path=name, position=0, problem=f"not well-formed XML: {exc}")]
        ) from exc
    _strip_namespaces(root)
    statements = _all(root, "BkToCstmrStmt/Stmt")
    if root.tag != "Document" or not statements:
        raise UnknownStatementFormat(name, "no Document/BkToCstmrStmt/Stmt")
    entries: list[StatementEntry] = []
    problems: list[EntryProblem] = []
    position = 0
    for stmt in statements:
        statement_id = _text(stmt, "Id")
        try:
            account = iban_or_none(_text(stmt, "Acct/Id/IBAN"))
        except InvalidAccount as exc:
            problems.append(EntryProblem(path=name, position=0, problem=str(exc)))
            account = None
        for ntry in _children(stmt, "Ntry"):
            position += 1
            try:
                if not statement_id:
                    raise _Broken("the statement has no Stmt/Id")
                entries.extend(_read_entry(ntry, statement_id, account, position))
            except (_Broken, InvalidAccount, ValueError) as exc:
                problems.append(
                    EntryProblem(path=name, position=position, problem=str(exc), line=_line(ntry))
                )
    if problems:
        raise BrokenStatement(problems)
    return entries


def _read_entry(
    ntry: Element, statement_id: str, account: str | None, position: int
) -> list[StatementEntry]:
    status = _text(ntry, "Sts/Cd", "Sts")
    if status not in ("BOOK", None):
        return []  # pending or information-only lines are not money yet
    total, currency = _amount(ntry, "Amt")
    booked_on = (
        _date(ntry, "BookgDt") if _first(ntry, "BookgDt") is not None else _date(ntry, "ValDt")
    )
    reference = _entry_reference(ntry, position)
    details = _all(ntry, "NtryDtls/TxDtls")
    if not details:
        direction = _direction(ntry, None, None)
        text = _text(ntry, "AddtlNtryInf") or ""
        return [
            StatementEntry(
                statement_id=statement_id,
                reference=reference,
                position=position,
                account_iban=account,
                booked_on=booked_on,
                amount=total,
                currency=currency,
                direction=direction,
                remittance=text,
            )
        ]
    out: list[StatementEntry] = []
    batched = len(details) > 1
    for k, tx in enumerate(details, start=1):
        if batched or _first(tx, "AmtDtls/TxAmt/Amt", "Amt") is not None:
            amount, tx_currency = _amount(tx, "Amt", "AmtDtls/TxAmt/Amt")
        else:
            amount, tx_currency = total, currency
        reason = _text(tx, "RtrInf/Rsn/Cd")
        direction = _direction(ntry, tx, reason)
        role = "Dbtr" if direction != "debit" else "Cdtr"
        name, raw_account = _party(tx, role)
        remittance, creditor_ref = _remittance(tx)
        end_to_end = _text(tx, "Refs/EndToEndId")
        if end_to_end == "NOTPROVIDED":
            end_to_end = None
        out.append(
            StatementEntry(
                statement_id=statement_id,
                reference=f"{reference}/{k}" if batched else reference,
                position=position,
                account_iban=account,
                booked_on=booked_on,
                amount=amount,
                currency=tx_currency,
                direction=direction,
                payer_name=name,
                payer_iban=iban_or_none(raw_account),
                remittance=remittance or (_text(ntry, "AddtlNtryInf") or ""),
                creditor_reference=creditor_ref,
                end_to_end_id=end_to_end,
                return_reason=reason,
            )
        )
    if batched and sum((e.amount for e in out), Decimal(0)) != total:
        raise _Broken(
            f"the batch's transactions add up to {sum(e.amount for e in out)}, not the entry"
            f" amount {total}"
        )
    return out
