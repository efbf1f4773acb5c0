"""The pure decision: (compiled rules, fact sheet, now) -> the debtor's next step, and why."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from engine.decision import timing
from engine.decision.model import Action, Decision, FactSheet, Money, Trace, TraceEntry
from engine.rules import expr as ex
from engine.rules.compile import Classification, CompiledRules
from engine.rules.facts import CHANNELS
from engine.rules.spec import Journey, Step

_CONSENT_NEEDED = {"sms": "customer.consent.sms", "whatsapp": "customer.consent.whatsapp"}
_CONSENT_FACTS = (
    "customer.consent.email",
    "customer.consent.sms",
    "customer.consent.whatsapp",
    "customer.reachable_by",
)

# What happened while deciding, as cheap tuples; `_explain` turns them into TraceEntry rows
# only when somebody reads the trace.
Note = tuple[Any, ...]


def decide(rules: CompiledRules, facts: FactSheet, now: dt.datetime) -> Decision:
    """Decide a debtor's next payment request. No I/O, no clock: `now` is given (aware)."""
    if now.tzinfo is None:
        raise ValueError("decide() needs a timezone-aware `now`")
    v = facts.values
    notes: list[Note] = []
    trace = Trace(lambda: _explain(rules, v, notes))
    amount = v["balance.open_amount"]
    if amount is None or amount <= 0:
        notes.append(("fact", "balance", "balance.open_amount", "no open balance"))
        return Decision(
            customer_id=v["customer.id"],
            action=Action.NONE,
            reason="nothing is open: no payment request needed",
            trace=trace,
            ruleset_version=rules.version,
        )
    found = rules.classify(v)
    notes.append(("persona", found))
    persona, journey = found.persona, found.journey
    arm = rules.experiments.assign(persona.id, journey, v) if rules.experiments else None
    if arm is not None:  # the variant's journey (tone, timing, channels, template) for the rest
        journey = arm.journey
        notes.append(("experiment", arm))
    base: dict[str, Any] = {
        "customer_id": v["customer.id"],
        "ruleset_version": rules.version,
        "trace": trace,
        "persona": persona.id,
        "persona_source": persona.source,
        "journey_steps": len(journey.steps),
        "journey_round": int(v["journey.round"] or 1),
        "locale": journey.locale,
        "tone": journey.tone,
        "payment_options": found.payment_options,
        "amount_due": Money(amount=_demanded(v), currency=v["balance.currency"] or "EUR"),
        "experiment": arm.experiment.id if arm else None,
        "variant": arm.variant.id if arm else None,
    }
    if v["behaviour.open_disputes"]:
        notes.append(("fact", "pause", "behaviour.open_disputes", "paused: open dispute"))
        return Decision(action=Action.NONE, reason="paused: the debtor disputes the claim", **base)
    tz = timing.zone(v["customer.timezone"] or "Europe/Amsterdam")
    promised = v["journey.promised_until"]
    if promised is not None and promised >= now.astimezone(tz).date():
        notes.append(("fact", "pause", "journey.promised_until", "paused: promise to pay"))
        return Decision(
            action=Action.NONE, reason=f"paused: promise to pay until {promised}", **base
        )
    due = v["balance.oldest_due_date"]
    if due is None:
        notes.append(("fact", "timing", "balance.oldest_due_date", "no due date known"))
        return Decision(action=Action.NONE, reason="no open invoice with a due date", **base)
    done = int(v["journey.steps_sent"] or 0)
    if done >= len(journey.steps):
        return Decision(
            action=Action.NONE,
            reason=f"journey complete: all {len(journey.steps)} steps done",
            journey_step=len(journey.steps),
            **base,
        )
    return _next_step(rules, journey, v, now, tz, due, done, notes, base)


