"""Frozen records the core speaks in: the fact sheet, the decision and its trace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any, overload

from engine.errors import FactSheetError
from engine.rules.facts import SCHEMA, SECTIONS, FactType, suggest
from engine.rules.source import Source


class Action(StrEnum):
    """What the journey does next for a debtor."""

    SEND = "send"  # send a message on `channel` at `send_at`
    WAIT = "wait"  # nothing is due yet (or now is outside the send window): come back at send_at
    HANDOFF = "handoff"  # hand over to a collection agency or a human task
    NONE = "none"  # nothing to do: paid, paused by a promise, or disputed

    def __str__(self) -> str:
        return self.value


def _to_number(value: Any) -> int | float | Decimal:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation as exc:
            raise TypeError(f"{value!r} is not a number") from exc
        return int(number) if number == number.to_integral_value() and "." not in value else number
    raise TypeError(f"{value!r} is not a number")


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError as exc:
            raise TypeError(f"{value!r} is not a date (use YYYY-MM-DD)") from exc
    raise TypeError(f"{value!r} is not a date (use YYYY-MM-DD)")


def normalise_fact(name: str, value: Any) -> Any:
    """Convert a JSON-ish value to the fact's type; raise TypeError saying what was expected."""
    if value is None:
        return None
    fact = SCHEMA[name]
    kind = fact.type
    if kind is FactType.NUMBER:
        result: Any = _to_number(value)
    elif kind is FactType.DATE:
        result = _to_date(value)
    elif kind is FactType.BOOL:
        if not isinstance(value, bool):
            raise TypeError(f"{value!r} is not true or false")
        result = value
    elif kind is FactType.STRING_LIST:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise TypeError(f"{value!r} is not a list of strings")
        if not all(isinstance(v, str) for v in value):
            raise TypeError(f"{value!r} is not a list of strings")
        result = tuple(value)
    else:
        if not isinstance(value, str):
            raise TypeError(f"{value!r} is not a string")
        result = value
    if fact.choices and isinstance(result, str) and result not in fact.choices:
        raise TypeError(f"{result!r} is not one of {', '.join(fact.choices)}")
    if fact.choices and isinstance(result, tuple):
        bad = [v for v in result if v not in fact.choices]
        if bad:
            raise TypeError(f"{bad[0]!r} is not one of {', '.join(fact.choices)}")
    return result


def _flatten(prefix: str, data: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key, value in data.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping) and name not in SCHEMA:
            _flatten(name, value, out)
        else:
            out[name] = value


@dataclass(frozen=True, slots=True)
class FactSheet:
    """A debtor's facts at decision time: every fact of the schema, flat by dotted name.

    Build it with `FactSheet.from_nested` (the JSON form `explain` reads) or `FactSheet.build`
    (flat names); both fill documented defaults and reject unknown names and wrong types.
    """

    values: Mapping[str, Any]

    @classmethod
    def build(cls, flat: Mapping[str, Any] | None = None, **overrides: Any) -> FactSheet:
        """A sheet from flat dotted names (`{"customer.kind": "consumer"}`), defaults filled."""
        given = dict(flat or {})
        given.update({k.replace("__", "."): v for k, v in overrides.items()})
        problems: list[str] = []
        values: dict[str, Any] = {}
        for name in given:
            if name not in SCHEMA:
                hint = suggest(name)
                problems.append(
                    f"unknown fact '{name}'" + (f" — did you mean '{hint}'?" if hint else "")
                )
        for name, fact in SCHEMA.items():
            raw = given.get(name, fact.default)
            try:
                values[name] = normalise_fact(name, raw)
            except TypeError as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise FactSheetError(problems)
        if isinstance(values["customer.country"], str):
            values["customer.country"] = values["customer.country"].upper()
        return cls(MappingProxyType(values))

    @classmethod
    def from_nested(cls, data: Mapping[str, Any]) -> FactSheet:
        """A sheet from `{"customer": {...}, "balance": {...}, ...}`, defaults filled."""
        flat: dict[str, Any] = {}
        unknown = [k for k in data if k not in SECTIONS]
        if unknown:
            raise FactSheetError(
                [f"unknown section '{k}' — expected one of: {', '.join(SECTIONS)}" for k in unknown]
            )
        for section in SECTIONS:
            part = data.get(section) or {}
            if not isinstance(part, Mapping):
                raise FactSheetError([f"section '{section}' must be an object"])
            _flatten(section, part, flat)
        return cls.build(flat)

    def to_nested(self) -> dict[str, Any]:
        """The JSON form (dates as ISO strings, Decimals as strings) that from_nested reads."""
        out: dict[str, Any] = {}
        for name, value in self.values.items():
            node = out
            parts = name.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = to_json_value(value)
        return out

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def replace(self, **changes: Any) -> FactSheet:
        """A copy with some facts changed (`journey__steps_sent=2`)."""
        flat = dict(self.values)
        flat.update({k.replace("__", "."): v for k, v in changes.items()})
        return FactSheet.build(flat)


