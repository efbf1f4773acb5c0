"""Rule files -> validated RuleSpec; every problem of a run reported in one pass with file:line:col."""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import holidays as holidays_lib

from engine.errors import RuleError, RuleProblem
from engine.rules import expr as ex
from engine.rules.facts import CHANNELS, SCHEMA, FactType, suggest
from engine.rules.self_service import read_self_service
from engine.rules.spec import (
    PAYMENT_METHODS,
    STEP_ACTIONS,
    TONES,
    WEEKDAYS,
    ChannelPolicy,
    Journey,
    PaymentOption,
    Persona,
    RuleSpec,
    SendWindow,
    Settings,
    Step,
)
from engine.rules.yamlnodes import Pos, YMap, YNode, YScalar, YSeq, load_yaml, plain

SECTIONS = (
    "personas",
    "journeys",
    "payment_options",
    "channels",
    "settings",
    "experiments",
    "self_service",
)
STEP_CHANNELS = (*CHANNELS, "preferred")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_AT = re.compile(r"^due\s*(?:(?P<sign>[+-])\s*(?P<n>\d+)\s*(?P<unit>[dw]))?$")
_DURATION = re.compile(r"^(?P<n>\d+)\s*(?P<unit>[hdw])$")
_LOCALE = re.compile(r"^(?P<lang>[a-z]{2})_(?P<country>[A-Z]{2})$")
_HOURS = re.compile(r"^(?P<a>\d{2}):(?P<b>\d{2})\s*-\s*(?P<c>\d{2}):(?P<d>\d{2})$")

DEFAULT_WINDOW = SendWindow(
    days=frozenset(range(6)), start=dt.time(8, 0), end=dt.time(20, 0)
)  # mon-sat 08:00-20:00: inside the Dutch Wki hours, never on Sundays


@dataclass
class _Collector:
    """Collects problems; positions come from the nodes."""

    problems: list[RuleProblem] = field(default_factory=list)

    def error(self, pos: Pos, key_path: str, problem: str, hint: str = "") -> None:
        self.add(pos, key_path, problem, hint, "error")

    def warn(self, pos: Pos, key_path: str, problem: str, hint: str = "") -> None:
        self.add(pos, key_path, problem, hint, "warning")

    def add(self, pos: Pos, key_path: str, problem: str, hint: str, severity: str) -> None:
        self.problems.append(
            RuleProblem(
                path=pos.path,
                line=pos.line,
                column=pos.column,
                key_path=key_path,
                problem=problem,
                hint=hint,
                severity=severity,
            )
        )

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"did you mean '{found[0]}'?" if found else ""


def _expected(choices: Iterable[str]) -> str:
    return "expected one of: " + ", ".join(choices)


class _Reader:
    """Reads typed values out of nodes, reporting problems instead of raising."""

    def __init__(self, out: _Collector) -> None:
        self.out = out

    def check_keys(self, node: YMap, allowed: Iterable[str], key_path: str) -> None:
        allowed = tuple(allowed)
        for key in node:
            if key not in allowed:
                hint = _did_you_mean(key, allowed) or _expected(allowed)
                self.out.error(node.key_pos(key), key_path, f"unknown key '{key}'", hint)

    def required(self, node: YMap, key: str, key_path: str, hint: str = "") -> YNode | None:
        value = node.get(key)
        if value is None:
            self.out.error(node.pos, key_path, f"missing '{key}'", hint)
        return value

    def string(self, node: YNode | None, key_path: str) -> str | None:
        if node is None:
            return None
        if isinstance(node, YScalar) and isinstance(node.value, str):
            return node.value
        self.out.error(_pos(node), key_path, f"expected text, found {_describe(node)}")
        return None

    def boolean(self, node: YNode | None, key_path: str, default: bool) -> bool:
        if node is None:
            return default
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            return node.value
        self.out.error(_pos(node), key_path, f"expected true or false, found {_describe(node)}")
        return default

    def integer(self, node: YNode | None, key_path: str, default: int) -> int:
        if node is None:
            return default
        if (
            isinstance(node, YScalar)
            and isinstance(node.value, int)
            and not isinstance(node.value, bool)
        ):
            return node.value
        self.out.error(_pos(node), key_path, f"expected a whole number, found {_describe(node)}")
        return default

    def seq(self, node: YNode | None, key_path: str) -> list[YNode]:
        if node is None:
            return []
        if isinstance(node, YSeq):
            return node.items
        self.out.error(
            _pos(node),
            key_path,
            f"expected a list, found {_describe(node)}",
            "start items with '- '",
        )
        return []

    def mapping(self, node: YNode | None, key_path: str) -> YMap | None:
        if node is None:
            return None
        if isinstance(node, YMap):
            return node
        self.out.error(_pos(node), key_path, f"expected keys and values, found {_describe(node)}")
        return None

    def condition(self, node: YNode | None, key_path: str) -> ex.Expr | None:
        if node is None:
            return None
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            text = "always" if node.value else "not always"
        elif isinstance(node, YScalar) and isinstance(node.value, str):
            text = node.value
        else:
            self.out.error(
                _pos(node), key_path, f"a condition must be text, found {_describe(node)}"
            )
            return None
        try:
            parsed = ex.parse(text)
            ex.check(parsed)
        except ex.ExprError as exc:
            pos = node.pos
            shift = 1 if node.quoted else 0
            at = Pos(pos.path, pos.line, pos.column + shift + exc.offset)
            self.out.error(at, key_path, exc.message, exc.hint)
            return None
        return ex.normalise(parsed)


