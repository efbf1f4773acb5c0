"""The pure decision: (compiled rules, fact sheet, now) -> the debtor's next step, with its trace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine import timing
from engine.compile import Classification, CompiledRules
from engine.facts import CHANNELS
from engine.model import Action, Decision, FactSheet, Money, TraceEntry
from engine.spec import Journey, Step

_CONSENT_NEEDED = {"sms": "customer.consent.sms", "whatsapp": "customer.consent.whatsapp"}


def decide(rules: CompiledRules, facts: FactSheet, now: dt.datetime) -> Decision:
    """Decide a debtor's next payment request. No I/O, no clock: `now` is given (aware)."""
    if now.tzinfo is None:
        raise ValueError("decide() needs a timezone-aware `now`")
    v = facts.values
    base: dict[str, Any] = {
        "customer_id": v["customer.id"],
        "ruleset_version": rules.version,
    }
    amount = v["balance.open_amount"]
    if amount is None or amount <= 0:
        return Decision(
            action=Action.NONE,
            reason="nothing is open: no payment request needed",
            trace=(_note("balance", "balance.open_amount", amount, "no open balance"),),
            **base,
        )
    found = rules.classify(v)
    trace = _persona_trace(rules, found, v)
    persona, journey = found.persona, found.journey
    base.update(
        persona=persona.id,
        persona_source=persona.source,
        journey_steps=len(journey.steps),
        locale=journey.locale,
        tone=journey.tone,
        payment_options=found.payment_options,
        amount_due=Money(amount=Decimal(str(amount)), currency=v["balance.currency"] or "EUR"),
    )
    if len(rules.spec.journeys[persona.id]) > 1:
        trace.append(
            TraceEntry(
                rule=f"journey for {persona.id}",
                source=journey.source,
                matched=True,
                note=f"journey {journey.locale}/{journey.tone} chosen for this debtor",
            )
        )

    if (disputes := v["behaviour.open_disputes"]) and disputes > 0:
        trace.append(_note("pause", "behaviour.open_disputes", disputes, "paused: open dispute"))
        return Decision(
            action=Action.NONE,
            reason="paused: the debtor disputes the claim",
            trace=tuple(trace),
            **base,
        )
    tz = timing.zone(v["customer.timezone"] or "Europe/Amsterdam")
    today = now.astimezone(tz).date()
    promised = v["journey.promised_until"]
    if promised is not None and promised >= today:
        trace.append(
            _note("pause", "journey.promised_until", promised, "paused: promise to pay not yet due")
        )
        return Decision(
            action=Action.NONE,
            reason=f"paused: promise to pay until {promised}",
            trace=tuple(trace),
            **base,
        )
    due = v["balance.oldest_due_date"]
    if due is None:
        trace.append(_note("timing", "balance.oldest_due_date", None, "no due date known"))
        return Decision(
            action=Action.NONE, reason="no open invoice with a due date", trace=tuple(trace), **base
        )
    done = int(v["journey.steps_sent"] or 0)
    if done >= len(journey.steps):
        return Decision(
            action=Action.NONE,
            reason=f"journey complete: all {len(journey.steps)} steps done",
            journey_step=len(journey.steps),
            trace=tuple(trace),
            **base,
        )
    return _next_step(rules, journey, v, now, tz, due, done, trace, base)


