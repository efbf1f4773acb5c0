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

    def answer(
        action: str, step: int | None, channels: Any = (), at: Any = None
    ) -> tuple[Any, ...]:
        first, rest = (channels[0], tuple(channels[1:])) if channels else (None, ())
        return (persona, action, step, first, rest, at, locale, tone, options)

    if v["behaviour.open_disputes"]:
        return answer("none", None)
    tz = timing.zone(v["customer.timezone"] or "Europe/Amsterdam")
    promised = v["journey.promised_until"]
    if promised is not None and promised >= now.astimezone(tz).date():
        return answer("none", None)
    due = v["balance.oldest_due_date"]
    done = int(v["journey.steps_sent"] or 0)
    steps = journey.steps
    if due is None:
        return answer("none", None)
    if done >= len(steps):
        return answer("none", len(steps))
    policy = spec.channels
    window, calendars, country = policy.send_window, policy.holidays, v["customer.country"]
    shift = timing.shift_days(v[journey.shift_by], 10) if journey.shift_by else 0
    hour = v["behaviour.typical_pay_hour"] if policy.prefer_typical_pay_hour else None
    hour = int(hour) if hour is not None else None
    today = now.astimezone(tz).date()
    unsent = steps[done:]
    times = []
    chosen = None
    for i, step in enumerate(unsent):
        at = timing.step_time(due, step.at_days, shift, window, tz, country, calendars, hour)
        times.append(at)
        if step.at_days < 0 and (today >= due or at.astimezone(tz).date() >= due):
            continue  # a pre-due step whose moment has passed is stale, never sent
        if at > now:
            if chosen is None:  # a wait names the step's channels as today's facts allow
                return answer("wait", step.index + 1, _channels(step.channels, v), at)
            break
        if chosen is None or not unsent[chosen].required:
            chosen = i
    if chosen is None:
        return answer("none", len(steps))
    held = unsent[chosen]
    contacted = (
        v["journey.last_channel"] is not None
        or (v["journey.steps_sent"] or 0)
        or (v["journey.messages_sent"] or 0)
    )
    if held.action == "handoff" and not held.first_contact and not contacted:
        earlier = [i for i in range(chosen) if unsent[i].action == "send"]
        if not earlier:
            return answer("none", held.index + 1)
        chosen = earlier[-1]
    step = unsent[chosen]
    number = step.index + 1
    channels = _channels(step.channels, v)
    if step.action == "handoff":
        if channels and step.template is not None:
            opening = timing.next_window_opening(now, window, tz, country, calendars)
            return answer("handoff", number, channels, opening)
        return answer("handoff", number, channels, now)
    if not channels:
        if step.if_no_channel == "handoff":
            return answer("handoff", number, (), now)
        following = chosen + 1
        if not step.required and following < len(times) and times[following] > now:
            return answer("wait", unsent[following].index + 1, (), times[following])
        return answer("none", number)
    limit = policy.per_customer_per_week
    if limit is not None and (v["journey.messages_last_7_days"] or 0) >= limit:
        later = timing.next_window_opening(
            now + dt.timedelta(days=1), window, tz, country, calendars
        )
        return answer("wait", number, channels, later)
    opening = timing.next_window_opening(now, window, tz, country, calendars)
    if opening != now:
        return answer("wait", number, channels, opening)
    return answer("send", number, channels, now)


def _channels(names: Any, v: Any) -> list[str]:
    channels: list[str] = []
    for name in names:
        channel = preferred_channel(v) if name == "preferred" else name
        if channel is not None and channel not in channels and allowed(channel, v):
            channels.append(channel)
    return channels
