"""What a debtor may arrange by themselves, and whether a request is approved, queued or refused.

Pure: the persona's `self_service` rules, the debtor's facts and today's date in; verdicts with
their reasons out. Reasons are codes with values, so the debtor's page says them in the debtor's
language and `payjourney explain` in English.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from enum import Enum
from typing import Any

from engine.decision.model import FactSheet
from engine.rules.self_service import PlanLimits, PromiseLimits, SelfService


class Outcome(Enum):
    APPROVED = "approved"  # in force at once
    QUEUED = "queued"  # a person decides (a task)
    REFUSED = "refused"  # not possible; the reasons say why


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """Why: a code the page translates, its values, and the English text."""

    code: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return ENGLISH[self.code].format(**self.values)


ENGLISH: dict[str, str] = {
    "not_offered": "the rules for persona {persona} do not offer this",
    "withdrawn": "withdrawn after {broken} broken promise(s) (the rules allow {limit})",
    "nothing_open": "nothing is open",
    "paused": "a dispute is open: a person looks at it first",
    "arranged": "an arrangement runs: pay by {until}",
    "latest_passed": "the latest date the rules allow ({latest}) has passed",
    "open_until": "open: any date up to {latest}",
    "plan_open": "open: up to {count} instalments every {every} days{until}",
    "date_past": "the date {date} is in the past",
    "date_beyond": "{date} is after the latest date the rules allow ({latest})",
    "too_many": "{count} instalments is more than the {limit} the rules allow",
    "too_few": "a plan has at least 2 instalments",
    "instalment_small": "an instalment of {amount} is less than the minimum of {limit}",
    "first_small": "a first payment of {amount} is less than the minimum of {limit}",
    "plan_beyond": "the last instalment ({date}) is after the latest date allowed ({latest})",
    "approve_person": "within the limits; the rules have a person approve it",
    "beyond_person": "beyond the limits; the rules have a person decide",
    "within": "within the limits the rules set",
    "always": "always open",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """One action on the debtor's page: open or not, and why."""

    action: str
    open: bool
    reason: Reason
    latest: dt.date | None = None  # promise / plan: the latest date allowed


@dataclass(frozen=True, slots=True, kw_only=True)
class Instalment:
    number: int
    due_date: dt.date
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """A request judged: approved, queued for a person or refused; and why."""

    outcome: Outcome
    reasons: tuple[Reason, ...]
    instalments: tuple[Instalment, ...] = ()


def _due(facts: FactSheet) -> dt.date | None:
    due = facts["balance.oldest_due_date"]
    return due if isinstance(due, dt.date) else None


def _latest(facts: FactSheet, days: int | None) -> dt.date | None:
    due = _due(facts)
    return due + dt.timedelta(days=days) if due is not None and days is not None else None


def offers(policy: SelfService, facts: FactSheet, today: dt.date) -> list[Offer]:
    """Every action the persona's rules name, open or closed, with the reason."""
    persona = {"persona": policy.persona}
    open_amount = Decimal(str(facts["balance.open_amount"] or 0))
    broken = int(facts["behaviour.broken_promises"] or 0)
    out: list[Offer] = []
    for action in ("pay", "promise", "plan", "dispute", "question", "channel"):
        if action not in policy.actions:
            out.append(
                Offer(action=action, open=False, reason=Reason(code="not_offered", values=persona))
            )
            continue
        if action in ("pay", "promise", "plan") and open_amount <= 0:
            out.append(Offer(action=action, open=False, reason=Reason(code="nothing_open")))
            continue
        limits: PromiseLimits | PlanLimits | None = (
            policy.promise if action == "promise" else (policy.plan if action == "plan" else None)
        )
        if limits is None:
            out.append(Offer(action=action, open=True, reason=Reason(code="always")))
            continue
        if facts["behaviour.open_disputes"]:
            out.append(Offer(action=action, open=False, reason=Reason(code="paused")))
            continue
        promised = facts["journey.promised_until"]
        if isinstance(promised, dt.date) and promised >= today:
            reason = Reason(code="arranged", values={"until": promised.isoformat()})
            out.append(Offer(action=action, open=False, reason=reason))
            continue
        limit = limits.withdraw_after_broken
        if limit is not None and broken >= limit:
            reason = Reason(code="withdrawn", values={"broken": broken, "limit": limit - 1})
            out.append(Offer(action=action, open=False, reason=reason))
            continue
        latest = _latest(facts, limits.latest_days)
        if latest is not None and latest < today and limits.beyond == "refuse":
            reason = Reason(code="latest_passed", values={"latest": latest.isoformat()})
            out.append(Offer(action=action, open=False, reason=reason, latest=latest))
            continue
        if isinstance(limits, PlanLimits):
            until = f", the last by {latest.isoformat()}" if latest else ""
            values = {"count": limits.max_instalments, "every": limits.every_days, "until": until}
            reason = Reason(code="plan_open", values=values)
        else:
            reason = Reason(code="open_until", values={"latest": str(latest)})
        out.append(Offer(action=action, open=True, reason=reason, latest=latest))
    return out


