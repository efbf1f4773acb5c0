"""The decision core: what a credit manager expects for pauses, skips, windows, holidays and DST."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from engine.decision.decide import decide, preferred_channel
from engine.decision.model import Action, Decision, FactSheet, Money
from engine.rules import expr as ex
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulespec import RuleSource, load_sources, validate_sources
from tests.conftest import ROOT, at

NOW = at("2026-11-23T10:00:00+01:00")  # a Monday


def pack(journey: str, channels: str = "") -> CompiledRules:
    text = (
        "personas:\n  - id: everyone\n    when: always\n"
        "journeys:\n  - persona: everyone\n    locale: nl_NL\n    tone: u\n"
        + journey
        + "payment_options:\n  - method: bank_transfer\n"
        + channels
    )
    return compile_rules(load_sources([RuleSource("t.yaml", text)]))


def big_and_everyone(when: str, label: str | None = None) -> CompiledRules:
    """Two personas, `big` (when `when`) and the catch-all, each with a one-email journey."""
    text = (
        "personas:\n"
        "  - id: big\n" + (f"    label: {label}\n" if label else "") + f"    when: {when}\n"
        "  - id: everyone\n    when: always\n"
        "journeys:\n"
        "  - persona: big\n    locale: nl_NL\n    tone: u\n"
        "    steps:\n      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "  - persona: everyone\n    locale: nl_NL\n    tone: u\n"
        "    steps:\n      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "payment_options:\n  - method: bank_transfer\n"
    )
    return compile_rules(load_sources([RuleSource("t.yaml", text)]))


SIMPLE = pack(
    "    steps:\n"
    "      - {at: due + 1d, channel: email, template: reminder-1}\n"
    "      - {at: due + 7d, channel: [preferred, sms, email], template: reminder-2}\n"
    "      - {at: due + 14d, channel: letter, template: wik-14-day-letter, required: true}\n"
    "      - {at: due + 30d, channel: email, template: final-reminder}\n"
    "      - {at: due + 40d, action: handoff}\n"
)


def debtor(**extra: object) -> FactSheet:
    values: dict[str, object] = dict(
        customer__id="C-9",
        customer__kind="consumer",
        customer__country="NL",
        balance__open_amount="120.00",
        balance__oldest_due_date="2026-11-02",
    )
    values.update(extra)
    return FactSheet.build(None, **values)


def test_nothing_open_means_no_message() -> None:
    """A debtor who paid everything gets nothing."""
    decision = decide(SIMPLE, debtor(balance__open_amount=0), NOW)
    assert decision.action is Action.NONE and "nothing is open" in decision.reason


def test_an_open_dispute_pauses_the_journey() -> None:
    """A disputed claim is not chased."""
    decision = decide(SIMPLE, debtor(behaviour__open_disputes=1), NOW)
    assert decision.action is Action.NONE and "dispute" in decision.reason


def test_a_promise_to_pay_pauses_until_its_date_and_then_the_journey_resumes() -> None:
    """Promised until 30 Nov: nothing before, the journey again after."""
    assert decide(SIMPLE, debtor(journey__promised_until="2026-11-30"), NOW).action is Action.NONE
    later = at("2026-12-01T10:00:00+01:00")
    assert decide(SIMPLE, debtor(journey__promised_until="2026-11-30"), later).action is Action.SEND


def test_the_promise_pause_lasts_through_the_promised_day() -> None:
    """Promised to pay by Monday 23 Nov: no reminder that whole Monday, the journey on Tuesday."""
    sheet = debtor(journey__promised_until="2026-11-23")
    for moment in ("2026-11-23T08:00:00+01:00", NOW.isoformat(), "2026-11-23T23:59:00+01:00"):
        decision = decide(SIMPLE, sheet, at(moment))
        assert decision.action is Action.NONE, moment
        assert decision.reason == "paused: promise to pay until 2026-11-23"
    tuesday = decide(SIMPLE, sheet, at("2026-11-24T10:00:00+01:00"))
    assert tuesday.action is Action.SEND


def test_the_promised_day_is_the_customers_own_calendar_day() -> None:
    """23:30 UTC on the promised day is already the next morning in Tokyo: the pause is over."""
    sheet = debtor(journey__promised_until="2026-11-23", customer__timezone="Asia/Tokyo")
    assert decide(SIMPLE, sheet, at("2026-11-23T14:00:00+00:00")).action is Action.NONE
    assert decide(SIMPLE, sheet, at("2026-11-23T23:30:00+00:00")).action is not Action.NONE


def test_a_required_step_is_never_skipped() -> None:
    """Far overdue after step 2: the 14-day letter (required) comes before the later steps."""
    decision = decide(SIMPLE, debtor(journey__steps_sent=2), at("2026-12-28T10:00:00+01:00"))
    assert (decision.action, decision.template, decision.journey_step) == (
        Action.SEND,
        "wik-14-day-letter",
        3,
    )


def test_the_decision_belongs_to_the_round_the_facts_name() -> None:
    """A second round (a debtor who settled and owes again) is decided from step 1 and the
    decision carries its round, which keys its scheduled steps; the first round is 1."""
    second = decide(SIMPLE, debtor(journey__round=2), at("2026-11-05T10:00:00+01:00"))
    assert (second.journey_round, second.journey_step) == (2, 1)
    assert decide(SIMPLE, debtor(), at("2026-11-05T10:00:00+01:00")).journey_round == 1


def test_facts_that_leave_the_journey_round_unknown_are_decided_as_the_first_round() -> None:
    """A facts file with `journey: {round: null}` (say, an export that lost the column) belongs
    to round 1, as the store's facts do for a debtor without one."""
    decision = decide(SIMPLE, debtor(journey__round=None), at("2026-11-05T10:00:00+01:00"))
    assert (decision.journey_round, decision.journey_step) == (1, 1)


def test_skipped_steps_are_explained_in_the_trace() -> None:
    """After step 1, with steps 2 and 3 due, the required letter is chosen and step 2 skipped."""
    decision = decide(SIMPLE, debtor(journey__steps_sent=1), at("2026-11-17T10:00:00+01:00"))
    assert decision.template == "wik-14-day-letter"
    notes = [t.note for t in decision.trace if t.rule.startswith("steps[")]
    assert any("step 2" in n and "skipped" in n for n in notes)


def test_nothing_due_yet_waits_for_the_next_step() -> None:
    """Before due + 7d, after step 1: wait until step 2's time."""
    decision = decide(SIMPLE, debtor(journey__steps_sent=1), at("2026-11-05T10:00:00+01:00"))
    assert decision.action is Action.WAIT
    assert decision.send_at == at("2026-11-09T08:00:00+01:00")
    assert decision.journey_step == 2


def test_a_finished_journey_does_nothing() -> None:
    """All steps done: no further messages, and the decision says it is at step 5 of 5."""
    decision = decide(SIMPLE, debtor(journey__steps_sent=5), NOW)
    assert (decision.action, decision.reason) == (
        Action.NONE,
        "journey complete: all 5 steps done",
    )
    assert (decision.journey_step, decision.journey_steps, decision.persona) == (5, 5, "everyone")


def test_even_one_euro_open_is_asked_for() -> None:
    """1.00 EUR open is a payment request like any other; 0.00 is nothing."""
    assert decide(SIMPLE, debtor(balance__open_amount="1.00"), NOW).action is Action.SEND
    assert decide(SIMPLE, debtor(balance__open_amount="0.01"), NOW).action is Action.SEND


def test_a_debtor_with_nothing_open_is_still_named_with_the_ruleset_and_trace() -> None:
    """Paid up: the answer carries the customer id, the ruleset version and why."""
    decision = decide(SIMPLE, debtor(balance__open_amount=0), NOW)
    assert (decision.customer_id, decision.ruleset_version) == ("C-9", SIMPLE.version)
    assert decision.persona is None and len(decision.trace) == 1


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (19.99, "EUR", Money(amount=Decimal("19.99"), currency="EUR")),
        ("120.00", None, Money(amount=Decimal("120.00"), currency="EUR")),
        (7, "CHF", Money(amount=Decimal(7), currency="CHF")),
    ],
)
def test_the_amount_due_is_exact_money_in_the_balance_currency_euro_by_default(
    amount: object, currency: str | None, expected: Money
) -> None:
    """A float balance becomes the Decimal it reads as; no currency known means euros."""
    decision = decide(SIMPLE, debtor(balance__open_amount=amount, balance__currency=currency), NOW)
    assert decision.amount_due == expected
    assert decision.amount_due is not None and isinstance(decision.amount_due.amount, Decimal)


