"""The simulation report: one HTML file that opens offline (plotly, its JavaScript inlined once),
and a CSV of the per-persona figures for spreadsheets.

The report is a list of sections, each a function `Comparison -> Section`; another part (say,
experiment results or persona cards) adds its own by passing a longer list to `write_report`.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from engine.simulation.behaviour import BehaviourParams
from engine.simulation.compare import Comparison, Estimate
from engine.simulation.fit import Rate, fit_rates
from engine.simulation.metrics import ALL, CURVE_FROM, FIGURES, PAID_WITHIN_DAYS
from engine.store.db import make_engine


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """One part of the report: a heading and its HTML (charts as plotly divs)."""

    id: str
    title: str
    body: str


SectionFn = Callable[[Comparison], Section]

#: How each figure is named in the report and CSV, and whether lower is better.
LABELS: dict[str, tuple[str, bool]] = {
    "paid_within": (f"share paid within {PAID_WITHIN_DAYS} days of due", False),
    "paid_by_end": ("share of invoices due in the run paid by its end", False),
    "dso": ("days sales outstanding (DSO)", True),
    "days_to_pay": ("average days to pay (invoice date to paid)", True),
    "messages_per_1000_eur": ("messages per 1,000 EUR collected", True),
    "messages_per_debtor": ("messages per debtor (complaints proxy)", True),
    "handoffs": ("hand-offs to collection", True),
    "messages": ("messages sent", True),
    "collected_eur": ("collected (EUR)", False),
}
_PERCENT = {"paid_within", "paid_by_end"}


def fmt(figure: str, value: float | None) -> str:
    if value is None:
        return "–"
    if figure in _PERCENT:
        return f"{value * 100:.1f}%"
    if figure in ("handoffs", "messages", "collected_eur"):
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def fmt_estimate(figure: str, found: Estimate | None, *, signed: bool = False) -> str:
    if found is None:
        return "–"
    text = fmt(figure, found.mean)
    if signed and found.mean >= 0:
        text = "+" + text
    if found.low is not None and found.high is not None:
        text += f" [{fmt(figure, found.low)}, {fmt(figure, found.high)}]"
    return text


def _chart(figure: go.Figure) -> str:
    figure.update_layout(template="plotly_white", margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return str(figure.to_html(full_html=False, include_plotlyjs=False))


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


# ---------------------------------------------------------------------------- the sections


def headline(comparison: Comparison) -> str:
    """One line: the first rule set against the second on DSO and messages, for everyone."""
    sets = comparison.rule_sets
    if len(sets) < 2:
        dso = comparison.summary(sets[0].label, ALL, "dso")
        return f"{sets[0].label}: DSO {fmt('dso', dso.mean if dso else None)} days"
    a, b = sets[0].label, sets[1].label
    dso_a, dso_b = (comparison.summary(x, ALL, "dso") for x in (a, b))
    msg_a, msg_b = (comparison.summary(x, ALL, "messages") for x in (a, b))
    text = f"{a} vs {b}: DSO {fmt('dso', dso_a.mean if dso_a else None)} vs "
    text += f"{fmt('dso', dso_b.mean if dso_b else None)} days"
    if msg_a and msg_b and msg_b.mean:
        change = (msg_a.mean - msg_b.mean) / msg_b.mean * 100
        text += f", {abs(change):.0f}% {'more' if change >= 0 else 'fewer'} messages"
        text += f" ({msg_a.mean:,.0f} vs {msg_b.mean:,.0f})"
    return text


def summary_section(comparison: Comparison) -> Section:
    p = comparison.portfolio
    sets = ", ".join(f"{r.label} ({r.rules_dir})" for r in comparison.rule_sets)
    body = (
        f"<p class='headline'>{html.escape(headline(comparison))}</p>"
        f"<p>{p.debtors:,} generated debtors (seed {p.seed}), {p.days} simulated days from "
        f"{p.start:%Y-%m-%d}, {len(comparison.seeds)} run(s) per rule set (seeds "
        f"{', '.join(map(str, comparison.seeds))}); rule sets: {html.escape(sets)}. "
        "Intervals are 95% over the runs; the difference is paired by seed.</p>"
        f"<p>Behaviour model: {html.escape(comparison.model)}</p>"
    )
    return Section(id="summary", title="Summary", body=body)


def comparison_section(comparison: Comparison) -> Section:
    labels = [r.label for r in comparison.rule_sets]
    head = ["group", "figure", *labels]
    if len(labels) > 1:
        head.append(f"{labels[1]} − {labels[0]}")
    rows = []
    for group in comparison.group_names():
        for figure in FIGURES:
            row = [group, LABELS[figure][0]]
            row += [fmt_estimate(figure, comparison.summary(x, group, figure)) for x in labels]
            if len(labels) > 1:
                row.append(fmt_estimate(figure, comparison.difference(group, figure), signed=True))
            rows.append(row)
    return Section(
        id="comparison",
        title="The comparison, per persona",
        body="<p>Groups are the personas of the first rule set as the run starts, so each row "
        "compares the same debtors.</p>" + _table(head, rows),
    )


def portfolio_section(comparison: Comparison) -> Section:
    label = comparison.rule_sets[0].label
    groups = [g for g in comparison.group_names() if g != ALL]
    first = comparison.runs[label][comparison.seeds[0]].groups
    figure = go.Figure(
        [
            go.Bar(name="debtors", x=groups, y=[first[g].debtors for g in groups]),
            go.Bar(
                name="invoices falling due in the run",
                x=groups,
                y=[first[g].invoices_due for g in groups],
            ),
        ]
    )
    figure.update_layout(title="The portfolio by persona", barmode="group", height=380)
    return Section(id="portfolio", title="Portfolio", body=_chart(figure))


def curves_section(comparison: Comparison) -> Section:
    groups = comparison.group_names()
    cols = 3
    rows = (len(groups) + cols - 1) // cols
    figure = make_subplots(rows=rows, cols=cols, subplot_titles=groups, shared_yaxes=True)

    colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
    for k, group in enumerate(groups):
        for n, rules in enumerate(comparison.rule_sets):
            runs = [comparison.runs[rules.label][s].groups.get(group) for s in comparison.seeds]
            curves = [r.curve for r in runs if r is not None and any(r.curve)]
            if not curves:
                continue
            days = list(range(CURVE_FROM, CURVE_FROM + len(curves[0])))
            mean = [sum(c[i] for c in curves) / len(curves) for i in range(len(days))]
            figure.add_trace(
                go.Scatter(
                    x=days,
                    y=mean,
                    name=rules.label,
                    legendgroup=rules.label,
                    showlegend=k == 0,
                    line={"color": colours[n % len(colours)]},
                ),
                row=k // cols + 1,
                col=k % cols + 1,
            )
    figure.update_yaxes(tickformat=".0%", range=[0, 1])
    figure.update_layout(
        title="Share of invoices paid, by day after the due date", height=260 * rows + 80
    )
    return Section(id="curves", title="Payment curves", body=_chart(figure))


def channel_rates(comparison: Comparison, label: str, window_days: int = 7) -> list[Rate]:
    """Per channel, the messages the first run sent (up to `window_days` before its end) and
    the share followed by a payment within `window_days`."""
    result = comparison.results[label][comparison.seeds[0]]
    engine = make_engine(f"sqlite:///{result.database}")
    try:
        portfolio = comparison.portfolio
        rates = fit_rates(
            engine, window_days=window_days, until=portfolio.end, since=portfolio.start
        )
    finally:
        engine.dispose()
    return [r for r in rates if r.persona is None]


def channels_section(comparison: Comparison) -> Section:
    figure = go.Figure()
    rows = []
    for rules in comparison.rule_sets:
        rates = channel_rates(comparison, rules.label)
        figure.add_trace(
            go.Bar(
                name=rules.label,
                x=[r.channel for r in rates],
                y=[r.share for r in rates],
                text=[f"{r.share:.0%} of {r.messages}" for r in rates],
            )
        )
        rows += [[rules.label, r.channel, f"{r.messages:,}", f"{r.share:.1%}"] for r in rates]
    figure.update_layout(
        title="Channel effectiveness: share of messages followed by a payment within 7 days",
        barmode="group",
        height=380,
        yaxis={"tickformat": ".0%"},
    )
    return Section(
        id="channels",
        title="Channels",
        body=_chart(figure)
        + _table(["rule set", "channel", "messages", "paid within 7 days"], rows),
    )


def messages_section(comparison: Comparison) -> Section:
    rows = []
    for rules in comparison.rule_sets:
        by = comparison.runs[rules.label][comparison.seeds[0]].messages_by
        rows += [
            [rules.label, journey, channel, str(step), f"{count:,}"]
            for (journey, channel, step), count in sorted(by.items())
        ]
    return Section(
        id="messages",
        title="Messages by persona, channel and step (first run)",
        body=_table(["rule set", "persona", "channel", "step", "sent"], rows),
    )


def model_section_for(params: BehaviourParams | None, fitted: Sequence[Rate] = ()) -> SectionFn:
    """The behaviour model used: every magnitude with its source, or the fitted table."""

    def section(comparison: Comparison) -> Section:
        parts = [f"<p>{html.escape(comparison.model)}</p>"]
        if fitted:
            parts.append(
                _table(
                    ["persona", "channel", "step", "messages", "paid within window", "share"],
                    [
                        [
                            r.persona or "(all)",
                            r.channel,
                            "(all)" if r.step is None else str(r.step),
                            f"{r.messages:,}",
                            f"{r.paid:,}",
                            f"{r.share:.1%}",
                        ]
                        for r in fitted
                    ],
                )
            )
        if params is not None:
            parts.append(
                _table(
                    ["magnitude", "value", "source"],
                    [[k, f"{m.value:g}", m.source] for k, m in params.magnitudes.items()],
                )
            )
        return Section(id="model", title="The behaviour model used", body="".join(parts))

    return section


DEFAULT_SECTIONS: tuple[SectionFn, ...] = (
    summary_section,
    comparison_section,
    portfolio_section,
    curves_section,
    channels_section,
    messages_section,
)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
.headline{font-size:1.25rem;font-weight:600}
table{border-collapse:collapse;font-size:.85rem;margin:.8rem 0}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}th{background:#f4f4f4}
"""