def _pos(node: YNode) -> Pos:
    return node.pos


def _describe(node: YNode) -> str:
    if isinstance(node, YSeq):
        return "a list"
    if isinstance(node, YMap):
        return "keys and values"
    if node.value is None:
        return "nothing"
    return repr(node.value)


def _days(text: str) -> int | None:
    m = _DURATION.match(text.strip())
    if not m or m.group("unit") == "h":
        return None
    return int(m.group("n")) * (7 if m.group("unit") == "w" else 1)


# ------------------------------------------------------------------ sections


def _personas(items: list[tuple[str, YNode]], read: _Reader) -> tuple[list[Persona], set[str]]:
    """The personas that validated, and every id written (so journeys are checked against it)."""
    out: list[Persona] = []
    seen: dict[str, Pos] = {}
    for index, (_, node) in enumerate(items):
        kp = f"personas[{index}]"
        m = read.mapping(node, kp)
        if m is None:
            continue
        read.check_keys(m, ("id", "label", "when", "description"), kp)
        pid = read.string(read.required(m, "id", kp, "give the persona a short id"), kp + ".id")
        when = read.condition(
            read.required(m, "when", kp, "write a condition, or `always` for a catch-all"),
            kp + ".when",
        )
        label = read.string(m.get("label"), kp + ".label") or pid or ""
        description = read.string(m.get("description"), kp + ".description") or ""
        if pid is not None:
            if not _ID.match(pid):
                read.out.error(
                    m.value_pos("id"),
                    kp + ".id",
                    f"persona id '{pid}' is not a plain id",
                    "use lower case letters, digits and dashes, e.g. consumer-nl",
                )
            if pid in seen:
                read.out.error(
                    m.key_pos("id"),
                    kp + ".id",
                    f"duplicate persona id '{pid}'",
                    f"it is already used at {seen[pid].path}:{seen[pid].line}; ids must be unique",
                )
            seen[pid] = m.key_pos("id")
        if pid is None or when is None:
            continue
        out.append(
            Persona(
                id=pid,
                label=label,
                when=when,
                index=len(out),
                source=m.pos.source(),
                description=description,
            )
        )
    return out, set(seen)


def _check_catch_all(
    personas: list[Persona], items: list[tuple[str, YNode]], read: _Reader
) -> None:
    if not items:
        read.out.error(
            Pos("rules", 1, 1), "personas", "no personas defined", "add a `personas:` section"
        )
        return
    if not personas or (read.out.has_errors and len(personas) < len(items)):
        return
    last = personas[-1]
    files = list(dict.fromkeys(p.source.path for p in personas))
    if not isinstance(last.when, ex.Always):
        pos = Pos(last.source.path, last.source.line, last.source.column)
        catch_all = next((p for p in personas if isinstance(p.when, ex.Always)), None)
        hint = "add a final persona with `when: always` (e.g. id: everyone-else)"
        if catch_all is not None and catch_all.source.path != last.source.path:
            hint = _merge_order_hint(catch_all.source.path, last.source.path)
        read.out.error(
            pos,
            f"personas[{len(items) - 1}]",
            "the last persona is not a catch-all: some debtors would match no persona"
            + (
                f" (the personas of {len(files)} files merge in file-name order)"
                if len(files) > 1
                else ""
            ),
            hint,
        )
    for p in personas[:-1]:
        if isinstance(p.when, ex.Always):
            later = [q for q in personas[p.index + 1 :] if q.source.path != p.source.path]
            read.out.error(
                Pos(p.source.path, p.source.line, p.source.column),
                f"personas[{p.index}]",
                f"persona '{p.id}' matches everyone, so the personas after it never match"
                + (f" (such as '{later[0].id}' from {later[0].source.path})" if later else ""),
                _merge_order_hint(p.source.path, later[0].source.path)
                if later
                else "move the catch-all to the end of the list",
            )


