"""The real `payjourney` CLI, run as a subprocess: validate and explain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, TOO_LONG_FOR_DURABLE_RULES

EXAMPLES = ROOT / "examples" / "facts"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_validate_the_default_pack_exits_0() -> None:
    """`payjourney validate rules/` is clean on the shipped rule pack and its templates."""
    result = run("validate", "rules")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout


def test_validate_reports_every_problem_of_a_run_in_one_pass(tmp_path: Path) -> None:
    """Two mistakes in two files: both reported, exit 1."""
    (tmp_path / "a.yaml").write_text(
        'personas:\n  - id: x\n    when: customer.kindd == "consumer"\n'
        "  - id: all\n    when: always\n"
    )
    (tmp_path / "b.yaml").write_text(
        "journeys:\n  - persona: x\n    locale: nl_NL\n    tone: u\n"
        "    steps:\n      - {at: due + 1d, channel: pigeon, template: t}\n"
    )
    result = run("validate", str(tmp_path), "--templates", str(tmp_path / "none"))
    assert result.returncode == 1
    assert f"{tmp_path}/a.yaml:3:11: error: unknown fact 'customer.kindd'" in result.stdout
    assert f"{tmp_path}/b.yaml:6:33: error: unknown channel 'pigeon'" in result.stdout


def test_validate_refuses_a_condition_durable_rules_cannot_hold(tmp_path: Path) -> None:
    """Valid rule language that would not compile is an error at `validate` time, at the
    persona's line, not a crash of the daemon later."""
    (tmp_path / "pack.yaml").write_text(
        f"personas:\n  - id: odd\n    when: {TOO_LONG_FOR_DURABLE_RULES}\n  - id: all\n    when: always\n"
        "journeys:\n"
        + "".join(
            f"  - persona: {p}\n    locale: nl_NL\n    tone: u\n"
            "    steps:\n      - {at: due + 1d, channel: email, template: reminder-1}\n"
            for p in ("odd", "all")
        )
        + "payment_options:\n  - method: bank_transfer\n"
    )
    result = run("validate", str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"{tmp_path}/pack.yaml:2:5: error: durable_rules cannot hold this condition in one rule"
        in result.stdout
    )
    assert "Traceback" not in result.stderr


def test_explain_json_gives_the_preview_answer() -> None:
    """`explain FACTS.json --json` has the fields of the preview answer (without the message)."""
    result = run(
        "explain",
        str(EXAMPLES / "smb-late-nl.json"),
        "--now",
        "2026-11-23T10:00:00+01:00",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    for key in (
        "customer_id",
        "action",
        "persona",
        "journey",
        "channel",
        "fallback_channels",
        "locale",
        "tone",
        "send_at",
        "payment_options",
        "trace",
        "ruleset_version",
    ):
        assert key in answer
    assert answer["persona"]["id"] == "structurally-late-smb"
    assert answer["persona"]["source"] == "rules/personas.yaml:22"
    assert answer["channel"] == "whatsapp" and answer["fallback_channels"] == ["email"]
    assert answer["send_at"] == "2026-11-23T10:00:00+01:00"


def test_explain_a_german_controller_picks_the_first_matching_journey_de_de_sie() -> None:
    """`explain controller-de.json`: both controller journeys match; the first, de_DE/Sie, wins."""
    result = run(
        "explain",
        str(EXAMPLES / "controller-de.json"),
        "--now",
        "2026-11-23T10:00:00+01:00",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert (answer["locale"], answer["tone"]) == ("de_DE", "Sie")
    assert answer["journey"]["template"] == "zahlungserinnerung"


def test_explain_prints_a_readable_table_with_the_trace() -> None:
    """Without --json: a table with the persona, the step and why."""
    result = run(
        "explain", str(EXAMPLES / "consumer-de.json"), "--now", "2026-11-23T10:00:00+01:00"
    )
    assert result.returncode == 0, result.stderr
    assert "consumer-de" in result.stdout and "Why (trace)" in result.stdout


def test_explain_with_a_bad_fact_sheet_says_what_is_wrong(tmp_path: Path) -> None:
    """An unknown fact and a wrong type are named, exit 2, no traceback."""
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"customer": {"kindd": "consumer"}, "balance": {"open_amount": "lots"}})
    )
    result = run("explain", str(bad))
    assert result.returncode == 2
    assert "unknown fact 'customer.kindd'" in result.stderr
    assert "balance.open_amount" in result.stderr
    assert "Traceback" not in result.stderr


