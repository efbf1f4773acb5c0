"""The behaviour model: when each simulated debtor pays, unreminded and in reaction to a message.

Its magnitudes live in one YAML file (`behaviour.yaml` beside this module, or the user's), each
with its source. Seeded per debtor, so two rule sets face the same debtors drawing the same
numbers (common random numbers): rule sets that send the same messages get the same payments.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ruamel.yaml import YAML

from engine.errors import PayjourneyError
from engine.store.generate import HiddenTraits

DEFAULT_MODEL = Path(__file__).with_name("behaviour.yaml")
_AMOUNT = re.compile(r"(€|EUR)\s?\d|\d\s?(€|EUR)")


class BehaviourModelError(PayjourneyError):
    """The behaviour file is missing a magnitude or has one out of range."""


@dataclass(frozen=True, slots=True)
class Magnitude:
    value: float
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BehaviourParams:
    """The behaviour file, read and checked: every magnitude by its dotted name."""

    path: Path
    magnitudes: Mapping[str, Magnitude]

    def __getitem__(self, name: str) -> float:
        return self.magnitudes[name].value

    def get(self, name: str, default: float) -> float:
        found = self.magnitudes.get(name)
        return found.value if found is not None else default


REQUIRED = (
    "window_days",
    "reference.no_message",
    "reference.standard_text",
    "reference.named_text",
    "amount_stated",
    "max_response",
    "delay_days",
    "fatigue",
    "hour_before_pay",
    "hours_before_pay_window",
    "responsive_channel",
    "natural.slipped_once_forgets",
    "natural.chronic_late_never",
    "dispute.disputer",
    "promise.chronic_late",
    "promise.kept",
)


def load_params(path: Path = DEFAULT_MODEL) -> BehaviourParams:
    """Read a behaviour file; every magnitude needs a number `value` and a `source`."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BehaviourModelError(f"{path}: cannot read the behaviour model: {exc}") from exc
    found: dict[str, Magnitude] = {}
    problems: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and "value" in node:
            value, source = node.get("value"), node.get("source")
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                problems.append(f"{prefix}: value must be a number >= 0, got {value!r}")
            elif not isinstance(source, str) or not source.strip():
                problems.append(f'{prefix}: say where the number comes from (source: "...")')
            else:
                found[prefix] = Magnitude(float(value), source)
        elif isinstance(node, dict):
            for key, child in node.items():
                walk(child, f"{prefix}.{key}" if prefix else str(key))
        else:
            problems.append(f"{prefix}: expected {{value: ..., source: ...}}, got {node!r}")

    walk(data or {}, "")
    problems += [f"{name}: missing" for name in REQUIRED if name not in found]
    for name in ("max_response", "reference.no_message", "reference.standard_text"):
        if name in found and found[name].value > 1:
            problems.append(f"{name}: a share, must be at most 1")
    if problems:
        raise BehaviourModelError(
            f"{path}: " + "; ".join(problems) + f" (see {DEFAULT_MODEL.name} for the form)"
        )
    return BehaviourParams(path=path, magnitudes=found)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenInvoice:
    id: str
    customer_id: str
    remaining: Decimal
    issue_date: dt.date
    due_date: dt.date


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """A message as the debtor gets it."""

    customer_id: str
    channel: str
    step: int
    tone: str | None
    persona: str | None
    text: str
    at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Reaction:
    """Something a debtor does: pay an invoice, promise, dispute."""

    kind: str  # paid | promised | disputed
    customer_id: str
    at: dt.datetime
    invoice_id: str | None = None
    amount: Decimal | None = None
    until: dt.date | None = None
    cause: str = "natural"  # natural | message | spontaneous | promise


#: Response rates fitted from a store: (persona, channel, step) -> share paid within the window;
#: a missing key backs off to (persona, channel, None), then (None, channel, None).
ResponseTable = Mapping[tuple[str | None, str, int | None], float]


@dataclass(slots=True)
class _Debtor:
    traits: HiddenTraits
    names: tuple[str, ...]
    rng: random.Random
    zone: ZoneInfo
    received: int = 0
    disputed: bool = False


