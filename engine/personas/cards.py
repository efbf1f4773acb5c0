"""Persona cards and drift: who is in each persona now, how they pay, what the journey does for them.

Membership is what the rules in force say today (the fact sheets of every stored debtor,
classified); "since the last plan" compares it with the persona each debtor's journey row got
from the last `payjourney plan` (debtors the plan scheduled nothing for have no row to compare).
"""

from __future__ import annotations

import datetime as dt
import html
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from engine.decision.model import FactSheet
from engine.personas.suggest import _best_channel
from engine.rules.compile import CompiledRules
from engine.rules.experiments import experiments_of
from engine.rules.spec import Journey, Persona
from engine.store import tables as t
from engine.store.facts_sql import derive_fact_sheets

J = t.Journey.__table__  # type: ignore[attr-defined]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True, kw_only=True)
class Drift:
    """Debtors whose persona today differs from the one the last plan gave them."""

    compared: int  # debtors with a journey row from the last plan
    changed: int
    moves: Mapping[tuple[str, str], int]  # (then, now) -> debtors
    last_plan: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "compared": self.compared,
            "changed": self.changed,
            "last_plan": self.last_plan.isoformat() if self.last_plan else None,
            "moves": [
                {"from": a, "to": b, "debtors": n}
                for (a, b), n in sorted(self.moves.items(), key=lambda kv: -kv[1])
            ],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Card:
    """One persona drawn from the data."""

    id: str
    label: str
    description: str
    source: str
    debtors: int
    open_debtors: int
    open_eur: Decimal
    kinds: Mapping[str, int]
    countries: Mapping[str, int]
    payer_role: tuple[str, float] | None  # most common role and its share
    decision_authority: float | None  # share whose contact can decide to pay
    median_employees: float | None  # businesses only
    typical_days_late: float | None
    typical_pay_hour: int | None
    typical_pay_weekday: str | None
    pays_after: str | None  # the channel after whose reminders they pay most
    journeys: tuple[str, ...]  # one line per journey: locale/tone and its steps
    experiment: str | None
    at_last_plan: int | None  # debtors the last plan put in this persona
    moved_in: int = 0
    moved_out: int = 0
    members: tuple[str, ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "description": self.description,
            "source": self.source,
            "debtors": self.debtors,
            "open_debtors": self.open_debtors,
            "open_eur": str(self.open_eur),
            "kinds": dict(self.kinds),
            "countries": dict(self.countries),
            "payer_role": (
                {"role": self.payer_role[0], "share": round(self.payer_role[1], 3)}
                if self.payer_role
                else None
            ),
            "decision_authority": self.decision_authority,
            "median_employees": self.median_employees,
            "typical_days_late": self.typical_days_late,
            "typical_pay_hour": self.typical_pay_hour,
            "typical_pay_weekday": self.typical_pay_weekday,
            "pays_after": self.pays_after,
            "journeys": list(self.journeys),
            "experiment": self.experiment,
            "at_last_plan": self.at_last_plan,
            "moved_in": self.moved_in,
            "moved_out": self.moved_out,
        }


def classify_all(
    engine: Engine, rules: CompiledRules, now: dt.datetime
) -> tuple[list[FactSheet], list[str]]:
    """Every stored debtor's fact sheet and the persona the rules in force give it."""
    sheets = list(derive_fact_sheets(engine, now))
    return sheets, [rules.classify(s.values).persona.id for s in sheets]


def _last_plan(engine: Engine) -> tuple[dict[str, str], dt.datetime | None]:
    with engine.connect() as conn:
        rows = conn.execute(select(J.c.customer_id, J.c.persona)).all()
        last = conn.execute(select(func.max(J.c.updated_at))).scalar()
    if isinstance(last, str):
        last = dt.datetime.fromisoformat(last)
    return {r[0]: r[1] for r in rows}, last


def drift(engine: Engine, rules: CompiledRules, now: dt.datetime) -> Drift:
    """How many debtors changed persona since the last plan, and between which personas."""
    sheets, personas = classify_all(engine, rules, now)
    return _drift(sheets, personas, *_last_plan(engine))


def _drift(
    sheets: Sequence[FactSheet],
    personas: Sequence[str],
    planned: Mapping[str, str],
    last: dt.datetime | None,
) -> Drift:
    moves: Counter[tuple[str, str]] = Counter()
    compared = 0
    for sheet, persona in zip(sheets, personas, strict=True):
        then = planned.get(str(sheet["customer.id"]))
        if then is None:
            continue
        compared += 1
        if then != persona:
            moves[(then, persona)] += 1
    return Drift(compared=compared, changed=sum(moves.values()), moves=moves, last_plan=last)


def cards(engine: Engine, rules: CompiledRules, now: dt.datetime) -> list[Card]:
    """A card for every persona of the rules in force, in rule order."""
    sheets, personas = classify_all(engine, rules, now)
    planned, last = _last_plan(engine)
    moves = _drift(sheets, personas, planned, last).moves
    at_plan = Counter(planned.values())
    groups: dict[str, list[FactSheet]] = {p.id: [] for p in rules.spec.personas}
    for sheet, persona in zip(sheets, personas, strict=True):
        groups[persona].append(sheet)
    running = {e.persona: e.id for e in experiments_of(rules.spec)}
    return [
        card(
            persona,
            groups[persona.id],
            rules.spec.journeys.get(persona.id, ()),
            experiment=running.get(persona.id),
            at_last_plan=at_plan.get(persona.id, 0) if planned else None,
            moved_in=sum(n for (a, b), n in moves.items() if b == persona.id),
            moved_out=sum(n for (a, b), n in moves.items() if a == persona.id),
        )
        for persona in rules.spec.personas
    ]