def test_without_a_known_time_zone_the_customer_is_taken_to_live_in_amsterdam() -> None:
    """customer.timezone unknown: send times are Amsterdam's 08:00."""
    sheet = debtor(customer__timezone=None, journey__steps_sent=1)
    assert sheet["customer.timezone"] is None
    decision = decide(SIMPLE, sheet, at("2026-11-05T10:00:00+01:00"))
    assert decision.send_at == at("2026-11-09T08:00:00+01:00")
    assert decision.send_at is not None and decision.send_at.utcoffset() == dt.timedelta(hours=1)


def test_a_handoff_step_hands_over() -> None:
    """At due + 40d after four steps: hand over."""
    decision = decide(SIMPLE, debtor(journey__steps_sent=4), at("2026-12-14T10:00:00+01:00"))
    assert decision.action is Action.HANDOFF and decision.journey_step == 5


def test_sms_needs_consent_email_is_allowed_unless_opted_out() -> None:
    """[preferred, sms, email]: no SMS without opt-in; an email opt-out skips to the letter step."""
    sheet = debtor(journey__steps_sent=1, customer__preferred_channel="sms")
    moment = at("2026-11-10T10:00:00+01:00")
    assert decide(SIMPLE, sheet, moment).channel == "email"
    assert decide(SIMPLE, sheet.replace(customer__consent__sms=True), moment).channel == "sms"
    nothing = decide(SIMPLE, sheet.replace(customer__consent__email=False), moment)
    assert nothing.action is Action.WAIT and nothing.journey_step == 3
    assert "none of its channels is usable" in nothing.reason


def test_with_no_usable_channel_a_person_takes_over_only_when_the_rule_says_so() -> None:
    """`if_no_channel: handoff` hands a debtor nobody can reach to a person; without it, no."""
    rules = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: [sms, whatsapp], template: reminder-1,"
        " if_no_channel: handoff}\n"
        "      - {at: due + 30d, channel: email, template: final-reminder}\n"
    )
    decision = decide(rules, debtor(), NOW)
    assert decision.action is Action.HANDOFF and "if_no_channel: handoff" in decision.reason
    plain = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: [sms, whatsapp], template: reminder-1}\n"
        "      - {at: due + 30d, channel: email, template: final-reminder}\n"
    )
    waiting = decide(plain, debtor(), NOW)
    assert waiting.action is Action.WAIT and waiting.journey_step == 2


def test_a_debtor_imported_long_overdue_gets_the_last_reminder_before_any_hand_off() -> None:
    """61 days overdue with nothing sent yet: the final reminder goes out, not the hand-off."""
    rules = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "      - {at: due + 30d, channel: email, template: final-reminder}\n"
        "      - {at: due + 40d, action: handoff}\n"
    )
    decision = decide(rules, debtor(), at("2027-01-04T10:00:00+01:00"))
    assert decision.action is Action.SEND and decision.template == "final-reminder"
    assert any("held back" in t.note for t in decision.trace)
    after = decide(rules, debtor(journey__steps_sent=2), at("2027-01-05T10:00:00+01:00"))
    assert after.action is Action.HANDOFF


def test_a_hand_off_marked_first_contact_may_come_first() -> None:
    """`first_contact: true` is the rule author saying a hand-off may be the first contact."""
    rules = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "      - {at: due + 40d, action: handoff, first_contact: true}\n"
    )
    decision = decide(rules, debtor(), at("2027-01-04T10:00:00+01:00"))
    assert decision.action is Action.HANDOFF


def test_the_trace_names_each_persona_label_and_the_part_of_its_condition_that_was_false() -> None:
    """A persona that did not match shows its label and the failing comparison, in its condition."""
    rules = big_and_everyone(
        'customer.kind == "business" and balance.open_amount >= 10000', label="Grote klant"
    )
    decision = decide(rules, debtor(customer__kind="business"), NOW)
    first = next(t for t in decision.trace if t.rule == "personas[0]")
    assert first.note == (
        "persona big (Grote klant): did not match: `balance.open_amount >= 10000` is false in"
        ' `customer.kind == "business" and balance.open_amount >= 10000`'
    )


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_unknown_consent_for_sms_or_whatsapp_is_not_consent(channel: str) -> None:
    """Consent never recorded (unknown, not refused): no SMS or WhatsApp, email instead."""
    moment = at("2026-11-10T10:00:00+01:00")
    sheet = debtor(
        journey__steps_sent=1,
        customer__preferred_channel=channel,
        **{f"customer__consent__{channel}": None},
    )
    assert sheet[f"customer.consent.{channel}"] is None
    decision = decide(SIMPLE, sheet, moment)
    assert (decision.channel, decision.fallback_channels) == ("email", ())
    assert (
        decide(SIMPLE, sheet.replace(**{f"customer__consent__{channel}": True}), moment).channel
        == channel
    )


def test_unknown_email_consent_is_no_opt_out() -> None:
    """Email needs no opt-in: with consent unknown, the reminder still goes by email."""
    sheet = debtor(journey__steps_sent=1, customer__consent__email=None)
    decision = decide(SIMPLE, sheet, at("2026-11-10T10:00:00+01:00"))
    assert (decision.action, decision.channel) == (Action.SEND, "email")


def test_preferred_follows_the_channel_the_customer_actually_pays_after() -> None:
    """Prefers email, but pays after SMS far more often (and consented): SMS is 'preferred'."""
    sheet = debtor(
        journey__steps_sent=1,
        customer__preferred_channel="email",
        customer__consent__sms=True,
        behaviour__paid_after__email=0.1,
        behaviour__paid_after__sms=0.7,
    )
    decision = decide(SIMPLE, sheet, at("2026-11-10T10:00:00+01:00"))
    assert (decision.channel, decision.fallback_channels) == ("sms", ("email",))


@pytest.mark.parametrize(
    ("preferred", "paid_after", "expected"),
    [
        ("sms", {"email": 0.5, "sms": 0.5}, "sms"),  # a tie: the customer's own choice stands
        ("email", {"email": 0.5, "sms": 0.5}, "email"),
        ("letter", {"email": 0.4, "letter": 0.6}, "letter"),  # own channel pays best
        ("letter", {"email": 0.7, "letter": 0.6}, "email"),
        (None, {"sms": 0.3, "letter": 0.2}, "sms"),  # no preference: the best payer's channel
        ("letter", {}, "letter"),  # nothing known: the stated preference
        (None, {}, None),
    ],
)
def test_the_preferred_channel_changes_only_for_one_the_customer_pays_after_more_often(
    preferred: str | None, paid_after: dict[str, float], expected: str | None
) -> None:
    """'preferred' is the stated channel unless another has a strictly better paid-after rate."""
    sheet = debtor(
        customer__preferred_channel=preferred,
        **{f"behaviour__paid_after__{channel}": rate for channel, rate in paid_after.items()},
    )
    assert preferred_channel(sheet.values) == expected


def test_a_channel_the_customer_cannot_receive_is_dropped() -> None:
    """No mobile number on file: no SMS even with consent."""
    sheet = debtor(
        journey__steps_sent=1,
        customer__preferred_channel="sms",
        customer__consent__sms=True,
        customer__reachable_by=["email", "letter"],
    )
    assert decide(SIMPLE, sheet, at("2026-11-10T10:00:00+01:00")).channel == "email"


