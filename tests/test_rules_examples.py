"""Every example of shared/design/rules.md, as a rule pack that validates and decides as described."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from engine.decision.decide import decide
from engine.decision.model import Action, FactSheet
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulespec import load_rules, read_rule_dir, validate_sources
from tests.conftest import ROOT, at

DESIGN_PACK = Path(__file__).parent / "design_pack"
DESIGN_NOTE = ROOT.parent / "shared" / "design" / "rules.md"


@pytest.fixture(scope="module")
def design_rules() -> CompiledRules:
    return compile_rules(load_rules(DESIGN_PACK))


def test_the_design_examples_validate_without_errors() -> None:
    """The four YAML examples of the design note form a valid pack."""
    spec, problems = validate_sources(read_rule_dir(DESIGN_PACK))
    assert spec is not None, "\n".join(map(str, problems))
    assert [p.id for p in spec.personas] == [
        "structurally-late-smb",
        "controller-large-account",
        "consumer-de",
        "everyone-else",
    ]


@pytest.mark.skipif(
    not DESIGN_NOTE.exists(), reason="shared/design/rules.md is not beside the repo"
)
@pytest.mark.parametrize("name", ["personas", "journeys", "payment_options", "channels"])
def test_the_examples_are_verbatim_copies_of_the_design_note(name: str) -> None:
    """The example files hold the design note's YAML blocks unchanged."""
    blocks = re.findall(r"```yaml\n(.*?)```", DESIGN_NOTE.read_text(), re.S)
    ours = (DESIGN_PACK / f"{name}.yaml").read_text().split("\n", 1)[1]
    assert ours in blocks


def facts(**values: object) -> FactSheet:
    return FactSheet.build(None, **values)


def late_smb(**extra: object) -> FactSheet:
    base: dict[str, object] = dict(
        customer__id="C-1",
        customer__kind="business",
        customer__employees=12,
        customer__country="NL",
        balance__open_amount="1234.50",
        balance__oldest_due_date="2026-11-02",
        behaviour__avg_days_late=3,
        journey__steps_sent=1,
    )
    base.update(extra)
    return facts(**base)


def test_a_smb_that_pays_three_days_late_is_the_structurally_late_persona(
    design_rules: CompiledRules,
) -> None:
    """Persona from facts: business, < 50 employees, avg_days_late >= 3."""
    decision = decide(design_rules, late_smb(), at("2026-11-01T12:00:00+01:00"))
    assert decision.persona == "structurally-late-smb"
    assert str(decision.persona_source) == f"{DESIGN_PACK}/personas.yaml:3"


def test_reminders_move_later_by_the_customers_usual_lateness(design_rules: CompiledRules) -> None:
    """A customer who pays 3 days late gets the reminder (due + 7d) 3 days later: on day 10."""
    decision = decide(design_rules, late_smb(), at("2026-11-01T12:00:00+01:00"))
    assert decision.action is Action.WAIT
    assert decision.journey_step == 2
    assert decision.send_at == at("2026-11-12T08:00:00+01:00")  # 2 Nov + 7d + 3d, a Thursday
    five_late = decide(
        design_rules, late_smb(behaviour__avg_days_late=5.9), at("2026-11-01T12:00:00+01:00")
    )
    assert five_late.send_at == at("2026-11-14T08:00:00+01:00")  # rounded down to 5 days


def test_the_shift_is_capped_by_max_shift(design_rules: CompiledRules) -> None:
    """Lateness of 30 days shifts by the default cap of 10 days, not 30."""
    decision = decide(
        design_rules, late_smb(behaviour__avg_days_late=30), at("2026-11-01T12:00:00+01:00")
    )
    assert decision.send_at == at("2026-11-19T08:00:00+01:00")  # 2 Nov + 7d + 10d


def test_the_first_allowed_channel_is_chosen_and_the_rest_are_fallbacks(
    design_rules: CompiledRules,
) -> None:
    """[preferred, whatsapp, email]: preferred sms without consent drops out; whatsapp with consent."""
    sheet = late_smb(customer__preferred_channel="sms", customer__consent__whatsapp=True)
    decision = decide(design_rules, sheet, at("2026-11-12T09:00:00+01:00"))
    assert decision.action is Action.SEND
    assert (decision.channel, decision.fallback_channels) == ("whatsapp", ("email",))
    assert decision.fallback_after == dt.timedelta(hours=48)
    assert any("not allowed" in t.note and "sms" in t.note for t in decision.trace)


def test_payment_options_are_narrowed_and_ordered_by_the_journey(
    design_rules: CompiledRules,
) -> None:
    """NL business: ideal, sepa and bank transfer are offered; the journey keeps ideal, bank_transfer."""
    decision = decide(design_rules, late_smb(), at("2026-11-12T09:00:00+01:00"))
    assert decision.payment_options == ("ideal", "bank_transfer")


def test_barzahlen_only_within_the_provider_limit(design_rules: CompiledRules) -> None:
    """A German consumer gets Barzahlen up to EUR 1,000 and not above."""
    small = facts(
        customer__kind="consumer",
        customer__country="DE",
        balance__open_amount=999,
        balance__oldest_due_date="2026-11-02",
        customer__timezone="Europe/Berlin",
    )
    large = small.replace(balance__open_amount=1500)
    now = at("2026-11-12T09:00:00+01:00")
    assert decide(design_rules, small, now).payment_options == (
        "paypal",
        "barzahlen",
        "bank_transfer",
    )
    assert decide(design_rules, large, now).payment_options == ("paypal", "bank_transfer")


def test_the_last_due_step_is_sent_and_earlier_ones_are_skipped(
    design_rules: CompiledRules,
) -> None:
    """Long overdue: the latest due step (handoff) is chosen; the trace says what was skipped."""
    decision = decide(design_rules, late_smb(), at("2026-12-28T10:00:00+01:00"))
    assert decision.action is Action.HANDOFF
    assert decision.journey_step == 4
    skipped = [t.note for t in decision.trace if "skipped" in t.note]
    assert len(skipped) == 2


def test_a_controller_of_a_large_account_is_called(design_rules: CompiledRules) -> None:
    """controller-large-account: payer_role controller and >= EUR 10,000 open."""
    sheet = facts(
        customer__payer_role="controller",
        customer__kind="business",
        customer__employees=400,
        balance__open_amount=25000,
        balance__oldest_due_date="2026-11-02",
    )
    decision = decide(design_rules, sheet, at("2026-11-06T10:00:00+01:00"))
    assert (decision.persona, decision.channel, decision.action) == (
        "controller-large-account",
        "phone",
        Action.SEND,
    )


def test_everyone_else_catches_the_rest(design_rules: CompiledRules) -> None:
    """A consumer in NL matches none of the specific personas."""
    sheet = facts(
        customer__kind="consumer", balance__open_amount=50, balance__oldest_due_date="2026-11-02"
    )
    assert decide(design_rules, sheet, at("2026-11-06T10:00:00+01:00")).persona == "everyone-else"


def test_the_send_window_and_sunday_rule_from_the_example(design_rules: CompiledRules) -> None:
    """Due on a Sunday at 21:00: wait for Monday 08:00 in the customer's zone."""
    sheet = late_smb(behaviour__avg_days_late=3)  # reminder due Thu 12 Nov
    decision = decide(design_rules, sheet, at("2026-11-15T21:00:00+01:00"))  # a Sunday evening
    assert decision.action is Action.WAIT
    assert decision.send_at == at("2026-11-16T08:00:00+01:00")
