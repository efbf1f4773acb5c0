"""Helpers for store tests: aware times, and import files written from plain rows."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.decision.model import Decision, FactSheet
    from engine.rules.compile import CompiledRules

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def utc(text_: str) -> dt.datetime:
    """An aware datetime from ISO text without offset read as UTC."""
    moment = dt.datetime.fromisoformat(text_)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def write_files(directory: Path, files: Mapping[str, Sequence[Mapping[str, Any]]]) -> Path:
    """Write import files (`{"customers.json": [...]}`; .csv names get a header row)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        path = directory / name
        if name.endswith(".json"):
            path.write_text(json.dumps(list(rows), default=str), encoding="utf-8")
            continue
        columns: list[str] = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return directory


def load(engine: Any, directory: Path, **kinds: Sequence[Mapping[str, Any]]) -> None:
    """Import rows through the real importer: `load(store, tmp_path, customers=[...], ...)`."""
    from engine.store.importer import import_path

    write_files(directory, {f"{kind}.json": rows for kind, rows in kinds.items()})
    import_path(engine, directory)
    for path in directory.glob("*.json"):
        path.unlink()


def customer(cid: str = "C-1", **extra: Any) -> dict[str, Any]:
    """A Dutch business customer row."""
    return {"id": cid, "kind": "business", "country": "NL", "name": f"Klant {cid}", **extra}


def paid_invoices(
    cid: str, *, count: int, days_late: int, first_due: dt.date, amount: str = "100.00"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`count` monthly invoices, each paid in full `days_late` days after its due date."""
    invoices, payments = [], []
    for k in range(count):
        due = first_due + dt.timedelta(days=30 * k)
        iid = f"{cid}-I{k:02d}"
        invoices.append(
            {
                "id": iid,
                "customer_id": cid,
                "amount": amount,
                "currency": "EUR",
                "issue_date": (due - dt.timedelta(days=30)).isoformat(),
                "due_date": due.isoformat(),
            }
        )
        paid = dt.datetime.combine(due + dt.timedelta(days=days_late), dt.time(10), dt.UTC)
        payments.append(
            {
                "id": f"{cid}-P{k:02d}",
                "customer_id": cid,
                "invoice_id": iid,
                "amount": amount,
                "currency": "EUR",
                "paid_at": paid.isoformat(),
            }
        )
    return invoices, payments


def watching(
    rules: CompiledRules,
) -> tuple[list[str], Callable[[FactSheet, dt.datetime], Decision]]:
    """`decide` with `rules`, and the list of the customers it was asked about, in order."""
    from engine.decision.decide import decide

    seen: list[str] = []

    def watch(facts: FactSheet, now: dt.datetime) -> Decision:
        seen.append(str(facts["customer.id"]))
        return decide(rules, facts, now)

    return seen, watch
