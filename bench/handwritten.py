"""The default rule pack written by hand in plain Python: the speed limit for a Python decision.

Persona, journey and payment-option conditions are hand-coded if/elif chains; the step tables,
timing and channel filtering are the same data and arithmetic decide() uses. It returns a tuple
(persona, action, step, channel, fallback channels, send_at, locale, tone, payment options) and
builds no trace; bench/decide.py checks every one of those fields against decide().
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.decision import timing
from engine.decision.decide import allowed, preferred_channel
from engine.rules.spec import RuleSpec

NL_BE = ("NL", "BE")
DE_AT = ("DE", "AT")


def _lt(value: Any, limit: float) -> bool:
    return value is not None and value < limit


def _ge(value: Any, limit: float) -> bool:
    return value is not None and value >= limit


def persona_and_journey(v: Any) -> tuple[str, int]:
    kind, country = v["customer.kind"], v["customer.country"]
    late, ratio = v["behaviour.avg_days_late"], v["behaviour.on_time_ratio"]
    if (
        _ge(v["behaviour.broken_promises"], 2)
        or (_ge(late, 20) and _lt(ratio, 0.3))
        or _lt(v["customer.credit_score"], 30)
    ):
        if kind == "consumer" and country in NL_BE:
            return "chronic-late-high-risk", 0
        return "chronic-late-high-risk", 1 if country in DE_AT else 2
    if (
        kind == "business"
        and v["customer.payer_role"] == "controller"
        and _ge(v["balance.open_amount"], 10000)
    ):
        return "controller-large-account", 0 if country in DE_AT else 1
    if _ge(ratio, 0.9) and _lt(late, 3):
        if kind == "consumer" and country in NL_BE:
            return "good-payer-slipped", 0
        if kind == "consumer" and country in DE_AT:
            return "good-payer-slipped", 1
        return "good-payer-slipped", 2 if country in DE_AT else 3
    if kind == "business" and _lt(v["customer.employees"], 50) and _ge(late, 3):
        return "structurally-late-smb", 0 if country in DE_AT else 1
    if kind == "business":
        return "accounts-payable", 0 if country in DE_AT else 1
    if kind == "consumer" and country in NL_BE:
        return "consumer-nl", 0
    if kind == "consumer" and country in DE_AT:
        return "consumer-de", 0
    return "everyone-else", 0 if country in DE_AT else 1


def payment_options(v: Any) -> list[str]:
    kind, country = v["customer.kind"], v["customer.country"]
    out = []
    if country == "NL":
        out.append("ideal")
    if country == "BE":
        out.append("bancontact")
    if country == "DE" and kind == "consumer" and _lt(v["balance.open_amount"], 1000.000001):
        out.append("barzahlen")
    if country in DE_AT:
        out.append("paypal")
    if country in ("DE", "NL", "AT", "BE") and kind == "business":
        out.append("sepa_direct_debit")
    if kind == "consumer":
        out.append("card")
    out.append("bank_transfer")
    return out


#: The fields of decide_by_hand's answer, in order.
FIELDS = (
    "persona",
    "action",
    "journey_step",
    "channel",
    "fallback_channels",
    "send_at",
    "locale",
    "tone",
    "payment_options",
)
_NOTHING_OPEN = (None, "none", None, None, (), None, None, None, ())


def decide_by_hand(spec: RuleSpec, v: Any, now: dt.datetime) -> tuple[Any, ...]:
    """The same answer as decide() for the default pack, without trace or records."""
    amount = v["balance.open_amount"]
    if amount is None or amount <= 0:
        return _NOTHING_OPEN
    persona, which = persona_and_journey(v)
    journey = spec.journeys[persona][which]
    offered = payment_options(v)
    options = tuple(m for m in journey.payment_options or offered if m in offered)
    locale, tone = journey.locale, journey.tone
    if v["behaviour.open_disputes"]:
        return (persona, "none", None, None, (), None, locale, tone, options)
    tz = timing.zone(v["customer.timezone"])
    promised = v["journey.promised_until"]
    if promised is not None and promised >= now.astimezone(tz).date():
        return (persona, "none", None, None, (), None, locale, tone, options)
    due = v["balance.oldest_due_date"]
    done = v["journey.steps_sent"]
    steps = journey.steps
    if due is None:
        return (persona, "none", None, None, (), None, locale, tone, options)
    if done >= len(steps):
        return (persona, "none", len(steps), None, (), None, locale, tone, options)
    policy = spec.channels
    window, calendars, country = policy.send_window, policy.holidays, v["customer.country"]
    shift = timing.shift_days(v[journey.shift_by], 10) if journey.shift_by else 0
    hour = v["behaviour.typical_pay_hour"]
    chosen = None
    for step in steps[done:]:
        at = timing.step_time(due, step.at_days, shift, window, tz, country, calendars, hour)
        if at > now:
            if chosen is None:
                return (persona, "wait", step.index + 1, None, (), at, locale, tone, options)
            break
        if chosen is None or not chosen.required:
            chosen = step
    assert chosen is not None
    number = chosen.index + 1
    channels = []
    for name in chosen.channels:
        channel = preferred_channel(v) if name == "preferred" else name
        if channel is not None and channel not in channels and allowed(channel, v):
            channels.append(channel)
    first, rest = (channels[0], tuple(channels[1:])) if channels else (None, ())
    if chosen.action == "handoff" or not channels:
        return (persona, "handoff", number, first, rest, now, locale, tone, options)
    if v["journey.messages_last_7_days"] >= 3:
        later = timing.next_window_opening(
            now + dt.timedelta(days=1), window, tz, country, calendars
        )
        return (persona, "wait", number, first, rest, later, locale, tone, options)
    opening = timing.next_window_opening(now, window, tz, country, calendars)
    if opening != now:
        return (persona, "wait", number, first, rest, opening, locale, tone, options)
    return (persona, "send", number, first, rest, now, locale, tone, options)
