"""Hints for rule authors: what a credit manager gets wrong on a first afternoon, and what we say."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.context import parse_now
from engine.messages.render import template_checks
from engine.rules.rulebook import validate_dir
from engine.rules.rulespec import RuleSource, validate_sources
from tests.conftest import ROOT, RULES

PUBLIC_BODIES = """\
personas:
  - id: public-body
    label: Overheid
    when: customer.industry == "public"
journeys:
  - persona: public-body
    locale: nl_NL
    tone: u
    steps:
      - at: due + 7d
        channel: email
        template: reminder-1
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def messages(rules: Path, checks: bool = False) -> list[str]:
    _, problems = validate_dir(rules, template_checks(ROOT / "templates") if checks else ())
    return [str(p) for p in problems if p.severity == "error"]


def test_a_persona_in_a_file_sorted_after_the_catch_all_names_the_file_order_merge(
    rules_dir: Path,
) -> None:
    """public-bodies.yaml sorts after personas.yaml: the hint says files merge in name order and
    how to name them."""
    (rules_dir / "public-bodies.yaml").write_text(PUBLIC_BODIES)
    errors = messages(rules_dir)
    assert errors and all("file-name order" in e for e in errors)
    assert any("such as 'public-body'" in e for e in errors)
    assert any("10-public-bodies.yaml before 90-personas.yaml" in e for e in errors)
    assert any("zz-catch-all.yaml" in e for e in errors)


def test_a_condition_starting_with_a_quote_explains_yaml_quoting() -> None:
    """`when: "public" in customer.tags` unquoted: the hint is about quotes, not indentation."""
    text = 'personas:\n  - id: public\n    when: "public" in customer.tags\n'
    _, problems = validate_sources([RuleSource("rules/personas.yaml", text)])
    (problem,) = problems
    assert str(problem).startswith("rules/personas.yaml:3:")
    assert "a value that starts with a quote must end with it" in problem.hint
    assert """e.g. '"public" in customer.tags'""" in problem.hint
    assert "indentation" not in problem.hint


def test_a_real_indentation_error_keeps_the_indentation_hint() -> None:
    """A line that does not start with a quote gets the usual hint."""
    _, problems = validate_sources(
        [RuleSource("p.yaml", "personas:\n  - id: a\n   when: always\n")]
    )
    assert "indentation" in problems[0].hint


def test_rule_errors_and_template_errors_come_in_one_pass(rules_dir: Path) -> None:
    """An unknown channel and an unknown template in another journey are both reported at once."""
    journeys = rules_dir / "journeys.yaml"
    text = journeys.read_text()
    text = text.replace("template: reminder-1", "template: reminder-one", 1)
    text = text.replace("channel: email", "channel: pigeon", 1)
    journeys.write_text(text)
    errors = messages(rules_dir, checks=True)
    assert any("unknown channel 'pigeon'" in e for e in errors)
    assert any("unknown template 'reminder-one'" in e for e in errors)
    assert len(errors) == len(set(errors)), "each problem once"


def test_validating_one_file_checks_it_within_its_directory(rules_dir: Path) -> None:
    """`validate rules/personas.yaml` finds the journeys of journeys.yaml: no false 'no journey'."""
    spec, problems = validate_dir(rules_dir / "personas.yaml")
    assert spec is not None, "\n".join(map(str, problems))
    assert not any("has no journey" in str(p) for p in problems)


def test_validating_one_file_reports_its_errors_and_counts_the_others(rules_dir: Path) -> None:
    """Errors of the named file are shown; other files' errors are one line pointing at the folder."""
    personas = rules_dir / "personas.yaml"
    personas.write_text(personas.read_text().replace("customer.kind", "customer.kindd", 1))
    journeys = rules_dir / "journeys.yaml"
    journeys.write_text(journeys.read_text().replace("channel: email", "channel: pigeon", 1))
    _, problems = validate_dir(personas)
    texts = [str(p) for p in problems]
    assert any("unknown fact 'customer.kindd'" in t for t in texts)
    assert not any("pigeon" in t for t in texts)
    assert any("1 error(s) in the other rule files" in t for t in texts)


