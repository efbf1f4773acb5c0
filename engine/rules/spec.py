"""The validated rule spec: frozen records built from the rule files, each node with its source."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.rules.expr import Expr
from engine.rules.self_service import SelfService, default_for
from engine.rules.source import Source

if TYPE_CHECKING:
    from engine.rules.experiments import Experiment

#: Payment methods the rules may name.
PAYMENT_METHODS: tuple[str, ...] = (
    "ideal",
    "wero",
    "bancontact",
    "paypal",
    "sepa_direct_debit",
    "barzahlen",
    "card",
    "bank_transfer",
)

#: Tones per language: nl uses u (formal) or jij (informal), de uses Sie or du.
TONES: Mapping[str, tuple[str, ...]] = {"nl": ("u", "jij"), "de": ("Sie", "du")}

#: Step actions: send a message, or hand the debtor over to an agency or a human.
STEP_ACTIONS: tuple[str, ...] = ("send", "handoff")

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True, kw_only=True)
class Persona:
    """A paying persona: first one whose `when` matches wins."""

    id: str
    label: str
    when: Expr
    index: int
    source: Source
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One step of a journey, `at` days relative to the oldest open due date."""

    index: int  # 0-based position in the journey
    at_days: int
    action: str  # "send" | "handoff"
    channels: tuple[str, ...]  # may contain "preferred"; empty for handoff
    template: str | None
    fallback_after: dt.timedelta | None
    required: bool
    source: Source
    #: When none of the listed channels is usable: "skip" (the next step follows when due) or
    #: "handoff" (a person takes over, said explicitly by the rule author).
    if_no_channel: str = "skip"
    #: A hand-off step may be the debtor's first contact only when the rule says so.
    first_contact: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Journey:
    """The steps a persona gets, in which language and tone, with which payment options."""

    persona: str
    when: Expr | None  # None: every debtor of the persona (the last journey of a persona)
    locale: str  # e.g. nl_NL, de_DE
    tone: str
    shift_by: str | None  # a numeric fact name
    payment_options: tuple[str, ...] | None  # narrows and orders the global list
    steps: tuple[Step, ...]
    source: Source

    @property
    def language(self) -> str:
        return self.locale.split("_", 1)[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentOption:
    """A payment method and when it is offered."""

    method: str
    when: Expr
    source: Source


@dataclass(frozen=True, slots=True, kw_only=True)
class SendWindow:
    """When messages may go out, in the customer's time zone."""

    days: frozenset[int]  # 0 = Monday
    start: dt.time
    end: dt.time  # exclusive


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelPolicy:
    """Send window, holiday calendars, pay-hour preference and message limits."""

    send_window: SendWindow
    holidays: tuple[str, ...]  # country codes whose public holidays are known
    prefer_typical_pay_hour: bool
    per_customer_per_week: int | None
    sms_segments: int  # an SMS longer than this many segments is a validation warning
    source: Source | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Rule-pack-wide settings."""

    default_locale: str = "nl_NL"
    currency: str = "EUR"
    max_shift_days: int = 10
    experiment_seed: int = 0
    #: The rules' own time zone: how a `--now` without an offset is read.
    timezone: str = "Europe/Amsterdam"
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSpec:
    """A whole validated rule pack."""

    personas: tuple[Persona, ...]
    journeys: Mapping[str, tuple[Journey, ...]]  # by persona id; first matching `when` wins
    payment_options: tuple[PaymentOption, ...]
    channels: ChannelPolicy
    settings: Settings
    version: str  # "sha256:..." of the rule files' bytes
    files: tuple[str, ...]
    experiments: tuple[Experiment, ...] = ()  # engine/rules/experiments.py
    #: what a debtor of each persona may arrange on their own page (engine/rules/self_service.py)
    self_service: Mapping[str, SelfService] = field(default_factory=dict)

    def self_service_for(self, persona: str) -> SelfService:
        """The persona's self-service entry, or the default page (pay, ask a question)."""
        return self.self_service.get(persona) or default_for(persona)

    def all_journeys(self) -> Iterator[Journey]:
        """Every journey, in file order per persona."""
        for persona in self.personas:
            yield from self.journeys.get(persona.id, ())