def test_explain_with_broken_rules_exits_1_and_names_the_line(tmp_path: Path) -> None:
    """Broken rules are reported with file:line, never decided with."""
    (tmp_path / "p.yaml").write_text("personas:\n  - id: a\n    when: customer.kind ==\n")
    result = run("--rules", str(tmp_path), "explain", str(EXAMPLES / "consumer-de.json"))
    assert result.returncode == 1
    assert f"{tmp_path}/p.yaml:3:" in result.stderr


def test_validate_warns_when_the_interest_rate_table_missed_a_change_date() -> None:
    """Rates are set every 1 Jan / 1 Jul: a table without a row since then is a warning, not an error."""
    import datetime as dt

    from engine.cli.rules_cmds import rate_table_warnings
    from engine.rules.rulespec import load_rules

    spec = load_rules(ROOT / "rules")
    in_2025 = rate_table_warnings(spec, dt.date(2025, 8, 1))
    later = rate_table_warnings(spec, dt.date(2026, 11, 23))
    assert [w.key_path for w in in_2025] == ["nl_wettelijke_rente"]  # unchanged since 1 Jan 2025
    assert {w.key_path for w in later} == {"nl_wettelijke_rente", "nl_handelsrente", "de_basiszins"}
    assert all(w.severity == "warning" and "2026-07-01" in w.problem for w in later)


def test_validate_warns_of_whatsapp_steps_without_an_approved_provider_template(
    tmp_path: Path,
) -> None:
    """With PAYJOURNEY_WHATSAPP_TEMPLATES approving nothing, every WhatsApp step of the default
    pack is a warning at its own line; approving them all leaves none; exit 0 either way."""
    from engine.cli.rules_cmds import whatsapp_template_warnings
    from engine.rules.rulespec import load_rules

    spec = load_rules(ROOT / "rules")
    wanted = {
        (step.template, journey.locale)
        for journey in spec.all_journeys()
        for step in journey.steps
        if "whatsapp" in step.channels and step.template
    }
    assert wanted, "the default pack has WhatsApp steps"
    none_approved = tmp_path / "none.json"
    none_approved.write_text("{}", encoding="utf-8")
    warnings = whatsapp_template_warnings(
        spec, {"PAYJOURNEY_WHATSAPP_TEMPLATES": str(none_approved)}
    )
    assert warnings and all(w.severity == "warning" for w in warnings)
    assert all(w.path.endswith("journeys.yaml") and w.line > 1 for w in warnings)
    assert {w.problem.split("'")[1] for w in warnings} == {t for t, _ in wanted}
    every = {
        template: {
            locale: {
                "name": f"{template}_{locale}".replace("-", "_").lower(),
                "language": locale[:2],
                "approved": True,
            }
            for t2, locale in wanted
            if t2 == template
        }
        for template, _ in wanted
    }
    all_approved = tmp_path / "all.json"
    all_approved.write_text(json.dumps(every), encoding="utf-8")
    assert (
        whatsapp_template_warnings(spec, {"PAYJOURNEY_WHATSAPP_TEMPLATES": str(all_approved)}) == []
    )
    assert whatsapp_template_warnings(spec, {}) == []
    import os

    env = {**os.environ, "PAYJOURNEY_WHATSAPP_TEMPLATES": str(none_approved)}
    done = subprocess.run(
        [sys.executable, "-m", "engine", "validate", "rules"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 0 and "no approved provider template" in done.stdout + done.stderr
