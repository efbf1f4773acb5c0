"""`payjourney personas suggest`: paying personas proposed from the behaviour facts, as rules to paste.

How: the debtors are clustered on how they pay (k-means on standardised lateness, on-time ratio,
broken promises, open disputes and the best `paid_after` share), then a shallow decision tree is
fitted to the clusters over the same facts. Each leaf of the tree is a conjunction of fact
comparisons: that is a `when:` condition a credit manager can read, review and edit, and the
rules classify every debtor exactly as the tree does (a test holds it so). Missing facts follow
the rule language: an unknown lateness counts as on time (no history, no lateness).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.decision.model import FactSheet
from engine.rules import expr as ex
from engine.rules.compile import CompiledRules
from engine.rules.facts import CHANNELS
from engine.rules.spec import Journey, Step

#: The facts the tree splits on. `best paid_after` is written as an `or` over the channels.
LATE, ON_TIME, PROMISES, DISPUTES, BEST = (
    "behaviour.avg_days_late",
    "behaviour.on_time_ratio",
    "behaviour.broken_promises",
    "behaviour.open_disputes",
    "best_paid_after",
)
FEATURES = (LATE, ON_TIME, PROMISES, DISPUTES, BEST)
#: What an unknown fact counts as (the rules' reading of a debtor without history).
MISSING = {LATE: 0.0, ON_TIME: 1.0, PROMISES: 0.0, DISPUTES: 0.0, BEST: 0.0}
PAID_AFTER = tuple(f"behaviour.paid_after.{c}" for c in CHANNELS)


@dataclass(frozen=True, slots=True, kw_only=True)
class SuggestedPersona:
    """One proposed persona, with the figures that describe it."""

    id: str
    label: str
    when: str  # the condition, in the rule language
    debtors: int
    share: float
    typical_days_late: float | None  # median of behaviour.avg_days_late
    best_channel: str | None  # highest mean paid_after among its debtors
    now_in: tuple[tuple[str, int], ...]  # current personas of its debtors, largest first
    journey_from: str  # the current persona whose journeys it takes over


@dataclass(frozen=True, slots=True, kw_only=True)
class Suggestion:
    personas: tuple[SuggestedPersona, ...]
    assignment: Mapping[str, str]  # customer id -> suggested persona id
    yaml: str
    #: adjusted Rand index between the suggested and the current personas (1: the same split)
    agreement_with_current: float


def features(sheet: FactSheet) -> list[float]:
    """A debtor's feature row, unknown facts as the rules read them."""
    v = sheet.values
    shares = [float(v[f]) for f in PAID_AFTER if v[f] is not None]
    row = {
        LATE: v[LATE],
        ON_TIME: v[ON_TIME],
        PROMISES: v[PROMISES],
        DISPUTES: v[DISPUTES],
        BEST: max(shares) if shares else None,
    }
    return [MISSING[f] if row[f] is None else float(row[f]) for f in FEATURES]


def _condition(feature: str, op: str, threshold: float) -> str:
    """One split as rule text, so that an unknown fact takes the side its MISSING value takes."""
    t = _round(threshold)
    if feature == BEST:
        # best share >= t  <=>  some channel's share >= t (unknown shares count as 0, and t > 0)
        any_channel = " or ".join(f"{f} >= {t}" for f in PAID_AFTER)
        return f"({any_channel})" if op == ">" else f"not ({any_channel})"
    if feature in (PROMISES, DISPUTES):  # whole numbers: `<= 1` reads better than `< 1.5`
        whole = math.floor(threshold)
        return f"{feature} <= {whole}" if op == "<=" else f"{feature} >= {whole + 1}"
    text = f"{feature} {'<' if op == '<=' else '>='} {t}"
    missing = MISSING[feature]
    unknown_here = missing < t if op == "<=" else missing >= t
    if unknown_here and feature in (LATE, ON_TIME):
        return f"(not exists({feature}) or {text})"
    return text


def _round(threshold: float) -> float | int:
    """A readable threshold between two observed values (the tree splits half-way)."""
    value = round(threshold, 2)
    return int(value) if value == int(value) else value


