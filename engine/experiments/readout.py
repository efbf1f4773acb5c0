"""An experiment's outcome from the store: who got which variant (the messages), who paid when (payments).

A debtor enters an experiment with their first message sent under it; their variant is the one
that message records. The outcome is whether a payment arrived within the experiment's window
of that first message (a partial payment counts: it is the debtor moving), and the days until
the first payment for the Kaplan-Meier curve. A debtor whose window has not closed yet does not
count for the share paid (they are not unpaid, just not yet known) and is censored on the curve.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from engine.errors import PayjourneyError
from engine.experiments.stats import (
    CONFIDENCE,
    Arm,
    Comparison,
    arm,
    compare,
    sample_size_for,
)
from engine.rules.experiments import Experiment
from engine.store import tables as t

M = t.Message.__table__  # type: ignore[attr-defined]
P = t.Payment.__table__  # type: ignore[attr-defined]
_SENT = ("sent", "delivered")
DEFAULT_WINDOW_DAYS = 14
DEFAULT_UPLIFT = 0.10


class UnknownExperiment(PayjourneyError):
    """No experiment by that id in the rules or in any message."""

    def __init__(self, experiment_id: str, known: Sequence[str]) -> None:
        hint = (
            "known: " + ", ".join(known)
            if known
            else "no experiment in the rules or the messages yet"
        )
        super().__init__(f"unknown experiment '{experiment_id}' ({hint})")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentResult:
    """What an experiment shows so far, per variant and against the control."""

    id: str
    label: str
    persona: str | None
    in_rules: bool  # False: it ran earlier and has been taken out of the rules
    window_days: int
    sample_size: int
    uplift: float
    control: str
    arms: tuple[Arm, ...]
    comparisons: tuple[Comparison, ...]
    now: dt.datetime

    @property
    def enough(self) -> bool:
        """Every variant reached the fixed horizon: the verdicts may be read."""
        return bool(self.arms) and all(a.closed >= self.sample_size for a in self.arms)

    @property
    def headline(self) -> str:
        if not self.arms:
            return "not enough data yet: no message has been sent under this experiment"
        if not self.enough:
            short = max(self.sample_size - a.closed for a in self.arms)
            return (
                f"not enough data yet: {short} more debtors per variant must complete their"
                f" {self.window_days}-day window (fixed horizon: {self.sample_size} per variant)"
            )
        return "; ".join(c.verdict for c in self.comparisons)

    def to_json(self) -> dict[str, Any]:
        def curve(a: Arm) -> list[dict[str, float]]:
            return [
                {"day": d, "unpaid": round(s, 4)}
                for d, s in zip(a.curve.times, a.curve.unpaid, strict=True)
            ]

        return {
            "id": self.id,
            "label": self.label,
            "persona": self.persona,
            "in_rules": self.in_rules,
            "window_days": self.window_days,
            "sample_size_per_variant": self.sample_size,
            "uplift": self.uplift,
            "confidence": CONFIDENCE,
            "control": self.control,
            "enough_data": self.enough,
            "headline": self.headline,
            "peeking_guard": (
                "fixed horizon: read once every variant has sample_size_per_variant debtors"
                " whose window closed"
            ),
            "variants": [
                {
                    "variant": a.variant,
                    "debtors": a.debtors,
                    "window_closed": a.closed,
                    "paid_within_window": a.paid,
                    "share_paid": a.share,
                    "interval": [a.low, a.high] if a.share is not None else None,
                    "median_days_to_pay": a.median_days,
                    "kaplan_meier": curve(a),
                }
                for a in self.arms
            ],
            "comparisons": [
                {
                    "variant": c.variant,
                    "control": c.control,
                    "difference": c.difference,
                    "interval": [c.low, c.high] if c.difference is not None else None,
                    "still_needed_per_variant": c.still_needed,
                    "verdict": c.verdict,
                }
                for c in self.comparisons
            ],
            "now": self.now.isoformat(),
        }


def experiment_ids(engine: Engine, experiments: Sequence[Experiment] = ()) -> list[str]:
    """Experiments in the rules, then those only the messages still name (ended ones)."""
    with engine.connect() as conn:
        stored = [
            r[0]
            for r in conn.execute(
                select(M.c.experiment).where(M.c.experiment.is_not(None)).distinct()
            )
        ]
    ids = [e.id for e in experiments]
    return ids + sorted(set(stored) - set(ids))


def _observations(
    engine: Engine, experiment_id: str
) -> list[tuple[str, str, dt.datetime, dt.datetime | None]]:
    """(customer, variant, first message sent, first payment after it or None) per debtor."""
    first = (
        select(
            M.c.customer_id,
            func.min(M.c.variant).label("variant"),
            func.min(M.c.sent_at).label("first_at"),
        )
        .where(M.c.experiment == experiment_id, M.c.sent_at.is_not(None), M.c.status.in_(_SENT))
        .group_by(M.c.customer_id)
        .subquery()
    )
    paid = (
        select(P.c.customer_id, func.min(P.c.paid_at).label("paid_at"))
        .join(first, P.c.customer_id == first.c.customer_id)
        .where(P.c.paid_at >= first.c.first_at)
        .group_by(P.c.customer_id)
        .subquery()
    )
    query = (
        select(first.c.customer_id, first.c.variant, first.c.first_at, paid.c.paid_at)
        .select_from(first.outerjoin(paid, paid.c.customer_id == first.c.customer_id))
        .order_by(first.c.customer_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(r[0], r[1], _aware(r[2]), _aware(r[3]) if r[3] is not None else None) for r in rows]


def _aware(value: Any) -> dt.datetime:
    if isinstance(value, str):  # an aggregate over a SQLite column comes back as text
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def read_experiment(
    engine: Engine,
    experiment_id: str,
    now: dt.datetime,
    experiments: Sequence[Experiment] = (),
    *,
    window_days: int | None = None,
) -> ExperimentResult:
    """The outcome of one experiment at `now`: per variant, and each variant against the control."""
    defined = next((e for e in experiments if e.id == experiment_id), None)
    observations = _observations(engine, experiment_id)
    if defined is None and not observations:
        raise UnknownExperiment(experiment_id, experiment_ids(engine, experiments))
    window = window_days or (defined.window_days if defined else DEFAULT_WINDOW_DAYS)
    uplift = defined.uplift if defined else DEFAULT_UPLIFT
    sample_size = defined.sample_size if defined else sample_size_for(uplift)
    per_variant: dict[str, list[tuple[float, bool, bool]]] = defaultdict(list)
    for _, variant, first_at, paid_at in observations:
        closed = now - first_at >= dt.timedelta(days=window)
        if paid_at is not None and paid_at <= now:
            per_variant[variant].append(
                ((paid_at - first_at).total_seconds() / 86400, True, closed)
            )
        else:
            per_variant[variant].append(((now - first_at).total_seconds() / 86400, False, closed))
    order = [v.id for v in defined.variants] if defined else sorted(per_variant)
    order += sorted(set(per_variant) - set(order))
    arms = tuple(
        arm(
            name,
            [d for d, _, _ in per_variant[name]],
            [p for _, p, _ in per_variant[name]],
            [c for _, _, c in per_variant[name]],
            window,
        )
        for name in order
    )
    control_id = defined.control if defined else (order[0] if order else "")
    control = next((a for a in arms if a.variant == control_id), None)
    comparisons = tuple(
        compare(control, other, sample_size)
        for other in arms
        if control is not None and other.variant != control_id
    )
    return ExperimentResult(
        id=experiment_id,
        label=defined.label if defined else experiment_id,
        persona=defined.persona if defined else None,
        in_rules=defined is not None,
        window_days=window,
        sample_size=sample_size,
        uplift=uplift,
        control=control_id,
        arms=arms,
        comparisons=comparisons,
        now=now,
    )


def experiment_html(result: ExperimentResult) -> str:
    """The read-out as an HTML fragment (escaped), for the staff page and the simulation report."""
    import html

    e = html.escape

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    rows = "".join(
        f"<tr><td>{e(a.variant)}{' (control)' if a.variant == result.control else ''}</td>"
        f"<td>{a.debtors}</td><td>{a.closed}</td><td>{a.paid}</td><td>{pct(a.share)}</td>"
        f"<td>{pct(a.low)}–{pct(a.high)}</td>"
        f"<td>{'—' if a.median_days is None else f'{a.median_days:.1f}'}</td></tr>"
        for a in result.arms
    )
    diffs = "".join(
        f"<li>{e(c.variant)} vs {e(c.control)}: "
        + (
            "—"
            if c.difference is None or c.low is None or c.high is None
            else f"{c.difference * 100:+.1f} pp ({c.low * 100:+.1f} to {c.high * 100:+.1f})"
        )
        + f" — {e(c.verdict)}</li>"
        for c in result.comparisons
    )
    return (
        f'<section class="experiment" id="experiment-{e(result.id)}">'
        f"<h3>{e(result.label)} <small>{e(result.id)}</small></h3>"
        "<table><tr><th>variant</th><th>debtors</th><th>window closed</th><th>paid</th>"
        "<th>share paid</th><th>95% interval</th><th>median days to pay</th></tr>"
        f"{rows}</table><ul>{diffs}</ul><p><strong>{e(result.headline)}</strong></p>"
        f"<p>Paid within {result.window_days} days of the first message; fixed horizon"
        f" {result.sample_size} debtors per variant.</p></section>"
    )
