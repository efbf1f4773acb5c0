"""The `self_service` rules: validated like the rest (file:line:col, a hint), and judged purely:
what a debtor may arrange and why, a promise or plan approved, queued or refused."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

from engine.decision.arrangements import Outcome, judge_plan, judge_promise, offers
from engine.decision.model import FactSheet
from engine.rules.rulespec import RuleSource, validate_sources
from tests.conftest import ROOT

GUIDE = (ROOT / "docs" / "rules.md").read_text()
PACK = """
personas:
  - {id: late, when: behaviour.avg_days_late >= 3}
  - {id: everyone-else, when: always}
journeys:
  - persona: late
    locale: nl_NL
    tone: u
    steps: [{at: due + 3d, channel: email, template: reminder-1}]
  - persona: everyone-else
    locale: nl_NL
    tone: u
    steps: [{at: due + 3d, channel: email, template: reminder-1}]
"""


def spec_with(self_service: str):  # type: ignore[no-untyped-def]
    return validate_sources(
        [RuleSource("rules/pack.yaml", PACK), RuleSource("rules/self_service.yaml", self_service)]
    )


def test_the_guide_example_reads_as_written() -> None:
    body = next(b for b in re.findall(r"```yaml\n(.*?)```", GUIDE, re.S) if "self_service:" in b)
    pack = [b for b in re.findall(r"```yaml\n(.*?)```", GUIDE, re.S) if b.startswith("# example")]
    spec, problems = validate_sources([RuleSource(f"{i}.yaml", b) for i, b in enumerate(pack)])
    assert spec is not None, problems
    de = spec.self_service_for("consumer-de")
    assert de.actions == ("pay", "promise", "plan", "dispute", "question", "channel")
    assert de.promise is not None and de.promise.latest_days == 21
    assert de.promise.withdraw_after_broken == 2
    assert de.plan is not None
    assert (de.plan.max_instalments, de.plan.every_days, de.plan.latest_days) == (4, 14, 60)
    assert (de.plan.min_instalment, de.plan.min_first) == (Decimal(20), Decimal(50))
    assert (de.plan.approval, de.plan.beyond) == ("person", "refuse")
    assert spec.self_service_for("structurally-late-smb").reply_pause == dt.timedelta(days=2)
    assert spec.self_service_for("everyone-else").actions == ("pay", "question")
    assert "self_service:" in body


def test_mistakes_are_reported_with_their_place_and_a_fix() -> None:
    spec, problems = spec_with(
        """self_service:
  - persona: late
    offer: [pay, promis, plan]
    plan: {max_instalments: 1, every: fortnight}
  - persona: lait
    offer: [dispute]
    promise: {latest: 30d}
"""
    )
    assert spec is None
    shown = [str(p).splitlines() for p in problems]
    assert [
        "rules/self_service.yaml:3:18: error: unknown self-service action 'promis' in self_service[0].offer",
        "  did you mean 'promise'?",
    ] in shown
    texts = "\n".join(str(p) for p in problems)
    assert "a plan needs at least 2 instalments, got 1" in texts
    assert "'fortnight' is not a number of days between instalments" in texts
    assert "rules/self_service.yaml:5:14: error: unknown persona 'lait'" in texts
    assert "limits for 'promise', but 'promise' is not in `offer`" in texts
    assert "'30d' is not a latest date" in texts


def test_an_offered_arrangement_needs_its_limits() -> None:
    _, problems = spec_with("self_service:\n  - persona: late\n    offer: [pay, promise]\n")
    assert any("'promise' is offered but has no limits" in str(p) for p in problems)


def facts(**values: object) -> FactSheet:
    return FactSheet.build(
        {
            "customer.id": "C-1",
            "balance.open_amount": Decimal("300.00"),
            "balance.currency": "EUR",
            "balance.oldest_due_date": dt.date(2026, 11, 1),
            **values,
        }
    )


POLICY = """self_service:
  - persona: late
    offer: [pay, promise, plan, dispute]
    promise: {latest: due + 30d, withdraw_after_broken: 2}
    plan: {max_instalments: 3, every: 2w, min_instalment: 50, min_first: 120, latest: due + 45d,
           beyond_limits: person}
"""
TODAY = dt.date(2026, 11, 24)


def policy():  # type: ignore[no-untyped-def]
    spec, problems = spec_with(POLICY)
    assert spec is not None, problems
    return spec.self_service_for("late")


def test_a_promise_up_to_the_latest_date_is_approved_and_beyond_it_refused() -> None:
    assert judge_promise(policy(), facts(), TODAY, dt.date(2026, 12, 1)).outcome is Outcome.APPROVED
    beyond = judge_promise(policy(), facts(), TODAY, dt.date(2026, 12, 2))
    assert beyond.outcome is Outcome.REFUSED
    assert (
        beyond.reasons[0].text == "2026-12-02 is after the latest date the rules allow (2026-12-01)"
    )
    assert judge_promise(policy(), facts(), TODAY, dt.date(2026, 11, 23)).outcome is Outcome.REFUSED


def test_broken_promises_withdraw_the_option() -> None:
    closed = {
        o.action: o for o in offers(policy(), facts(**{"behaviour.broken_promises": 2}), TODAY)
    }
    assert not closed["promise"].open and closed["promise"].reason.code == "withdrawn"
    assert closed["pay"].open and not closed["question"].open


def test_a_plan_within_the_limits_is_approved_and_beyond_them_queued() -> None:
    within = judge_plan(policy(), facts(), TODAY, 2, TODAY)
    assert within.outcome is Outcome.APPROVED
    assert [(i.due_date, i.amount) for i in within.instalments] == [
        (TODAY, Decimal("150.00")),
        (TODAY + dt.timedelta(days=14), Decimal("150.00")),
    ]
    beyond = judge_plan(policy(), facts(), TODAY, 3, TODAY)  # 100 < 120; last 22 Dec > 16 Dec
    assert beyond.outcome is Outcome.QUEUED
    assert [r.code for r in beyond.reasons] == ["first_small", "plan_beyond", "beyond_person"]
    too_many = judge_plan(policy(), facts(), TODAY, 4, TODAY)
    assert "4 instalments is more than the 3 the rules allow" in [r.text for r in too_many.reasons]


def test_explain_shows_what_a_debtor_may_arrange_and_why(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from engine.cli import app

    sheet = tmp_path / "facts.json"
    sheet.write_text(
        json.dumps(
            {
                "customer": {"id": "C-9", "kind": "consumer", "country": "NL"},
                "balance": {
                    "open_amount": 120,
                    "open_invoices": 1,
                    "oldest_due_date": "2026-11-10",
                },
            }
        )
    )
    args = [
        "--rules",
        str(ROOT / "rules"),
        "explain",
        str(sheet),
        "--now",
        "2026-11-24T10:00:00+01:00",
    ]
    runner = CliRunner()
    text = runner.invoke(app, args).output
    assert "self-service (" in text and "self_service.yaml:" in text
    assert re.search(r"open\s+promise\s+open: any date up to 2026-12-10", text), text
    answer = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert {a["action"]: a["open"] for a in answer["self_service"]["actions"]}["plan"] is True