def _next_step(
    rules: CompiledRules,
    journey: Journey,
    v: Mapping[str, Any],
    now: dt.datetime,
    tz: ZoneInfo,
    due: dt.date,
    done: int,
    notes: list[Note],
    base: dict[str, Any],
) -> Decision:
    policy = rules.spec.channels
    window, calendars, country = policy.send_window, policy.holidays, v["customer.country"]
    shift = 0
    if journey.shift_by:
        shift = timing.shift_days(v[journey.shift_by], rules.spec.settings.max_shift_days)
        if shift:
            notes.append(("shift", journey.shift_by, shift))
    pay_hour = v["behaviour.typical_pay_hour"] if policy.prefer_typical_pay_hour else None
    pay_hour = int(pay_hour) if pay_hour is not None else None

    # step times only grow with `at` (a tested property): stop at the first one still to come.
    # A step before the due date that can no longer go out before it (the due date has come,
    # or the next send day is on or after it) is stale: skipped, never sent.
    today = now.astimezone(tz).date()
    unsent = journey.steps[done:]
    chosen: int | None = None
    upcoming: int | None = None
    times: list[dt.datetime] = []
    for i, step in enumerate(unsent):
        at = timing.step_time(due, step.at_days, shift, window, tz, country, calendars, pay_hour)
        times.append(at)
        if step.at_days < 0 and (today >= due or at.astimezone(tz).date() >= due):
            notes.append(("step", step, at, "skipped: stale, its due date has come"))
            continue
        if at > now:
            upcoming = i
            break
        if chosen is None or not unsent[chosen].required:  # a required step is never skipped
            chosen = i
    if chosen is None:
        if upcoming is None:
            return Decision(
                action=Action.NONE,
                reason="no step left to send: the remaining steps were before the due date",
                journey_step=len(journey.steps),
                **base,
            )
        step = unsent[upcoming]
        notes.append(("step", step, times[upcoming], "next step, not yet due"))
        # the waiting step is named as it stands on today's facts (consent, preferred channel):
        # a preview shows the message it will send, and a plan counts it per channel
        channels = _channels(step, v, notes)
        if channels:
            base["channel"], base["fallback_channels"] = channels[0], channels[1:]
            if step.action == "send":
                base["fallback_after"] = step.fallback_after
        return Decision(
            action=Action.WAIT,
            reason=f"step {step.index + 1} is due at {times[upcoming].isoformat()}",
            send_at=times[upcoming],
            journey_step=step.index + 1,
            template=step.template,
            **base,
        )
    held = unsent[chosen]
    if held.action == "handoff" and not held.first_contact and _no_contact_yet(v):
        # a hand-off is never the first contact unless the rule says so: the last reminder first
        earlier = [i for i in range(chosen) if unsent[i].action == "send"]
        notes.append(
            (
                "step",
                held,
                times[chosen],
                "held back: no message was sent yet, and a hand-off is never the first contact"
                " (`first_contact: true` allows it)",
            )
        )
        if not earlier:
            return Decision(
                action=Action.NONE,
                reason=f"step {held.index + 1}: the hand-off waits for a first message, and no"
                " message step is left; add a reminder before it or `first_contact: true`",
                journey_step=held.index + 1,
                **base,
            )
        chosen = earlier[-1]
    for i in range(chosen):
        if not (unsent[i].at_days < 0 and (today >= due or times[i].astimezone(tz).date() >= due)):
            notes.append(("step", unsent[i], times[i], "skipped: a later step is due as well"))
    step = unsent[chosen]
    notes.append(
        ("step", step, times[chosen], "due (required: never skipped)" if step.required else "due")
    )
    base["journey_step"] = step.index + 1
    base["template"] = step.template
    number = step.index + 1

    channels = _channels(step, v, notes)
    if step.action == "handoff":  # with a template, the debtor is told on the first channel left
        # only a hand-off with a notice has channels: rulespec drops those of one without a
        # template (with a warning), and an experiment variant may change a hand-off's `at` only
        send_at = now
        if channels and step.template is not None:
            base["channel"], base["fallback_channels"] = channels[0], channels[1:]
            # the notice is a message like any other: it waits for the send window
            send_at = timing.next_window_opening(now, window, tz, country, calendars)
            if send_at != now:
                notes.append(("window", send_at))
        return Decision(
            action=Action.HANDOFF, reason=f"step {number}: hand over", send_at=send_at, **base
        )
    if not channels:
        if step.if_no_channel == "handoff":
            return Decision(
                action=Action.HANDOFF,
                reason=f"step {number}: no channel allowed (consent or address missing); "
                "a person must contact this debtor (if_no_channel: handoff)",
                send_at=now,
                **base,
            )
        return _skip_unreachable(step, unsent, chosen, times, now, base)
    base["channel"] = channels[0]
    base["fallback_channels"] = channels[1:]
    base["fallback_after"] = step.fallback_after
    limit = policy.per_customer_per_week
    if limit is not None and (v["journey.messages_last_7_days"] or 0) >= limit:
        later = timing.next_window_opening(
            now + dt.timedelta(days=1), window, tz, country, calendars
        )
        notes.append(
            (
                "fact",
                "channels.limits",
                "journey.messages_last_7_days",
                f"weekly limit of {limit} messages reached",
            )
        )
        return Decision(
            action=Action.WAIT,
            reason=f"weekly message limit ({limit}) reached",
            send_at=later,
            **base,
        )
    opening = timing.next_window_opening(now, window, tz, country, calendars)
    if opening != now:
        notes.append(("window", opening))
        return Decision(
            action=Action.WAIT, reason="due, but outside the send window", send_at=opening, **base
        )
    return Decision(
        action=Action.SEND,
        reason=f"step {number} is due",
        send_at=timing.fixed(now.astimezone(tz)),
        **base,
    )


