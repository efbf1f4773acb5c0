"""The simulation sends letters as their text (no PDF built): an explicit option of the
daemon's dispatch path, which changes no simulated figure."""

from __future__ import annotations

import json
from pathlib import Path

from engine.simulation.behaviour import load_params
from engine.simulation.simulate import prepare_portfolio, run_rules
from tests.simulation.conftest import DEFAULT, FIRST_DAY, quiet


def _letters(outbox: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(outbox.glob("*.letter.json"))]


def test_letters_without_pdfs_change_no_figure_and_build_none(tmp_path: Path) -> None:
    """The same replay with and without letters' PDFs sends the same messages and gets the
    same reactions; only the run that asks for PDFs attaches one to its letters."""
    with quiet():
        portfolio = prepare_portfolio(
            tmp_path / "portfolio.db", debtors=25, seed=11, first_day=FIRST_DAY, days=20
        )
        runs = {
            pdfs: run_rules(
                portfolio,
                DEFAULT.rules_dir,
                params=load_params(),
                seed=11,
                database=tmp_path / f"run-{pdfs}.db",
                outbox=tmp_path / f"outbox-{pdfs}",
                letter_pdfs=pdfs,
            )
            for pdfs in (False, True)
        }
    assert runs[False].messages == runs[True].messages > 0
    assert runs[False].reactions == runs[True].reactions
    plain, printed = _letters(tmp_path / "outbox-False"), _letters(tmp_path / "outbox-True")
    assert printed, "the replay sent letters"
    assert [m["text"] for m in plain] == [m["text"] for m in printed]
    assert all(m["attachments"] == [] for m in plain)
    assert all(
        [a["content_type"] for a in m["attachments"]] == ["application/pdf"]  # type: ignore[union-attr]
        for m in printed
    )
