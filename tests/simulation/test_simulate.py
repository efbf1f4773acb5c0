"""Replaying the daemon under rule sets: persona journeys against one ladder, a rule set against
itself, no reminders at all; and the report's figures against the database they came from."""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from engine.simulation.compare import Comparison
from engine.simulation.metrics import ALL, FIGURES, SALES_DAYS
from engine.simulation.report import write_report
from tests.simulation.conftest import (
    DAYS,
    DEFAULT,
    FIRST_DAY,
    NO_REMINDERS,
    ONE_LADDER,
    SEED,
    small_comparison,
)

AMS = ZoneInfo("Europe/Amsterdam")


def test_persona_journeys_beat_one_ladder_on_dso_by_a_margin(three_rule_sets: Comparison) -> None:
    """Under the default behaviour model and seed 3, the persona rules bring DSO down by at
    least 2% against one reminder ladder for everyone, and the CSV's difference row says so."""
    dso = {r.label: three_rule_sets.summary(r.label, ALL, "dso") for r in three_rule_sets.rule_sets}
    persona, ladder = dso[DEFAULT.label], dso[ONE_LADDER.label]
    assert persona is not None and ladder is not None
    assert persona.mean < ladder.mean * 0.98, (persona.mean, ladder.mean)
    difference = three_rule_sets.difference(ALL, "dso")
    assert difference is not None and difference.mean > 0  # one ladder - persona journeys


def test_removing_all_reminders_lowers_the_share_paid(three_rule_sets: Comparison) -> None:
    """Without any reminder fewer invoices falling due in the run are paid by its end."""
    paid = {
        r.label: three_rule_sets.runs[r.label][SEED].groups[ALL].paid_by_end
        for r in three_rule_sets.rule_sets
    }
    assert paid[NO_REMINDERS.label] is not None and paid[DEFAULT.label] is not None
    assert paid[NO_REMINDERS.label] < paid[DEFAULT.label] - 0.05, paid
    assert three_rule_sets.runs[NO_REMINDERS.label][SEED].groups[ALL].messages == 0


def test_a_rule_set_compared_with_itself_differs_in_nothing(tmp_path: Path) -> None:
    """Rule sets that decide identically give identical results: every difference is zero."""
    again = ONE_LADDER.__class__(label="one ladder again", rules_dir=ONE_LADDER.rules_dir)
    _, result = small_comparison(tmp_path, [ONE_LADDER, again], debtors=30, days=12, seed=5)
    for group in result.group_names():
        for figure in FIGURES:
            difference = result.difference(group, figure)
            assert difference is None or difference.mean == 0, (group, figure, difference)
    assert result.runs[ONE_LADDER.label][5].groups[ALL].messages > 0, "something was sent"


def _recount(database: Path, groups: dict[str, str]) -> dict[str, dict[str, float]]:
    """The report's figures for everyone, from the run's tables with plain SQL and Python."""
    con = sqlite3.connect(database)
    first, end = FIRST_DAY, FIRST_DAY + dt.timedelta(days=DAYS)

    def day(text: str) -> dt.date:
        moment = dt.datetime.fromisoformat(text)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(AMS).date()

    invoices = {
        row[0]: (Decimal(str(row[1])), dt.date.fromisoformat(row[2]), dt.date.fromisoformat(row[3]))
        for row in con.execute(
            "SELECT id, amount, issue_date, due_date FROM invoice WHERE amount > 0"
        )
    }
    paid: dict[str, Decimal] = defaultdict(Decimal)
    full: dict[str, dt.date] = {}
    for invoice_id, amount, paid_at in con.execute(
        "SELECT invoice_id, amount, paid_at FROM payment WHERE invoice_id IS NOT NULL ORDER BY paid_at"
    ):
        paid[invoice_id] += Decimal(str(amount))
        if invoice_id not in full and paid[invoice_id] >= invoices[invoice_id][0]:
            full[invoice_id] = day(paid_at)
    due = [i for i, (_, _, d) in invoices.items() if first <= d < end]
    paid_by_end = sum(1 for i in due if i in full and full[i] < end) / len(due)
    open_sum = Decimal(0)
    for n in range(DAYS):
        today = first + dt.timedelta(days=n)
        for i, (amount, issued, _) in invoices.items():
            if issued <= today and not (i in full and full[i] <= today):
                open_sum += amount
    sales = sum(
        a
        for a, issued, _ in invoices.values()
        if end - dt.timedelta(days=SALES_DAYS) <= issued < end
    )
    dso = float(open_sum / DAYS / (sales / SALES_DAYS))
    start = dt.datetime.combine(first, dt.time(0), AMS).astimezone(dt.UTC)
    sent = [
        r
        for r in con.execute("SELECT customer_id, sent_at FROM message WHERE status = 'sent'")
        if day(r[1]) >= first and dt.datetime.fromisoformat(r[1]).replace(tzinfo=dt.UTC) >= start
    ]
    con.close()
    return {
        ALL: {
            "paid_by_end": paid_by_end,
            "dso": dso,
            "messages": float(len(sent)),
            "messages_per_debtor": len(sent) / len(groups),
        }
    }


def test_the_report_figures_are_those_of_the_database(
    three_rule_sets: Comparison, tmp_path: Path
) -> None:
    """The CSV's figures for everyone match a recount from the run's own tables."""
    _, table = write_report(three_rule_sets, tmp_path)
    with table.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for rules in three_rule_sets.rule_sets:
        database = three_rule_sets.results[rules.label][SEED].database
        expected = _recount(database, dict(three_rule_sets.groups))[ALL]
        for figure, value in expected.items():
            (row,) = [
                r
                for r in rows
                if r["rule_set"] == rules.label and r["group"] == ALL and r["figure"] == figure
            ]
            assert abs(float(row["mean"]) - value) < 1e-6 * max(1.0, abs(value)), (
                rules.label,
                figure,
                row["mean"],
                value,
            )