def _no_contact_yet(v: Mapping[str, Any]) -> bool:
    """No step done and no message ever sent: the debtor has heard nothing from us yet."""
    return (
        v["journey.last_channel"] is None
        and not (v["journey.steps_sent"] or 0)
        and not (v["journey.messages_sent"] or 0)
    )


def _skip_unreachable(
    step: Step,
    unsent: tuple[Step, ...],
    chosen: int,
    times: list[dt.datetime],
    now: dt.datetime,
    base: dict[str, Any],
) -> Decision:
    """No listed channel is usable and the rule does not hand off: the next step follows, unless
    this step is required (never skipped): then the journey stops here until it can be sent."""
    number = step.index + 1
    why = f"step {number}: none of its channels is usable (consent or address missing)"
    fix = "list `letter` (it needs no consent) or set `if_no_channel: handoff`"
    if step.required:  # never skipped: no later step goes out before it
        return Decision(
            action=Action.NONE,
            reason=f"{why}; it is required, so no later step can follow; {fix}",
            **base,
        )
    following = chosen + 1
    if following < len(times) and times[following] > now:
        coming = unsent[following]
        base["journey_step"] = coming.index + 1
        base["template"] = coming.template
        return Decision(
            action=Action.WAIT,
            reason=f"{why}; skipped, step {coming.index + 1} follows at "
            f"{times[following].isoformat()}",
            send_at=times[following],
            **base,
        )
    return Decision(
        action=Action.NONE, reason=f"{why}, and no later step can follow; {fix}", **base
    )


def _demanded(v: Mapping[str, Any]) -> Decimal:
    """What a payment request asks for: the overdue amount; before anything is overdue (a
    nudge), what falls due next, i.e. the open amount."""
    overdue = v["balance.overdue_amount"]
    chosen = overdue if overdue else v["balance.open_amount"]
    return chosen if isinstance(chosen, Decimal) else Decimal(str(chosen))


def preferred_channel(v: Mapping[str, Any]) -> str | None:
    """The customer's preferred channel, or the one `paid_after` shows works better."""
    preferred: str | None = v["customer.preferred_channel"]
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


def _channels(step: Step, v: Mapping[str, Any], notes: list[Note]) -> tuple[str, ...]:
    out: list[str] = []
    dropped: list[str] = []
    for name in step.channels:
        channel = preferred_channel(v) if name == "preferred" else name
        if channel is None or channel in out or channel in dropped:  # "preferred" may repeat one
            continue
        (out if allowed(channel, v) else dropped).append(channel)
    if dropped:
        notes.append(("dropped", step, tuple(dropped)))
    return tuple(out)


# ------------------------------------------------------------------ explanation


