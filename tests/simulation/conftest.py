"""One small simulated comparison shared by the simulation tests: the default persona rules, the
one-ladder example and a rule set without reminders, replayed on the same generated debtors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.messages.render import DEFAULT_TEMPLATES_DIR
from engine.simulation.behaviour import load_params
from engine.simulation.compare import Comparison, Labelled, compare, quiet_logs
from engine.simulation.simulate import Portfolio, personas_at_start, prepare_portfolio
from tests.conftest import ROOT

DEFAULT = Labelled(label="persona journeys", rules_dir=ROOT / "rules")
ONE_LADDER = Labelled(label="one ladder", rules_dir=ROOT / "examples" / "rules-one-ladder")
NO_REMINDERS = Labelled(
    label="no reminders", rules_dir=Path(__file__).with_name("rules_no_reminders")
)
FIRST_DAY = dt.date(2026, 11, 23)
#: Small enough for the test budget; the margins the tests ask for hold at this size and seed.
DEBTORS, DAYS, SEED = 60, 18, 3


#: only warnings logged while a replay runs (other tests capture the daemon's info logs)
quiet = quiet_logs


def small_comparison(
    workdir: Path, rule_sets: list[Labelled], *, debtors: int, days: int, seed: int
) -> tuple[Portfolio, Comparison]:
    with quiet():
        portfolio = prepare_portfolio(
            workdir / "portfolio.db", debtors=debtors, seed=seed, first_day=FIRST_DAY, days=days
        )
        groups = personas_at_start(portfolio, rule_sets[0].rules_dir)
        result = compare(
            portfolio,
            rule_sets,
            params=load_params(),
            seeds=[seed],
            groups=groups,
            workdir=workdir,
            templates_dir=DEFAULT_TEMPLATES_DIR,
            model="behaviour.yaml",
        )
    return portfolio, result


@pytest.fixture(scope="session")
def three_rule_sets(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    """Default rules, one ladder, no reminders: one run each on the same debtors."""
    workdir = tmp_path_factory.mktemp("simulation")
    _, result = small_comparison(
        workdir, [DEFAULT, ONE_LADDER, NO_REMINDERS], debtors=DEBTORS, days=DAYS, seed=SEED
    )
    return result
