"""The rules in force: a bad edit is refused with its errors and the last good rules keep deciding."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.decision.decide import decide
from engine.decision.model import FactSheet
from engine.errors import RuleError
from engine.rules.rulebook import RuleBook
from tests.conftest import RULES, TOO_LONG_FOR_DURABLE_RULES, at

SHEET = FactSheet.build(
    None,
    customer__kind="consumer",
    customer__country="NL",
    balance__open_amount=50,
    balance__oldest_due_date="2026-11-10",
)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def test_invalid_yaml_keeps_the_last_good_rules_running(rules_dir: Path) -> None:
    """A syntax error in a rule file is reported; decisions still use the previous rules."""
    book = RuleBook(rules_dir)
    before = book.current.version
    (rules_dir / "personas.yaml").write_text("personas:\n  - id: broken\n   when: always\n")
    result = book.reload()
    assert not result.changed and result.version == before
    assert any("personas.yaml:3" in str(p) for p in result.problems)
    assert decide(book.current, SHEET, at("2026-11-23T10:00:00+01:00")).persona == "consumer-nl"


def test_a_condition_durable_rules_cannot_hold_keeps_the_last_good_rules(rules_dir: Path) -> None:
    """The files validate, but the compiled rules are refused: the reload names the persona
    at its file:line and the previous rules keep deciding."""
    book = RuleBook(rules_dir)
    before = book.current.version
    personas = rules_dir / "personas.yaml"
    text = personas.read_text()
    assert 'customer.kind == "consumer" and customer.country in ["NL", "BE"]' in text
    personas.write_text(
        text.replace(
            'customer.kind == "consumer" and customer.country in ["NL", "BE"]',
            TOO_LONG_FOR_DURABLE_RULES,
        )
    )
    result = book.reload()
    assert not result.changed and result.version == before
    refused = [p for p in result.problems if "durable_rules cannot hold" in p.problem]
    assert len(refused) == 1 and refused[0].path.endswith("personas.yaml")
    assert refused[0].key_path == "persona 'consumer-nl'" and refused[0].severity == "error"
    assert decide(book.current, SHEET, at("2026-11-23T10:00:00+01:00")).persona == "consumer-nl"


def test_a_valid_edit_takes_effect_with_a_new_version(rules_dir: Path) -> None:
    """Changing a persona's condition switches to the new rules and a new ruleset version."""
    book = RuleBook(rules_dir)
    before = book.current.version
    personas = rules_dir / "personas.yaml"
    personas.write_text(
        personas.read_text().replace(
            'customer.kind == "consumer" and customer.country in ["NL", "BE"]',
            'customer.kind == "consumer" and customer.country in ["BE"]',
        )
    )
    result = book.reload()
    assert result.changed and result.version != before
    assert decide(book.current, SHEET, at("2026-11-23T10:00:00+01:00")).persona == "everyone-else"


def test_an_unchanged_directory_is_not_recompiled(rules_dir: Path) -> None:
    """Reloading the same files changes nothing."""
    book = RuleBook(rules_dir)
    first = book.current
    assert not book.reload().changed
    assert book.current is first


def test_starting_with_broken_rules_fails_loudly(rules_dir: Path) -> None:
    """There is nothing to fall back to at start: the error lists the problems."""
    (rules_dir / "journeys.yaml").write_text("journeys: []\n")
    with pytest.raises(RuleError, match="has no journey"):
        RuleBook(rules_dir)