def render_html(comparison: Comparison, sections: Sequence[SectionFn]) -> str:
    built = [make(comparison) for make in sections]
    toc = "".join(f"<li><a href='#{s.id}'>{html.escape(s.title)}</a></li>" for s in built)
    body = "".join(
        f"<section id='{s.id}'><h2>{html.escape(s.title)}</h2>{s.body}</section>" for s in built
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>payjourney simulation</title>"
        f"<style>{_STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
        f"<h1>payjourney simulation</h1><p>written {stamp}</p><ul>{toc}</ul>{body}"
        "</body></html>"
    )


def write_csv(comparison: Comparison, path: Path) -> None:
    """Long form: rule set (or the difference), group, figure, mean, 95% low and high, runs."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["rule_set", "group", "figure", "mean", "low", "high", "runs"])
        sets = comparison.rule_sets
        for group in comparison.group_names():
            for figure in FIGURES:
                found = [(r.label, comparison.summary(r.label, group, figure)) for r in sets]
                if len(sets) > 1:
                    diff = comparison.difference(group, figure)
                    found.append((f"{sets[1].label} - {sets[0].label}", diff))
                for label, value in found:
                    if value is None:
                        out.writerow([label, group, figure, "", "", "", 0])
                        continue
                    out.writerow(
                        [
                            label,
                            group,
                            figure,
                            repr(value.mean),
                            "" if value.low is None else repr(value.low),
                            "" if value.high is None else repr(value.high),
                            value.runs,
                        ]
                    )


def write_report(
    comparison: Comparison,
    directory: Path,
    *,
    sections: Sequence[SectionFn] = DEFAULT_SECTIONS,
) -> tuple[Path, Path]:
    """Write `report.html` and `figures.csv` into `directory`; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    page = directory / "report.html"
    page.write_text(render_html(comparison, sections), encoding="utf-8")
    table = directory / "figures.csv"
    write_csv(comparison, table)
    return page, table
