"""`payjourney demo` (what `make demo` runs) works end to end and never depends on the hour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

#: Runs the CLI with the clock set (time-machine), as a credit manager would at that hour.
AT_CLOCK = (
    "import sys, time_machine\n"
    "with time_machine.travel(sys.argv.pop(1), tick=False):\n"
    "    from engine.cli import main\n"
    "    main()\n"
)


def demo(
    database: Path, *args: str, clock: str | None = None, days: int = 0, debtors: int = 300
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", AT_CLOCK, clock] if clock else [sys.executable, "-m", "engine"]
    result = subprocess.run(
        [
            *command,
            "demo",
            "--debtors",
            str(debtors),
            "--file",
            str(database),
            "--days",
            str(days),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_demo_validates_explains_generates_plans_and_previews(tmp_path: Path) -> None:
    """The demo runs clean, states its moment, and shows each of its four parts filled."""
    database = tmp_path / "demo.db"
    out = demo(database, "--now", "2026-11-23T10:00:00+01:00").stdout
    assert "as of Mon 2026-11-23 10:00 +0100 (--now)" in out
    for part in ("1. Validate", "2. Explain", "3. Generate", "4. Preview"):
        assert part in out
    assert "structurally-late-smb" in out
    assert "planned 300 debtors" in out
    assert "Open balance by age" in out and "open EUR" in out
    assert "(none)" not in out, "no summary table is empty"
    assert database.exists()


def test_the_demo_gives_the_same_output_at_three_at_night_and_at_two_in_the_afternoon(
    tmp_path: Path,
) -> None:
    """Run at 03:00 or at 14:00 the same day, the demo plans the same moment and prints the same."""
    database = tmp_path / "demo.db"
    night = demo(database, clock="2026-11-24T03:00:00+01:00").stdout
    afternoon = demo(database, clock="2026-11-24T14:00:00+01:00").stdout
    assert "as of Tue 2026-11-24 10:00 +0100" in night
    assert night == afternoon
    preview = night.split("4. Preview", 1)[1]
    assert "╭" in preview, "section 4 shows at least one message"
    assert "[link wordt gemaakt bij verzending]" in preview, "template text is not Rich markup"
    assert "Explore it:" in preview


def test_the_demo_simulates_both_rule_sets_and_prints_the_comparison(tmp_path: Path) -> None:
    """With --days the demo replays the daemon under the persona rules and the one-ladder
    example, prints the headline, the per-persona table and the messages by persona, channel
    and step, three next messages, and says where the report and the outbox are."""
    out = tmp_path / "simulation"
    result = demo(
        tmp_path / "demo.db",
        "--now", "2026-11-23T10:00:00+01:00",
        "--sim-debtors", "24", "--out", str(out), "--jobs", "1",
        days=12, debtors=40,
    )  # fmt: skip
    text = result.stdout
    assert "5. Simulate 12 days" in text
    assert "persona journeys vs one ladder: DSO" in text
    assert "Messages by persona, channel and step" in text
    assert "Three next messages after the run" in text
    assert "report: " in text and "outbox of the persona journeys: " in text
    assert (out / "report.html").exists() and (out / "figures.csv").exists()
    outbox = out / "outbox-persona-journeys-seed7"
    assert outbox.is_dir() and any(outbox.iterdir()), "the outbox holds what was sent"
