"""One currency per debtor: an import that would mix currencies for a customer is refused.

payjourney decides and duns a debtor for one balance in one currency. Adding amounts in two
currencies, or letting a payment in one settle an invoice in another, would demand a false
amount; so the import refuses such rows (file, row, what to do) before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from engine.store import tables as t
from engine.store.errors import RowProblem

#: Row kinds that carry money, and so a currency.
MONEY_KINDS = ("invoices", "payments", "promises")

I = t.Invoice.__table__  # type: ignore[attr-defined]  # noqa: E741
P = t.Payment.__table__  # type: ignore[attr-defined]
PR = t.PromiseToPay.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedRows:
    """One import file's valid rows: its kind, its path and (row number, row) pairs."""

    kind: str
    path: str
    rows: Sequence[tuple[int, Any]]


def _stored(engine: Engine, customer_ids: set[str]) -> dict[str, dict[str, str]]:
    """Currencies already stored per customer (currency -> the id of one row that has it),
    and the currency of each stored invoice."""
    found: dict[str, dict[str, str]] = {}
    if not customer_ids:
        return found
    wanted = sorted(customer_ids)
    with engine.connect() as conn:
        for table in (I, P, PR):
            for i in range(0, len(wanted), 5000):
                part = wanted[i : i + 5000]
                query = select(table.c.customer_id, table.c.currency, table.c.id).where(
                    table.c.customer_id.in_(part)
                )
                for cid, currency, rid in conn.execute(query):
                    found.setdefault(cid, {}).setdefault(currency, rid)
    return found


def _invoice_currencies(engine: Engine, invoice_ids: set[str]) -> dict[str, str]:
    if not invoice_ids:
        return {}
    out: dict[str, str] = {}
    wanted = sorted(invoice_ids)
    with engine.connect() as conn:
        for i in range(0, len(wanted), 5000):
            part = wanted[i : i + 5000]
            out.update(
                {
                    iid: cur
                    for iid, cur in conn.execute(
                        select(I.c.id, I.c.currency).where(I.c.id.in_(part))
                    )
                }
            )
    return out


def check_currencies(engine: Engine, parts: Iterable[ParsedRows]) -> list[RowProblem]:
    """Rows that would give a customer a second currency, or pay or credit an invoice in
    another currency than its own; the import, with what is stored, must keep one per debtor."""
    money = [p for p in parts if p.kind in MONEY_KINDS]
    customers = {row.customer_id for p in money for _, row in p.rows}
    stored = _stored(engine, customers)
    # this import's invoice currencies override stored ones (a corrected row replaces it)
    invoice_currency: dict[str, str] = {}
    refs: set[str] = set()
    for p in money:
        for _, row in p.rows:
            if p.kind == "invoices":
                invoice_currency[row.id] = row.currency
            for ref in (
                getattr(row, "invoice_id", None),
                getattr(row, "corrects_invoice_id", None),
            ):
                if ref:
                    refs.add(ref)
    invoice_currency = {
        **_invoice_currencies(engine, refs - set(invoice_currency)),
        **invoice_currency,
    }
    first: dict[str, tuple[str, str]] = {}  # customer -> (currency, where it was seen first)
    for cid, currencies in stored.items():
        if currencies:
            currency, rid = sorted(currencies.items())[0]
            first[cid] = (currency, f"stored row {rid}")
    problems: list[RowProblem] = []
    for p in money:
        for number, row in p.rows:
            problems.extend(_row_problems(p, number, row, first, invoice_currency))
    return problems


def _row_problems(
    part: ParsedRows,
    number: int,
    row: Any,
    first: dict[str, tuple[str, str]],
    invoice_currency: Mapping[str, str],
) -> list[RowProblem]:
    problems: list[RowProblem] = []
    for column in ("invoice_id", "corrects_invoice_id"):
        ref = getattr(row, column, None)
        if ref and ref in invoice_currency and invoice_currency[ref] != row.currency:
            problems.append(
                RowProblem(
                    path=part.path,
                    row=number,
                    column="currency",
                    problem=f"{row.currency} against invoice '{ref}' in "
                    f"{invoice_currency[ref]}; book it in {invoice_currency[ref]} (convert it "
                    "at the rate your bank used) or leave invoice_id empty",
                )
            )
    seen = first.setdefault(row.customer_id, (row.currency, f"{part.path} row {number}"))
    if seen[0] != row.currency:
        problems.append(
            RowProblem(
                path=part.path,
                row=number,
                column="currency",
                problem=f"customer '{row.customer_id}' already has amounts in {seen[0]} "
                f"({seen[1]}); payjourney duns one currency per debtor: book this one in "
                f"{seen[0]}, or import it under a separate customer id per currency",
            )
        )
    return problems