def test_the_weekly_limit_postpones_a_due_message() -> None:
    """Three messages in the last 7 days: wait, even though a step is due."""
    sheet = debtor(journey__steps_sent=1, journey__messages_last_7_days=3)
    decision = decide(SIMPLE, sheet, at("2026-11-10T10:00:00+01:00"))
    assert decision.action is Action.WAIT and "weekly" in decision.reason
    assert decision.send_at == at("2026-11-11T10:00:00+01:00")


def test_a_weekly_limit_wait_skips_public_holidays_and_says_why() -> None:
    """Limit reached on Christmas Eve: not on Christmas or Boxing Day, but Monday 28 Dec."""
    sheet = debtor(journey__steps_sent=1, journey__messages_last_7_days=3)
    decision = decide(SIMPLE, sheet, at("2026-12-24T10:00:00+01:00"))
    assert (decision.action, decision.reason) == (Action.WAIT, "weekly message limit (3) reached")
    assert decision.send_at == at("2026-12-28T08:00:00+01:00")
    assert decision.trace[-1].to_json() == {
        "rule": "channels.limits",
        "source": None,
        "matched": True,
        "facts": {"journey.messages_last_7_days": 3},
        "note": "weekly limit of 3 messages reached",
    }


def test_an_unknown_message_count_does_not_use_up_a_limit_of_one() -> None:
    """At most one message a week, and no count known: the due reminder goes out."""
    rules = pack(
        "    steps:\n      - {at: due + 1d, channel: email, template: reminder-1}\n",
        "channels:\n  limits: {per_customer_per_week: 1}\n",
    )
    sheet = debtor(journey__messages_last_7_days=None)
    assert decide(rules, sheet, NOW).action is Action.SEND
    assert decide(rules, sheet.replace(journey__messages_last_7_days=1), NOW).action is Action.WAIT


def test_outside_the_window_waits_for_the_next_opening_in_the_customers_zone() -> None:
    """21:30 in Berlin is too late; the next opening is 08:00 Berlin time the next day."""
    sheet = debtor(customer__timezone="Europe/Berlin", customer__country="DE")
    decision = decide(SIMPLE, sheet, at("2026-11-04T21:30:00+01:00"))
    assert decision.action is Action.WAIT
    assert decision.send_at == at("2026-11-05T08:00:00+01:00")


def test_a_public_holiday_moves_the_step_to_the_next_working_day() -> None:
    """Due + 1d on Christmas (NL: 25 and 26 Dec, then Sunday) goes out on Monday 28 Dec."""
    sheet = debtor(balance__oldest_due_date="2026-12-24")
    decision = decide(SIMPLE, sheet, at("2026-12-20T10:00:00+01:00"))
    assert decision.send_at == at("2026-12-28T08:00:00+01:00")


def test_holidays_are_the_customers_own_country() -> None:
    """3 Oct is German Unity Day: a German debtor waits, a Dutch one does not."""
    german = debtor(
        balance__oldest_due_date="2026-10-02",
        customer__country="DE",
        customer__timezone="Europe/Berlin",
    )
    dutch = debtor(balance__oldest_due_date="2026-10-02")
    before = at("2026-09-30T10:00:00+02:00")
    assert decide(SIMPLE, german, before).send_at == at("2026-10-05T08:00:00+02:00")
    assert decide(SIMPLE, dutch, before).send_at == at("2026-10-03T08:00:00+02:00")


def test_typical_pay_hour_sends_an_hour_before_the_customer_usually_pays() -> None:
    """Pays around 14:00: the reminder goes out at 13:00 local time."""
    rules = pack(
        "    steps:\n      - {at: due + 1d, channel: email, template: reminder-1}\n",
        "channels:\n  prefer_typical_pay_hour: true\n",
    )
    sheet = debtor(behaviour__typical_pay_hour=14)
    assert decide(rules, sheet, at("2026-11-01T10:00:00+01:00")).send_at == at(
        "2026-11-03T13:00:00+01:00"
    )


def test_without_prefer_typical_pay_hour_the_window_start_is_used() -> None:
    """The same customer, with the rule pack not asking for it: 08:00, the window's start."""
    sheet = debtor(behaviour__typical_pay_hour=14)
    decision = decide(SIMPLE, sheet, at("2026-11-01T10:00:00+01:00"))
    assert (decision.action, decision.send_at) == (Action.WAIT, at("2026-11-03T08:00:00+01:00"))


def test_a_step_goes_out_at_the_very_minute_it_is_due() -> None:
    """Step 2 is due 08:00 on 9 Nov: at 08:00 it is sent, a minute earlier it waits."""
    sheet = debtor(journey__steps_sent=1)
    on_time = decide(SIMPLE, sheet, at("2026-11-09T08:00:00+01:00"))
    assert (on_time.action, on_time.journey_step, on_time.reason) == (
        Action.SEND,
        2,
        "step 2 is due",
    )
    assert on_time.send_at == at("2026-11-09T08:00:00+01:00")
    early = decide(SIMPLE, sheet, at("2026-11-09T07:59:00+01:00"))
    assert (early.action, early.journey_step, early.template) == (Action.WAIT, 2, "reminder-2")
    assert early.send_at == at("2026-11-09T08:00:00+01:00")
    assert early.reason == "step 2 is due at 2026-11-09T08:00:00+01:00"


DST_RULES = pack(
    "    steps:\n      - {at: due, channel: email, template: reminder-1}\n",
    'channels:\n  send_window: {days: mon-sun, hours: "02:30-20:00"}\n',
)


def test_a_send_time_in_the_spring_forward_gap_moves_forward_not_away() -> None:
    """29 Mar 2026, 02:30 does not exist in Amsterdam: the step goes at 03:30 CEST that day."""
    decision = decide(
        DST_RULES, debtor(balance__oldest_due_date="2026-03-29"), at("2026-03-28T12:00:00+01:00")
    )
    assert decision.send_at == at("2026-03-29T03:30:00+02:00")


def test_a_send_time_in_the_autumn_overlap_is_sent_once_at_the_first_one() -> None:
    """25 Oct 2026, 02:30 happens twice: the step takes the first (CEST) one."""
    decision = decide(
        DST_RULES, debtor(balance__oldest_due_date="2026-10-25"), at("2026-10-24T12:00:00+02:00")
    )
    assert decision.send_at == at("2026-10-25T02:30:00+02:00")
    after = decide(
        DST_RULES, debtor(balance__oldest_due_date="2026-10-25"), at("2026-10-25T02:45:00+01:00")
    )
    assert after.action is Action.SEND


def test_decide_refuses_a_naive_now() -> None:
    """Time zones are never guessed."""
    with pytest.raises(ValueError) as error:
        decide(SIMPLE, debtor(), dt.datetime(2026, 11, 23, 10))
    assert str(error.value) == "decide() needs a timezone-aware `now`"


def test_every_decision_names_the_ruleset_version_and_persona_source() -> None:
    """The trace says which rule matched (file:line) and the ruleset hash."""
    decision = decide(SIMPLE, debtor(), NOW)
    assert decision.ruleset_version.startswith("sha256:")
    assert str(decision.persona_source) == "t.yaml:2"
    assert decision.trace[0].rule == "personas[0]" and decision.trace[0].matched


def test_default_pack_explains_why_earlier_personas_did_not_match(
    default_rules: CompiledRules,
) -> None:
    """A German consumer: every earlier persona is listed as not matched with its fact values."""
    sheet = FactSheet.build(
        None,
        customer__kind="consumer",
        customer__country="DE",
        customer__timezone="Europe/Berlin",
        balance__open_amount=80,
        balance__oldest_due_date="2026-11-10",
        behaviour__on_time_ratio=0.5,
        behaviour__avg_days_late=8,
    )
    decision = decide(default_rules, sheet, NOW)
    assert (
        decision.persona == "consumer-de" and decision.tone == "Sie" and decision.locale == "de_DE"
    )
    persona_lines = [t for t in decision.trace if t.rule.startswith("personas[")]
    assert [t.matched for t in persona_lines] == [False] * (len(persona_lines) - 1) + [True]
    assert persona_lines[2].facts == {"behaviour.on_time_ratio": 0.5, "behaviour.avg_days_late": 8}


