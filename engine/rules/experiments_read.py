"""The `experiments` section of the rule files -> validated Experiment records, every problem reported."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine.experiments.stats import sample_size_for
from engine.rules.experiments import Experiment, StepChange, Variant
from engine.rules.spec import TONES, Journey, Persona
from engine.rules.yamlnodes import Pos, YNode, YScalar, YSeq

if TYPE_CHECKING:
    from engine.rules.rulespec import _Reader

EXPERIMENT_KEYS = (
    "id",
    "persona",
    "label",
    "description",
    "when",
    "window",
    "sample_size",
    "uplift",
    "control",
    "variants",
)
VARIANT_KEYS = ("id", "label", "weight", "tone", "steps")
STEP_KEYS = ("step", "at", "channel", "template", "fallback_after")
DEFAULT_WINDOW_DAYS = 14
DEFAULT_UPLIFT = 0.10


def read_experiments(
    items: list[tuple[str, YNode]],
    personas: list[Persona],
    journeys: Mapping[str, tuple[Journey, ...]],
    read: _Reader,
) -> list[Experiment]:
    """The experiments that validated; problems go to `read.out`."""
    from engine.rules import rulespec as rs  # the shared readers; rulespec imports us lazily

    out: list[Experiment] = []
    seen: set[str] = set()
    taken: dict[str, str] = {}  # persona -> experiment id
    known = {p.id for p in personas}
    for index, (_, node) in enumerate(items):
        kp = f"experiments[{index}]"
        m = read.mapping(node, kp)
        if m is None:
            continue
        read.check_keys(m, EXPERIMENT_KEYS, kp)
        eid = read.string(read.required(m, "id", kp, "give the experiment a short id"), kp + ".id")
        if eid is not None and not rs._ID.match(eid):
            read.out.error(
                m.value_pos("id"),
                kp + ".id",
                f"experiment id '{eid}' is not a plain id",
                "use lower case letters, digits and dashes, e.g. jij-vs-u",
            )
        if eid is not None and eid in seen:
            read.out.error(m.key_pos("id"), kp + ".id", f"duplicate experiment id '{eid}'")
        persona = read.string(
            read.required(m, "persona", kp, "name the persona whose debtors take part"),
            kp + ".persona",
        )
        if persona is not None and known and persona not in known:
            read.out.error(
                m.value_pos("persona"),
                kp + ".persona",
                f"unknown persona '{persona}'",
                rs._did_you_mean(persona, known) or rs._expected(sorted(known)),
            )
            persona = None
        if persona is not None and persona in taken:
            read.out.error(
                m.value_pos("persona"),
                kp + ".persona",
                f"persona '{persona}' already runs experiment '{taken[persona]}'",
                "run one experiment per persona at a time, so every result stays readable",
            )
        when = read.condition(m.get("when"), kp + ".when") if m.get("when") is not None else None
        window = DEFAULT_WINDOW_DAYS
        if m.get("window") is not None:
            text = read.string(m.get("window"), kp + ".window")
            days = rs._days(text) if text is not None else None
            if text is not None and (days is None or days < 1):
                read.out.error(
                    m.value_pos("window"),
                    kp + ".window",
                    f"'{text}' is not a number of days",
                    "the outcome is `paid within this many days of the first message`, e.g. 14d",
                )
            window = days or window
        uplift = DEFAULT_UPLIFT
        if m.get("uplift") is not None:
            raw = m.get("uplift")
            value = raw.value if isinstance(raw, YScalar) else None
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 100:
                read.out.error(
                    m.value_pos("uplift"),
                    kp + ".uplift",
                    f"uplift must be percentage points between 0 and 100, found {value!r}",
                    "e.g. `uplift: 10` to size the test for 23% -> 33% paid",
                )
            else:
                uplift = float(value) / 100
        sample_size = sample_size_for(uplift)
        if m.get("sample_size") is not None:
            sample_size = read.integer(m.get("sample_size"), kp + ".sample_size", sample_size)
            if sample_size < 10:
                read.out.error(
                    m.value_pos("sample_size"),
                    kp + ".sample_size",
                    "sample_size is debtors per variant and must be at least 10",
                    f"leave it out to use {sample_size_for(uplift)} (what `uplift` needs)",
                )
        persona_journeys = journeys.get(persona, ()) if persona else ()
        variants = _variants(m.get("variants"), m.pos, kp, persona_journeys, read)
        control = read.string(m.get("control"), kp + ".control")
        names = [v.id for v in variants]
        if control is not None and names and control not in names:
            read.out.error(
                m.value_pos("control"),
                kp + ".control",
                f"unknown variant '{control}'",
                rs._did_you_mean(control, names) or rs._expected(names),
            )
            control = None
        if eid is None or persona is None or not variants or read.out.has_errors:
            if eid is not None:
                seen.add(eid)
            continue
        seen.add(eid)
        taken[persona] = eid
        out.append(
            Experiment(
                id=eid,
                persona=persona,
                label=read.string(m.get("label"), kp + ".label") or eid,
                when=when,
                variants=tuple(variants),
                control=control or variants[0].id,
                window_days=window,
                sample_size=sample_size,
                uplift=uplift,
                index=index,
                source=m.pos.source(),
            )
        )
    return out


def _variants(
    node: YNode | None, at: Pos, kp: str, journeys: tuple[Journey, ...], read: _Reader
) -> list[Variant]:
    from engine.rules import rulespec as rs

    if node is None:
        read.out.error(
            at,
            kp,
            "missing 'variants'",
            "list at least two variants with their weights, e.g. {id: control, weight: 50}",
        )
        return []
    items = read.seq(node, kp + ".variants")
    out: list[Variant] = []
    seen: set[str] = set()
    total = 0
    ok = True
    for i, item in enumerate(items):
        vkp = f"{kp}.variants[{i}]"
        m = read.mapping(item, vkp)
        if m is None:
            ok = False
            continue
        read.check_keys(m, VARIANT_KEYS, vkp)
        vid = read.string(read.required(m, "id", vkp, "e.g. id: control"), vkp + ".id")
        if vid is not None and not rs._ID.match(vid):
            read.out.error(m.value_pos("id"), vkp + ".id", f"variant id '{vid}' is not a plain id")
        if vid is not None and vid in seen:
            read.out.error(m.key_pos("id"), vkp + ".id", f"duplicate variant id '{vid}'")
        weight = read.integer(
            read.required(m, "weight", vkp, "its share in percent, e.g. weight: 50"),
            vkp + ".weight",
            0,
        )
        if m.get("weight") is not None and not 0 < weight <= 100:
            read.out.error(
                m.value_pos("weight"),
                vkp + ".weight",
                f"weight {weight} is not a percentage above 0",
                "weights are whole percentages that sum to 100",
            )
        total += weight
        tone = read.string(m.get("tone"), vkp + ".tone")
        for journey in journeys:
            if tone is not None and tone not in TONES[journey.language]:
                read.out.error(
                    m.value_pos("tone"),
                    vkp + ".tone",
                    f"tone '{tone}' does not exist in {journey.locale}, a journey of this persona"
                    f" ({journey.source})",
                    rs._expected(TONES[journey.language]),
                )
        steps = _step_changes(m.get("steps"), vkp, journeys, read)
        if vid is None:
            ok = False
            continue
        seen.add(vid)
        out.append(
            Variant(
                id=vid,
                weight=weight,
                label=read.string(m.get("label"), vkp + ".label") or vid,
                tone=tone,
                steps=tuple(steps),
                source=m.pos.source(),
            )
        )
    if isinstance(node, YSeq) and ok:
        if len(out) < 2:
            read.out.error(
                node.pos,
                kp + ".variants",
                "an experiment needs at least two variants",
                "add a control variant that changes nothing, e.g. {id: control, weight: 50}",
            )
        elif total != 100:
            read.out.error(
                node.pos,
                kp + ".variants",
                f"the variants' weights sum to {total}, not 100",
                "weights are percentages of the persona's debtors: make them add up to 100",
            )
    return out


def _step_changes(
    node: YNode | None, vkp: str, journeys: tuple[Journey, ...], read: _Reader
) -> list[StepChange]:
    from engine.rules import rulespec as rs

    out: list[StepChange] = []
    for i, item in enumerate(read.seq(node, vkp + ".steps")):
        skp = f"{vkp}.steps[{i}]"
        m = read.mapping(item, skp)
        if m is None:
            continue
        read.check_keys(m, STEP_KEYS, skp)
        number = read.integer(
            read.required(m, "step", skp, "which step it changes, 1 for the first"),
            skp + ".step",
            0,
        )
        at_days = None
        at_text = read.string(m.get("at"), skp + ".at")
        if at_text is not None:
            at_days = rs._parse_at(at_text)
            if at_days is None:
                read.out.error(
                    m.value_pos("at"),
                    skp + ".at",
                    f"'{at_text}' is not a step time",
                    "write it relative to the due date: due - 2d, due, due + 7d",
                )
        channels: tuple[str, ...] | None = None
        if m.get("channel") is not None:
            raw = m.get("channel")
            listed = raw.items if isinstance(raw, YSeq) else [raw]
            names = [read.string(c, skp + ".channel") for c in listed]
            for c, name in zip(listed, names, strict=True):
                if name is not None and name not in rs.STEP_CHANNELS:
                    read.out.error(
                        c.pos,  # type: ignore[union-attr]
                        skp + ".channel",
                        f"unknown channel '{name}'",
                        rs._expected(rs.STEP_CHANNELS),
                    )
            channels = tuple(dict.fromkeys(n for n in names if n is not None))
        template = read.string(m.get("template"), skp + ".template")
        fallback_after = rs._duration(m.get("fallback_after"), skp + ".fallback_after", read)
        for journey in journeys:
            if not 1 <= number <= len(journey.steps):
                read.out.error(
                    m.value_pos("step") if m.get("step") is not None else m.pos,
                    skp + ".step",
                    f"step {number} does not exist in the journey at {journey.source}"
                    f" ({len(journey.steps)} steps)",
                    "steps count from 1 in the order the journey lists them",
                )
                continue
            step = journey.steps[number - 1]
            if step.required:
                read.out.error(
                    m.pos,
                    skp,
                    f"this variant changes step {number} of the journey at {journey.source},"
                    f" a required (legal) step ({step.template or step.action})",
                    "a variant may not change a required step: every debtor gets the statutory"
                    " letter on time; change another step",
                )
                continue
            if step.action != "send" and (channels is not None or template is not None):
                read.out.error(
                    m.pos,
                    skp,
                    f"step {number} of the journey at {journey.source} is a hand-off",
                    "a variant may change a hand-off's timing (`at`) only",
                )
            if at_days is not None:
                times = [s.at_days for s in journey.steps]
                times[number - 1] = at_days
                if times != sorted(times):
                    read.out.error(
                        m.value_pos("at"),
                        skp + ".at",
                        f"with `at: {at_text}` the steps of the journey at {journey.source}"
                        " would go back in time",
                        "keep the changed step between the steps before and after it",
                    )
        out.append(
            StepChange(
                step=number,
                at_days=at_days,
                channels=channels,
                template=template,
                fallback_after=fallback_after,
                source=m.pos.source(),
            )
        )
    return out