def _merge_order_hint(catch_all_file: str, later_file: str) -> str:
    """How to get a catch-all behind personas from another file: files merge in name order."""
    catch_all, later = Path(catch_all_file), Path(later_file)
    return (
        f"rule files merge in file-name order, so {later.name} comes after {catch_all.name}:"
        f" move the catch-all into a file that sorts last (e.g. zz-catch-all.yaml), or number"
        f" the files to set their order (e.g. 10-{later.stem}.yaml before 90-{catch_all.stem}.yaml)"
    )


def _parse_at(text: str) -> int | None:
    m = _AT.match(text.strip())
    if not m:
        return None
    if not m.group("n"):
        return 0
    n = int(m.group("n")) * (7 if m.group("unit") == "w" else 1)
    return -n if m.group("sign") == "-" else n


def _duration(node: YNode | None, key_path: str, read: _Reader) -> dt.timedelta | None:
    text = read.string(node, key_path)
    if text is None:
        return None
    m = _DURATION.match(text.strip())
    if not m:
        read.out.error(
            node.pos,  # type: ignore[union-attr]
            key_path,
            f"'{text}' is not a duration",
            "write hours, days or weeks, e.g. 48h, 2d, 1w",
        )
        return None
    n = int(m.group("n"))
    return {"h": dt.timedelta(hours=n), "d": dt.timedelta(days=n), "w": dt.timedelta(weeks=n)}[
        m.group("unit")
    ]


def _step(node: YNode, index: int, kp: str, read: _Reader) -> Step | None:
    m = read.mapping(node, kp)
    if m is None:
        return None
    read.check_keys(
        m,
        (
            "at",
            "channel",
            "template",
            "action",
            "fallback_after",
            "required",
            "note",
            "if_no_channel",
            "first_contact",
        ),
        kp,
    )
    at_node = read.required(m, "at", kp, "say when, e.g. `at: due + 7d`")
    at_text = read.string(at_node, kp + ".at")
    at_days = None
    if at_text is not None:
        at_days = _parse_at(at_text)
        if at_days is None:
            read.out.error(
                at_node.pos,  # type: ignore[union-attr]
                kp + ".at",
                f"'{at_text}' is not a step time",
                "write it relative to the due date in days or weeks: due - 2d, due, due + 7d, due + 3w",
            )
    action = read.string(m.get("action"), kp + ".action") or "send"
    if action not in STEP_ACTIONS:
        read.out.error(
            m.value_pos("action"),
            kp + ".action",
            f"unknown action '{action}'",
            _did_you_mean(action, STEP_ACTIONS) or _expected(STEP_ACTIONS),
        )
        return None
    channels: list[str] = []
    channel_node = m.get("channel")
    template = read.string(m.get("template"), kp + ".template")
    if action == "send":
        if channel_node is None:
            read.out.error(m.pos, kp, "missing 'channel'", "e.g. `channel: email`")
        if template is None and m.get("template") is None:
            read.out.error(
                m.pos, kp, "missing 'template'", "name the message, e.g. `template: reminder-1`"
            )
    elif template is not None and channel_node is None:
        read.out.error(
            m.value_pos("template"),
            kp,
            "a handoff notice needs a channel",
            "add e.g. `channel: [email, letter]`, or drop the template to hand over silently",
        )
    elif channel_node is not None and template is None:
        read.out.warn(
            m.key_pos("channel"),
            kp,
            "a handoff step without a template sends nothing; its channel is ignored",
            "add `template: handoff-notice` to tell the debtor",
        )
    if channel_node is not None:
        raw = channel_node.items if isinstance(channel_node, YSeq) else [channel_node]
        for i, item in enumerate(raw):
            name = read.string(item, f"{kp}.channel[{i}]")
            if name is None:
                continue
            if name not in STEP_CHANNELS:
                read.out.error(
                    item.pos,
                    kp + ".channel",
                    f"unknown channel '{name}'",
                    (
                        _did_you_mean(name, STEP_CHANNELS) + "\n  "
                        if _did_you_mean(name, STEP_CHANNELS)
                        else ""
                    )
                    + _expected(STEP_CHANNELS),
                )
            elif name in channels:
                read.out.error(item.pos, kp + ".channel", f"channel '{name}' is listed twice")
            else:
                channels.append(name)
    fallback_after = _duration(m.get("fallback_after"), kp + ".fallback_after", read)
    required = read.boolean(m.get("required"), kp + ".required", False)
    if_no_channel = _if_no_channel(m, action, kp, read)
    first_contact = read.boolean(m.get("first_contact"), kp + ".first_contact", False)
    if m.get("first_contact") is not None and action != "handoff":
        read.out.error(
            m.key_pos("first_contact"),
            kp + ".first_contact",
            "first_contact belongs on a hand-off step (`action: handoff`)",
            "remove it; a message step is always allowed to be the first contact",
        )
    if first_contact and action == "handoff":
        read.out.warn(
            m.key_pos("first_contact"),
            kp + ".first_contact",
            "this hand-off can be a debtor's first contact: a debtor who got no message yet"
            " is handed over without a reminder",
            "keep it only if that is meant; without it the last reminder goes out first",
        )
    if at_days is None:
        return None
    return Step(
        if_no_channel=if_no_channel,
        first_contact=first_contact,
        index=index,
        at_days=at_days,
        action=action,
        channels=tuple(channels) if action == "send" or template else (),
        template=template,
        fallback_after=fallback_after,
        required=required,
        source=m.pos.source(),
    )