def test_a_handoff_goes_to_a_person_at_once_with_its_step_number() -> None:
    """At due + 40d after four steps: handed over now, "step 5: hand over"."""
    moment = at("2026-12-14T10:00:00+01:00")
    decision = decide(SIMPLE, debtor(journey__steps_sent=4), moment)
    assert (decision.action, decision.reason, decision.send_at) == (
        Action.HANDOFF,
        "step 5: hand over",
        moment,
    )
    assert (decision.journey_step, decision.channel, decision.fallback_channels) == (5, None, ())


def test_with_no_channel_left_the_step_is_skipped_and_the_next_one_waits() -> None:
    """Step 2 by preferred, SMS or email; no SMS opt-in and email opted out: by default
    (`if_no_channel: skip`) step 2 is skipped and step 3 is awaited, with the fix in the reason."""
    moment = at("2026-11-10T10:00:00+01:00")
    decision = decide(SIMPLE, debtor(customer__consent__email=False), moment)
    assert decision.action is Action.WAIT and decision.send_at is not None
    assert decision.send_at > moment
    assert decision.reason.startswith(
        "step 2: none of its channels is usable (consent or address missing); skipped, step 3"
    )
    assert (decision.journey_step, decision.channel) == (3, None)


def test_the_first_matching_journey_of_a_persona_wins(default_rules: CompiledRules) -> None:
    """A German controller matches both controller journeys: the first, de_DE/Sie, is chosen."""
    data = json.loads((ROOT / "examples/facts/controller-de.json").read_text(encoding="utf-8"))
    decision = decide(default_rules, FactSheet.from_nested(data), NOW)
    assert decision.persona == "controller-large-account"
    assert (decision.locale, decision.tone, decision.template) == (
        "de_DE",
        "Sie",
        "zahlungserinnerung",
    )
    assert decision.payment_options == ("sepa_direct_debit", "bank_transfer")
    rows = [t.to_json() for t in decision.trace][:3]
    assert [(r["rule"], r["matched"], r["note"]) for r in rows] == [
        (
            "personas[0]",
            False,
            "persona chronic-late-high-risk (Chronisch te laat of hoog risico / chronisch säumig"
            " oder hohes Risiko): did not match: `behaviour.broken_promises >= 2 or"
            " (behaviour.avg_days_late >= 20 and behaviour.on_time_ratio < 0.3) or"
            " customer.credit_score < 30` is false",
        ),
        (
            "personas[1]",
            True,
            "persona controller-large-account (Controller van een groot account (beslist zelf"
            ' over betalingen)): matched `customer.kind == "business" and customer.payer_role =='
            ' "controller" and balance.open_amount >= 10000`',
        ),
        ("journey for controller-large-account", True, "journey de_DE/Sie chosen for this debtor"),
    ]
    assert [r["source"].rsplit("/", 1)[-1] for r in rows] == [
        "personas.yaml:5",
        "personas.yaml:12",
        "journeys.yaml:39",
    ]
    assert rows[0]["facts"] == {
        "behaviour.broken_promises": 0,
        "behaviour.avg_days_late": 2,
        "behaviour.on_time_ratio": 0.7,
        "customer.credit_score": None,
    }
    dutch = FactSheet.from_nested(data).replace(customer__country="NL")
    assert (decide(default_rules, dutch, NOW).locale, decide(default_rules, dutch, NOW).tone) == (
        "nl_NL",
        "u",
    )


def test_when_two_journeys_match_the_one_written_first_is_chosen() -> None:
    """A consumer matches both journeys of a persona: the one written first wins, and the trace says so."""
    rules = compile_rules(
        load_sources(
            [
                RuleSource(
                    "t.yaml",
                    "personas:\n  - id: everyone\n    when: always\n"
                    "journeys:\n"
                    '  - persona: everyone\n    when: customer.kind == "consumer"\n'
                    "    locale: de_DE\n    tone: du\n"
                    "    steps:\n      - {at: due + 1d, channel: email, template: erinnerung}\n"
                    "  - persona: everyone\n    locale: nl_NL\n    tone: jij\n"
                    "    steps:\n      - {at: due + 1d, channel: email, template: herinnering}\n"
                    "payment_options:\n  - method: bank_transfer\n",
                )
            ]
        )
    )
    decision = decide(rules, debtor(), NOW)
    assert (decision.locale, decision.tone, decision.template) == ("de_DE", "du", "erinnerung")
    assert any(t.note == "journey de_DE/du chosen for this debtor" for t in decision.trace)
    business = decide(rules, debtor(customer__kind="business"), NOW)
    assert (business.locale, business.template) == ("nl_NL", "herinnering")


def test_a_handoff_with_a_notice_tells_the_debtor_on_the_first_allowed_channel() -> None:
    """`action: handoff` with a template: the debtor gets the handoff notice (email, else letter)."""
    rules = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "      - {at: due + 30d, action: handoff, channel: [email, letter], template: handoff-notice}\n"
    )
    sheet = debtor(journey__steps_sent=1, customer__consent__email=False)
    decision = decide(rules, sheet, at("2026-12-10T10:00:00+01:00"))
    assert (decision.action, decision.template, decision.channel) == (
        Action.HANDOFF,
        "handoff-notice",
        "letter",
    )
    told = decide(
        rules, sheet.replace(customer__consent__email=True), at("2026-12-10T10:00:00+01:00")
    )
    assert (told.channel, told.fallback_channels) == ("email", ("letter",))
    silent = decide(SIMPLE, debtor(journey__steps_sent=4), at("2026-12-14T10:00:00+01:00"))
    assert silent.action is Action.HANDOFF and silent.channel is None


def test_a_waiting_debtor_is_told_which_channel_and_template_come_next() -> None:
    """Step 2 days away: `wait` names its channel (preferred -> sms with opt-in), fallbacks and
    template, as they stand on today's facts."""
    decision = decide(
        SIMPLE,
        debtor(
            journey__steps_sent=1,
            customer__preferred_channel="sms",
            customer__consent__sms=True,
        ),
        at("2026-11-05T10:00:00+01:00"),
    )
    assert decision.action is Action.WAIT
    assert (decision.channel, decision.fallback_channels, decision.template) == (
        "sms",
        ("email",),
        "reminder-2",
    )


def test_a_waiting_step_drops_channels_without_consent_and_says_so() -> None:
    """Without SMS opt-in the waiting step falls to email, and the trace shows sms dropped."""
    decision = decide(
        SIMPLE,
        debtor(journey__steps_sent=1, customer__preferred_channel="sms"),
        at("2026-11-05T10:00:00+01:00"),
    )
    assert (decision.action, decision.channel, decision.fallback_channels) == (
        Action.WAIT,
        "email",
        (),
    )
    assert any(t.rule == "steps[1].channel" and not t.matched for t in decision.trace)


def test_only_a_none_decision_has_no_channel() -> None:
    """Paid: `none` and no channel; waiting outside the window: still the step's channel."""
    assert decide(SIMPLE, debtor(balance__open_amount=0), NOW).channel is None
    sunday = at("2026-11-22T10:00:00+01:00")
    waiting = decide(SIMPLE, debtor(), sunday)
    assert waiting.action is Action.WAIT and waiting.channel is not None


SHIFTED = pack(
    "    shift_by: behaviour.avg_days_late\n"
    "    steps:\n"
    "      - {at: due - 2d, channel: email, template: nudge}\n"
    "      - {at: due + 3d, channel: email, template: reminder-1}\n"
    "      - {at: due + 10d, channel: email, template: reminder-2}\n"
)


def test_a_usually_late_debtor_gets_the_nudge_before_the_due_date_not_after() -> None:
    """avg 8 days late, due 25 November: the nudge still goes out on 23 November (due - 2d);
    only the reminders after the due date move 8 days later."""
    sheet = debtor(behaviour__avg_days_late=8, balance__oldest_due_date="2026-11-25")
    decision = decide(SHIFTED, sheet, NOW)
    assert (decision.action, decision.template) == (Action.SEND, "nudge")
    after_nudge = debtor(
        behaviour__avg_days_late=8, balance__oldest_due_date="2026-11-25", journey__steps_sent=1
    )
    waiting = decide(SHIFTED, after_nudge, NOW)
    assert waiting.template == "reminder-1"
    assert waiting.send_at is not None and waiting.send_at.date() == dt.date(2026, 12, 7)


