"""The decision core, pinned where mutation testing found it loosely checked: whole reasons,
next steps and trace lines for unreachable debtors, stale nudges, held-back hand-offs,
experiments, and debtors whose own calendar day is not the server's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine.decision.decide import decide
from engine.decision.model import Action, Decision
from engine.rules import expr as ex
from engine.rules.compile import compile_rules
from engine.rules.rulespec import RuleSource, load_sources
from tests.conftest import at
from tests.test_decide import NOW, SIMPLE, debtor, pack

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
    text = (
        "personas:\n"
        '  - id: big\n    when: customer.kind == "business"\n'
        "  - id: everyone\n    when: always\n"
        "journeys:\n"
        "  - persona: big\n    locale: nl_NL\n    tone: u\n"
        "    steps:\n      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "  - persona: everyone\n    locale: nl_NL\n    tone: u\n"
        "    steps:\n      - {at: due + 1d, channel: email, template: reminder-1}\n"
        "payment_options:\n  - method: bank_transfer\n"
    )
    rules = compile_rules(load_sources([RuleSource("t.yaml", text)]))
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