def _if_no_channel(m: YMap, action: str, kp: str, read: _Reader) -> str:
    """What a send step does when none of its channels is usable: skip (default) or handoff."""
    node = m.get("if_no_channel")
    if node is None:
        return "skip"
    value = read.string(node, kp + ".if_no_channel")
    if value is None:  # not text: read.string said so
        return "skip"
    choices = ("skip", "handoff")
    if value not in choices:
        read.out.error(
            m.value_pos("if_no_channel"),
            kp + ".if_no_channel",
            f"unknown if_no_channel '{value}'",
            "skip (the next step follows when due) or handoff (a person takes over); to reach"
            " debtors without consent, list `letter` among the channels: it needs none",
        )
        return "skip"
    if action != "send":
        read.out.error(
            m.key_pos("if_no_channel"),
            kp + ".if_no_channel",
            "if_no_channel belongs on a message step",
            "remove it from the hand-off step",
        )
    elif value == "handoff":
        read.out.warn(
            m.key_pos("if_no_channel"),
            kp + ".if_no_channel",
            "a debtor none of these channels can reach is handed off here, before any message"
            " if none was sent yet",
            "add `letter` to the channels (it needs no consent) to write first, or keep it if"
            " a person should take over",
        )
    return value


def _journeys(
    items: list[tuple[str, YNode]],
    known: set[str],
    methods: set[str],
    read: _Reader,
) -> list[Journey]:
    out: list[Journey] = []
    for index, (_, node) in enumerate(items):
        kp = f"journeys[{index}]"
        m = read.mapping(node, kp)
        if m is None:
            continue
        read.check_keys(
            m,
            ("persona", "when", "locale", "tone", "shift_by", "payment_options", "steps", "label"),
            kp,
        )
        persona = read.string(read.required(m, "persona", kp, "name the persona"), kp + ".persona")
        if persona is not None and known and persona not in known:
            read.out.error(
                m.value_pos("persona"),
                kp + ".persona",
                f"unknown persona '{persona}'",
                _did_you_mean(persona, known) or _expected(sorted(known)),
            )
        when = read.condition(m.get("when"), kp + ".when") if m.get("when") is not None else None
        locale = read.string(read.required(m, "locale", kp, "e.g. nl_NL or de_DE"), kp + ".locale")
        lang = None
        if locale is not None:
            lm = _LOCALE.match(locale)
            if not lm or lm.group("lang") not in TONES:
                read.out.error(
                    m.value_pos("locale"),
                    kp + ".locale",
                    f"unsupported locale '{locale}'",
                    "use language_COUNTRY with language nl or de: nl_NL, nl_BE, de_DE, de_AT",
                )
            else:
                lang = lm.group("lang")
        tone = read.string(
            read.required(m, "tone", kp, "u or jij (nl), Sie or du (de)"), kp + ".tone"
        )
        if tone is not None and lang is not None and tone not in TONES[lang]:
            other = [lg for lg, tones in TONES.items() if tone in tones]
            read.out.error(
                m.value_pos("tone"),
                kp + ".tone",
                f"tone '{tone}' does not exist in {locale}"
                + (f" (it is a {other[0]} tone)" if other else ""),
                _expected(TONES[lang]),
            )
        shift_by = read.string(m.get("shift_by"), kp + ".shift_by")
        if shift_by is not None:
            if shift_by not in SCHEMA:
                hint = suggest(shift_by)
                read.out.error(
                    m.value_pos("shift_by"),
                    kp + ".shift_by",
                    f"unknown fact '{shift_by}'",
                    f"did you mean '{hint}'?"
                    if hint
                    else "use a number fact, e.g. behaviour.avg_days_late",
                )
            elif SCHEMA[shift_by].type is not FactType.NUMBER:
                read.out.error(
                    m.value_pos("shift_by"),
                    kp + ".shift_by",
                    f"shift_by needs a number fact; {shift_by} is a {SCHEMA[shift_by].type.value}",
                    "e.g. behaviour.avg_days_late",
                )
        options: tuple[str, ...] | None = None
        if m.get("payment_options") is not None:
            names = []
            for i, item in enumerate(read.seq(m.get("payment_options"), kp + ".payment_options")):
                name = read.string(item, f"{kp}.payment_options[{i}]")
                if name is None:
                    continue
                if name not in PAYMENT_METHODS:
                    read.out.error(
                        item.pos,
                        kp + ".payment_options",
                        f"unknown payment method '{name}'",
                        _did_you_mean(name, PAYMENT_METHODS) or _expected(PAYMENT_METHODS),
                    )
                elif name not in methods:
                    read.out.error(
                        item.pos,
                        kp + ".payment_options",
                        f"payment method '{name}' is not offered in payment_options",
                        f"add `- method: {name}` with its `when` to the payment_options section",
                    )
                names.append(name)
            options = tuple(names)
        steps: list[Step] = []
        step_nodes = read.seq(read.required(m, "steps", kp, "list the steps"), kp + ".steps")
        if m.get("steps") is not None and not step_nodes:
            read.out.error(m.key_pos("steps"), kp + ".steps", "a journey needs at least one step")
        for si, step_node in enumerate(step_nodes):
            step = _step(step_node, si, f"{kp}.steps[{si}]", read)
            if step is None:
                continue
            if steps and step.at_days < steps[-1].at_days:
                read.out.error(
                    step_node.pos,
                    f"{kp}.steps[{si}].at",
                    f"this step (due {step.at_days:+d}d) comes before the step above it "
                    f"(due {steps[-1].at_days:+d}d): steps go back in time",
                    "order the steps by their `at`",
                )
            if steps and steps[-1].action == "handoff" and steps[-1].index == si - 1:
                read.out.error(
                    step_node.pos,
                    f"{kp}.steps[{si}]",
                    "this step comes after a hand-off, which ends the journey: the debtor is"
                    " the agency's (or a person's) from then on",
                    "move the step before the hand-off, or remove it",
                )
            steps.append(step)
        if steps and steps[0].action == "handoff" and not steps[0].first_contact:
            read.out.warn(
                Pos(steps[0].source.path, steps[0].source.line, steps[0].source.column),
                f"{kp}.steps[0]",
                "the journey starts with a hand-off, which is never a debtor's first contact"
                " unless a rule says so: its debtors get nothing",
                "add a reminder step before it, or `first_contact: true` on the hand-off",
            )
        if None in (persona, locale, tone) or (
            read.out.has_errors and len(steps) < len(step_nodes)
        ):
            continue
        assert persona is not None and locale is not None and tone is not None
        journey = Journey(
            persona=persona,
            when=when,
            locale=locale,
            tone=tone,
            shift_by=shift_by,
            payment_options=options,
            steps=tuple(steps),
            source=m.pos.source(),
        )
        out.append(journey)
    return out


