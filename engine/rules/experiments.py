"""Experiments in the rules: a persona's debtors split into variants by a stable hash; pure, no I/O.

A debtor's variant depends only on the experiment id, the customer id, `settings.experiment_seed`
and the variants' weights: the same debtor gets the same variant on every run and after any rule
edit that leaves the experiment alone, so a debtor stays in one variant for the whole journey.
A variant changes the journey it applies to (tone, a step's timing, channels or template); a
required (legal) step is never changed: validation refuses it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.rules import expr as ex
from engine.rules.source import Source
from engine.rules.spec import Journey, RuleSpec, Step

#: A debtor's position in [0, BUCKETS): weights (percentages) cut this range into variants.
BUCKETS = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class StepChange:
    """What a variant changes in one step (1-based `step`); None keeps the journey's value."""

    step: int
    at_days: int | None = None
    channels: tuple[str, ...] | None = None
    template: str | None = None
    fallback_after: dt.timedelta | None = None
    source: Source


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One arm of an experiment and its share of the debtors (a percentage)."""

    id: str
    weight: int
    label: str = ""
    tone: str | None = None
    steps: tuple[StepChange, ...] = ()
    source: Source

    @property
    def changes_nothing(self) -> bool:
        return self.tone is None and not self.steps


@dataclass(frozen=True, slots=True, kw_only=True)
class Experiment:
    """A question asked of live debtors: which variant of a persona's journey gets paid sooner.

    The read-out is fixed up front (no peeking): the share paid within `window_days` of the first
    message, judged once every variant has `sample_size` debtors whose window has closed.
    """

    id: str
    persona: str
    label: str
    when: ex.Expr | None  # None: every debtor of the persona takes part
    variants: tuple[Variant, ...]
    control: str  # the variant the others are compared with
    window_days: int
    sample_size: int  # debtors per variant, stated up front (or derived from `uplift`)
    uplift: float  # the difference in share paid (0-1) the sample size is meant to detect
    index: int
    source: Source

    def variant(self, variant_id: str) -> Variant:
        return next(v for v in self.variants if v.id == variant_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """A debtor's variant, why, and the journey it gives them."""

    experiment: Experiment
    variant: Variant
    bucket: int
    low: int  # the variant's share of the buckets: [low, high)
    high: int
    journey: Journey

    def why(self, seed: int) -> str:
        return (
            f"experiment {self.experiment.id}: variant {self.variant.id} — the stable hash of"
            f" customer id, experiment id and seed {seed} puts this debtor at {self.bucket} of"
            f" {BUCKETS}, inside {self.variant.id}'s share {self.low}-{self.high - 1}"
            f" (weights {'/'.join(str(v.weight) for v in self.experiment.variants)})"
        )


def bucket(experiment_id: str, customer_id: str, seed: int = 0) -> int:
    """The debtor's stable position in [0, BUCKETS) for one experiment."""
    digest = hashlib.sha256(f"{seed}\x00{experiment_id}\x00{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def shares(experiment: Experiment) -> list[tuple[Variant, int, int]]:
    """Each variant with its [low, high) range of buckets, in file order."""
    out: list[tuple[Variant, int, int]] = []
    low = 0
    for variant in experiment.variants:
        high = low + variant.weight * BUCKETS // 100
        out.append((variant, low, high))
        low = high
    return out


def pick(experiment: Experiment, customer_id: str, seed: int = 0) -> tuple[Variant, int, int, int]:
    """(variant, bucket, low, high) for a debtor."""
    position = bucket(experiment.id, customer_id, seed)
    for variant, low, high in shares(experiment):
        if low <= position < high:
            return variant, position, low, high
    raise ValueError(f"experiment {experiment.id}: weights do not sum to 100")


def variant_journey(journey: Journey, variant: Variant) -> Journey:
    """The journey as the variant changes it (tone, steps' timing, channels, template)."""
    if variant.changes_nothing:
        return journey
    steps = list(journey.steps)
    for change in variant.steps:
        step = steps[change.step - 1]
        steps[change.step - 1] = _changed(step, change)
    return dataclasses.replace(journey, tone=variant.tone or journey.tone, steps=tuple(steps))


def _changed(step: Step, change: StepChange) -> Step:
    values: dict[str, Any] = {}
    if change.at_days is not None:
        values["at_days"] = change.at_days
    if change.channels is not None:
        values["channels"] = change.channels
    if change.template is not None:
        values["template"] = change.template
    if change.fallback_after is not None:
        values["fallback_after"] = change.fallback_after
    return dataclasses.replace(step, **values)


def experiments_of(spec: RuleSpec) -> tuple[Experiment, ...]:
    """The spec's experiments (none for a spec built without the section)."""
    return tuple(getattr(spec, "experiments", ()) or ())


def variant_journeys(spec: RuleSpec) -> list[tuple[Experiment, Variant, Journey]]:
    """Every journey a variant makes, for the checks that read journeys (templates)."""
    out: list[tuple[Experiment, Variant, Journey]] = []
    for experiment in experiments_of(spec):
        for journey in spec.journeys.get(experiment.persona, ()):
            for variant in experiment.variants:
                if not variant.changes_nothing:
                    out.append((experiment, variant, variant_journey(journey, variant)))
    return out


class Experiments:
    """The rules' experiments ready for deciding: at most one per persona, journeys precomputed."""

    def __init__(self, spec: RuleSpec) -> None:
        self.seed = spec.settings.experiment_seed
        self._by_persona: dict[str, tuple[Experiment, ex.Predicate | None]] = {}
        self._journeys: dict[tuple[int, str], Journey] = {}
        for experiment in experiments_of(spec):
            when = ex.predicate(experiment.when) if experiment.when is not None else None
            self._by_persona[experiment.persona] = (experiment, when)
            for journey in spec.journeys.get(experiment.persona, ()):
                for variant in experiment.variants:
                    self._journeys[(id(journey), variant.id)] = variant_journey(journey, variant)

    def __bool__(self) -> bool:
        return bool(self._by_persona)

    def assign(
        self, persona: str, journey: Journey, values: Mapping[str, Any]
    ) -> Assignment | None:
        """The debtor's variant when their persona runs an experiment they take part in."""
        found = self._by_persona.get(persona)
        if found is None:
            return None
        experiment, when = found
        customer_id = values["customer.id"]
        if customer_id is None or (when is not None and not when(values)):
            return None
        variant, position, low, high = pick(experiment, str(customer_id), self.seed)
        changed = self._journeys.get((id(journey), variant.id), journey)
        return Assignment(
            experiment=experiment,
            variant=variant,
            bucket=position,
            low=low,
            high=high,
            journey=changed,
        )
