"""Summary tables shared by plan, schedule and demo: debtors and open euros by persona and age."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from rich.table import Table

from engine.store.ageing import BUCKETS


def euros(amount: Decimal) -> str:
    """An amount for a table column headed EUR: 12,345.67."""
    return f"{amount:,.2f}"


def persona_table(title: str, debtors: Mapping[str, int], amounts: Mapping[str, Decimal]) -> Table:
    """Debtors and open EUR per persona, the largest amount first."""
    table = Table(title=title, title_justify="left")
    table.add_column("persona")
    table.add_column("debtors", justify="right")
    table.add_column("open EUR", justify="right")
    names = sorted(debtors, key=lambda n: (-amounts.get(n, Decimal(0)), -debtors[n], n))
    for name in names:
        table.add_row(name, f"{debtors[name]:,}", euros(amounts.get(name, Decimal(0))))
    table.add_row(
        "total",
        f"{sum(debtors.values()):,}",
        euros(sum(amounts.values(), Decimal(0))),
        style="bold",
    )
    return table


def ageing_table(title: str, debtors: Mapping[str, int], amounts: Mapping[str, Decimal]) -> Table:
    """Debtors and open EUR per ageing bucket (days past the oldest open due date)."""
    table = Table(title=title, title_justify="left")
    table.add_column("days overdue")
    table.add_column("debtors", justify="right")
    table.add_column("open EUR", justify="right")
    for bucket in BUCKETS:
        table.add_row(bucket, f"{debtors.get(bucket, 0):,}", euros(amounts.get(bucket, Decimal(0))))
    return table


def counter_table(title: str, header: str, counts: Mapping[str, int]) -> Table:
    """Debtors per name, the most first."""
    table = Table(title=title, title_justify="left")
    table.add_column(header)
    table.add_column("debtors", justify="right")
    for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(name, f"{count:,}")
    if not counts:
        table.add_row("(none)", "0")
    return table