def warnings_for(steps: str) -> list[str]:
    text = (
        "personas:\n  - id: everyone\n    when: always\n"
        "journeys:\n  - persona: everyone\n    locale: nl_NL\n    tone: u\n    steps:\n"
        + steps
        + "payment_options:\n  - method: bank_transfer\n"
    )
    spec, problems = validate_sources([RuleSource("j.yaml", text)])
    assert spec is not None, "\n".join(map(str, problems))
    return [str(p) for p in problems if p.severity == "warning"]


def test_validate_warns_where_a_journey_can_hand_off_before_any_message() -> None:
    """if_no_channel: handoff, first_contact: true and a journey that starts with a hand-off warn."""
    no_channel = warnings_for(
        "      - {at: due + 1d, channel: sms, template: reminder-1, if_no_channel: handoff}\n"
    )
    assert any("handed off here, before any message" in w for w in no_channel)
    first = warnings_for(
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "      - {at: due + 40d, action: handoff, first_contact: true}\n"
    )
    assert any("can be a debtor's first contact" in w for w in first)
    starts = warnings_for("      - {at: due + 40d, action: handoff}\n")
    assert any("starts with a hand-off" in w for w in starts)
    assert (
        warnings_for("      - {at: due + 1d, channel: [email, letter], template: reminder-1}\n")
        == []
    )


def test_a_now_without_offset_is_read_in_the_rules_time_zone_and_a_bare_date_at_midnight() -> None:
    """2026-11-24T09:30 is 09:30 in Amsterdam; 2026-11-24 is the start of that day there."""
    assert (
        parse_now("2026-11-24T09:30", "Europe/Amsterdam").isoformat() == "2026-11-24T09:30:00+01:00"
    )
    assert parse_now("2026-11-24", "Europe/Berlin").isoformat() == "2026-11-24T00:00:00+01:00"
    assert parse_now("2026-11-24T09:30:00Z").isoformat() == "2026-11-24T09:30:00+00:00"


def test_explain_says_which_time_zone_it_read_now_in() -> None:
    """The CLI prints the moment it used and the zone, on stderr (JSON on stdout stays clean)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYJOURNEY_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "explain",
            "examples/facts/smb-late-nl.json",
            "--json",
            "--now",
            "2026-11-24",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "as of 2026-11-24T00:00:00+01:00 (--now read in Europe/Amsterdam" in done.stderr
    assert done.stdout.lstrip().startswith("{")


def test_the_rules_time_zone_follows_the_default_locale_unless_set() -> None:
    """de_DE rules read --now in Berlin; settings.timezone overrides; a wrong zone is an error."""
    base = (
        "personas:\n  - id: everyone\n    when: always\n"
        "journeys:\n  - persona: everyone\n    locale: de_DE\n    tone: Sie\n"
        "    steps:\n      - {at: due + 1d, channel: email, template: zahlungserinnerung}\n"
        "payment_options:\n  - method: bank_transfer\n"
    )
    german, _ = validate_sources(
        [RuleSource("r.yaml", base + "settings:\n  default_locale: de_DE\n")]
    )
    assert german is not None and german.settings.timezone == "Europe/Berlin"
    vienna, _ = validate_sources(
        [RuleSource("r.yaml", base + "settings:\n  timezone: Europe/Vienna\n")]
    )
    assert vienna is not None and vienna.settings.timezone == "Europe/Vienna"
    _, problems = validate_sources([RuleSource("r.yaml", base + "settings:\n  timezone: Berlin\n")])
    assert any("unknown time zone 'Berlin'" in str(p) for p in problems)


def test_explain_names_the_persona_by_its_label_and_traces_the_false_part() -> None:
    """The decision table shows the persona's label; the trace shows why earlier personas failed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYJOURNEY_")}
    env["COLUMNS"] = "200"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "explain",
            "examples/facts/smb-late-nl.json",
            "--now",
            "2026-11-23T10:00:00+01:00",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "structurally-late-smb — MKB, structureel een paar dagen te laat" in done.stdout
    assert "is false in" in done.stdout
