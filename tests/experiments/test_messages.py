"""Every message the daemon sends records the debtor's experiment and variant."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Engine

from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.experiments import pick
from engine.rules.rulespec import load_rules
from engine.store import tables as t
from tests.daemon.harness import RULES, STEP1, Clock, World, debtor
from tests.store.conftest import db_url, pg_database, store

__all__ = ["db_url", "pg_database", "store"]

EXPERIMENT = """
experiments:
  - id: jij-or-u
    persona: everyone
    variants:
      - {id: u, weight: 50}
      - {id: jij, weight: 50, tone: jij}
"""


def test_every_message_records_experiment_and_variant(store: Engine, tmp_path: Path) -> None:
    """Twelve debtors, one reminder each: the variant on the message is the debtor's, and the
    jij variant's messages went out in the jij tone."""
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    (folder / "experiments.yaml").write_text(EXPERIMENT, encoding="utf-8")
    spec = load_rules(folder)
    compiled = compile_rules(spec)

    def rules() -> CompiledRules:
        return compiled

    ids = [f"C-{n}" for n in range(1, 13)]
    for cid in ids:
        debtor(store, tmp_path, cid)
    world = World(store, tmp_path, Clock(STEP1), rules_fn=rules)
    world.plan()
    world.tick()
    seed = spec.settings.experiment_seed
    variants = set()
    for cid in ids:
        messages = world.messages(cid)
        assert len(messages) == 1, cid
        expected = pick(spec.experiments[0], cid, seed)[0].id
        assert (messages[0].experiment, messages[0].variant) == ("jij-or-u", expected)
        assert messages[0].tone == ("jij" if expected == "jij" else "u")
        variants.add(expected)
    assert variants == {"u", "jij"}
    assert all(m.experiment == "jij-or-u" for m in world.rows(t.Message))