def test_a_nudge_whose_due_date_has_passed_is_skipped_as_stale_never_sent() -> None:
    """A debtor arriving after the due date never gets "your invoice falls due on ...":
    the nudge is skipped and the first reminder is next."""
    sheet = debtor(balance__oldest_due_date="2026-11-22")
    decision = decide(SHIFTED, sheet, NOW)
    assert (decision.action, decision.template) == (Action.WAIT, "reminder-1")
    notes = [entry.note for entry in decision.trace]
    assert any("nudge" in n and "skipped: stale" in n for n in notes)
    on_due_day = decide(SHIFTED, debtor(balance__oldest_due_date="2026-11-23"), NOW)
    assert on_due_day.template == "reminder-1" and on_due_day.action is Action.WAIT


def test_a_nudge_whose_send_day_falls_on_the_due_date_is_stale() -> None:
    """Due Monday 30 November, nudge at due - 2d = Saturday; the window has weekdays only, so
    the next send day would be the due date itself: the nudge is skipped."""
    weekdays = "channels:\n  send_window: {days: mon-fri, hours: '09:00-17:00'}\n"
    rules = pack(
        "    steps:\n"
        "      - {at: due - 2d, channel: email, template: nudge}\n"
        "      - {at: due + 3d, channel: email, template: reminder-1}\n",
        weekdays,
    )
    decision = decide(rules, debtor(balance__oldest_due_date="2026-11-30"), NOW)
    assert (decision.action, decision.template) == (Action.WAIT, "reminder-1")


def test_a_handoff_notice_due_on_a_sunday_evening_waits_for_the_send_window() -> None:
    """The handoff notice is a message: at 22:30 on a Sunday it is planned for Monday 09:00
    in the debtor's zone, never "now"."""
    rules = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "      - {at: due + 30d, action: handoff, channel: [email, letter], template: handoff-notice}\n",
        "channels:\n  send_window: {days: mon-fri, hours: '09:00-17:00'}\n",
    )
    sunday_night = at("2026-12-06T22:30:00+01:00")
    decision = decide(rules, debtor(journey__steps_sent=1), sunday_night)
    assert decision.action is Action.HANDOFF and decision.template == "handoff-notice"
    assert decision.send_at == at("2026-12-07T09:00:00+01:00")


def test_the_amount_demanded_is_the_overdue_amount_not_what_falls_due_later() -> None:
    """688.95 open of which 39.95 overdue: the decision asks for 39.95."""
    sheet = debtor(balance__open_amount="688.95", balance__overdue_amount="39.95")
    decision = decide(SIMPLE, sheet, NOW)
    assert decision.amount_due is not None and str(decision.amount_due.amount) == "39.95"


# ------------------------------------------------------------------ what the trace tells


@pytest.mark.parametrize(
    ("facts", "reason", "entry"),
    [
        (
            {"balance__open_amount": 0},
            "nothing is open: no payment request needed",
            ("balance", {"balance.open_amount": 0}, "no open balance"),
        ),
        (
            {"behaviour__open_disputes": 2},
            "paused: the debtor disputes the claim",
            ("pause", {"behaviour.open_disputes": 2}, "paused: open dispute"),
        ),
        (
            {"journey__promised_until": "2026-11-30"},
            "paused: promise to pay until 2026-11-30",
            ("pause", {"journey.promised_until": "2026-11-30"}, "paused: promise to pay"),
        ),
        (
            {"balance__oldest_due_date": None},
            "no open invoice with a due date",
            ("timing", {"balance.oldest_due_date": None}, "no due date known"),
        ),
    ],
    ids=["nothing-open", "dispute", "promise", "no-due-date"],
)
def test_a_decision_to_do_nothing_names_the_fact_that_caused_it(
    facts: dict[str, object], reason: str, entry: tuple[str, dict[str, object], str]
) -> None:
    """Paid, disputed, promised or without a due date: the last trace line shows that fact."""
    decision = decide(SIMPLE, debtor(**facts), NOW)
    assert (decision.action, decision.reason) == (Action.NONE, reason)
    assert decision.customer_id == "C-9" and decision.ruleset_version == SIMPLE.version
    if "balance__open_amount" not in facts:  # the debtor's persona and journey are still known
        assert (decision.persona, decision.locale, decision.tone) == ("everyone", "nl_NL", "u")
        assert decision.journey_steps == 5 and decision.send_at is None
    rule, shown, note = entry
    assert decision.trace[-1].to_json() == {
        "rule": rule,
        "source": None,
        "matched": True,
        "facts": shown,
        "note": note,
    }


def test_a_due_step_before_the_window_opens_explains_skip_choice_and_opening() -> None:
    """06:00 on 17 Nov: step 2 skipped, the required letter chosen, wait for the 08:00 opening."""
    decision = decide(SIMPLE, debtor(journey__steps_sent=1), at("2026-11-17T06:00:00+01:00"))
    assert (decision.action, decision.reason) == (Action.WAIT, "due, but outside the send window")
    assert [t.to_json() for t in decision.trace] == [
        {
            "rule": "personas[0]",
            "source": "t.yaml:2",
            "matched": True,
            "facts": {},
            "note": "persona everyone: matched `always`",
        },
        {
            "rule": "steps[1]",
            "source": "t.yaml:10",
            "matched": False,
            "facts": {},
            "note": "step 2 (reminder-2, due +7d) at 2026-11-09T08:00:00+01:00: "
            "skipped: a later step is due as well",
        },
        {
            "rule": "steps[2]",
            "source": "t.yaml:11",
            "matched": True,
            "facts": {},
            "note": "step 3 (wik-14-day-letter, due +14d) at 2026-11-16T08:00:00+01:00: "
            "due (required: never skipped)",
        },
        {
            "rule": "channels.send_window",
            "source": None,
            "matched": False,
            "facts": {},
            "note": "outside the send window; it opens 2026-11-17T08:00:00+01:00",
        },
    ]


def test_a_step_not_yet_due_and_a_handoff_are_explained_as_such() -> None:
    """Waiting shows the step's time, unmatched; a handoff step is named by its action."""
    waiting = decide(SIMPLE, debtor(journey__steps_sent=1), at("2026-11-05T10:00:00+01:00"))
    assert waiting.reason == "step 2 is due at 2026-11-09T08:00:00+01:00"
    # the step's line, then (the waiting step names its channels) sms dropped for consent
    assert waiting.trace[-2].to_json() == {
        "rule": "steps[1]",
        "source": "t.yaml:10",
        "matched": False,
        "facts": {},
        "note": "step 2 (reminder-2, due +7d) at 2026-11-09T08:00:00+01:00: next step, not yet due",
    }
    assert waiting.trace[-1].note == "not allowed (consent or address): sms"
    handoff = decide(SIMPLE, debtor(journey__steps_sent=4), at("2026-12-14T10:00:00+01:00"))
    assert handoff.reason == "step 5: hand over"
    assert handoff.trace[-1].note == "step 5 (handoff, due +40d) at 2026-12-12T08:00:00+01:00: due"
    assert handoff.trace[-1].matched


def test_a_channel_dropped_for_consent_is_explained_with_the_consent_facts() -> None:
    """Prefers SMS without opt-in: the trace says SMS was not allowed and shows the consents."""
    sheet = debtor(journey__steps_sent=1, customer__preferred_channel="sms")
    decision = decide(SIMPLE, sheet, at("2026-11-10T10:00:00+01:00"))
    assert (decision.action, decision.reason, decision.channel) == (
        Action.SEND,
        "step 2 is due",
        "email",
    )
    dropped = [t.to_json() for t in decision.trace if t.rule == "steps[1].channel"]
    assert dropped == [
        {
            "rule": "steps[1].channel",
            "source": "t.yaml:10",
            "matched": False,
            "facts": {
                "customer.consent.email": True,
                "customer.consent.sms": False,
                "customer.consent.whatsapp": False,
                "customer.reachable_by": ["email", "sms", "whatsapp", "letter", "phone"],
            },
            "note": "not allowed (consent or address): sms",
        }
    ]