def _payment_options(items: list[tuple[str, YNode]], read: _Reader) -> list[PaymentOption]:
    out: list[PaymentOption] = []
    seen: set[str] = set()
    for index, (_, node) in enumerate(items):
        kp = f"payment_options[{index}]"
        m = read.mapping(node, kp)
        if m is None:
            continue
        read.check_keys(m, ("method", "when", "label"), kp)
        method = read.string(read.required(m, "method", kp, "e.g. method: ideal"), kp + ".method")
        when_node = m.get("when")
        when: ex.Expr | None = (
            ex.Always() if when_node is None else read.condition(when_node, kp + ".when")
        )
        if method is not None and method not in PAYMENT_METHODS:
            read.out.error(
                m.value_pos("method"),
                kp + ".method",
                f"unknown payment method '{method}'",
                _did_you_mean(method, PAYMENT_METHODS) or _expected(PAYMENT_METHODS),
            )
            continue
        if method is not None and method in seen:
            read.out.error(
                m.key_pos("method"),
                kp + ".method",
                f"payment method '{method}' is listed twice",
                "combine the conditions with `or` in one entry",
            )
            continue
        if method is None or when is None:
            continue
        seen.add(method)
        out.append(PaymentOption(method=method, when=when, source=m.pos.source()))
    return out


