"""The fact schema: every fact a rule may read, its type, its default and what it means."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

CHANNELS: tuple[str, ...] = ("email", "sms", "whatsapp", "letter", "phone")


class FactType(Enum):
    """The type of a fact, as conditions see it."""

    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    STRING_LIST = "list of strings"

    def accepts(self, value: Any) -> bool:
        """True when `value` (already normalised) is of this type."""
        if self is FactType.STRING:
            return isinstance(value, str)
        if self is FactType.NUMBER:
            return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
        if self is FactType.BOOL:
            return isinstance(value, bool)
        if self is FactType.DATE:
            return isinstance(value, dt.date) and not isinstance(value, dt.datetime)
        return isinstance(value, tuple) and all(isinstance(v, str) for v in value)


@dataclass(frozen=True, slots=True, kw_only=True)
class FactDef:
    """One fact of the schema."""

    name: str
    type: FactType
    default: Any
    doc: str
    choices: tuple[str, ...] = ()


def _f(
    name: str, type_: FactType, default: Any, doc: str, choices: tuple[str, ...] = ()
) -> FactDef:
    return FactDef(name=name, type=type_, default=default, doc=doc, choices=choices)


S, N, B, D, L = (
    FactType.STRING,
    FactType.NUMBER,
    FactType.BOOL,
    FactType.DATE,
    FactType.STRING_LIST,
)

#: Every fact, in the order the docs list them. A default of None means "unknown":
#: any comparison with an unknown fact is false, and `exists(fact)` tells whether it is known.
FACTS: tuple[FactDef, ...] = (
    _f("customer.id", S, None, "the debtor's id"),
    _f("customer.name", S, None, "the debtor's name (templates only)"),
    _f("customer.kind", S, "business", "consumer or business", ("consumer", "business")),
    _f("customer.country", S, "NL", "ISO 3166 country code, upper case"),
    _f("customer.language", S, None, "ISO 639 language code (nl, de, en)"),
    _f("customer.timezone", S, "Europe/Amsterdam", "IANA time zone of the customer"),
    _f("customer.employees", N, None, "number of employees (businesses)"),
    _f("customer.industry", S, None, "industry, free text or SBI/WZ code"),
    _f("customer.credit_score", N, None, "credit score 0-100 from your bureau"),
    _f(
        "customer.payer_role",
        S,
        None,
        "who pays: accounts_payable, controller, owner, director, consumer, ...",
    ),
    _f("customer.decision_authority", B, False, "the contact can decide to pay"),
    _f("customer.preferred_channel", S, None, "the customer's preferred channel", CHANNELS),
    _f("customer.consent.email", B, True, "email allowed (false only on opt-out)"),
    _f("customer.consent.sms", B, False, "SMS opt-in"),
    _f("customer.consent.whatsapp", B, False, "WhatsApp opt-in"),
    _f("customer.reachable_by", L, CHANNELS, "channels we have an address or number for"),
    _f("customer.tags", L, (), "free tags from your CRM"),
    _f("balance.open_amount", N, 0, "open amount, in balance.currency"),
    _f("balance.overdue_amount", N, 0, "open amount past its due date, in balance.currency"),
    _f("balance.currency", S, "EUR", "ISO 4217 currency"),
    _f("balance.open_invoices", N, 0, "number of open invoices"),
    _f("balance.max_days_overdue", N, 0, "days the oldest open invoice is overdue"),
    _f("balance.oldest_due_date", D, None, "due date of the oldest open invoice"),
    _f("balance.in_default", B, False, "the debtor is legally in default (verzuim/Verzug)"),
    _f(
        "behaviour.avg_days_late",
        N,
        None,
        "average days late over the last 12 paid invoices; unknown without paid invoices",
    ),
    _f("behaviour.on_time_ratio", N, None, "share of the last 12 paid invoices paid on time"),
    _f("behaviour.paid_after.email", N, None, "share of email reminders paid within 3 days"),
    _f("behaviour.paid_after.sms", N, None, "share of SMS reminders paid within 3 days"),
    _f("behaviour.paid_after.whatsapp", N, None, "share of WhatsApp reminders paid in 3 days"),
    _f("behaviour.paid_after.letter", N, None, "share of letters paid within 3 days"),
    _f("behaviour.paid_after.phone", N, None, "share of phone calls paid within 3 days"),
    _f("behaviour.typical_pay_hour", N, None, "local hour (0-23) the customer usually pays"),
    _f("behaviour.typical_pay_weekday", N, None, "weekday (0=Monday) the customer usually pays"),
    _f("behaviour.broken_promises", N, 0, "promises to pay not kept, last 12 months"),
    _f("behaviour.open_disputes", N, 0, "open disputes"),
    _f("journey.steps_sent", N, 0, "steps of the journey done (sent or skipped)"),
    _f(
        "journey.round",
        N,
        1,
        "1; 2, 3, ... when a debtor who had paid everything owes again (from step 1)",
    ),
    _f("journey.messages_sent", N, 0, "messages sent in this journey"),
    _f(
        "journey.reminders_sent",
        N,
        0,
        "messages sent after the oldest open invoice fell due (reminders really received)",
    ),
    _f("journey.messages_last_7_days", N, 0, "messages sent in the last 7 days"),
    _f("journey.last_channel", S, None, "channel of the last message", CHANNELS),
    _f("journey.hours_since_last_message", N, None, "hours since the last message"),
    _f("journey.reacted", B, False, "the customer reacted to the last message"),
    _f("journey.promised_until", D, None, "date a promise to pay runs until"),
)

SCHEMA: Mapping[str, FactDef] = {f.name: f for f in FACTS}
SECTIONS: tuple[str, ...] = ("customer", "balance", "behaviour", "journey")


def suggest(name: str) -> str | None:
    """The closest known fact name, for a did-you-mean hint."""
    import difflib

    found = difflib.get_close_matches(name, SCHEMA.keys(), n=1, cutoff=0.6)
    if found:
        return found[0]
    # a bare leaf ("avg_days_late") is a common slip: find it under any section
    leaf = name.rsplit(".", 1)[-1]
    for known in SCHEMA:
        if known.endswith("." + leaf):
            return known
    return None