def to_json_value(value: Any) -> Any:
    """A fact value as JSON would carry it."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceEntry:
    """One line of a decision's explanation."""

    rule: str  # e.g. "personas[0]", "journeys[1].steps[2]", "channels.send_window"
    source: Source | None
    matched: bool
    facts: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "source": str(self.source) if self.source else None,
            "matched": self.matched,
            "facts": {k: to_json_value(v) for k, v in self.facts.items()},
            "note": self.note,
        }


class Trace(Sequence[TraceEntry]):
    """A decision's explanation, built on first read.

    Deciding is the hot path (a whole portfolio per planning run); explaining is on demand (a
    preview, an audit record of a message actually sent). The builder only reads immutable
    inputs (the rules, the fact sheet), so building later gives the same entries as building now.
    """

    __slots__ = ("_build", "_entries")

    def __init__(
        self, entries: Iterable[TraceEntry] | Callable[[], Iterable[TraceEntry]] = ()
    ) -> None:
        if callable(entries):
            self._build: Callable[[], Iterable[TraceEntry]] | None = entries
            self._entries: tuple[TraceEntry, ...] | None = None
        else:
            self._build, self._entries = None, tuple(entries)

    def _all(self) -> tuple[TraceEntry, ...]:
        if self._entries is None:
            assert self._build is not None
            self._entries, self._build = tuple(self._build()), None
        return self._entries

    @overload
    def __getitem__(self, index: int) -> TraceEntry: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[TraceEntry, ...]: ...
    def __getitem__(self, index: int | slice) -> TraceEntry | tuple[TraceEntry, ...]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Trace):
            return self._all() == other._all()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return f"Trace({list(self._all())!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Money:
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The answer of `decide`: what happens next for one debtor, and why."""

    customer_id: str | None
    action: Action
    reason: str
    persona: str | None = None
    persona_source: Source | None = None
    journey_step: int | None = None  # 1-based position of the step in its journey
    journey_steps: int | None = None
    journey_round: int = 1  # the round of the journey (journey.round): 2+ after a settled debt
    template: str | None = None
    channel: str | None = None
    fallback_channels: tuple[str, ...] = ()
    fallback_after: dt.timedelta | None = None
    locale: str | None = None
    tone: str | None = None
    send_at: dt.datetime | None = None
    payment_options: tuple[str, ...] = ()
    amount_due: Money | None = None
    trace: Trace = field(default_factory=Trace)
    ruleset_version: str = ""
    experiment: str | None = None  # the experiment the debtor takes part in, and their variant
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.send_at is not None and self.send_at.tzinfo is None:
            raise ValueError("Decision.send_at must be timezone-aware")

    def to_json(self) -> dict[str, Any]:
        """The preview answer of shared/design/surfaces.md, without the rendered message."""
        amount = None
        if self.amount_due is not None:
            amount = {
                "amount": str(self.amount_due.amount),
                "currency": self.amount_due.currency,
            }
        return {
            "customer_id": self.customer_id,
            "action": self.action.value,
            "reason": self.reason,
            "persona": (
                {"id": self.persona, "source": str(self.persona_source)} if self.persona else None
            ),
            "journey": (
                {
                    "persona": self.persona,
                    "step": self.journey_step,
                    "steps": self.journey_steps,
                    "template": self.template,
                }
                if self.journey_steps is not None
                else None
            ),
            "channel": self.channel,
            "fallback_channels": list(self.fallback_channels),
            "fallback_after_hours": (
                self.fallback_after.total_seconds() / 3600 if self.fallback_after else None
            ),
            "locale": self.locale,
            "tone": self.tone,
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "amount_due": amount,
            "payment_options": [{"method": m} for m in self.payment_options],
            "trace": [t.to_json() for t in self.trace],
            "ruleset_version": self.ruleset_version,
            "experiment": (
                {"id": self.experiment, "variant": self.variant} if self.experiment else None
            ),
        }