def _explain(rules: CompiledRules, v: Mapping[str, Any], notes: list[Note]) -> Iterator[TraceEntry]:
    """The trace rows for the notes taken while deciding."""
    for note in notes:
        kind = note[0]
        if kind == "persona":
            yield from _persona_rows(rules, note[1], v)
        elif kind == "fact":
            _, rule, fact, text = note
            yield TraceEntry(rule=rule, source=None, matched=True, facts={fact: v[fact]}, note=text)
        elif kind == "shift":
            _, fact, days = note
            yield TraceEntry(
                rule="timing",
                source=None,
                matched=True,
                facts={fact: v[fact]},
                note=f"steps moved {days} day(s) later (shift_by, capped at "
                f"{rules.spec.settings.max_shift_days}d)",
            )
        elif kind == "step":
            _, step, at, text = note
            what = step.template if step.action == "send" else step.action
            yield TraceEntry(
                rule=f"steps[{step.index}]",
                source=step.source,
                matched=text.startswith("due"),
                note=f"step {step.index + 1} ({what}, due {step.at_days:+d}d) at {at.isoformat()}: "
                f"{text}",
            )
        elif kind == "dropped":
            _, step, dropped = note
            yield TraceEntry(
                rule=f"steps[{step.index}].channel",
                source=step.source,
                matched=False,
                facts={k: v[k] for k in _CONSENT_FACTS},
                note="not allowed (consent or address): " + ", ".join(dropped),
            )
        elif kind == "experiment":
            arm = note[1]
            yield TraceEntry(
                rule=f"experiments[{arm.experiment.index}]",
                source=arm.experiment.source,
                matched=True,
                facts={"customer.id": v["customer.id"]},
                note=arm.why(rules.experiments.seed),
            )
        elif kind == "window":
            yield TraceEntry(
                rule="channels.send_window",
                source=rules.spec.channels.source,
                matched=False,
                note=f"outside the send window; it opens {note[1].isoformat()}",
            )


@functools.lru_cache(maxsize=4096)  # the same few conditions, in every trace of a plan
def _unwrap(source: str) -> str:
    """`(a or b)` -> `a or b`: the outer parentheses of a whole condition say nothing."""
    if source.startswith("(") and source.endswith(")"):
        depth = 0
        for i, char in enumerate(source):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and i < len(source) - 1:
                return source  # `(a) and (b)`: the first ( closes early
        return source[1:-1]
    return source


#: The persona notes of a classification (`rules.classify` keeps one object per truth vector of
#: the rules' atoms), with the classification itself: its id is not reused while it is here.
_NOTES: dict[int, tuple[Classification, tuple[str, ...]]] = {}
_NOTES_LIMIT = 4096


def _persona_notes(
    rules: CompiledRules, found: Classification, v: Mapping[str, Any]
) -> tuple[str, ...]:
    """Why each persona up to the matched one did or did not match. Which part of a condition
    is false depends only on which atoms hold, and so does the classification: debtors with the
    same classification object share these notes (a plan explains thousands of them)."""
    hit = _NOTES.get(id(found))
    if hit is not None and hit[0] is found:
        return hit[1]
    notes = []
    for persona in rules.spec.personas[: found.persona.index + 1]:
        matched = persona is found.persona
        named = f"persona {persona.id}" + (
            f" ({persona.label})" if persona.label and persona.label != persona.id else ""
        )
        when = _unwrap(ex.source_of(persona.when))
        false = None if matched else _unwrap(ex.false_part(persona.when, v) or when)
        if matched:
            notes.append(f"{named}: matched `{when}`")
        elif false == when:
            notes.append(f"{named}: did not match: `{when}` is false")
        else:
            notes.append(f"{named}: did not match: `{false}` is false in `{when}`")
    if len(_NOTES) >= _NOTES_LIMIT:
        _NOTES.clear()
    _NOTES[id(found)] = (found, tuple(notes))
    return tuple(notes)


def _persona_rows(
    rules: CompiledRules, found: Classification, v: Mapping[str, Any]
) -> Iterator[TraceEntry]:
    notes = _persona_notes(rules, found, v)
    for persona, note in zip(rules.spec.personas[: found.persona.index + 1], notes, strict=True):
        yield TraceEntry(
            rule=f"personas[{persona.index}]",
            source=persona.source,
            matched=persona is found.persona,
            facts={name: v[name] for name in rules.persona_facts[persona.index]},
            note=note,
        )
    journey = found.journey
    if len(rules.spec.journeys[found.persona.id]) > 1:
        yield TraceEntry(
            rule=f"journey for {found.persona.id}",
            source=journey.source,
            matched=True,
            note=f"journey {journey.locale}/{journey.tone} chosen for this debtor",
        )