def _next_step(
    rules: CompiledRules,
    journey: Journey,
    v: Mapping[str, Any],
    now: dt.datetime,
    tz: Any,
    due: dt.date,
    done: int,
    trace: list[TraceEntry],
    base: dict[str, Any],
) -> Decision:
    policy = rules.spec.channels
    window, calendars = policy.send_window, policy.holidays
    country = v["customer.country"]
    shift = (
        timing.shift_days(v[journey.shift_by], rules.spec.settings.max_shift_days)
        if (journey.shift_by)
        else 0
    )
    pay_hour = v["behaviour.typical_pay_hour"] if policy.prefer_typical_pay_hour else None
    pay_hour = int(pay_hour) if pay_hour is not None else None

    def when(step: Step) -> dt.datetime:
        return timing.step_time(due, step.at_days, shift, window, tz, country, calendars, pay_hour)

    unsent = journey.steps[done:]
    times = [when(s) for s in unsent]
    due_now = [i for i, t in enumerate(times) if t <= now]
    if shift:
        trace.append(
            _note(
                "timing",
                journey.shift_by or "",
                v[journey.shift_by or ""],
                f"steps moved {shift} day(s) later (shift_by, capped at "
                f"{rules.spec.settings.max_shift_days}d)",
            )
        )
    if not due_now:
        step = unsent[0]
        trace.append(_step_note(step, times[0], "next step, not yet due"))
        return Decision(
            action=Action.WAIT,
            reason=f"step {step.index + 1} is due at {times[0]:%Y-%m-%d %H:%M %Z}",
            send_at=times[0],
            journey_step=step.index + 1,
            template=step.template,
            trace=tuple(trace),
            **base,
        )
    chosen = due_now[-1]
    required = next((i for i in range(chosen) if unsent[i].required), None)
    if required is not None:
        chosen = required
    for i in range(chosen):
        trace.append(_step_note(unsent[i], times[i], "skipped: a later step is due as well"))
    step = unsent[chosen]
    note = "due" + (" (required: never skipped)" if step.required else "")
    trace.append(_step_note(step, times[chosen], note))
    base.update(journey_step=step.index + 1, template=step.template)

    if step.action == "handoff":
        return Decision(
            action=Action.HANDOFF,
            reason=f"step {step.index + 1}: hand over",
            send_at=now,
            trace=tuple(trace),
            **base,
        )
    channels, channel_notes = _channels(step, v)
    trace.extend(channel_notes)
    if not channels:
        return Decision(
            action=Action.HANDOFF,
            reason=f"step {step.index + 1}: no channel allowed (consent or address missing); "
            "a person must contact this debtor",
            send_at=now,
            trace=tuple(trace),
            **base,
        )
    base.update(
        channel=channels[0], fallback_channels=channels[1:], fallback_after=step.fallback_after
    )
    limit = policy.per_customer_per_week
    if limit is not None and (v["journey.messages_last_7_days"] or 0) >= limit:
        later = timing.next_window_opening(
            now + dt.timedelta(days=1), window, tz, country, calendars
        )
        trace.append(
            _note(
                "channels.limits",
                "journey.messages_last_7_days",
                v["journey.messages_last_7_days"],
                f"weekly limit of {limit} reached",
            )
        )
        return Decision(
            action=Action.WAIT,
            reason=f"weekly message limit ({limit}) reached",
            send_at=later,
            trace=tuple(trace),
            **base,
        )
    opening = timing.next_window_opening(now, window, tz, country, calendars)
    if opening != now:
        trace.append(
            TraceEntry(
                rule="channels.send_window",
                source=policy.source,
                matched=False,
                note=f"outside the send window; it opens {opening:%Y-%m-%d %H:%M %Z}",
            )
        )
        return Decision(
            action=Action.WAIT,
            reason="due, but outside the send window",
            send_at=opening,
            trace=tuple(trace),
            **base,
        )
    return Decision(
        action=Action.SEND,
        reason=f"step {step.index + 1} is due",
        send_at=now.astimezone(tz),
        trace=tuple(trace),
        **base,
    )


def preferred_channel(v: Mapping[str, Any]) -> str | None:
    """The customer's preferred channel, or the one `paid_after` shows works better."""
    preferred = v["customer.preferred_channel"]
    best, best_score = preferred, v[f"behaviour.paid_after.{preferred}"] if preferred else None
    for channel in CHANNELS:
        score = v[f"behaviour.paid_after.{channel}"]
        if score is not None and (best_score is None or score > best_score):
            best, best_score = channel, score
    return best


def allowed(channel: str, v: Mapping[str, Any]) -> bool:
    """Consent (email unless opted out; SMS and WhatsApp only on opt-in) and an address for it."""
    reachable = v["customer.reachable_by"]
    if reachable is not None and channel not in reachable:
        return False
    if channel == "email":
        return v["customer.consent.email"] is not False
    consent = _CONSENT_NEEDED.get(channel)
    return consent is None or v[consent] is True


def _channels(step: Step, v: Mapping[str, Any]) -> tuple[tuple[str, ...], list[TraceEntry]]:
    out: list[str] = []
    dropped: list[str] = []
    for name in step.channels:
        channel = preferred_channel(v) if name == "preferred" else name
        if channel is None or channel in out:
            continue
        if allowed(channel, v):
            out.append(channel)
        else:
            dropped.append(channel)
    notes = []
    if dropped:
        notes.append(
            TraceEntry(
                rule=f"steps[{step.index}].channel",
                source=step.source,
                matched=False,
                facts={
                    k: v[k]
                    for k in (
                        "customer.consent.sms",
                        "customer.consent.whatsapp",
                        "customer.consent.email",
                        "customer.reachable_by",
                    )
                },
                note="not allowed (consent or address): " + ", ".join(dropped),
            )
        )
    return tuple(out), notes


def _persona_trace(
    rules: CompiledRules, found: Classification, v: Mapping[str, Any]
) -> list[TraceEntry]:
    out = []
    for persona in rules.spec.personas[: found.persona.index + 1]:
        matched = persona is found.persona
        out.append(
            TraceEntry(
                rule=f"personas[{persona.index}]",
                source=persona.source,
                matched=matched,
                facts={name: v[name] for name in rules.persona_facts[persona.index]},
                note=f"persona {persona.id}" + ("" if matched else ": did not match"),
            )
        )
    return out


def _note(rule: str, fact: str, value: Any, note: str) -> TraceEntry:
    return TraceEntry(
        rule=rule, source=None, matched=True, facts={fact: value} if fact else {}, note=note
    )


def _step_note(step: Step, at: dt.datetime, note: str) -> TraceEntry:
    what = step.template if step.action == "send" else step.action
    return TraceEntry(
        rule=f"steps[{step.index}]",
        source=step.source,
        matched=note.startswith("due"),
        note=f"step {step.index + 1} ({what}, due {step.at_days:+d}d) at {at:%Y-%m-%d %H:%M %Z}: {note}",
    )