def _slug(
    late: float | None, disputes: float, promises: float, best: str | None, ratio: float
) -> str:
    if disputes >= 0.5:
        return "disputes"
    if promises >= 1:
        return "breaks-promises"
    if best is not None:
        return f"pays-after-{best}"
    if late is None or late <= 0.5:
        return "pays-on-time"
    if ratio >= 0.5:
        return "mostly-on-time-one-slip"
    return f"late-{math.floor(late)}-days" if late < 20 else "very-late"


def suggest(
    sheets: Sequence[FactSheet], rules: CompiledRules, *, max_personas: int = 6, seed: int = 0
) -> Suggestion:
    """Propose at most `max_personas` personas for these debtors (at least 2 needed)."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    if max_personas < 2:
        raise ValueError("--max must be at least 2")
    if len(sheets) < max_personas * 5:
        raise ValueError(
            f"{len(sheets)} debtors are too few to suggest {max_personas} personas;"
            " import more history or lower --max"
        )
    x = np.array([features(s) for s in sheets], dtype=float)
    clipped = x.copy()
    clipped[:, 0] = clipped[:, 0].clip(-10, 60)  # a year late and two months late alike
    clipped[:, 2:4] = clipped[:, 2:4].clip(0, 3)
    scaled = StandardScaler().fit_transform(clipped)
    clusters = KMeans(n_clusters=max_personas, n_init=10, random_state=seed).fit_predict(scaled)
    tree = DecisionTreeClassifier(
        max_leaf_nodes=max_personas, min_samples_leaf=max(5, len(sheets) // 100), random_state=seed
    ).fit(x, clusters)
    leaves = tree.apply(x)
    paths = _paths(tree)
    ids = [str(s["customer.id"]) for s in sheets]
    current = [rules.classify(s.values).persona.id for s in sheets]
    out: list[SuggestedPersona] = []
    used: set[str] = set()
    order = sorted(paths, key=lambda leaf: -int(np.sum(leaves == leaf)))
    order = order[1:] + order[:1]  # the largest group last: it becomes the catch-all
    for number, leaf in enumerate(order, 1):
        members = [i for i, at in enumerate(leaves) if at == leaf]
        late_values = [float(sheets[i][LATE]) for i in members if sheets[i][LATE] is not None]
        late = statistics.median(late_values) if late_values else None
        best = _best_channel([sheets[i] for i in members])
        ratio = statistics.median(x[members, 1]) if members else 1.0
        slug = _slug(
            late, float(np.mean(x[members, 3])), float(np.median(x[members, 2])), best, ratio
        )
        pid = slug if slug not in used else f"{slug}-{number}"
        used.add(pid)
        now_in = Counter(current[i] for i in members).most_common()
        when = " and ".join(paths[leaf]) or "always"
        out.append(
            SuggestedPersona(
                id=pid,
                label=_label(late, best, len(members)),
                when=when,
                debtors=len(members),
                share=len(members) / len(sheets),
                typical_days_late=late,
                best_channel=best,
                now_in=tuple(now_in),
                journey_from=now_in[0][0] if now_in else rules.spec.personas[-1].id,
            )
        )
    # who each suggested persona gets is what the rules will say, first match wins (the
    # thresholds are rounded for reading, so this is the figure to trust, not the tree's)
    predicates = [ex.predicate(ex.normalise(ex.parse(p.when))) for p in out[:-1]]
    assignment = {}
    for cid, sheet in zip(ids, sheets, strict=True):
        found = next(
            (p.id for p, pred in zip(out[:-1], predicates, strict=True) if pred(sheet.values)),
            out[-1].id,
        )
        assignment[cid] = found
    from sklearn.metrics import adjusted_rand_score

    agreement = float(adjusted_rand_score(current, [assignment[cid] for cid in ids]))
    return Suggestion(
        personas=tuple(out),
        assignment=assignment,
        yaml=to_yaml(out, rules),
        agreement_with_current=agreement,
    )


def _paths(tree: Any) -> dict[int, list[str]]:
    """Each leaf's conditions from the root."""
    t = tree.tree_
    out: dict[int, list[str]] = {}

    def walk(node: int, conditions: list[str]) -> None:
        left, right = int(t.children_left[node]), int(t.children_right[node])
        if left == -1:
            out[node] = conditions
            return
        feature, threshold = FEATURES[int(t.feature[node])], float(t.threshold[node])
        walk(left, [*conditions, _condition(feature, "<=", threshold)])
        walk(right, [*conditions, _condition(feature, ">", threshold)])

    walk(0, [])
    return out