def _weekdays(node: YNode, kp: str, read: _Reader) -> frozenset[int] | None:
    def one(word: str, pos: Pos) -> int | None:
        if word.lower() not in WEEKDAYS:
            read.out.error(pos, kp, f"unknown weekday '{word}'", _expected(WEEKDAYS))
            return None
        return WEEKDAYS.index(word.lower())

    days: set[int] = set()
    if isinstance(node, YSeq):
        for item in node.items:
            word = read.string(item, kp)
            if word is not None and (d := one(word, item.pos)) is not None:
                days.add(d)
        return frozenset(days)
    text = read.string(node, kp)
    if text is None:
        return None
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = (one(w.strip(), node.pos) for w in part.split("-", 1))
            if a is None or b is None:
                return None
            if b < a:
                read.out.error(node.pos, kp, f"'{part}' runs backwards", "write e.g. mon-fri")
                return None
            days.update(range(a, b + 1))
        elif (d := one(part, node.pos)) is not None:
            days.add(d)
    return frozenset(days)


def _window(node: YNode | None, read: _Reader) -> SendWindow:
    kp = "channels.send_window"
    m = read.mapping(node, kp)
    if m is None:
        return DEFAULT_WINDOW
    read.check_keys(m, ("days", "hours"), kp)
    days = DEFAULT_WINDOW.days
    if m.get("days") is not None:
        days = _weekdays(m.get("days"), kp + ".days", read) or DEFAULT_WINDOW.days  # type: ignore[arg-type]
    start, end = DEFAULT_WINDOW.start, DEFAULT_WINDOW.end
    hours = read.string(m.get("hours"), kp + ".hours")
    if hours is not None:
        hm = _HOURS.match(hours.strip())
        hint = 'write "HH:MM-HH:MM", e.g. "08:00-20:00"'
        if not hm:
            read.out.error(
                m.value_pos("hours"), kp + ".hours", f"'{hours}' is not a time range", hint
            )
        else:
            try:
                start = dt.time(int(hm.group("a")), int(hm.group("b")))
                end = dt.time(int(hm.group("c")), int(hm.group("d")))
            except ValueError:
                read.out.error(
                    m.value_pos("hours"), kp + ".hours", f"'{hours}' is not a valid time", hint
                )
            else:
                if end <= start:
                    read.out.error(
                        m.value_pos("hours"),
                        kp + ".hours",
                        f"the window '{hours}' ends before it starts",
                        "a send window lies within one day, e.g. 08:00-20:00",
                    )
                elif start < dt.time(7) or end > dt.time(20):
                    read.out.warn(
                        m.value_pos("hours"),
                        kp + ".hours",
                        f"the window '{hours}' reaches outside 07:00-20:00",
                        "Dutch collectors may not contact debtors between 20:00 and 07:00 (Wki)",
                    )
    if 6 in days:
        read.out.warn(
            m.key_pos("days"),
            kp + ".days",
            "the send window includes Sunday",
            "Dutch collectors may not contact debtors on Sundays (Wki); drop sun",
        )
    return SendWindow(days=days, start=start, end=end)


def _channels(items: list[tuple[str, YNode]], read: _Reader) -> ChannelPolicy:
    merged = _merge_maps(items, "channels", read)
    read.check_keys(
        merged,
        ("send_window", "holidays", "prefer_typical_pay_hour", "limits", "sms_segments"),
        "channels",
    )
    window = _window(merged.get("send_window"), read)
    calendars: list[str] = []
    supported = holidays_lib.list_supported_countries()
    for i, item in enumerate(read.seq(merged.get("holidays"), "channels.holidays")):
        code = read.string(item, f"channels.holidays[{i}]")
        if code is None:
            continue
        if code not in supported:
            read.out.error(
                item.pos,
                "channels.holidays",
                f"no holiday calendar for '{code}'",
                "use an ISO 3166 country code, e.g. NL, DE, BE, AT",
            )
        else:
            calendars.append(code)
    if merged.get("holidays") is None:
        calendars = ["NL", "DE"]
    limits = read.mapping(merged.get("limits"), "channels.limits")
    per_week: int | None = 3
    if limits is not None:
        read.check_keys(limits, ("per_customer_per_week",), "channels.limits")
        if limits.get("per_customer_per_week") is not None:
            per_week = read.integer(
                limits.get("per_customer_per_week"), "channels.limits.per_customer_per_week", 3
            )
            if per_week < 1:
                read.out.error(
                    limits.value_pos("per_customer_per_week"),
                    "channels.limits.per_customer_per_week",
                    "the weekly limit must be at least 1",
                    "remove the limit to allow any number",
                )
    return ChannelPolicy(
        send_window=window,
        holidays=tuple(calendars),
        prefer_typical_pay_hour=read.boolean(
            merged.get("prefer_typical_pay_hour"), "channels.prefer_typical_pay_hour", False
        ),
        per_customer_per_week=per_week,
        sms_segments=read.integer(merged.get("sms_segments"), "channels.sms_segments", 2),
        # cited where the section was first written as keys; a section that never was cites nothing
        source=merged.pos.source() if merged.pos.path else None,
    )


