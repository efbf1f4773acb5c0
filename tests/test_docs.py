"""docs/rules.md stays true: its examples validate, its broken example fails as shown, every fact is listed."""

from __future__ import annotations

import json
import re

from engine.decision.model import FactSheet
from engine.rules.facts import SCHEMA
from engine.rules.rulespec import RuleSource, validate_sources
from tests.conftest import ROOT

GUIDE = (ROOT / "docs" / "rules.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", GUIDE, re.S)


def test_the_worked_example_blocks_form_a_valid_rule_pack() -> None:
    """All `# example` YAML blocks together validate without errors."""
    examples = [body for lang, body in BLOCKS if lang == "yaml" and body.startswith("# example")]
    assert len(examples) >= 5
    sources = [RuleSource(f"docs-example-{i}.yaml", body) for i, body in enumerate(examples)]
    spec, problems = validate_sources(sources)
    assert spec is not None, "\n".join(map(str, problems))
    assert {p.id for p in spec.personas} == {
        "chronic-late",
        "structurally-late-smb",
        "consumer-de",
        "everyone-else",
    }


def test_the_broken_example_fails_with_the_error_the_guide_shows() -> None:
    """The guide's validation error is the one payjourney prints (file name aside)."""
    index = next(i for i, (lang, body) in enumerate(BLOCKS) if body.startswith("# broken"))
    broken, (_, shown) = BLOCKS[index][1], BLOCKS[index + 1]
    _, problems = validate_sources([RuleSource("rules/personas.yaml", broken)])
    first = next(p for p in problems if p.severity == "error")
    assert str(first).strip() == shown.strip()


def test_the_json_fact_sheet_example_reads() -> None:
    """The fact sheet example is accepted by `explain`."""
    body = next(body for lang, body in BLOCKS if lang == "json")
    assert FactSheet.from_nested(json.loads(body))["customer.employees"] == 12


def test_every_fact_is_documented_and_no_documented_fact_is_invented() -> None:
    """The facts table lists exactly the facts of the schema."""
    documented = set(
        re.findall(r"^\| `((?:customer|balance|behaviour|journey)\.[a-z0-9_.]+)` \|", GUIDE, re.M)
    )
    assert documented == set(SCHEMA)


def test_the_quoting_example_is_valid_yaml_with_a_valid_condition() -> None:
    """The guide's cure for a condition that starts with a quote reads as that condition."""
    from engine.rules import expr
    from engine.rules.yamlnodes import load_yaml, plain

    body = next(body for lang, body in BLOCKS if body.startswith("# quoting"))
    root, problems = load_yaml(body, "quoting.yaml")
    assert problems == [] and root is not None
    when = plain(root)["personas"][0]["when"]
    assert when == '"vip" in customer.tags'
    expr.check(expr.parse(when))
