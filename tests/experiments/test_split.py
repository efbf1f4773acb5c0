"""Experiments in the rules: a stable, balanced split; validation; the variant in the decision."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path

import pytest

from engine.decision.decide import decide
from engine.decision.model import FactSheet
from engine.errors import RuleError
from engine.rules.compile import compile_rules
from engine.rules.experiments import BUCKETS, pick
from engine.rules.rulespec import load_rules

RULES = Path(__file__).parents[2] / "rules"
EXPERIMENT = """
experiments:
  - id: whatsapp-first-nl
    persona: consumer-nl
    label: WhatsApp before email for Dutch consumers
    window: 14d
    control: as-is
    variants:
      - {id: as-is, weight: 50}
      - id: whatsapp-first
        weight: 50
        steps:
          - {step: 2, channel: [whatsapp, email], at: due + 5d}
"""
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def rules_with(tmp_path: Path, text: str = EXPERIMENT) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    (folder / "experiments.yaml").write_text(text, encoding="utf-8")
    return folder


def consumer(cid: str, **facts: object) -> FactSheet:
    return FactSheet.build(
        {
            "customer.id": cid,
            "customer.kind": "consumer",
            "customer.country": "NL",
            "customer.consent.whatsapp": True,
            "customer.preferred_channel": "email",
            "balance.open_amount": 120,
            "balance.overdue_amount": 120,
            "balance.oldest_due_date": dt.date(2026, 11, 15),
            "journey.steps_sent": 1,
            "journey.messages_sent": 1,
            "journey.last_channel": "email",
            **facts,
        }
    )


def test_a_debtor_gets_the_same_variant_on_every_run_and_after_unrelated_rule_edits(
    tmp_path: Path,
) -> None:
    """Editing another persona's rules (a new ruleset version) leaves every variant as it was."""
    folder = rules_with(tmp_path)
    before = compile_rules(load_rules(folder))
    personas = folder / "personas.yaml"
    personas.write_text(
        personas.read_text().replace("Particulier in Nederland", "Consument in Nederland"),
        encoding="utf-8",
    )
    after = compile_rules(load_rules(folder))
    assert after.version != before.version
    for n in range(300):
        sheet = consumer(f"C-{n:05d}")
        first = decide(before, sheet, NOW)
        assert first.experiment == "whatsapp-first-nl"
        assert decide(before, sheet, NOW).variant == first.variant
        assert decide(after, sheet, NOW).variant == first.variant


def test_the_split_is_balanced_within_two_points_of_its_weights(tmp_path: Path) -> None:
    """10,000 debtors split 20/30/50 land within 2 percentage points of each weight."""
    text = EXPERIMENT.replace(
        "      - {id: as-is, weight: 50}\n      - id: whatsapp-first\n        weight: 50",
        "      - {id: as-is, weight: 20}\n      - {id: jij, weight: 30, tone: jij}\n"
        "      - id: whatsapp-first\n        weight: 50",
    )
    spec = load_rules(rules_with(tmp_path, text))
    experiment = spec.experiments[0]
    counts = Counter(pick(experiment, f"C-{n}", 0)[0].id for n in range(10_000))
    for variant in experiment.variants:
        assert abs(counts[variant.id] / 10_000 - variant.weight / 100) < 0.02, counts
    # and the seed reshuffles: another seed puts many debtors elsewhere
    moved = sum(
        pick(experiment, f"C-{n}", 0)[0] != pick(experiment, f"C-{n}", 7)[0] for n in range(1000)
    )
    assert moved > 300
    assert 0 <= pick(experiment, "C-1", 0)[1] < BUCKETS


def test_the_variant_changes_the_step_and_the_trace_says_which_and_why(tmp_path: Path) -> None:
    """The whatsapp-first variant sends step 2 on WhatsApp at due + 5d; as-is keeps email first."""
    rules = compile_rules(load_rules(rules_with(tmp_path)))
    seen = set()
    for n in range(40):
        decision = decide(rules, consumer(f"C-{n:05d}"), NOW)
        seen.add(decision.variant)
        assert decision.journey_step == 2
        if decision.variant == "whatsapp-first":
            assert decision.channel == "whatsapp"
        else:
            assert decision.channel == "email"  # preferred first
        rows = [t for t in decision.trace if t.rule == "experiments[0]"]
        assert len(rows) == 1 and f"variant {decision.variant}" in rows[0].note
        assert decision.to_json()["experiment"] == {
            "id": "whatsapp-first-nl",
            "variant": decision.variant,
        }
    assert seen == {"as-is", "whatsapp-first"}