def _mode(values: Iterable[Any]) -> Any:
    counted = Counter(v for v in values if v is not None).most_common(1)
    return counted[0][0] if counted else None


def card(
    persona: Persona,
    members: Sequence[FactSheet],
    journeys: Sequence[Journey],
    *,
    experiment: str | None = None,
    at_last_plan: int | None = None,
    moved_in: int = 0,
    moved_out: int = 0,
) -> Card:
    """A persona's card from its debtors' fact sheets."""
    open_members = [s for s in members if (s["balance.open_amount"] or 0) > 0]
    euros = sum(
        (
            Decimal(str(s["balance.open_amount"]))
            for s in open_members
            if s["balance.currency"] == "EUR"
        ),
        Decimal(0),
    )
    roles = Counter(s["customer.payer_role"] for s in members if s["customer.payer_role"])
    top = roles.most_common(1)
    late = [
        float(s["behaviour.avg_days_late"])
        for s in members
        if s["behaviour.avg_days_late"] is not None
    ]
    employees = [
        float(s["customer.employees"])
        for s in members
        if s["customer.kind"] == "business" and s["customer.employees"] is not None
    ]
    weekday = _mode(s["behaviour.typical_pay_weekday"] for s in members)
    hour = _mode(s["behaviour.typical_pay_hour"] for s in members)
    return Card(
        id=persona.id,
        label=persona.label,
        description=persona.description,
        source=str(persona.source),
        debtors=len(members),
        open_debtors=len(open_members),
        open_eur=euros,
        kinds=dict(Counter(s["customer.kind"] for s in members).most_common()),
        countries=dict(Counter(s["customer.country"] for s in members).most_common()),
        payer_role=(top[0][0], top[0][1] / len(members)) if top else None,
        decision_authority=(
            sum(1 for s in members if s["customer.decision_authority"]) / len(members)
            if members
            else None
        ),
        median_employees=statistics.median(employees) if employees else None,
        typical_days_late=round(statistics.median(late), 1) if late else None,
        typical_pay_hour=int(hour) if hour is not None else None,
        typical_pay_weekday=WEEKDAYS[int(weekday)] if weekday is not None else None,
        pays_after=_best_channel(members),
        journeys=tuple(journey_line(j) for j in journeys),
        experiment=experiment,
        at_last_plan=at_last_plan,
        moved_in=moved_in,
        moved_out=moved_out,
        members=tuple(str(s["customer.id"]) for s in members),
    )


def journey_line(journey: Journey) -> str:
    """`nl_NL/u: due-2d email nudge → due+7d preferred/whatsapp reminder-1 → ...`"""
    steps = []
    for s in journey.steps:
        at = "due" if s.at_days == 0 else f"due{s.at_days:+d}d"
        what = s.template if s.action == "send" else s.action
        via = "/".join(s.channels)
        steps.append(" ".join(p for p in (at, via, what, "(required)" if s.required else "") if p))
    return f"{journey.locale}/{journey.tone}: " + " → ".join(steps)


def _share(counts: Mapping[str, int]) -> str:
    total = sum(counts.values()) or 1
    return ", ".join(f"{k} {v / total:.0%}" for k, v in counts.items())


def card_lines(c: Card) -> list[tuple[str, str]]:
    """The card as (what, value) rows, for the terminal and the HTML alike."""
    rows = [
        ("debtors", f"{c.debtors} ({c.open_debtors} with an open balance)"),
        ("open", f"€ {c.open_eur:,.2f}"),
        ("kind", _share(c.kinds) or "—"),
        ("country", _share(c.countries) or "—"),
        (
            "payer",
            (f"{c.payer_role[0]} ({c.payer_role[1]:.0%})" if c.payer_role else "unknown")
            + (
                f"; {c.decision_authority:.0%} can decide to pay"
                if c.decision_authority is not None
                else ""
            )
            + (f"; median {c.median_employees:g} employees" if c.median_employees else ""),
        ),
        (
            "pays",
            (
                f"typically {c.typical_days_late:+g} days after the due date"
                if c.typical_days_late is not None
                else "no paid invoices yet"
            )
            + (f", around {c.typical_pay_hour}:00" if c.typical_pay_hour is not None else "")
            + (f" on a {c.typical_pay_weekday}" if c.typical_pay_weekday else ""),
        ),
        ("pays after", c.pays_after or "no channel stands out"),
        *[("journey", line) for line in c.journeys],
    ]
    if c.experiment:
        rows.append(("experiment", c.experiment))
    if c.at_last_plan is not None:
        rows.append(
            (
                "since the last plan",
                f"the last plan gave {c.at_last_plan} debtors a journey in this persona; since"
                f" then {c.moved_in} moved in and {c.moved_out} moved out",
            )
        )
    return rows


def card_html(c: Card) -> str:
    """The card as an HTML fragment (escaped), for the staff page and the simulation report."""
    e = html.escape
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in card_lines(c))
    description = f"<p>{e(c.description)}</p>" if c.description else ""
    return (
        f'<section class="persona-card" id="persona-{e(c.id)}">'
        f"<h3>{e(c.label)} <small>{e(c.id)}</small></h3>{description}"
        f'<table>{rows}</table><p class="source">{e(c.source)}</p></section>'
    )