def offer(policy: SelfService, facts: FactSheet, today: dt.date, action: str) -> Offer:
    return next(o for o in offers(policy, facts, today) if o.action == action)


def _judge(
    problems: list[Reason], approval: str, beyond: str, instalments: tuple[Instalment, ...] = ()
) -> Verdict:
    if problems:
        if beyond == "person":
            return Verdict(
                outcome=Outcome.QUEUED,
                reasons=(*problems, Reason(code="beyond_person")),
                instalments=instalments,
            )
        return Verdict(outcome=Outcome.REFUSED, reasons=tuple(problems), instalments=instalments)
    if approval == "person":
        return Verdict(
            outcome=Outcome.QUEUED,
            reasons=(Reason(code="approve_person"),),
            instalments=instalments,
        )
    return Verdict(
        outcome=Outcome.APPROVED, reasons=(Reason(code="within"),), instalments=instalments
    )


def judge_promise(policy: SelfService, facts: FactSheet, today: dt.date, until: dt.date) -> Verdict:
    """A promise to pay everything open by `until`."""
    found = offer(policy, facts, today, "promise")
    if not found.open or policy.promise is None:
        return Verdict(outcome=Outcome.REFUSED, reasons=(found.reason,))
    problems: list[Reason] = []
    if until < today:
        problems.append(Reason(code="date_past", values={"date": until.isoformat()}))
        return Verdict(outcome=Outcome.REFUSED, reasons=tuple(problems))
    if found.latest is not None and until > found.latest:
        values = {"date": until.isoformat(), "latest": found.latest.isoformat()}
        problems.append(Reason(code="date_beyond", values=values))
    return _judge(problems, policy.promise.approval, policy.promise.beyond)


def split(total: Decimal, count: int, first: dt.date, every_days: int) -> tuple[Instalment, ...]:
    """`count` equal instalments `every_days` apart; the cents that do not divide go first."""
    part = (total / count).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    head = total - part * (count - 1)
    return tuple(
        Instalment(
            number=n + 1,
            due_date=first + dt.timedelta(days=every_days * n),
            amount=head if n == 0 else part,
        )
        for n in range(count)
    )


def judge_plan(
    policy: SelfService, facts: FactSheet, today: dt.date, count: int, first: dt.date
) -> Verdict:
    """A plan of `count` equal instalments of everything open, the first on `first`."""
    found = offer(policy, facts, today, "plan")
    limits = policy.plan
    if not found.open or limits is None:
        return Verdict(outcome=Outcome.REFUSED, reasons=(found.reason,))
    if count < 2:
        return Verdict(outcome=Outcome.REFUSED, reasons=(Reason(code="too_few"),))
    if first < today:
        return Verdict(
            outcome=Outcome.REFUSED,
            reasons=(Reason(code="date_past", values={"date": str(first)}),),
        )
    total = Decimal(str(facts["balance.open_amount"] or 0))
    parts = split(total, count, first, limits.every_days)
    problems: list[Reason] = []
    if count > limits.max_instalments:
        problems.append(
            Reason(code="too_many", values={"count": count, "limit": limits.max_instalments})
        )
    if parts[-1].amount < limits.min_instalment:
        values = {"amount": str(parts[-1].amount), "limit": str(limits.min_instalment)}
        problems.append(Reason(code="instalment_small", values=values))
    if parts[0].amount < limits.min_first:
        values = {"amount": str(parts[0].amount), "limit": str(limits.min_first)}
        problems.append(Reason(code="first_small", values=values))
    if first > today + dt.timedelta(days=limits.every_days):
        values = {
            "date": first.isoformat(),
            "latest": str(today + dt.timedelta(days=limits.every_days)),
        }
        problems.append(Reason(code="date_beyond", values=values))
    if found.latest is not None and parts[-1].due_date > found.latest:
        values = {"date": parts[-1].due_date.isoformat(), "latest": found.latest.isoformat()}
        problems.append(Reason(code="plan_beyond", values=values))
    return _judge(problems, limits.approval, limits.beyond, parts)


def explained(policy: SelfService, facts: FactSheet, today: dt.date) -> dict[str, Any]:
    """What `payjourney explain` shows: each action open or not and why, with the rule's place."""
    source = policy.source
    return {
        "persona": policy.persona,
        "source": f"{source.path}:{source.line}" if source else "default (no self_service entry)",
        "actions": [
            {"action": o.action, "open": o.open, "why": o.reason.text}
            for o in offers(policy, facts, today)
        ],
    }