def test_consent_still_rules_a_variant(tmp_path: Path) -> None:
    """Without WhatsApp consent the whatsapp-first variant falls to email: consent stays."""
    rules = compile_rules(load_rules(rules_with(tmp_path)))
    for n in range(40):
        sheet = consumer(f"C-{n:05d}", **{"customer.consent.whatsapp": False})
        decision = decide(rules, sheet, NOW)
        assert decision.channel == "email"


def test_debtors_of_other_personas_are_in_no_experiment(tmp_path: Path) -> None:
    rules = compile_rules(load_rules(rules_with(tmp_path)))
    decision = decide(rules, consumer("C-1", **{"customer.country": "DE"}), NOW)
    assert decision.persona == "consumer-de"
    assert decision.experiment is None and decision.variant is None


BAD = """
experiments:
  - id: bad
    persona: consumer-nl
    control: nope
    variants:
      - {id: as-is, weight: 50}
      - id: formal
        weight: 40
        tone: Sie
        steps:
          - {step: 4, template: reminder-1}
"""


def test_validation_catches_weights_unknown_variants_tones_and_a_changed_legal_step(
    tmp_path: Path,
) -> None:
    with pytest.raises(RuleError) as caught:
        load_rules(rules_with(tmp_path, BAD))
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "weights sum to 90, not 100" in text
    assert "unknown variant 'nope'" in text
    assert "tone 'Sie' does not exist in nl_NL" in text
    assert "a required (legal) step (wik-14-day-letter)" in text
    assert "experiments.yaml:12:" in text  # file:line of the step change


def test_a_second_experiment_on_the_same_persona_is_refused(tmp_path: Path) -> None:
    second = EXPERIMENT + EXPERIMENT.split("experiments:\n", 1)[1].replace(
        "id: whatsapp-first-nl", "id: another"
    )
    with pytest.raises(RuleError, match="already runs experiment 'whatsapp-first-nl'"):
        load_rules(rules_with(tmp_path, second))


def test_the_guides_example_experiment_validates_with_the_shipped_rules(tmp_path: Path) -> None:
    """docs/experiments.md's `rules/experiments.yaml` block is a valid experiment as written."""
    import re

    guide = (Path(__file__).parents[2] / "docs" / "experiments.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", guide, re.S) if "experiments:" in b)
    spec = load_rules(rules_with(tmp_path, block))
    (experiment,) = spec.experiments
    assert (experiment.id, experiment.window_days, experiment.control) == (
        "whatsapp-first-nl",
        14,
        "as-is",
    )
    assert experiment.sample_size == 392  # what a 10-point uplift needs at the worst case


def test_a_variants_template_must_exist_for_its_language_and_tone(tmp_path: Path) -> None:
    """`payjourney validate` checks the templates a variant names, as it does a journey's."""
    from engine.messages.render import template_checks
    from engine.rules.rulebook import validate_dir

    text = EXPERIMENT.replace(
        "{step: 2, channel: [whatsapp, email], at: due + 5d}",
        "{step: 2, template: reminder-short}",
    )
    spec, problems = validate_dir(
        rules_with(tmp_path, text), template_checks(Path(__file__).parents[2] / "templates")
    )
    assert spec is None
    assert any("unknown template 'reminder-short' for nl/jij" in p.problem for p in problems)


def test_only_debtors_matching_the_experiments_when_take_part(tmp_path: Path) -> None:
    text = EXPERIMENT.replace(
        "    window: 14d\n", "    window: 14d\n    when: balance.open_amount < 100\n"
    )
    rules = compile_rules(load_rules(rules_with(tmp_path, text)))
    assert decide(rules, consumer("C-1"), NOW).experiment is None  # 120 open: not in it
    small = consumer("C-1", **{"balance.open_amount": 50, "balance.overdue_amount": 50})
    assert decide(rules, small, NOW).experiment == "whatsapp-first-nl"


def test_the_hash_is_pinned_so_a_running_experiment_never_reshuffles_on_upgrade() -> None:
    """SHA-256 of seed, experiment id and customer id: the same in every process and release
    (Python's own hash() is salted per process and would move debtors between variants)."""
    from engine.rules.experiments import bucket

    assert bucket("whatsapp-first-nl", "C-1001", 0) == 5094
    assert bucket("whatsapp-first-nl", "C-1001", 42) == 5622
    assert bucket("jij-or-u", "C-1", 0) == 7198