def _settings(items: list[tuple[str, YNode]], read: _Reader) -> Settings:
    merged = _merge_maps(items, "settings", read)
    read.check_keys(
        merged,
        (
            "default_locale",
            "currency",
            "max_shift",
            "experiment_seed",
            "creditor",
            "legal",
            "holidays",
            "timezone",
        ),
        "settings",
    )
    if merged.get("holidays") is not None:  # accepted once, never read: say where it belongs
        read.out.error(
            merged.key_pos("holidays"),
            "settings.holidays",
            "holiday calendars belong in the channels section; settings.holidays is not read",
            "move the list to `channels:` as `holidays: [NL, DE]`",
        )
    default_locale = read.string(merged.get("default_locale"), "settings.default_locale") or "nl_NL"
    zone = read.string(merged.get("timezone"), "settings.timezone")
    if zone is not None and not _known_zone(zone):
        read.out.error(
            merged.value_pos("timezone"),
            "settings.timezone",
            f"unknown time zone '{zone}'",
            "use an IANA name like Europe/Amsterdam or Europe/Berlin",
        )
        zone = None
    zone = zone or _LOCALE_ZONES.get(default_locale[-2:], "Europe/Amsterdam")
    max_shift = 10
    if merged.get("max_shift") is not None:
        text = read.string(merged.get("max_shift"), "settings.max_shift")
        if text is not None:
            days = _days(text)
            if days is None:
                read.out.error(
                    merged.value_pos("max_shift"),
                    "settings.max_shift",
                    f"'{text}' is not a number of days",
                    "write e.g. 10d or 2w",
                )
            else:
                max_shift = days
    extra = {k: plain(merged.get(k)) for k in ("creditor", "legal") if merged.get(k) is not None}  # type: ignore[arg-type]
    return Settings(
        default_locale=default_locale,
        timezone=zone,
        currency=read.string(merged.get("currency"), "settings.currency") or "EUR",
        max_shift_days=max_shift,
        experiment_seed=read.integer(merged.get("experiment_seed"), "settings.experiment_seed", 0),
        extra=extra,
    )


#: The rules' time zone when settings.timezone is not given: the default locale's country's.
_LOCALE_ZONES = {"NL": "Europe/Amsterdam", "DE": "Europe/Berlin", "AT": "Europe/Vienna"}


def _known_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _merge_maps(items: list[tuple[str, YNode]], section: str, read: _Reader) -> YMap:
    merged = YMap(pos=Pos("", 1, 1))
    for _, node in items:
        m = read.mapping(node, section)
        if m is None:
            continue
        if not merged.entries:
            merged.pos = m.pos
        for key, (pos, value) in m.entries.items():
            if key in merged.entries:
                first = merged.entries[key][0]
                read.out.error(
                    pos,
                    f"{section}.{key}",
                    f"'{section}.{key}' is set twice",
                    f"it is already set at {first.path}:{first.line}; keep one",
                )
                continue
            merged.entries[key] = (pos, value)
    return merged


# ------------------------------------------------------------------ entry points


@dataclass(frozen=True, slots=True)
class RuleSource:
    """One rule file's name (as shown in messages) and text."""

    name: str
    text: str


def read_rule_dir(path: Path) -> list[RuleSource]:
    """The `*.yaml` files of a rules directory (or one file), sorted by name."""
    if path.is_file():
        return [RuleSource(str(path), path.read_text(encoding="utf-8"))]
    if not path.is_dir():
        raise RuleError(
            [
                RuleProblem(
                    path=str(path),
                    line=1,
                    column=1,
                    key_path="",
                    problem="no such rules directory",
                    hint="pass the folder with your *.yaml rule files, e.g. `--rules rules/`",
                )
            ]
        )
    files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    return [RuleSource(str(f), f.read_text(encoding="utf-8")) for f in files]