def test_a_shift_by_lateness_is_explained_with_its_cap() -> None:
    """Usually 4.6 days late: steps move 4 days, and the trace says so with the 10-day cap."""
    rules = pack(
        "    shift_by: behaviour.avg_days_late\n"
        "    steps:\n"
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
    )
    decision = decide(rules, debtor(behaviour__avg_days_late=4.6), NOW)
    shift = [t.to_json() for t in decision.trace if t.rule == "timing"]
    assert shift == [
        {
            "rule": "timing",
            "source": None,
            "matched": True,
            "facts": {"behaviour.avg_days_late": 4.6},
            "note": "steps moved 4 day(s) later (shift_by, capped at 10d)",
        }
    ]
    on_time = decide(rules, debtor(behaviour__avg_days_late=0), NOW)
    assert not [t for t in on_time.trace if t.rule == "timing"]


def test_a_due_reminder_waits_out_a_public_holiday() -> None:
    """Christmas Day at 10:00, in window hours: the due step waits for Monday 28 Dec."""
    sheet = debtor(balance__oldest_due_date="2026-12-20")  # step 1 due on 21 Dec
    decision = decide(SIMPLE, sheet, at("2026-12-25T10:00:00+01:00"))
    assert (decision.action, decision.send_at) == (Action.WAIT, at("2026-12-28T08:00:00+01:00"))


def test_a_send_time_carries_the_customers_own_offset() -> None:
    """Sent at 09:00 UTC to a Berlin customer: the send time reads 10:00+01:00."""
    sheet = debtor(customer__timezone="Europe/Berlin", customer__country="DE")
    decision = decide(SIMPLE, sheet, at("2026-11-23T09:00:00+00:00"))
    assert decision.action is Action.SEND
    assert decision.send_at is not None
    assert decision.send_at.isoformat() == "2026-11-23T10:00:00+01:00"


def test_every_channel_not_allowed_is_named_in_one_trace_line() -> None:
    """Prefers WhatsApp, no opt-ins: 'whatsapp, sms' were not allowed, email is used."""
    sheet = debtor(journey__steps_sent=1, customer__preferred_channel="whatsapp")
    decision = decide(SIMPLE, sheet, at("2026-11-10T10:00:00+01:00"))
    assert decision.channel == "email"
    (line,) = [t for t in decision.trace if t.rule == "steps[1].channel"]
    assert line.note == "not allowed (consent or address): whatsapp, sms"


def test_the_send_window_line_of_the_trace_points_at_the_channels_file() -> None:
    """Outside the window of a pack with a channels section: the trace names that file and line."""
    decision = decide(DST_RULES, debtor(), at("2026-11-02T22:00:00+01:00"))
    assert decision.action is Action.WAIT
    assert str(decision.trace[-1].source) == "t.yaml:13"
    assert decision.trace[-1].rule == "channels.send_window"


# Pinned where mutation testing found the core loosely checked (issue 18): whole reasons, next
# steps and trace lines for unreachable debtors, stale nudges, held-back hand-offs, experiments,
# and debtors whose own calendar day is not the server's.

PERSONA_ROW = {
    "rule": "personas[0]",
    "source": "t.yaml:2",
    "matched": True,
    "facts": {},
    "note": "persona everyone: matched `always`",
}
UNUSABLE = "none of its channels is usable (consent or address missing)"


def trace(decision: Decision) -> list[dict[str, Any]]:
    return [entry.to_json() for entry in decision.trace]


def test_an_unreachable_step_is_skipped_and_the_next_step_is_awaited_with_its_letter() -> None:
    """Step 2 (preferred, SMS, email) with email opted out and no SMS opt-in: step 2 is skipped,
    and the debtor waits for step 3, the WIK letter, at its own time and with its template."""
    moment = at("2026-11-10T10:00:00+01:00")
    decision = decide(SIMPLE, debtor(customer__consent__email=False), moment)
    assert (
        decision.action,
        decision.reason,
        decision.send_at,
        decision.journey_step,
        decision.template,
        decision.channel,
    ) == (
        Action.WAIT,
        f"step 2: {UNUSABLE}; skipped, step 3 follows at 2026-11-16T08:00:00+01:00",
        at("2026-11-16T08:00:00+01:00"),
        3,
        "wik-14-day-letter",
        None,
    )


def test_an_unreachable_last_step_says_no_step_can_follow_and_how_to_fix_the_rules() -> None:
    """The last step lists only SMS and WhatsApp, without consent for either: nothing is sent,
    and the reason names the step and the two fixes (list `letter`, or `if_no_channel`)."""
    rules = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "      - {at: due + 7d, channel: [sms, whatsapp], template: reminder-2}\n"
    )
    decision = decide(rules, debtor(journey__steps_sent=1), NOW)
    assert (decision.action, decision.reason) == (
        Action.NONE,
        f"step 2: {UNUSABLE}, and no later step can follow; list `letter` (it needs no consent)"
        " or set `if_no_channel: handoff`",
    )
    assert (decision.customer_id, decision.persona, decision.journey_step, decision.send_at) == (
        "C-9",
        "everyone",
        2,
        None,
    )
    assert decision.trace[-1].note == "not allowed (consent or address): sms, whatsapp"


@pytest.mark.parametrize(
    "moment",
    [
        "2026-11-20T10:00:00+01:00",  # between the letter and the final reminder
        "2026-12-02T07:59:00+01:00",  # a minute before the final reminder is due
        "2026-12-02T08:00:00+01:00",  # the minute it is due
    ],
)
def test_a_required_letter_nobody_can_receive_stops_the_journey_and_says_how_to_fix_it(
    moment: str,
) -> None:
    """The statutory letter (step 3, required) for a debtor with no postal address: it is never
    skipped, so the final reminder never goes out before it; the debtor is never told to wait for
    a step that cannot follow, and the reason names the two fixes."""
    sheet = debtor(journey__steps_sent=2, customer__reachable_by=["email"])
    decision = decide(SIMPLE, sheet, at(moment))
    assert (
        decision.action,
        decision.reason,
        decision.journey_step,
        decision.template,
        decision.send_at,
    ) == (
        Action.NONE,
        f"step 3: {UNUSABLE}; it is required, so no later step can follow; list `letter` (it"
        " needs no consent) or set `if_no_channel: handoff`",
        3,
        "wik-14-day-letter",
        None,
    )


def test_a_debtor_whose_every_remaining_step_was_a_stale_nudge_gets_nothing() -> None:
    """Two nudges before a due date that has passed: neither is sent, the decision says no step is
    left, the journey counts as done, and the trace shows each nudge skipped as stale."""
    rules = pack(
        "    steps:\n"
        "      - {at: due - 5d, channel: email, template: nudge}\n"
        "      - {at: due - 2d, channel: email, template: nudge}\n"
    )
    decision = decide(rules, debtor(balance__oldest_due_date="2026-11-22"), NOW)
    assert (decision.action, decision.reason, decision.journey_step, decision.send_at) == (
        Action.NONE,
        "no step left to send: the remaining steps were before the due date",
        2,
        None,
    )
    assert (decision.customer_id, decision.persona, decision.tone) == ("C-9", "everyone", "u")
    assert trace(decision) == [
        PERSONA_ROW,
        {
            "rule": "steps[0]",
            "source": "t.yaml:9",
            "matched": False,
            "facts": {},
            "note": "step 1 (nudge, due -5d) at 2026-11-17T08:00:00+01:00: "
            "skipped: stale, its due date has come",
        },
        {
            "rule": "steps[1]",
            "source": "t.yaml:10",
            "matched": False,
            "facts": {},
            "note": "step 2 (nudge, due -2d) at 2026-11-20T08:00:00+01:00: "
            "skipped: stale, its due date has come",
        },
    ]


