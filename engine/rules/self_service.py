"""The `self_service` section: what a debtor of each persona may arrange on their own page."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from engine.rules.source import Source
from engine.rules.yamlnodes import YMap, YNode, YScalar

if TYPE_CHECKING:
    from engine.rules.rulespec import _Reader

#: What a debtor's page may offer. `pay` is always offered: nobody is kept from paying.
ACTIONS: tuple[str, ...] = ("pay", "promise", "plan", "dispute", "question", "channel")
#: An arrangement within the limits: approved at once, or queued for a person.
APPROVALS: tuple[str, ...] = ("auto", "person")
#: A request beyond the limits: refused with the reason shown, or queued for a person.
BEYOND: tuple[str, ...] = ("refuse", "person")
#: What a persona without a `self_service` entry gets.
DEFAULT_ACTIONS: tuple[str, ...] = ("pay", "question")

_DUE = re.compile(r"^due\s*\+\s*(?P<n>\d+)\s*(?P<unit>[dw])$")
_DAYS = re.compile(r"^(?P<n>\d+)\s*(?P<unit>[dw])$")
_HOURS = re.compile(r"^(?P<n>\d+)\s*(?P<unit>[hdw])$")


@dataclass(frozen=True, slots=True, kw_only=True)
class PromiseLimits:
    """A promise to pay: by `due + latest_days` at the latest."""

    latest_days: int
    approval: str = "auto"
    beyond: str = "refuse"
    withdraw_after_broken: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanLimits:
    """A payment plan: up to `max_instalments`, each at least `min_instalment`, the first at
    least `min_first`, `every_days` apart, the last by `due + latest_days` when given."""

    max_instalments: int
    every_days: int
    min_instalment: Decimal = Decimal(0)
    min_first: Decimal = Decimal(0)
    latest_days: int | None = None
    approval: str = "auto"
    beyond: str = "refuse"
    withdraw_after_broken: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfService:
    """One persona's page: the actions offered, their limits and how long a reply pauses."""

    persona: str
    actions: tuple[str, ...]
    promise: PromiseLimits | None
    plan: PlanLimits | None
    reply_pause: dt.timedelta
    source: Source | None


def default_for(persona: str) -> SelfService:
    """The page of a persona the rules say nothing about: pay, and ask a question."""
    return SelfService(
        persona=persona,
        actions=DEFAULT_ACTIONS,
        promise=None,
        plan=None,
        reply_pause=dt.timedelta(days=3),
        source=None,
    )


def read_self_service(
    items: list[tuple[str, YNode]], personas: set[str], read: _Reader
) -> Mapping[str, SelfService]:
    """The validated `self_service` entries by persona id; problems go to `read.out`."""
    from engine.rules.rulespec import _did_you_mean, _expected

    out: dict[str, SelfService] = {}
    for index, (_, node) in enumerate(items):
        kp = f"self_service[{index}]"
        m = read.mapping(node, kp)
        if m is None:
            continue
        read.check_keys(m, ("persona", "offer", "promise", "plan", "reply_pause", "note"), kp)
        persona = read.string(read.required(m, "persona", kp, "name the persona"), kp + ".persona")
        if persona is not None and personas and persona not in personas:
            read.out.error(
                m.value_pos("persona"),
                kp + ".persona",
                f"unknown persona '{persona}'",
                _did_you_mean(persona, personas) or _expected(sorted(personas)),
            )
            persona = None
        if persona is not None and persona in out:
            read.out.error(
                m.key_pos("persona"),
                kp + ".persona",
                f"persona '{persona}' has two self_service entries",
                "keep one entry per persona",
            )
        actions: list[str] = ["pay"]
        for i, item in enumerate(read.seq(read.required(m, "offer", kp, _OFFER_HINT), kp)):
            name = read.string(item, f"{kp}.offer[{i}]")
            if name is None:
                continue
            if name not in ACTIONS:
                read.out.error(
                    item.pos,
                    kp + ".offer",
                    f"unknown self-service action '{name}'",
                    _did_you_mean(name, ACTIONS) or _expected(ACTIONS),
                )
            elif name not in actions:
                actions.append(name)
        promise = _promise(m, kp, "promise" in actions, read)
        plan = _plan(m, kp, "plan" in actions, read)
        pause = _pause(m.get("reply_pause"), kp + ".reply_pause", read)
        if persona is not None:
            out[persona] = SelfService(
                persona=persona,
                actions=tuple(a for a in ACTIONS if a in actions),
                promise=promise,
                plan=plan,
                reply_pause=pause,
                source=m.pos.source(),
            )
    return out


_OFFER_HINT = "list the actions, e.g. `offer: [pay, promise, plan, dispute, question, channel]`"


def _section(m: YMap, key: str, kp: str, offered: bool, read: _Reader) -> YMap | None:
    node = m.get(key)
    if node is None:
        if offered:
            read.out.error(
                m.key_pos("offer"),
                f"{kp}.{key}",
                f"'{key}' is offered but has no limits",
                f"add a `{key}:` block with its limits (docs/self-service.md)",
            )
        return None
    if not offered:
        read.out.error(
            m.key_pos(key),
            f"{kp}.{key}",
            f"limits for '{key}', but '{key}' is not in `offer`",
            f"add {key} to `offer`, or remove the `{key}:` block",
        )
    return read.mapping(node, f"{kp}.{key}")