@dataclass(slots=True)
class BehaviourModel:
    """Simulated debtors: who pays when, given the messages they receive."""

    params: BehaviourParams
    traits: Mapping[str, HiddenTraits]
    seed: int
    responses: ResponseTable | None = None  # fitted rates replace the product of factors
    _debtors: dict[str, _Debtor] = field(default_factory=dict)
    _invoices: dict[str, OpenInvoice] = field(default_factory=dict)
    _by_customer: dict[str, list[str]] = field(default_factory=dict)
    _remaining: dict[str, Decimal] = field(default_factory=dict)
    _pay_at: dict[str, tuple[dt.datetime, str]] = field(default_factory=dict)
    _queue: list[tuple[dt.datetime, int, Reaction]] = field(default_factory=list)
    _seq: int = 0
    messages: int = 0

    def start(
        self,
        invoices: list[OpenInvoice],
        names: Mapping[str, tuple[str, ...]],
        start: dt.datetime,
        end: dt.datetime,
    ) -> None:
        """Know the open invoices (those not issued yet included) and draw when each is paid
        without any message."""
        for cid, traits in sorted(self.traits.items()):
            self._debtors[cid] = _Debtor(
                traits=traits,
                names=tuple(n for n in names.get(cid, ()) if n),
                rng=random.Random(f"{self.seed}:{cid}"),
                zone=ZoneInfo("Europe/Amsterdam" if traits.country == "NL" else "Europe/Berlin"),
            )
        for invoice in sorted(invoices, key=lambda i: i.id):
            if invoice.customer_id not in self._debtors:
                continue
            self._invoices[invoice.id] = invoice
            self._remaining[invoice.id] = invoice.remaining
            self._by_customer.setdefault(invoice.customer_id, []).append(invoice.id)
            when, cause = self._natural(invoice, start)
            if when is not None and when <= end:
                self._schedule(invoice, when, cause)

    def _natural(self, invoice: OpenInvoice, start: dt.datetime) -> tuple[dt.datetime | None, str]:
        p = self.params
        debtor = self._debtors[invoice.customer_id]
        traits = debtor.traits
        rng = random.Random(f"{self.seed}:natural:{invoice.id}")
        late: float | None
        if traits.behaviour == "punctual":
            late = -rng.randint(0, 4)
        elif traits.behaviour == "slipped_once":
            late = None if rng.random() < p["natural.slipped_once_forgets"] else -rng.randint(0, 3)
        elif traits.behaviour == "chronic_late":
            never = rng.random() < p["natural.chronic_late_never"]
            late = None if never else traits.lateness + rng.gauss(0, 8)
        elif traits.behaviour == "reminder_responsive":
            late = None
        else:  # structurally_late, disputer
            late = traits.lateness + rng.gauss(0, 1)
        day = invoice.due_date + dt.timedelta(days=round(late)) if late is not None else None
        if day is not None:
            day = max(day, invoice.issue_date + dt.timedelta(days=1))
            when = self._at_pay_hour(debtor, day, rng)
            if when > start:
                return when, "natural"
        # stuck: paid spontaneously at the no-message rate per window, from when it is due
        window = p["window_days"]
        rate = -math.log(1 - p["reference.no_message"]) / window
        since = max(start, self._at_pay_hour(debtor, invoice.due_date, rng))
        return since + dt.timedelta(days=rng.expovariate(rate)), "spontaneous"

    def _at_pay_hour(self, debtor: _Debtor, day: dt.date, rng: random.Random) -> dt.datetime:
        local = dt.datetime.combine(day, dt.time(debtor.traits.pay_hour, rng.randint(0, 59)))
        return local.replace(tzinfo=debtor.zone).astimezone(dt.UTC)

    def _schedule(self, invoice: OpenInvoice, when: dt.datetime, cause: str) -> None:
        current = self._pay_at.get(invoice.id)
        if current is not None and current[0] <= when:
            return
        self._pay_at[invoice.id] = (when, cause)
        self._push(
            Reaction(
                kind="paid",
                customer_id=invoice.customer_id,
                at=when,
                invoice_id=invoice.id,
                cause=cause,
            )
        )

    def _push(self, reaction: Reaction) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (reaction.at, self._seq, reaction))

    # ------------------------------------------------------------------ messages

    def response_probability(self, message: Received) -> float:
        """The chance this message brings the debtor's payment forward (see behaviour.yaml)."""
        debtor = self._debtors[message.customer_id]
        p = self.params
        fatigue = p["fatigue"] ** debtor.received
        if self.responses is not None:
            table = self.responses
            rate = table.get((message.persona, message.channel, message.step))
            if rate is None:
                rate = table.get((message.persona, message.channel, None))
            if rate is None:
                rate = table.get((None, message.channel, None), p["reference.standard_text"])
            return min(p["max_response"], rate)
        traits = debtor.traits
        rate = p["reference.standard_text"]
        if any(name in message.text for name in debtor.names):
            rate *= p["reference.named_text"] / p["reference.standard_text"]
        if _AMOUNT.search(message.text):
            rate *= p["amount_stated"]
        rate *= p.get(f"type.{traits.behaviour}", 1.0)
        if (
            traits.behaviour == "reminder_responsive"
            and message.channel == traits.responsive_channel
        ):
            rate *= p["responsive_channel"]
        rate *= p.get(f"channel.{message.channel}", 1.0)
        rate *= p.get(f"step.{message.step}", 1.0)
        local = message.at.astimezone(debtor.zone)
        before = (traits.pay_hour - local.hour) % 24
        if 0 < before <= p["hours_before_pay_window"]:
            rate *= p["hour_before_pay"]
        informal = message.tone in ("jij", "du")
        rate *= p.get(f"tone.{traits.kind}_{'informal' if informal else 'formal'}", 1.0)
        return min(p["max_response"], rate * fatigue)

    def receive(self, message: Received) -> None:
        """A message arrives: maybe the debtor pays sooner, promises or disputes."""
        debtor = self._debtors.get(message.customer_id)
        if debtor is None:
            return
        self.messages += 1
        p = self.params
        # always the same draws per message, so the debtor's stream stays aligned
        u_pay, u_delay, u_other, u_kept = (debtor.rng.random() for _ in range(4))
        chance = self.response_probability(message)
        debtor.received += 1
        today = message.at.date()
        open_ids = [
            i
            for i in self._by_customer.get(message.customer_id, ())
            if self._remaining[i] > 0 and self._invoices[i].issue_date <= today
        ]
        if not open_ids or debtor.disputed:
            return
        kind = debtor.traits.behaviour
        if kind == "disputer" and u_other < p["dispute.disputer"]:
            debtor.disputed = True
            self._push(
                Reaction(
                    kind="disputed",
                    customer_id=message.customer_id,
                    at=message.at + dt.timedelta(hours=1),
                    invoice_id=open_ids[0],
                    cause="message",
                )
            )
            return
        if kind == "chronic_late" and u_other < p["promise.chronic_late"]:
            until = (message.at + dt.timedelta(days=7)).astimezone(debtor.zone).date()
            amount = sum((self._remaining[i] for i in open_ids), Decimal(0))
            self._push(
                Reaction(
                    kind="promised",
                    customer_id=message.customer_id,
                    at=message.at + dt.timedelta(hours=2),
                    amount=amount,
                    until=until,
                    cause="message",
                )
            )
            if u_kept < p["promise.kept"]:
                when = self._at_pay_hour(debtor, until, random.Random(u_kept))
                for invoice_id in open_ids:
                    self._schedule(self._invoices[invoice_id], when, "promise")
            return
        if u_pay >= chance:
            return
        window = p["window_days"]
        mean = p["delay_days"]
        # exponential delay, cut at the window (inverse transform of one uniform draw)
        delay = min(-mean * math.log(1 - u_delay), window)
        when = message.at + dt.timedelta(days=delay)
        for invoice_id in open_ids:
            self._schedule(self._invoices[invoice_id], when, "message")

    # ------------------------------------------------------------------ what happened by now

    def due(self, now: dt.datetime) -> list[Reaction]:
        """The reactions up to `now`, each once, payments with the amount still open."""
        out: list[Reaction] = []
        while self._queue and self._queue[0][0] <= now:
            _, _, reaction = heapq.heappop(self._queue)
            if reaction.kind != "paid":
                out.append(reaction)
                continue
            assert reaction.invoice_id is not None
            if self._pay_at.get(reaction.invoice_id, (None, ""))[0] != reaction.at:
                continue  # superseded by an earlier payment moment
            remaining = self._remaining[reaction.invoice_id]
            if remaining <= 0:
                continue
            self._remaining[reaction.invoice_id] = Decimal(0)
            out.append(
                Reaction(
                    kind="paid",
                    customer_id=reaction.customer_id,
                    at=reaction.at,
                    invoice_id=reaction.invoice_id,
                    amount=remaining,
                    cause=reaction.cause,
                )
            )
        return out