NUDGE_FIRST = (
    "    steps:\n"
    "      - {at: due - 2d, channel: email, template: nudge}\n"
    "      - {at: due + 3d, channel: email, template: reminder-1}\n"
)


def test_the_due_date_has_come_on_the_debtors_own_calendar_not_the_servers() -> None:
    """Due 24 November, for a debtor in Auckland: at 12:00 UTC on the 23rd it is already the 24th
    there, so the nudge is stale and the first reminder is next."""
    sheet = debtor(customer__timezone="Pacific/Auckland", balance__oldest_due_date="2026-11-24")
    decision = decide(pack(NUDGE_FIRST), sheet, at("2026-11-23T12:00:00+00:00"))
    assert (decision.action, decision.template, decision.journey_step) == (
        Action.WAIT,
        "reminder-1",
        2,
    )


def test_a_nudge_on_the_due_day_in_the_debtors_own_zone_is_stale() -> None:
    """Due Monday 30 November, weekdays-only window, debtor in Auckland: the nudge (due - 2d, a
    Saturday) could only go out Monday 08:00 there, on the due date (Sunday evening UTC): stale."""
    rules = pack(NUDGE_FIRST, "channels:\n  send_window: {days: mon-fri, hours: '08:00-17:00'}\n")
    sheet = debtor(customer__timezone="Pacific/Auckland", balance__oldest_due_date="2026-11-30")
    decision = decide(rules, sheet, at("2026-11-23T10:00:00+13:00"))
    assert (decision.action, decision.template, decision.journey_step) == (
        Action.WAIT,
        "reminder-1",
        2,
    )


def test_a_waiting_reminder_names_how_long_before_its_fallback_channel_is_tried() -> None:
    """Step 2 goes by SMS, then email after 2 days: the waiting decision already says so."""
    rules = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "      - {at: due + 30d, channel: [sms, email], template: final-reminder,"
        " fallback_after: 2d}\n"
    )
    decision = decide(rules, debtor(journey__steps_sent=1, customer__consent__sms=True), NOW)
    assert (
        decision.action,
        decision.channel,
        decision.fallback_channels,
        decision.fallback_after,
    ) == (Action.WAIT, "sms", ("email",), dt.timedelta(days=2))


HANDOFF_LAST = pack(
    "    steps:\n"
    "      - {at: due + 1d, channel: email, template: reminder-1}\n"
    "      - {at: due + 30d, channel: email, template: final-reminder}\n"
    "      - {at: due + 40d, action: handoff}\n"
)


def test_a_held_back_hand_off_is_explained_in_the_trace() -> None:
    """Imported 63 days overdue with nothing sent: the trace says why the hand-off waits and
    that the final reminder goes out instead."""
    decision = decide(HANDOFF_LAST, debtor(), at("2027-01-04T10:00:00+01:00"))
    assert (decision.action, decision.template) == (Action.SEND, "final-reminder")
    assert trace(decision)[1] == {
        "rule": "steps[2]",
        "source": "t.yaml:11",
        "matched": False,
        "facts": {},
        "note": "step 3 (handoff, due +40d) at 2026-12-12T08:00:00+01:00: held back: no message"
        " was sent yet, and a hand-off is never the first contact (`first_contact: true` allows"
        " it)",
    }


def test_a_debtor_who_was_already_sent_messages_is_handed_over_when_the_hand_off_is_due() -> None:
    """No journey step recorded, but messages were sent before (say, by the old system): the
    debtor has heard from us, so the due hand-off goes ahead."""
    decision = decide(
        HANDOFF_LAST, debtor(journey__messages_sent=3), at("2027-01-04T10:00:00+01:00")
    )
    assert (decision.action, decision.reason, decision.journey_step) == (
        Action.HANDOFF,
        "step 3: hand over",
        3,
    )


def test_a_hand_off_as_the_only_step_left_waits_for_a_first_message_and_says_how_to_fix_it() -> (
    None
):
    """A journey that starts with a hand-off, for a debtor never contacted: nothing happens, and
    the reason names the step and the two fixes."""
    rules = pack("    steps:\n      - {at: due + 1d, action: handoff}\n")
    decision = decide(rules, debtor(), NOW)
    assert (decision.action, decision.reason, decision.journey_step) == (
        Action.NONE,
        "step 1: the hand-off waits for a first message, and no message step is left; add a"
        " reminder before it or `first_contact: true`",
        1,
    )


EXPERIMENT = (
    "personas:\n  - id: everyone\n    when: always\n"
    "journeys:\n  - persona: everyone\n    locale: nl_NL\n    tone: u\n    steps:\n"
    "      - {at: due + 1d, channel: email, template: reminder-1}\n"
    "experiments:\n"
    "  - id: jij-test\n    persona: everyone\n    label: jij or u\n    window: 14d\n"
    "    control: as-is\n    variants:\n"
    "      - {id: as-is, weight: 40}\n      - {id: jij, weight: 60, tone: jij}\n"
    "payment_options:\n  - method: bank_transfer\n"
    "settings:\n  experiment_seed: 7\n"
)


def test_the_trace_says_which_experiment_variant_a_debtor_got_and_why() -> None:
    """Experiment jij-test (40/60, seed 7): the trace line points at the experiment, shows the
    customer id, and explains the bucket and the variant's share."""
    rules = compile_rules(load_sources([RuleSource("t.yaml", EXPERIMENT)]))
    decision = decide(rules, debtor(), NOW)
    assert (decision.experiment, decision.variant, decision.tone) == ("jij-test", "jij", "jij")
    assert trace(decision)[1] == {
        "rule": "experiments[0]",
        "source": "t.yaml:11",
        "matched": True,
        "facts": {"customer.id": "C-9"},
        "note": "experiment jij-test: variant jij — the stable hash of customer id, experiment id"
        " and seed 7 puts this debtor at 5032 of 10000, inside jij's share 4000-9999"
        " (weights 40/60)",
    }