def _promise(m: YMap, kp: str, offered: bool, read: _Reader) -> PromiseLimits | None:
    block = _section(m, "promise", kp, offered, read)
    if block is None:
        return None
    kp += ".promise"
    read.check_keys(block, ("latest", "approval", "beyond_limits", "withdraw_after_broken"), kp)
    latest = _due_plus(read.required(block, "latest", kp, "e.g. `latest: due + 30d`"), kp, read)
    if latest is None:
        return None
    return PromiseLimits(
        latest_days=latest,
        approval=_choice(block, "approval", APPROVALS, kp, read),
        beyond=_choice(block, "beyond_limits", BEYOND, kp, read),
        withdraw_after_broken=_withdraw(block, kp, read),
    )


def _plan(m: YMap, kp: str, offered: bool, read: _Reader) -> PlanLimits | None:
    block = _section(m, "plan", kp, offered, read)
    if block is None:
        return None
    kp += ".plan"
    read.check_keys(
        block,
        (
            "max_instalments",
            "every",
            "min_instalment",
            "min_first",
            "latest",
            "approval",
            "beyond_limits",
            "withdraw_after_broken",
        ),
        kp,
    )
    count_node = read.required(block, "max_instalments", kp, "e.g. `max_instalments: 3`")
    count = read.integer(count_node, kp + ".max_instalments", 0)
    if count_node is not None and count < 2:
        read.out.error(
            block.value_pos("max_instalments"),
            kp + ".max_instalments",
            f"a plan needs at least 2 instalments, got {count}",
            "write 2 or more; for one later payment offer `promise`",
        )
    every_text = read.string(read.required(block, "every", kp, "e.g. `every: 2w`"), kp + ".every")
    every = None
    if every_text is not None:
        hit = _DAYS.match(every_text.strip())
        every = int(hit.group("n")) * (7 if hit.group("unit") == "w" else 1) if hit else None
        if not every:
            read.out.error(
                block.value_pos("every"),
                kp + ".every",
                f"'{every_text}' is not a number of days between instalments",
                "write days or weeks, e.g. 14d or 1w",
            )
    latest = None
    if block.get("latest") is not None:
        latest = _due_plus(block.get("latest"), kp, read)
    if count < 2 or every is None:
        return None
    return PlanLimits(
        max_instalments=count,
        every_days=every,
        min_instalment=_amount(block, "min_instalment", kp, read),
        min_first=_amount(block, "min_first", kp, read),
        latest_days=latest,
        approval=_choice(block, "approval", APPROVALS, kp, read),
        beyond=_choice(block, "beyond_limits", BEYOND, kp, read),
        withdraw_after_broken=_withdraw(block, kp, read),
    )


def _due_plus(node: YNode | None, kp: str, read: _Reader) -> int | None:
    text = read.string(node, kp + ".latest")
    if text is None or node is None:
        return None
    hit = _DUE.match(text.strip())
    if not hit:
        read.out.error(
            node.pos,
            kp + ".latest",
            f"'{text}' is not a latest date",
            "write it after the due date in days or weeks, e.g. due + 30d or due + 6w",
        )
        return None
    return int(hit.group("n")) * (7 if hit.group("unit") == "w" else 1)


def _choice(block: YMap, key: str, choices: tuple[str, ...], kp: str, read: _Reader) -> str:
    from engine.rules.rulespec import _expected

    node = block.get(key)
    if node is None:
        return choices[0]
    value = read.string(node, f"{kp}.{key}")
    if value not in choices:
        read.out.error(node.pos, f"{kp}.{key}", f"unknown {key} '{value}'", _expected(choices))
        return choices[0]
    return value


def _withdraw(block: YMap, kp: str, read: _Reader) -> int | None:
    node = block.get("withdraw_after_broken")
    if node is None:
        return None
    count = read.integer(node, kp + ".withdraw_after_broken", 1)
    if count < 1:
        read.out.error(
            node.pos,
            kp + ".withdraw_after_broken",
            "the number of broken promises must be at least 1",
            "remove the key to keep the option open whatever the history",
        )
        return None
    return count


def _amount(block: YMap, key: str, kp: str, read: _Reader) -> Decimal:
    node = block.get(key)
    if node is None:
        return Decimal(0)
    raw = node.value if isinstance(node, YScalar) else None
    try:
        value = Decimal(str(raw)) if isinstance(raw, int | float | str) else None
    except InvalidOperation:
        value = None
    if value is None or value < 0 or isinstance(raw, bool):
        read.out.error(
            node.pos,
            f"{kp}.{key}",
            f"'{raw}' is not an amount",
            "write the amount in the debtor's currency, e.g. 50 or 25.00",
        )
        return Decimal(0)
    return value


def _pause(node: YNode | None, kp: str, read: _Reader) -> dt.timedelta:
    if node is None:
        return dt.timedelta(days=3)
    text = read.string(node, kp)
    hit = _HOURS.match(text.strip()) if text else None
    if not hit or text is None:
        if text is not None:
            read.out.error(
                node.pos,
                kp,
                f"'{text}' is not a duration",
                "write hours, days or weeks, e.g. 48h, 3d, 1w",
            )
        return dt.timedelta(days=3)
    n = int(hit.group("n"))
    return {"h": dt.timedelta(hours=n), "d": dt.timedelta(days=n), "w": dt.timedelta(weeks=n)}[
        hit.group("unit")
    ]