def _best_channel(sheets: Sequence[FactSheet]) -> str | None:
    """The channel after which this group pays most often (mean paid_after, where known)."""
    # payments after that channel's reminders per debtor of the group (unknown counts as none),
    # so a channel few of them were ever sent on does not win on a handful of debtors
    best, best_score = None, 0.0
    for channel, fact in zip(CHANNELS, PAID_AFTER, strict=True):
        score = sum(float(s[fact]) for s in sheets if s[fact] is not None) / max(len(sheets), 1)
        if score > best_score + 1e-9 and score >= 0.2:
            best, best_score = channel, score
    return best


def _label(late: float | None, best: str | None, size: int) -> str:
    lateness = "no lateness known" if late is None else f"typically {late:+.0f} days"
    after = f", pays after {best}" if best else ""
    return f"{lateness}{after} ({size} debtors)"


# ------------------------------------------------------------------ YAML


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    import json

    return json.dumps(text, ensure_ascii=False)


def _at(days: int) -> str:
    return "due" if days == 0 else f"due {'+' if days > 0 else '-'} {abs(days)}d"


def _duration(delta: Any) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def _step(step: Step) -> str:
    parts = [f"at: {_q(_at(step.at_days))}"]
    if step.action != "send":
        parts.append(f"action: {step.action}")
    if step.channels:
        parts.append("channel: [" + ", ".join(step.channels) + "]")
    if step.template:
        parts.append(f"template: {_q(step.template)}")
    if step.fallback_after:
        parts.append(f"fallback_after: {_duration(step.fallback_after)}")
    if step.required:
        parts.append("required: true")
    if step.if_no_channel != "skip":
        parts.append(f"if_no_channel: {step.if_no_channel}")
    if step.first_contact:
        parts.append("first_contact: true")
    return "      - {" + ", ".join(parts) + "}"


def _journey(persona: str, journey: Journey) -> list[str]:
    lines = [f"  - persona: {persona}"]
    if journey.when is not None and not isinstance(journey.when, ex.Always):
        lines.append(f"    when: {_q(ex.to_source(journey.when))}")
    lines += [f"    locale: {journey.locale}", f"    tone: {_q(journey.tone)}"]
    if journey.shift_by:
        lines.append(f"    shift_by: {journey.shift_by}")
    if journey.payment_options is not None:
        lines.append("    payment_options: [" + ", ".join(journey.payment_options) + "]")
    lines.append("    steps:")
    lines += [_step(s) for s in journey.steps]
    return lines


_SAFE = re.compile(r"[^\w .,:()%+/-]")


def to_yaml(personas: Sequence[SuggestedPersona], rules: CompiledRules) -> str:
    """The suggestion as rule files' text: personas, and for each the journeys of the current
    persona most of its debtors are in now (replaces personas.yaml and journeys.yaml)."""
    lines = [
        "# Suggested by `payjourney personas suggest` from the behaviour facts.",
        "# It replaces the personas and journeys sections (personas.yaml and journeys.yaml);",
        "# each suggested persona starts with the journeys of the current persona most of its",
        "# debtors are in now. Review, rename and edit before you use it.",
        "personas:",
    ]
    for i, p in enumerate(personas):
        now = ", ".join(f"{n} in {pid}" for pid, n in p.now_in[:3])
        lines.append(f"  # {p.debtors} debtors ({p.share:.0%}); now: {_SAFE.sub('', now)}")
        lines.append(f"  - id: {p.id}")
        lines.append(f"    label: {_q(p.label)}")
        if i == len(personas) - 1:
            lines.append(f"    # the rest: {p.when}")
            lines.append("    when: always")
        else:
            lines.append(f"    when: {_q(p.when)}")
    lines.append("journeys:")
    for p in personas:
        for journey in rules.spec.journeys.get(p.journey_from, ()):
            lines += _journey(p.id, journey)
    return "\n".join(lines) + "\n"