def ruleset_version(sources: Iterable[RuleSource]) -> str:
    """A content hash of the rule files: the version every decision records."""
    digest = hashlib.sha256()
    for src in sorted(sources, key=lambda s: Path(s.name).name):
        digest.update(Path(src.name).name.encode())
        digest.update(b"\0")
        digest.update(src.text.encode())
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def validate_sources(sources: list[RuleSource]) -> tuple[RuleSpec | None, list[RuleProblem]]:
    """Validate rule files; the spec (None if any error) and every problem found."""
    spec, problems = validate_partly(sources)
    if any(p.severity == "error" for p in problems):
        return None, problems
    return spec, problems


def validate_partly(sources: list[RuleSource]) -> tuple[RuleSpec, list[RuleProblem]]:
    """Validate rule files; every problem found, and a spec of whatever parts are valid.

    With errors the spec is partial (never compile or decide with it): it lets further checks,
    such as the templates the journeys name, report their problems in the same pass.
    """
    out = _Collector()
    read = _Reader(out)
    sections: dict[str, list[tuple[str, YNode]]] = {s: [] for s in SECTIONS}
    if not sources:
        out.error(
            Pos("rules", 1, 1),
            "",
            "no *.yaml rule files found",
            "add rule files, e.g. rules/personas.yaml",
        )
    unreadable = False
    for src in sources:
        root, problems = load_yaml(src.text, src.name)
        out.problems.extend(problems)
        if root is None:
            unreadable = unreadable or bool(problems)
            continue
        m = read.mapping(root, "")
        if m is None:
            continue
        read.check_keys(m, SECTIONS, "")
        for key in SECTIONS:
            node = m.get(key)
            if node is None:
                continue
            if key in ("channels", "settings"):
                sections[key].append((src.name, node))
            else:
                sections[key].extend((src.name, item) for item in read.seq(node, key))
    personas, persona_ids = _personas(sections["personas"], read)
    if not unreadable:  # a file that does not parse may hold the personas: no cascade
        _check_catch_all(personas, sections["personas"], read)
    options = _payment_options(sections["payment_options"], read)
    journeys = _journeys(sections["journeys"], persona_ids, {o.method for o in options}, read)
    channels = _channels(sections["channels"], read)
    settings = _settings(sections["settings"], read)
    complete = len(journeys) == len(sections["journeys"]) and not unreadable
    by_persona = _group_journeys(journeys, personas if complete else [], read)
    from engine.rules.experiments_read import (
        read_experiments,
    )  # it reads with this module's helpers

    experiments = read_experiments(sections["experiments"], personas, by_persona, read)
    spec = RuleSpec(
        personas=tuple(personas),
        journeys=by_persona,
        payment_options=tuple(options),
        channels=channels,
        settings=settings,
        version=ruleset_version(sources),
        files=tuple(s.name for s in sources),
        experiments=tuple(experiments),
        self_service=read_self_service(sections["self_service"], persona_ids, read),
    )
    return spec, out.problems


def _group_journeys(
    journeys: list[Journey], personas: list[Persona], read: _Reader
) -> Mapping[str, tuple[Journey, ...]]:
    grouped: dict[str, list[Journey]] = {}
    for journey in journeys:
        grouped.setdefault(journey.persona, []).append(journey)
    for persona in personas:
        choices = grouped.get(persona.id)
        pos = Pos(persona.source.path, persona.source.line, persona.source.column)
        if not choices:
            read.out.error(
                pos,
                f"personas[id={persona.id}]",
                f"persona '{persona.id}' has no journey",
                f"add a journey with `persona: {persona.id}` and its steps",
            )
            continue
        last = choices[-1]
        if last.when is not None and not isinstance(last.when, ex.Always):
            read.out.error(
                Pos(last.source.path, last.source.line, last.source.column),
                "journeys",
                f"every journey of persona '{persona.id}' has a `when`: some of its debtors get none",
                f"drop the `when` from the last journey of '{persona.id}' so it takes the rest",
            )
    return {k: tuple(v) for k, v in grouped.items()}


def load_rules(path: Path) -> RuleSpec:
    """Load and validate a rules directory; raise RuleError listing every problem."""
    return load_sources(read_rule_dir(path))


def load_sources(sources: list[RuleSource]) -> RuleSpec:
    """Validate in-memory rule files (e.g. a what-if from the API); raise RuleError on errors."""
    spec, problems = validate_sources(sources)
    if spec is None:
        raise RuleError(problems)
    return spec
