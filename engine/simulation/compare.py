"""Rule set A against rule set B: the same portfolio replayed R times under each, figures with
intervals over the runs, and the difference B - A run by run (the same seed faces both)."""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import math
import multiprocessing
import re
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.simulation.behaviour import BehaviourParams, ResponseTable
from engine.simulation.metrics import FIGURES, RunFigures, measure
from engine.simulation.simulate import ZONE, Portfolio, RunResult, run_rules
from engine.store.db import make_engine

#: Two-sided 95 % Student t quantiles by degrees of freedom (1..30); 1.96 beyond.
_T95 = (12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14, 2.13,
        2.12, 2.11, 2.10, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean over runs with its 95 % interval (None when there is one run)."""

    mean: float
    low: float | None
    high: float | None
    runs: int


def estimate(values: Sequence[float]) -> Estimate | None:
    if not values:
        return None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Estimate(mean, None, None, len(values))
    t = _T95[len(values) - 2] if len(values) - 1 <= len(_T95) else 1.96
    half = t * statistics.stdev(values) / math.sqrt(len(values))
    return Estimate(mean, mean - half, mean + half, len(values))


@dataclass(frozen=True, slots=True, kw_only=True)
class Labelled:
    """A rule set under its label in the report."""

    label: str
    rules_dir: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """Every run's figures, by rule set label then seed."""

    rule_sets: tuple[Labelled, ...]
    seeds: tuple[int, ...]
    runs: Mapping[str, Mapping[int, RunFigures]]
    results: Mapping[str, Mapping[int, RunResult]]
    groups: Mapping[str, str]  # customer id -> group (persona under the first rule set)
    portfolio: Portfolio
    model: str  # what the behaviour model was: its file, or the fitted table's source

    def values(self, label: str, group: str, figure: str) -> list[float]:
        out = []
        for seed in self.seeds:
            found = self.runs[label][seed].groups.get(group)
            value = found.value(figure) if found is not None else None
            if value is not None:
                out.append(value)
        return out

    def summary(self, label: str, group: str, figure: str) -> Estimate | None:
        return estimate(self.values(label, group, figure))

    def difference(self, group: str, figure: str) -> Estimate | None:
        """B - A, paired by seed (each seed's debtors drew the same numbers under both)."""
        if len(self.rule_sets) < 2:
            return None
        a, b = self.rule_sets[0].label, self.rule_sets[1].label
        pairs = []
        for seed in self.seeds:
            ga, gb = self.runs[a][seed].groups.get(group), self.runs[b][seed].groups.get(group)
            if ga is None or gb is None:
                continue
            va, vb = ga.value(figure), gb.value(figure)
            if va is not None and vb is not None:
                pairs.append(vb - va)
        return estimate(pairs)

    def group_names(self) -> list[str]:
        label = self.rule_sets[0].label
        return list(self.runs[label][self.seeds[0]].groups)


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Only warnings are logged inside: a simulation's sends are the point, not news. The
    logging set-up of whoever called comes back afterwards."""
    import logging

    import structlog

    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**before)


def _one(
    portfolio: Portfolio,
    rules: Labelled,
    seed: int,
    params: BehaviourParams,
    responses: ResponseTable | None,
    workdir: Path,
    outbox: bool,
    templates_dir: Path,
    groups: Mapping[str, str],
) -> tuple[RunResult, RunFigures]:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", rules.label) + f"-seed{seed}"  # a plain file name
    with quiet_logs():
        result = run_rules(
            portfolio,
            rules.rules_dir,
            params=params,
            seed=seed,
            database=workdir / f"{name}.db",
            responses=responses,
            outbox=workdir / f"outbox-{name}" if outbox else None,
            templates_dir=templates_dir,
        )
    engine = make_engine(f"sqlite:///{result.database}")
    try:
        figures = measure(
            engine, start=portfolio.start, days=portfolio.days, groups=groups, zone=ZONE
        )
    finally:
        engine.dispose()
    return result, figures


def compare(
    portfolio: Portfolio,
    rule_sets: Sequence[Labelled],
    *,
    params: BehaviourParams,
    seeds: Sequence[int],
    groups: Mapping[str, str],
    workdir: Path,
    templates_dir: Path,
    responses: ResponseTable | None = None,
    outbox: bool = False,
    jobs: int = 1,
    model: str = "",
    done: Callable[[str, int, RunResult], None] | None = None,
) -> Comparison:
    """Replay every rule set under every seed (in `jobs` processes), and gather the figures."""
    workdir.mkdir(parents=True, exist_ok=True)
    tasks = [(rules, seed) for seed in seeds for rules in rule_sets]
    runs: dict[str, dict[int, RunFigures]] = {r.label: {} for r in rule_sets}
    results: dict[str, dict[int, RunResult]] = {r.label: {} for r in rule_sets}
    args = (params, responses, workdir, outbox, templates_dir, groups)
    if jobs <= 1 or len(tasks) == 1:
        for rules, seed in tasks:
            result, figures = _one(portfolio, rules, seed, *args)
            runs[rules.label][seed], results[rules.label][seed] = figures, result
            if done is not None:
                done(rules.label, seed, result)
    else:
        # spawned, not forked: durable_rules starts threads at import, which fork does not copy
        context = multiprocessing.get_context("spawn")
        with futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            pending = {
                pool.submit(_one, portfolio, rules, seed, *args): (rules, seed)
                for rules, seed in tasks
            }
            for future in futures.as_completed(pending):
                rules, seed = pending[future]
                result, figures = future.result()
                runs[rules.label][seed], results[rules.label][seed] = figures, result
                if done is not None:
                    done(rules.label, seed, result)
    return Comparison(
        rule_sets=tuple(rule_sets),
        seeds=tuple(seeds),
        runs=runs,
        results=results,
        groups=groups,
        portfolio=portfolio,
        model=model,
    )


__all__ = ["FIGURES", "Comparison", "Estimate", "Labelled", "compare", "estimate"]