def test_debtors_who_classify_alike_share_one_working_out_of_their_persona_notes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plan explains thousands of debtors: two consumers who fail the same persona condition
    get the same notes, and the failing part of that condition is worked out once."""
    rules = big_and_everyone('customer.kind == "business"')
    calls: list[object] = []
    false_part = ex.false_part

    def counted(*args: Any) -> Any:
        calls.append(args)
        return false_part(*args)

    monkeypatch.setattr(ex, "false_part", counted)
    notes = [
        [entry.note for entry in decide(rules, debtor(customer__id=cid), NOW).trace][:2]
        for cid in ("C-1", "C-2")
    ]
    expected = [
        'persona big: did not match: `customer.kind == "business"` is false',
        "persona everyone: matched `always`",
    ]
    assert notes == [expected, expected]
    assert len(calls) == 1


def test_a_debtor_imported_long_overdue_gets_the_last_of_several_reminders_before_the_hand_off() -> (
    None
):
    """Three reminders, then a hand-off, for a debtor never contacted: the hand-off waits and the
    last reminder (step 3, the final one) goes out, not the second."""
    rules = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "      - {at: due + 14d, channel: email, template: reminder-2}\n"
        "      - {at: due + 30d, channel: email, template: final-reminder}\n"
        "      - {at: due + 40d, action: handoff}\n"
    )
    decision = decide(rules, debtor(), at("2027-01-04T10:00:00+01:00"))
    assert (decision.action, decision.template, decision.journey_step) == (
        Action.SEND,
        "final-reminder",
        3,
    )


STALE_THEN_DUE = pack(
    "    steps:\n"
    "      - {at: due - 2d, channel: email, template: nudge}\n"
    "      - {at: due, channel: email, template: reminder-1}\n"
    "      - {at: due + 3d, channel: email, template: reminder-2}\n"
)


def step_row(index: int, note: str, matched: bool = False) -> dict[str, Any]:
    return {
        "rule": f"steps[{index}]",
        "source": f"t.yaml:{9 + index}",
        "matched": matched,
        "facts": {},
        "note": note,
    }


def test_a_stale_nudge_is_explained_once_and_a_reminder_on_the_due_date_as_skipped() -> None:
    """Due 16 November, seen on the 23rd: the nudge has one line (stale, not also "a later step
    is due"), the reminder of the due date itself is skipped for the later one, which is sent."""
    decision = decide(STALE_THEN_DUE, debtor(balance__oldest_due_date="2026-11-16"), NOW)
    assert (decision.action, decision.template) == (Action.SEND, "reminder-2")
    assert trace(decision) == [
        PERSONA_ROW,
        step_row(
            0,
            "step 1 (nudge, due -2d) at 2026-11-14T08:00:00+01:00: "
            "skipped: stale, its due date has come",
        ),
        step_row(
            1,
            "step 2 (reminder-1, due +0d) at 2026-11-16T08:00:00+01:00: "
            "skipped: a later step is due as well",
        ),
        step_row(2, "step 3 (reminder-2, due +3d) at 2026-11-19T08:00:00+01:00: due", True),
    ]


def test_on_the_due_date_itself_the_stale_nudge_is_explained_once() -> None:
    """Due today: the nudge is stale (one line), today's reminder is due and sent."""
    decision = decide(STALE_THEN_DUE, debtor(balance__oldest_due_date="2026-11-23"), NOW)
    assert (decision.action, decision.template) == (Action.SEND, "reminder-1")
    assert trace(decision) == [
        PERSONA_ROW,
        step_row(
            0,
            "step 1 (nudge, due -2d) at 2026-11-21T08:00:00+01:00: "
            "skipped: stale, its due date has come",
        ),
        step_row(1, "step 2 (reminder-1, due +0d) at 2026-11-23T08:00:00+01:00: due", True),
    ]


def test_an_evening_nudge_in_new_york_is_skipped_for_the_later_one_on_new_yorks_calendar() -> None:
    """Two nudges the day before the due date, both at 21:00 in New York (an hour before the
    debtor usually pays; 02:00 UTC on the due date): on New York's calendar the first is not
    stale, so the trace says it was skipped because a later step is due as well."""
    rules = pack(
        "    steps:\n"
        "      - {at: due - 1d, channel: email, template: nudge}\n"
        "      - {at: due - 1d, channel: sms, template: nudge}\n",
        "channels:\n  prefer_typical_pay_hour: true\n"
        "  send_window: {days: mon-sun, hours: '08:00-23:00'}\n",
    )
    sheet = debtor(
        customer__timezone="America/New_York",
        customer__consent__sms=True,
        balance__oldest_due_date="2026-11-25",
        behaviour__typical_pay_hour=22,
    )
    decision = decide(rules, sheet, at("2026-11-24T21:30:00-05:00"))
    assert (decision.action, decision.channel) == (Action.SEND, "sms")
    assert trace(decision)[1:] == [
        step_row(
            0,
            "step 1 (nudge, due -1d) at 2026-11-24T21:00:00-05:00: "
            "skipped: a later step is due as well",
        ),
        step_row(1, "step 2 (nudge, due -1d) at 2026-11-24T21:00:00-05:00: due", True),
    ]


HANDOFF_NOTICE = (
    "    steps:\n"
    "      - {at: due + 1d, channel: email, template: reminder-1}\n"
    "      - {at: due + 30d, action: handoff, channel: [email, letter], template: handoff-notice}\n"
)
WEEKDAYS = "channels:\n  send_window: {days: mon-fri, hours: '09:00-17:00'}\n"


def test_a_handoff_notice_outside_the_window_says_when_the_window_opens() -> None:
    """Sunday 22:30: the hand-off notice waits for Monday 09:00, and the trace says why."""
    rules = pack(HANDOFF_NOTICE, WEEKDAYS)
    decision = decide(rules, debtor(journey__steps_sent=1), at("2026-12-06T22:30:00+01:00"))
    assert (decision.action, decision.send_at) == (
        Action.HANDOFF,
        at("2026-12-07T09:00:00+01:00"),
    )
    assert trace(decision)[-1] == {
        "rule": "channels.send_window",
        "source": "t.yaml:14",
        "matched": False,
        "facts": {},
        "note": "outside the send window; it opens 2026-12-07T09:00:00+01:00",
    }


def test_a_handoff_notice_due_on_christmas_day_waits_for_the_next_dutch_working_day() -> None:
    """The notice is due since Monday 21 December; on Christmas Day (a Friday) in the
    Netherlands it waits until Monday 28 December, 09:00 (the 26th is a holiday too)."""
    rules = pack(HANDOFF_NOTICE, WEEKDAYS)
    sheet = debtor(journey__steps_sent=1, balance__oldest_due_date="2026-11-20")
    decision = decide(rules, sheet, at("2026-12-25T10:00:00+01:00"))
    assert (decision.action, decision.send_at, decision.channel) == (
        Action.HANDOFF,
        at("2026-12-28T09:00:00+01:00"),
        "email",
    )


def test_a_handoff_whose_notice_cannot_reach_the_debtor_hands_over_at_once_without_it() -> None:
    """The notice goes by email only, and the debtor opted out: a person takes over now, and
    no channel is named."""
    rules = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "      - {at: due + 30d, action: handoff, channel: email, template: handoff-notice}\n"
    )
    moment = at("2026-12-07T10:00:00+01:00")
    sheet = debtor(journey__steps_sent=1, customer__consent__email=False)
    decision = decide(rules, sheet, moment)
    assert (decision.action, decision.reason, decision.send_at, decision.channel) == (
        Action.HANDOFF,
        "step 2: hand over",
        moment,
        None,
    )


def test_a_debtor_nobody_can_reach_is_handed_to_a_person_now_when_the_rule_says_so() -> None:
    """Step 1 by SMS or WhatsApp with `if_no_channel: handoff`, no consent for either: handed
    over at once, and the reason says why and which rule asked for it."""
    rules = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: [sms, whatsapp], template: reminder-1,"
        " if_no_channel: handoff}\n"
    )
    decision = decide(rules, debtor(), NOW)
    assert (decision.action, decision.reason, decision.send_at, decision.channel) == (
        Action.HANDOFF,
        "step 1: no channel allowed (consent or address missing); a person must contact this"
        " debtor (if_no_channel: handoff)",
        NOW,
        None,
    )


def test_a_hand_off_written_with_a_channel_but_no_notice_hands_over_at_once_naming_no_channel() -> (
    None
):
    """`channel: email` on a hand-off without a template: nothing is sent to the debtor (the
    rule file gets a warning), so a person takes over now and no channel is named."""
    rules = pack(
        "    steps:\n"
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "      - {at: due + 30d, action: handoff, channel: [email, letter]}\n"
    )
    moment = at("2026-12-06T22:30:00+01:00")  # a Sunday evening: no window to wait for
    decision = decide(rules, debtor(journey__steps_sent=1), moment)
    assert (
        decision.action,
        decision.reason,
        decision.send_at,
        decision.channel,
        decision.fallback_channels,
        decision.template,
    ) == (Action.HANDOFF, "step 2: hand over", moment, None, (), None)


def test_an_experiment_variant_may_not_give_a_hand_off_a_channel() -> None:
    """A variant that would tell debtors of a silent hand-off by email is refused: a variant
    may move a hand-off (`at`), never make it send something."""
    text = (
        "personas:\n  - id: everyone\n    when: always\n"
        "journeys:\n  - persona: everyone\n    locale: nl_NL\n    tone: u\n    steps:\n"
        "      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "      - {at: due + 30d, action: handoff}\n"
        "experiments:\n"
        "  - id: tell-them\n    persona: everyone\n    variants:\n"
        "      - {id: as-is, weight: 50}\n"
        "      - {id: told, weight: 50, steps: [{step: 2, channel: email}]}\n"
        "payment_options:\n  - method: bank_transfer\n"
    )
    spec, found = validate_sources([RuleSource("t.yaml", text)])
    assert spec is None
    assert [str(p) for p in found] == [
        "t.yaml:16:40: error: step 2 of the journey at t.yaml:5 is a hand-off in"
        " experiments[0].variants[1].steps[0]\n"
        "  a variant may change a hand-off's timing (`at`) only"
    ]
