"""The report's persona cards and experiment read-outs, drawn from each rule set's first run as
it stood at the end of the simulated days (engine/personas, engine/experiments)."""

from __future__ import annotations

import html

from engine.experiments.readout import experiment_html, experiment_ids, read_experiment
from engine.personas.cards import card_html, cards
from engine.rules.compile import compile_rules
from engine.rules.experiments import experiments_of
from engine.rules.rulespec import load_rules
from engine.simulation.compare import Comparison
from engine.simulation.report import Section
from engine.store.db import make_engine


def personas_section(comparison: Comparison) -> Section:
    """Per rule set: a card per persona (debtors, euros, payer, lateness, channel after which
    they pay, the journey) and each experiment's outcome, at the end of the run."""
    parts: list[str] = []
    seed = comparison.seeds[0]
    for labelled in comparison.rule_sets:
        result = comparison.results[labelled.label][seed]
        rules = compile_rules(load_rules(labelled.rules_dir))
        engine = make_engine(f"sqlite:///{result.database}")
        try:
            found = cards(engine, rules, comparison.portfolio.end)
            defined = tuple(experiments_of(rules.spec))
            readouts = [
                read_experiment(engine, eid, comparison.portfolio.end, defined)
                for eid in experiment_ids(engine, defined)
            ]
        finally:
            engine.dispose()
        parts.append(
            f"<h3>{html.escape(labelled.label)} ({html.escape(str(labelled.rules_dir))}),"
            f" seed {seed}, at the end of the run</h3>"
        )
        parts.extend(card_html(c) for c in found if c.debtors)
        if readouts:
            parts.append("<h4>Experiments</h4>")
            parts.extend(experiment_html(r) for r in readouts)
    return Section(id="personas", title="Persona cards and experiments", body="".join(parts))
