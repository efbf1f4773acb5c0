"""The rule-file loader pinned where mutation testing found a slip no other test would notice:
what a rule file means (journeys, steps, timing, channels, payment options, tone and locale) and
the exact wording and place of each error a credit manager reads."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from engine.errors import RuleError
from engine.rules import expr as ex
from engine.rules.rulespec import (
    RuleSource,
    load_rules,
    load_sources,
    read_rule_dir,
    ruleset_version,
    validate_partly,
    validate_sources,
)
from engine.rules.source import Source
from engine.rules.spec import (
    ChannelPolicy,
    Journey,
    PaymentOption,
    Persona,
    SendWindow,
    Settings,
    Step,
)

EVERYONE = (
    "personas:\n  - id: everyone\n    when: always\n"
    "journeys:\n  - persona: everyone\n    locale: nl_NL\n    tone: u\n"
    "    steps: [{at: due + 1d, channel: email, template: reminder-1}]\n"
)


def cond(text: str) -> ex.Expr:
    return ex.normalise(ex.parse(text))


def problems(*texts: str) -> list[str]:
    """Every problem of the rule files (named r.yaml, s.yaml, ...), as the CLI prints it."""
    sources = [RuleSource(f"{'rstuvw'[i]}.yaml", text) for i, text in enumerate(texts)]
    return [str(p) for p in validate_partly(sources)[1]]


def errors_of(*texts: str) -> list[str]:
    sources = [RuleSource(f"{'rstuvw'[i]}.yaml", text) for i, text in enumerate(texts)]
    return [str(p) for p in validate_partly(sources)[1] if p.severity == "error"]


def with_everyone(text: str) -> list[str]:
    """The problems of a section added to a valid one-persona pack."""
    return problems(EVERYONE + text)


FULL = """\
personas:
  - id: late
    label: Late payers
    description: pays late
    when: behaviour.avg_days_late >= 3
  - id: everyone-else
    when: always
journeys:
  - persona: late
    when: balance.open_amount > 100
    locale: de_AT
    tone: du
    shift_by: behaviour.avg_days_late
    payment_options: [bank_transfer, ideal]
    steps:
      - at: due - 2d
        channel: [preferred, sms]
        template: pre
        fallback_after: 48h
        required: true
      - {at: due, channel: email, template: r0, if_no_channel: handoff}
      - {at: due + 1w, channel: letter, template: notice}
      - {at: due+3w, action: handoff, first_contact: true, template: notice, channel: letter}
  - persona: late
    locale: nl_BE
    tone: jij
    steps:
      - {at: due + 7d, channel: whatsapp, template: r1, fallback_after: 2d}
      - {at: due + 8d, channel: email, template: r2, fallback_after: 1w}
  - persona: everyone-else
    locale: nl_NL
    tone: u
    steps: [{at: due + 5d, channel: letter, template: r}]
payment_options:
  - method: ideal
    when: customer.country == "NL"
  - method: bank_transfer
channels:
  send_window: {days: mon-fri, hours: "09:30-19:00"}
  holidays: [BE, AT]
  prefer_typical_pay_hour: true
  limits: {per_customer_per_week: 5}
  sms_segments: 3
settings:
  default_locale: de_DE
  currency: CHF
  max_shift: 2w
  experiment_seed: 42
  creditor: {name: ACME}
  legal: {rate: 2}
"""


def src(line: int, column: int) -> Source:
    return Source(path="r.yaml", line=line, column=column)


def test_a_full_rule_file_reads_into_exactly_the_personas_journeys_steps_and_settings_written() -> (
    None
):
    """Every field of every section as written: conditions, step times, channels, fallbacks,
    hand-offs, locale and tone, payment options, the send window and the settings."""
    spec, found = validate_sources([RuleSource("r.yaml", FULL)])
    assert spec is not None, found
    assert spec.personas == (
        Persona(
            id="late",
            label="Late payers",
            when=cond("behaviour.avg_days_late >= 3"),
            index=0,
            source=src(2, 5),
            description="pays late",
        ),
        Persona(
            id="everyone-else",
            label="everyone-else",
            when=ex.Always(),
            index=1,
            source=src(6, 5),
            description="",
        ),
    )

    def step(index: int, line: int, at_days: int, **kw: object) -> Step:
        fields: dict[str, object] = dict(
            action="send", template=None, fallback_after=None, required=False, channels=()
        )
        fields.update(kw)
        return Step(index=index, at_days=at_days, source=src(line, 9), **fields)  # type: ignore[arg-type]

    assert dict(spec.journeys) == {
        "late": (
            Journey(
                persona="late",
                when=cond("balance.open_amount > 100"),
                locale="de_AT",
                tone="du",
                shift_by="behaviour.avg_days_late",
                payment_options=("bank_transfer", "ideal"),
                steps=(
                    step(
                        0,
                        16,
                        -2,
                        channels=("preferred", "sms"),
                        template="pre",
                        fallback_after=dt.timedelta(hours=48),
                        required=True,
                    ),
                    step(1, 21, 0, channels=("email",), template="r0", if_no_channel="handoff"),
                    step(2, 22, 7, channels=("letter",), template="notice"),
                    step(
                        3,
                        23,
                        21,
                        action="handoff",
                        channels=("letter",),
                        template="notice",
                        first_contact=True,
                    ),
                ),
                source=src(9, 5),
            ),
            Journey(
                persona="late",
                when=None,
                locale="nl_BE",
                tone="jij",
                shift_by=None,
                payment_options=None,
                steps=(
                    step(
                        0,
                        28,
                        7,
                        channels=("whatsapp",),
                        template="r1",
                        fallback_after=dt.timedelta(days=2),
                    ),
                    step(
                        1,
                        29,
                        8,
                        channels=("email",),
                        template="r2",
                        fallback_after=dt.timedelta(weeks=1),
                    ),
                ),
                source=src(24, 5),
            ),
        ),
        "everyone-else": (
            Journey(
                persona="everyone-else",
                when=None,
                locale="nl_NL",
                tone="u",
                shift_by=None,
                payment_options=None,
                steps=(
                    Step(
                        index=0,
                        at_days=5,
                        action="send",
                        channels=("letter",),
                        template="r",
                        fallback_after=None,
                        required=False,
                        source=src(33, 13),
                    ),
                ),
                source=src(30, 5),
            ),
        ),
    }
    assert spec.payment_options == (
        PaymentOption(method="ideal", when=cond('customer.country == "NL"'), source=src(35, 5)),
        PaymentOption(method="bank_transfer", when=ex.Always(), source=src(37, 5)),
    )
    assert spec.channels == ChannelPolicy(
        send_window=SendWindow(
            days=frozenset({0, 1, 2, 3, 4}), start=dt.time(9, 30), end=dt.time(19, 0)
        ),
        holidays=("BE", "AT"),
        prefer_typical_pay_hour=True,
        per_customer_per_week=5,
        sms_segments=3,
        source=src(39, 3),
    )
    assert spec.settings == Settings(
        default_locale="de_DE",
        currency="CHF",
        max_shift_days=14,
        experiment_seed=42,
        timezone="Europe/Berlin",
        extra={"creditor": {"name": "ACME"}, "legal": {"rate": 2}},
    )
    assert spec.files == ("r.yaml",)
    assert [str(p) for p in found] == [
        "r.yaml:21:49: warning: a debtor none of these channels can reach is handed off here,"
        " before any message if none was sent yet in journeys[0].steps[1].if_no_channel\n"
        "  add `letter` to the channels (it needs no consent) to write first, or keep it if a"
        " person should take over",
        "r.yaml:23:39: warning: this hand-off can be a debtor's first contact: a debtor who got"
        " no message yet is handed over without a reminder in journeys[0].steps[3].first_contact\n"
        "  keep it only if that is meant; without it the last reminder goes out first",
    ]


def test_an_empty_pack_gets_the_defaults_every_section_promises() -> None:
    """No channels or settings: Mon-Sat 08:00-20:00, NL and DE holidays, three messages a week,
    two SMS segments, EUR, nl_NL in Amsterdam, shift capped at 10 days, seed 0."""
    spec, found = validate_sources([RuleSource("r.yaml", EVERYONE)])
    assert spec is not None and found == []
    assert spec.channels == ChannelPolicy(
        send_window=SendWindow(days=frozenset(range(6)), start=dt.time(8, 0), end=dt.time(20, 0)),
        holidays=("NL", "DE"),
        prefer_typical_pay_hour=False,
        per_customer_per_week=3,
        sms_segments=2,
        source=None,
    )
    assert spec.settings == Settings(
        default_locale="nl_NL",
        currency="EUR",
        max_shift_days=10,
        experiment_seed=0,
        timezone="Europe/Amsterdam",
        extra={},
    )
    assert spec.payment_options == ()
    (journey,) = spec.journeys["everyone"]
    assert journey.steps[0].if_no_channel == "skip" and not journey.steps[0].first_contact


def test_persona_mistakes_are_reported_at_their_key_or_value_with_the_fix() -> None:
    """An unknown key, an id that is not plain, a duplicate id (naming the first), a value of the
    wrong kind, a missing `when`, an entry that is not keys and values: each at its place."""
    found = problems(
        "personas:\n"
        "  - id: Bad Id\n"
        "    when: always\n"
        "    labell: x\n"
        '  - {id: a, when: "customer.kindd == 1"}\n'
        "  - id: everyone\n"
        "    when: always\n"
        "  - id: everyone\n"
        "    when: true\n"
        "  - id: 3\n"
        "  - 7\n"
        "  - {id: c, when: 5, description: [x]}\n"
    )
    assert found == [
        "r.yaml:4:5: error: unknown key 'labell' in personas[0]\n  did you mean 'label'?",
        "r.yaml:2:9: error: persona id 'Bad Id' is not a plain id in personas[0].id\n"
        "  use lower case letters, digits and dashes, e.g. consumer-nl",
        "r.yaml:5:20: error: unknown fact 'customer.kindd' in personas[1].when\n"
        "  did you mean 'customer.kind'?",
        "r.yaml:8:5: error: duplicate persona id 'everyone' in personas[3].id\n"
        "  it is already used at r.yaml:6; ids must be unique",
        "r.yaml:10:9: error: expected text, found 3 in personas[4].id",
        "r.yaml:10:5: error: missing 'when' in personas[4]\n"
        "  write a condition, or `always` for a catch-all",
        "r.yaml:11:5: error: expected keys and values, found 7 in personas[5]",
        "r.yaml:12:19: error: a condition must be text, found 5 in personas[6].when",
        "r.yaml:12:35: error: expected text, found a list in personas[6].description",
        # the personas that did validate, each without a journey
        "r.yaml:2:5: error: persona 'Bad Id' has no journey in personas[id=Bad Id]\n"
        "  add a journey with `persona: Bad Id` and its steps",
        "r.yaml:6:5: error: persona 'everyone' has no journey in personas[id=everyone]\n"
        "  add a journey with `persona: everyone` and its steps",
        "r.yaml:8:5: error: persona 'everyone' has no journey in personas[id=everyone]\n"
        "  add a journey with `persona: everyone` and its steps",
    ]
    assert errors_of("personas:\n  - {id: a, label: [x], when: always}\n")[0] == (
        "r.yaml:2:20: error: expected text, found a list in personas[0].label"
    )


def test_a_persona_without_an_id_is_told_to_get_one() -> None:
    assert errors_of("personas:\n  - when: always\n")[0] == (
        "r.yaml:2:5: error: missing 'id' in personas[0]\n  give the persona a short id"
    )


def test_a_catch_all_that_is_not_last_and_a_last_persona_that_is_not_a_catch_all() -> None:
    """Both errors, each at its persona, with the hint for one file."""
    assert problems(
        "personas:\n"
        "  - {id: a, when: always}\n"
        '  - {id: b, when: customer.kind == "business"}\n'
        "journeys:\n"
        "  - {persona: a, locale: nl_NL, tone: u, steps: [{at: due, channel: email, template: t}]}\n"
        "  - {persona: b, locale: nl_NL, tone: u, steps: [{at: due, channel: email, template: t}]}\n"
    ) == [
        "r.yaml:3:5: error: the last persona is not a catch-all: some debtors would match no"
        " persona in personas[1]\n"
        "  add a final persona with `when: always` (e.g. id: everyone-else)",
        "r.yaml:2:5: error: persona 'a' matches everyone, so the personas after it never match"
        " in personas[0]\n  move the catch-all to the end of the list",
    ]


def test_no_personas_at_all_is_one_error_that_says_to_add_the_section() -> None:
    expected = ["rules:1:1: error: no personas defined in personas\n  add a `personas:` section"]
    assert problems("journeys: []\n") == expected
    assert problems("hello\n") == [
        "r.yaml:1:1: error: expected keys and values, found 'hello'",
        *expected,
    ]
    _, found = validate_partly([RuleSource("r.yaml", "hello\n"), RuleSource("s.yaml", "zzz: 1\n")])
    assert [(p.problem, p.key_path) for p in found] == [
        ("expected keys and values, found 'hello'", ""),
        ("unknown key 'zzz'", ""),
        ("no personas defined", "personas"),
    ]


def test_no_rule_files_at_all_is_an_error_that_says_what_to_add() -> None:
    spec, found = validate_sources([])
    assert spec is None
    assert found[0].key_path == ""  # `validate --json` prints text, never null
    assert str(found[0]) == (
        "rules:1:1: error: no *.yaml rule files found\n  add rule files, e.g. rules/personas.yaml"
    )


def test_an_unknown_section_is_named_with_the_section_it_is_close_to() -> None:
    assert problems("personaz: []\n" + EVERYONE) == [
        "r.yaml:1:1: error: unknown key 'personaz'\n  did you mean 'personas'?"
    ]
    assert problems("zzz: []\n" + EVERYONE) == [
        "r.yaml:1:1: error: unknown key 'zzz'\n  expected one of: personas, journeys,"
        " payment_options, channels, settings, experiments, self_service"
    ]


def test_when_true_is_a_catch_all_and_when_false_matches_nobody() -> None:
    spec, found = validate_sources(
        [
            RuleSource(
                "r.yaml",
                "personas:\n  - {id: a, when: false}\n  - {id: b, when: true}\n"
                "journeys:\n"
                "  - {persona: a, locale: nl_NL, tone: u, steps: [{at: due, channel: email, template: t}]}\n"
                "  - {persona: b, locale: nl_NL, tone: u, steps: [{at: due, channel: email, template: t}]}\n",
            )
        ]
    )
    assert spec is not None, found
    assert [p.when for p in spec.personas] == [cond("not always"), ex.Always()]


def _one_persona_file(pid: str, when: str) -> str:
    return (
        f"personas:\n  - {{id: {pid}, when: {when}}}\n"
        f"journeys:\n  - {{persona: {pid}, locale: nl_NL, tone: u,"
        " steps: [{at: due, channel: email, template: t}]}\n"
    )


def test_a_catch_all_in_an_earlier_file_names_the_later_file_and_how_to_order_them() -> None:
    """Files merge in name order: the hint names both files and how to rename them."""
    found = [
        str(p)
        for p in validate_partly(
            [
                RuleSource("rules/everyone.yaml", _one_persona_file("everyone", "always")),
                RuleSource(
                    "rules/public.yaml", _one_persona_file("pub", 'customer.industry == "x"')
                ),
                RuleSource(
                    "rules/smb.yaml", _one_persona_file("smb", 'customer.kind == "business"')
                ),
            ]
        )[1]
    ]
    hint = (
        "  rule files merge in file-name order, so {later}.yaml comes after everyone.yaml: move the"
        " catch-all into a file that sorts last (e.g. zz-catch-all.yaml), or number the files to"
        " set their order (e.g. 10-{later}.yaml before 90-everyone.yaml)"
    )
    assert found == [
        "rules/smb.yaml:2:5: error: the last persona is not a catch-all: some debtors would match"
        " no persona (the personas of 3 files merge in file-name order) in personas[2]\n"
        + hint.format(later="smb"),
        "rules/everyone.yaml:2:5: error: persona 'everyone' matches everyone, so the personas"
        " after it never match (such as 'pub' from rules/public.yaml) in personas[0]\n"
        + hint.format(later="public"),
    ]


def test_a_last_persona_that_is_not_a_catch_all_across_files_without_any_catch_all() -> None:
    assert problems(
        _one_persona_file("pub", 'customer.industry == "x"'),
        _one_persona_file("smb", 'customer.kind == "business"'),
    ) == [
        "s.yaml:2:5: error: the last persona is not a catch-all: some debtors would match no"
        " persona (the personas of 2 files merge in file-name order) in personas[1]\n"
        "  add a final persona with `when: always` (e.g. id: everyone-else)"
    ]


ONE_JOURNEY = (
    "personas:\n  - {id: e, when: always}\n"
    "journeys:\n  - persona: e\n    locale: nl_NL\n    tone: u\n    steps:\n"
)  # steps start on line 8


def test_step_mistakes_are_each_reported_at_their_key_or_value_with_the_fix() -> None:
    """A misspelt key, a time that is not one, an unknown action (close or not), a send step
    without channel or template, a notice without a channel, a step without `at`, an unknown or
    repeated channel, a bad duration, a flag that is not true/false, misplaced first_contact and
    if_no_channel, values that are not text: every one, at its line and column."""
    assert problems(
        ONE_JOURNEY + "      - {at: due + 1d, chanel: email, template: t}\n"
        "      - {at: soon, channel: email, template: t}\n"
        "      - {at: due, action: sned, channel: email, template: t}\n"
        "      - {at: due, action: zzzz}\n"
        "      - {at: due}\n"
        "      - {at: due, action: handoff, template: notice}\n"
        "      - {at: due, action: handoff, channel: email}\n"
        "      - {channel: email, template: t}\n"
        "      - {at: due, channel: [email, pigeon, sms, email, 3, preferred], template: t}\n"
        "      - {at: due, channel: zzzzzz, template: t}\n"
        "      - {at: due, channel: email, template: t, fallback_after: 3m}\n"
        "      - {at: due, channel: email, template: t, required: 1, first_contact: true}\n"
        "      - {at: due, channel: email, template: t, if_no_channel: later}\n"
        "      - {at: due, action: handoff, if_no_channel: handoff}\n"
        "      - {at: due, channel: email, template: t, fallback_after: 5}\n"
        "      - {at: 7, channel: email, template: t}\n"
        "      - {at: due, channel: email, template: 5}\n"
        "      - {at: due, channel: email, template: t, if_no_channel: 5}\n"
    ) == [
        "r.yaml:8:24: error: unknown key 'chanel' in journeys[0].steps[0]\n"
        "  did you mean 'channel'?",
        "r.yaml:8:9: error: missing 'channel' in journeys[0].steps[0]\n  e.g. `channel: email`",
        "r.yaml:9:14: error: 'soon' is not a step time in journeys[0].steps[1].at\n"
        "  write it relative to the due date in days or weeks: due - 2d, due, due + 7d, due + 3w",
        "r.yaml:10:27: error: unknown action 'sned' in journeys[0].steps[2].action\n"
        "  did you mean 'send'?",
        "r.yaml:11:27: error: unknown action 'zzzz' in journeys[0].steps[3].action\n"
        "  expected one of: send, handoff",
        "r.yaml:12:9: error: missing 'channel' in journeys[0].steps[4]\n  e.g. `channel: email`",
        "r.yaml:12:9: error: missing 'template' in journeys[0].steps[4]\n"
        "  name the message, e.g. `template: reminder-1`",
        "r.yaml:12:9: error: this step (due +0d) comes before the step above it (due +1d):"
        " steps go back in time in journeys[0].steps[4].at\n  order the steps by their `at`",
        "r.yaml:13:46: error: a handoff notice needs a channel in journeys[0].steps[5]\n"
        "  add e.g. `channel: [email, letter]`, or drop the template to hand over silently",
        "r.yaml:14:36: warning: a handoff step without a template sends nothing; its channel is"
        " ignored in journeys[0].steps[6]\n  add `template: handoff-notice` to tell the debtor",
        "r.yaml:14:9: error: this step comes after a hand-off, which ends the journey: the"
        " debtor is the agency's (or a person's) from then on in journeys[0].steps[6]\n"
        "  move the step before the hand-off, or remove it",
        "r.yaml:15:9: error: missing 'at' in journeys[0].steps[7]\n  say when, e.g. `at: due + 7d`",
        "r.yaml:16:36: error: unknown channel 'pigeon' in journeys[0].steps[8].channel\n"
        "  did you mean 'phone'?\n"
        "  expected one of: email, sms, whatsapp, letter, phone, preferred",
        "r.yaml:16:49: error: channel 'email' is listed twice in journeys[0].steps[8].channel",
        "r.yaml:16:56: error: expected text, found 3 in journeys[0].steps[8].channel[4]",
        "r.yaml:17:28: error: unknown channel 'zzzzzz' in journeys[0].steps[9].channel\n"
        "  expected one of: email, sms, whatsapp, letter, phone, preferred",
        "r.yaml:18:64: error: '3m' is not a duration in journeys[0].steps[10].fallback_after\n"
        "  write hours, days or weeks, e.g. 48h, 2d, 1w",
        "r.yaml:19:58: error: expected true or false, found 1 in journeys[0].steps[11].required",
        "r.yaml:19:61: error: first_contact belongs on a hand-off step (`action: handoff`) in"
        " journeys[0].steps[11].first_contact\n"
        "  remove it; a message step is always allowed to be the first contact",
        "r.yaml:20:63: error: unknown if_no_channel 'later' in"
        " journeys[0].steps[12].if_no_channel\n"
        "  skip (the next step follows when due) or handoff (a person takes over); to reach"
        " debtors without consent, list `letter` among the channels: it needs none",
        "r.yaml:21:36: error: if_no_channel belongs on a message step in"
        " journeys[0].steps[13].if_no_channel\n  remove it from the hand-off step",
        "r.yaml:22:64: error: expected text, found 5 in journeys[0].steps[14].fallback_after",
        "r.yaml:22:9: error: this step comes after a hand-off, which ends the journey: the"
        " debtor is the agency's (or a person's) from then on in journeys[0].steps[14]\n"
        "  move the step before the hand-off, or remove it",
        "r.yaml:23:14: error: expected text, found 7 in journeys[0].steps[15].at",
        "r.yaml:24:45: error: expected text, found 5 in journeys[0].steps[16].template",
        # one error, not a second one about an if_no_channel 'None' nobody wrote
        "r.yaml:25:63: error: expected text, found 5 in journeys[0].steps[17].if_no_channel",
    ]


def test_steps_that_go_back_in_time_are_refused_at_the_later_step() -> None:
    assert errors_of(
        ONE_JOURNEY + "      - {at: due + 2w, channel: email, template: t}\n"
        "      - {at: due - 1d, channel: email, template: t}\n"
    ) == [
        "r.yaml:9:9: error: this step (due -1d) comes before the step above it (due +14d):"
        " steps go back in time in journeys[0].steps[1].at\n  order the steps by their `at`"
    ]


def test_a_journey_with_no_steps_or_without_the_steps_key() -> None:
    assert errors_of(ONE_JOURNEY.replace("    steps:\n", "    steps: []\n")) == [
        "r.yaml:7:5: error: a journey needs at least one step in journeys[0].steps"
    ]
    assert errors_of(ONE_JOURNEY.replace("    steps:\n", "")) == [
        "r.yaml:4:5: error: missing 'steps' in journeys[0]\n  list the steps"
    ]


@pytest.mark.parametrize(
    ("written", "days"),
    [
        ("due", 0),
        ("due + 7d", 7),
        ("due+7d", 7),
        ("due - 2d", -2),
        ("due -2d", -2),
        ("due + 3w", 21),
        ("due - 1w", -7),
        ("  due + 10d  ", 10),
    ],
)
def test_a_step_time_is_days_from_the_due_date(written: str, days: int) -> None:
    spec, found = validate_sources(
        [
            RuleSource(
                "r.yaml",
                ONE_JOURNEY + f'      - {{at: "{written}", channel: email, template: t}}\n',
            )
        ]
    )
    assert spec is not None, found
    assert spec.journeys["e"][0].steps[0].at_days == days


@pytest.mark.parametrize(
    ("written", "after"),
    [
        ("48h", dt.timedelta(hours=48)),
        ("2d", dt.timedelta(days=2)),
        ("1w", dt.timedelta(weeks=1)),
        (" 3 d ", dt.timedelta(days=3)),
    ],
)
def test_a_fallback_after_is_hours_days_or_weeks(written: str, after: dt.timedelta) -> None:
    spec, found = validate_sources(
        [
            RuleSource(
                "r.yaml",
                ONE_JOURNEY
                + f'      - {{at: due, channel: email, template: t, fallback_after: "{written}"}}\n',
            )
        ]
    )
    assert spec is not None, found
    assert spec.journeys["e"][0].steps[0].fallback_after == after


@pytest.mark.parametrize("written", ["due + 7", "due + 7h", "due * 7d", "due7d", "7d", "due + d"])
def test_a_step_time_that_is_not_days_or_weeks_from_the_due_date_is_refused(written: str) -> None:
    assert errors_of(
        ONE_JOURNEY + f'      - {{at: "{written}", channel: email, template: t}}\n'
    ) == [
        f"r.yaml:8:14: error: '{written}' is not a step time in journeys[0].steps[0].at\n"
        "  write it relative to the due date in days or weeks: due - 2d, due, due + 7d, due + 3w"
    ]


_STEPS = "steps: [{at: due, channel: email, template: t}]"


def test_journey_mistakes_name_the_persona_locale_tone_fact_or_method_and_the_fix() -> None:
    """Unknown persona (close or not), unsupported locale, a tone of the other language or of
    none, an unknown or non-number shift_by fact, unknown or not offered payment methods, a
    list that is not one, an unknown key, missing keys, a broken `when`."""
    found = problems(
        "personas:\n"
        "  - {id: everyone, when: always}\n"
        "  - {id: other, when: always}\n"
        "journeys:\n"
        f"  - {{persona: everyon, locale: nl_NL, tone: u, {_STEPS}}}\n"
        f"  - {{persona: zzzzzzzzzz, locale: nl_NL, tone: u, {_STEPS}}}\n"
        f"  - {{persona: everyone, locale: fr_FR, tone: u, {_STEPS}}}\n"
        f"  - {{persona: everyone, locale: nl-NL, tone: u, {_STEPS}}}\n"
        f"  - {{persona: everyone, locale: nl_NL, tone: Sie, {_STEPS}}}\n"
        f"  - {{persona: everyone, locale: de_DE, tone: vous, {_STEPS}}}\n"
        "  - {persona: everyone, locale: nl_NL, tone: u, shift_by: behaviour.avg_days_lat,"
        f" {_STEPS}}}\n"
        f"  - {{persona: everyone, locale: nl_NL, tone: u, shift_by: zzzz, {_STEPS}}}\n"
        f"  - {{persona: everyone, locale: nl_NL, tone: u, shift_by: customer.country, {_STEPS}}}\n"
        "  - {persona: everyone, locale: nl_NL, tone: u,"
        f" payment_options: [idael, zzzzzz, paypal, 4, card], {_STEPS}}}\n"
        f"  - {{persona: everyone, locale: nl_NL, tone: u, payment_options: ideal, {_STEPS}}}\n"
        f"  - {{persona: everyone, locale: nl_NL, tone: u, stepz: [], {_STEPS}}}\n"
        f"  - {{locale: nl_NL, {_STEPS}}}\n"
        f'  - {{persona: everyone, when: "customer.kind = 1", locale: nl_NL, tone: u, {_STEPS}}}\n'
        "payment_options:\n"
        "  - method: paypal\n"
    )
    assert found == [
        "r.yaml:2:5: error: persona 'everyone' matches everyone, so the personas after it never"
        " match in personas[0]\n  move the catch-all to the end of the list",
        "r.yaml:5:15: error: unknown persona 'everyon' in journeys[0].persona\n"
        "  did you mean 'everyone'?",
        "r.yaml:6:15: error: unknown persona 'zzzzzzzzzz' in journeys[1].persona\n"
        "  expected one of: everyone, other",
        "r.yaml:7:33: error: unsupported locale 'fr_FR' in journeys[2].locale\n"
        "  use language_COUNTRY with language nl or de: nl_NL, nl_BE, de_DE, de_AT",
        "r.yaml:8:33: error: unsupported locale 'nl-NL' in journeys[3].locale\n"
        "  use language_COUNTRY with language nl or de: nl_NL, nl_BE, de_DE, de_AT",
        "r.yaml:9:46: error: tone 'Sie' does not exist in nl_NL (it is a de tone) in"
        " journeys[4].tone\n  expected one of: u, jij",
        "r.yaml:10:46: error: tone 'vous' does not exist in de_DE in journeys[5].tone\n"
        "  expected one of: Sie, du",
        "r.yaml:11:59: error: unknown fact 'behaviour.avg_days_lat' in journeys[6].shift_by\n"
        "  did you mean 'behaviour.avg_days_late'?",
        "r.yaml:12:59: error: unknown fact 'zzzz' in journeys[7].shift_by\n"
        "  use a number fact, e.g. behaviour.avg_days_late",
        "r.yaml:13:59: error: shift_by needs a number fact; customer.country is a string in"
        " journeys[8].shift_by\n  e.g. behaviour.avg_days_late",
        "r.yaml:14:67: error: unknown payment method 'idael' in journeys[9].payment_options\n"
        "  did you mean 'ideal'?",
        "r.yaml:14:74: error: unknown payment method 'zzzzzz' in journeys[9].payment_options\n"
        "  expected one of: ideal, wero, bancontact, paypal, sepa_direct_debit, barzahlen, card,"
        " bank_transfer",
        "r.yaml:14:90: error: expected text, found 4 in journeys[9].payment_options[3]",
        "r.yaml:14:93: error: payment method 'card' is not offered in payment_options in"
        " journeys[9].payment_options\n"
        "  add `- method: card` with its `when` to the payment_options section",
        "r.yaml:15:66: error: expected a list, found 'ideal' in journeys[10].payment_options\n"
        "  start items with '- '",
        "r.yaml:16:49: error: unknown key 'stepz' in journeys[11]\n  did you mean 'steps'?",
        "r.yaml:17:5: error: missing 'persona' in journeys[12]\n  name the persona",
        "r.yaml:17:5: error: missing 'tone' in journeys[12]\n  u or jij (nl), Sie or du (de)",
        "r.yaml:18:46: error: unexpected character '=' in journeys[13].when\n  use == to compare",
    ]


def test_a_journey_without_a_locale_is_told_which_to_write() -> None:
    assert errors_of(
        "personas:\n  - {id: e, when: always}\n"
        f"journeys:\n  - {{persona: e, tone: u, {_STEPS}}}\n"
    ) == ["r.yaml:4:5: error: missing 'locale' in journeys[0]\n  e.g. nl_NL or de_DE"]


def test_a_persona_whose_journeys_all_have_a_when_leaves_debtors_without_one() -> None:
    """The last journey of each persona must take the rest; `when: always` counts as none."""
    assert problems(
        "personas:\n"
        '  - {id: a, when: customer.kind == "consumer"}\n'
        "  - {id: b, when: always}\n"
        "journeys:\n"
        f'  - {{persona: a, when: customer.kind == "consumer", locale: nl_NL, tone: u, {_STEPS}}}\n'
        f'  - {{persona: a, when: customer.kind == "business", locale: nl_NL, tone: u, {_STEPS}}}\n'
        f"  - {{persona: b, when: always, locale: nl_NL, tone: u, {_STEPS}}}\n"
    ) == [
        "r.yaml:6:5: error: every journey of persona 'a' has a `when`: some of its debtors get"
        " none in journeys\n  drop the `when` from the last journey of 'a' so it takes the rest"
    ]


def test_a_journey_of_a_persona_is_kept_in_file_order_with_its_conditions() -> None:
    spec, found = validate_sources(
        [
            RuleSource(
                "r.yaml",
                "personas:\n  - {id: b, when: always}\n"
                "journeys:\n"
                f'  - {{persona: b, when: customer.kind == "business", locale: nl_NL, tone: u, {_STEPS}}}\n'
                f"  - {{persona: b, locale: de_DE, tone: Sie, {_STEPS}}}\n",
            )
        ]
    )
    assert spec is not None, found
    assert [(j.when, j.locale, j.tone) for j in spec.journeys["b"]] == [
        (cond('customer.kind == "business"'), "nl_NL", "u"),
        (None, "de_DE", "Sie"),
    ]


def test_payment_option_mistakes_are_reported_at_the_method_with_the_fix() -> None:
    """Unknown methods (close or not), a method listed twice, a missing method, an unknown key,
    a condition that is not text, an entry that is not keys and values."""
    assert with_everyone(
        "payment_options:\n"
        "  - method: idael\n"
        "  - method: zzzzzzzz\n"
        '  - {method: ideal, when: customer.kind == "consumer"}\n'
        "  - {method: ideal, when: always}\n"
        "  - {when: always}\n"
        "  - {method: paypal, when: 5, lable: x}\n"
        "  - 3\n"
    ) == [
        "r.yaml:10:13: error: unknown payment method 'idael' in payment_options[0].method\n"
        "  did you mean 'ideal'?",
        "r.yaml:11:13: error: unknown payment method 'zzzzzzzz' in payment_options[1].method\n"
        "  expected one of: ideal, wero, bancontact, paypal, sepa_direct_debit, barzahlen, card,"
        " bank_transfer",
        "r.yaml:13:6: error: payment method 'ideal' is listed twice in payment_options[3].method\n"
        "  combine the conditions with `or` in one entry",
        "r.yaml:14:5: error: missing 'method' in payment_options[4]\n  e.g. method: ideal",
        "r.yaml:15:31: error: unknown key 'lable' in payment_options[5]\n  did you mean 'label'?",
        "r.yaml:15:28: error: a condition must be text, found 5 in payment_options[5].when",
        "r.yaml:16:5: error: expected keys and values, found 3 in payment_options[6]",
    ]


def test_channel_mistakes_are_reported_at_their_value_with_the_fix() -> None:
    """Misspelt keys, an unknown weekday, a weekday that is not text, hours that are not a
    range, an unknown holiday calendar, a weekly limit below 1, flags and counts of the wrong
    kind."""
    assert with_everyone(
        "channels:\n"
        "  send_windw: {}\n"
        '  send_window: {days: [mon, Tue, funday, 4], hours: "7:00-20:00", dayz: x}\n'
        "  holidays: [NL, XX, 5]\n"
        "  limits: {per_customer_per_week: 0, per_day: 2}\n"
        '  prefer_typical_pay_hour: "yes"\n'
        '  sms_segments: "2"\n'
    ) == [
        "r.yaml:10:3: error: unknown key 'send_windw' in channels\n  did you mean 'send_window'?",
        "r.yaml:11:67: error: unknown key 'dayz' in channels.send_window\n  did you mean 'days'?",
        "r.yaml:11:34: error: unknown weekday 'funday' in channels.send_window.days\n"
        "  expected one of: mon, tue, wed, thu, fri, sat, sun",
        "r.yaml:11:42: error: expected text, found 4 in channels.send_window.days",
        "r.yaml:11:53: error: '7:00-20:00' is not a time range in channels.send_window.hours\n"
        '  write "HH:MM-HH:MM", e.g. "08:00-20:00"',
        "r.yaml:12:18: error: no holiday calendar for 'XX' in channels.holidays\n"
        "  use an ISO 3166 country code, e.g. NL, DE, BE, AT",
        "r.yaml:12:22: error: expected text, found 5 in channels.holidays[2]",
        "r.yaml:13:38: error: unknown key 'per_day' in channels.limits\n"
        "  expected one of: per_customer_per_week",
        "r.yaml:13:35: error: the weekly limit must be at least 1 in"
        " channels.limits.per_customer_per_week\n  remove the limit to allow any number",
        "r.yaml:14:28: error: expected true or false, found 'yes' in"
        " channels.prefer_typical_pay_hour",
        "r.yaml:15:17: error: expected a whole number, found '2' in channels.sms_segments",
    ]


def test_impossible_times_a_single_holiday_and_limits_that_are_not_keys() -> None:
    assert with_everyone(
        "channels:\n"
        '  send_window: {days: "mon-fri, sun", hours: "25:00-26:00"}\n'
        "  holidays: NL\n"
        "  limits: 3\n"
    ) == [
        "r.yaml:10:46: error: '25:00-26:00' is not a valid time in channels.send_window.hours\n"
        '  write "HH:MM-HH:MM", e.g. "08:00-20:00"',
        "r.yaml:10:17: warning: the send window includes Sunday in channels.send_window.days\n"
        "  Dutch collectors may not contact debtors on Sundays (Wki); drop sun",
        "r.yaml:11:13: error: expected a list, found 'NL' in channels.holidays\n"
        "  start items with '- '",
        "r.yaml:12:11: error: expected keys and values, found 3 in channels.limits",
    ]


def test_a_window_that_runs_backwards_and_counts_that_are_booleans() -> None:
    assert with_everyone(
        "channels:\n"
        '  send_window: {days: "fri-mon", hours: "20:00-08:00"}\n'
        "  limits: {per_customer_per_week: true}\n"
        "  sms_segments: true\n"
    ) == [
        "r.yaml:10:23: error: 'fri-mon' runs backwards in channels.send_window.days\n"
        "  write e.g. mon-fri",
        "r.yaml:10:41: error: the window '20:00-08:00' ends before it starts in"
        " channels.send_window.hours\n  a send window lies within one day, e.g. 08:00-20:00",
        "r.yaml:11:35: error: expected a whole number, found True in"
        " channels.limits.per_customer_per_week",
        "r.yaml:12:17: error: expected a whole number, found True in channels.sms_segments",
    ]


@pytest.mark.parametrize(
    ("hours", "warned"), [("06:59-20:00", True), ("07:00-20:01", True), ("07:00-20:00", False)]
)
def test_a_window_outside_0700_2000_is_a_wki_warning(hours: str, warned: bool) -> None:
    found = with_everyone(f'channels:\n  send_window: {{days: "mon,wed-fri", hours: "{hours}"}}\n')
    assert found == (
        [
            f"r.yaml:10:45: warning: the window '{hours}' reaches outside 07:00-20:00 in"
            " channels.send_window.hours\n"
            "  Dutch collectors may not contact debtors between 20:00 and 07:00 (Wki)"
        ]
        if warned
        else []
    )


def test_a_window_starting_and_ending_at_the_same_minute_ends_before_it_starts() -> None:
    assert with_everyone('channels:\n  send_window: {hours: "09:00-09:00"}\n') == [
        "r.yaml:10:24: error: the window '09:00-09:00' ends before it starts in"
        " channels.send_window.hours\n  a send window lies within one day, e.g. 08:00-20:00"
    ]


def test_an_unknown_weekday_in_a_range_and_a_window_that_is_not_keys() -> None:
    assert with_everyone('channels:\n  send_window: {days: "mon-xyz,sat"}\n') == [
        "r.yaml:10:23: error: unknown weekday 'xyz' in channels.send_window.days\n"
        "  expected one of: mon, tue, wed, thu, fri, sat, sun"
    ]
    assert with_everyone("channels:\n  send_window: 5\n") == [
        "r.yaml:10:16: error: expected keys and values, found 5 in channels.send_window"
    ]
    assert with_everyone("channels:\n  send_window: {days: [sun], hours: 800}\n") == [
        "r.yaml:10:37: error: expected text, found 800 in channels.send_window.hours",
        "r.yaml:10:17: warning: the send window includes Sunday in channels.send_window.days\n"
        "  Dutch collectors may not contact debtors on Sundays (Wki); drop sun",
    ]
    assert with_everyone("channels: [1]\nsettings: 3\n") == [
        "r.yaml:9:11: error: expected keys and values, found a list in channels",
        "r.yaml:10:11: error: expected keys and values, found 3 in settings",
    ]


def _channels(text: str) -> ChannelPolicy:
    spec, found = validate_sources([RuleSource("r.yaml", EVERYONE + text)])
    assert spec is not None, found
    return spec.channels


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ('"mon,wed-fri"', {0, 2, 3, 4}),
        ('"Mon - Wed , sat"', {0, 1, 2, 5}),
        ("mon-sun", set(range(7))),
        ("[Mon, tue, SUN]", {0, 1, 6}),
        ("thu", {3}),
        ("fri-fri", {4}),
        ('"fri-mon"', set(range(6))),  # refused (runs backwards): the default stays
    ],
)
def test_send_days_are_a_list_a_range_or_both(days: str, expected: set[int]) -> None:
    window = validate_partly(
        [RuleSource("r.yaml", EVERYONE + f"channels:\n  send_window: {{days: {days}}}\n")]
    )[0].channels.send_window
    assert window.days == frozenset(expected)
    assert (window.start, window.end) == (dt.time(8), dt.time(20))


def test_send_hours_are_read_to_the_minute_and_the_days_default_to_mon_sat() -> None:
    window = _channels('channels:\n  send_window: {hours: " 07:05 - 19:55 "}\n').send_window
    assert window == SendWindow(days=frozenset(range(6)), start=dt.time(7, 5), end=dt.time(19, 55))


def test_no_holidays_listed_means_no_holiday_calendar_and_no_key_means_nl_and_de() -> None:
    assert _channels("channels:\n  holidays: []\n").holidays == ()
    assert _channels("channels:\n  sms_segments: 4\n").holidays == ("NL", "DE")
    assert _channels("channels:\n  sms_segments: 4\n").sms_segments == 4


def test_weekly_limits_one_is_allowed_and_an_empty_limits_keeps_three() -> None:
    assert _channels("channels:\n  limits: {per_customer_per_week: 1}\n").per_customer_per_week == 1
    assert _channels("channels:\n  limits: {}\n").per_customer_per_week == 3


def test_setting_mistakes_are_reported_at_their_value_with_the_fix() -> None:
    assert with_everyone(
        "settings:\n"
        "  default_locale: de_AT\n"
        "  max_shift: 5h\n"
        "  currency: 5\n"
        "  experiment_seed: x\n"
        "  timezone: Berlin\n"
        "  foo: 1\n"
    ) == [
        "r.yaml:15:3: error: unknown key 'foo' in settings\n  expected one of: default_locale,"
        " currency, max_shift, experiment_seed, creditor, legal, holidays, timezone",
        "r.yaml:14:13: error: unknown time zone 'Berlin' in settings.timezone\n"
        "  use an IANA name like Europe/Amsterdam or Europe/Berlin",
        "r.yaml:11:14: error: '5h' is not a number of days in settings.max_shift\n"
        "  write e.g. 10d or 2w",
        "r.yaml:12:13: error: expected text, found 5 in settings.currency",
        "r.yaml:13:20: error: expected a whole number, found 'x' in settings.experiment_seed",
    ]
    assert with_everyone("settings:\n  max_shift: 3\n") == [
        "r.yaml:10:14: error: expected text, found 3 in settings.max_shift"
    ]
    assert with_everyone('settings:\n  timezone: ""\n') == [
        "r.yaml:10:13: error: unknown time zone '' in settings.timezone\n"
        "  use an IANA name like Europe/Amsterdam or Europe/Berlin"
    ]
    assert with_everyone('settings:\n  timezone: "../etc"\n') == [
        "r.yaml:10:13: error: unknown time zone '../etc' in settings.timezone\n"
        "  use an IANA name like Europe/Amsterdam or Europe/Berlin"
    ]


def _settings(text: str) -> Settings:
    spec, found = validate_sources([RuleSource("r.yaml", EVERYONE + text)])
    assert spec is not None, found
    return spec.settings


@pytest.mark.parametrize(
    ("locale", "zone"),
    [
        ("nl_NL", "Europe/Amsterdam"),
        ("de_DE", "Europe/Berlin"),
        ("de_AT", "Europe/Vienna"),
        ("nl_BE", "Europe/Amsterdam"),
    ],
)
def test_the_rules_time_zone_is_the_default_locales_country_s(locale: str, zone: str) -> None:
    assert _settings(f"settings:\n  default_locale: {locale}\n").timezone == zone


def test_a_wrong_time_zone_falls_back_to_the_locale_s_zone_in_the_partial_spec() -> None:
    spec, _ = validate_partly(
        [RuleSource("r.yaml", EVERYONE + "settings:\n  default_locale: de_AT\n  timezone: Wien\n")]
    )
    assert spec.settings.timezone == "Europe/Vienna"


@pytest.mark.parametrize(("written", "days"), [("10d", 10), ("2w", 14), (" 3 d ", 3), ("0d", 0)])
def test_max_shift_is_days_or_weeks(written: str, days: int) -> None:
    assert _settings(f'settings:\n  max_shift: "{written}"\n').max_shift_days == days


def test_creditor_and_legal_settings_are_kept_as_written_and_nothing_else() -> None:
    assert _settings("settings:\n  creditor: {name: ACME, iban: NL91}\n").extra == {
        "creditor": {"name": "ACME", "iban": "NL91"}
    }
    assert _settings("settings:\n  legal: [a]\n  currency: USD\n").extra == {"legal": ["a"]}


def test_a_syntax_error_in_one_file_is_reported_without_a_cascade_of_missing_personas() -> None:
    """The broken file may hold the personas: no 'no personas' or catch-all error follows."""
    assert problems("personas:\n  - id: a\n   when: x\n", EVERYONE) == [
        "r.yaml:3:4: error: YAML syntax: expected <block end>, but found '<block mapping start>'\n"
        "  check indentation (spaces, not tabs) and that every ':' has a space after it"
    ]
    assert problems("personas: [\n", "journeys: []\n", "zzz: 1\n") == [
        "r.yaml:2:1: error: YAML syntax: expected the node content, but found '<stream end>'\n"
        "  check indentation (spaces, not tabs) and that every ':' has a space after it",
        "t.yaml:1:1: error: unknown key 'zzz'\n  expected one of: personas, journeys,"
        " payment_options, channels, settings, experiments, self_service",
    ]


def test_channels_and_settings_merge_across_files_and_a_key_set_twice_names_the_first() -> None:
    found = problems(
        EVERYONE,
        "channels: {sms_segments: 1}\nsettings: {currency: EUR}\n",
        "channels: {sms_segments: 2, prefer_typical_pay_hour: true}\nsettings: {currency: USD}\n",
    )
    assert found == [
        "t.yaml:1:12: error: 'channels.sms_segments' is set twice in channels.sms_segments\n"
        "  it is already set at s.yaml:1; keep one",
        "t.yaml:2:12: error: 'settings.currency' is set twice in settings.currency\n"
        "  it is already set at s.yaml:2; keep one",
    ]
    spec, _ = validate_partly(
        [
            RuleSource("r.yaml", EVERYONE),
            RuleSource("s.yaml", "channels: {sms_segments: 1}\nsettings: {currency: CHF}\n"),
            RuleSource("t.yaml", "channels:\n  prefer_typical_pay_hour: true\n"),
        ]
    )
    assert (spec.channels.sms_segments, spec.channels.prefer_typical_pay_hour) == (1, True)
    assert spec.settings.currency == "CHF"
    # the merged section is cited where it was first written
    assert spec.channels.source == Source(path="s.yaml", line=1, column=11)


def test_a_channels_section_that_is_not_keys_does_not_decide_where_the_rest_is_cited() -> None:
    spec, _ = validate_partly(
        [
            RuleSource("r.yaml", EVERYONE),
            RuleSource("s.yaml", "channels: [x]\n"),
            RuleSource("t.yaml", "\n\nchannels:\n  sms_segments: 5\n"),
        ]
    )
    assert spec.channels.sms_segments == 5
    assert spec.channels.source == Source(path="t.yaml", line=4, column=3)


def test_the_rule_files_of_a_folder_are_its_yaml_and_yml_files_in_name_order(
    tmp_path: Path,
) -> None:
    (tmp_path / "b.yaml").write_text("b: ü\n", encoding="utf-8")
    (tmp_path / "a.yml").write_text("a\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("c\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.yaml").write_text("d\n", encoding="utf-8")
    assert read_rule_dir(tmp_path) == [
        RuleSource(str(tmp_path / "a.yml"), "a\n"),
        RuleSource(str(tmp_path / "b.yaml"), "b: ü\n"),
    ]
    assert read_rule_dir(tmp_path / "b.yaml") == [RuleSource(str(tmp_path / "b.yaml"), "b: ü\n")]


def test_a_rules_folder_that_does_not_exist_is_one_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(RuleError) as caught:
        read_rule_dir(missing)
    assert [str(p) for p in caught.value.problems] == [
        f"{missing}:1:1: error: no such rules directory\n"
        "  pass the folder with your *.yaml rule files, e.g. `--rules rules/`"
    ]


def test_the_ruleset_version_hashes_file_names_and_texts_in_name_order() -> None:
    """Only the files' base names and bytes count: the same rules in another folder, or listed
    in another order, are the same version; renaming a file or changing a byte is a new one."""
    a, b = RuleSource("x/a.yaml", "aa"), RuleSource("x/b.yaml", "bé")
    expected = "sha256:" + hashlib.sha256(b"a.yaml\0aa\0b.yaml\0b\xc3\xa9\0").hexdigest()
    assert ruleset_version([b, a]) == expected
    assert ruleset_version([RuleSource("y/z/a.yaml", "aa"), RuleSource("b.yaml", "bé")]) == expected
    assert ruleset_version([RuleSource("x/c.yaml", "aa"), b]) != expected
    spec, _ = validate_partly([RuleSource("r.yaml", EVERYONE)])
    assert spec.version == ruleset_version([RuleSource("r.yaml", EVERYONE)])


def test_load_sources_raises_with_every_error_and_returns_the_spec_despite_warnings() -> None:
    with pytest.raises(RuleError) as caught:
        load_sources([RuleSource("r.yaml", "personas: []\nchannels: {sms_segments: x}\n")])
    assert [str(p) for p in caught.value.problems] == [
        "rules:1:1: error: no personas defined in personas\n  add a `personas:` section",
        "r.yaml:2:26: error: expected a whole number, found 'x' in channels.sms_segments",
    ]
    warned = EVERYONE + 'channels:\n  send_window: {days: "mon-sun"}\n'
    spec = load_sources([RuleSource("r.yaml", warned)])
    assert spec.channels.send_window.days == frozenset(range(7))
    assert validate_sources([RuleSource("r.yaml", warned)])[0] == spec


def test_load_rules_reads_a_folder(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(EVERYONE, encoding="utf-8")
    spec = load_rules(tmp_path)
    assert spec.files == (str(tmp_path / "rules.yaml"),)
    assert [p.id for p in spec.personas] == ["everyone"]
    (tmp_path / "more.yaml").write_text("personas: 1\n", encoding="utf-8")
    with pytest.raises(RuleError, match="expected a list, found 1 in personas"):
        load_rules(tmp_path)


def test_a_journey_with_errors_is_left_out_of_the_partial_spec_and_the_rest_is_kept() -> None:
    spec, found = validate_partly(
        [
            RuleSource(
                "r.yaml",
                "personas:\n  - {id: e, when: always}\n"
                "journeys:\n"
                f"  - {{persona: e, locale: nl_NL, tone: u, {_STEPS}}}\n"
                "  - {persona: e, locale: nl_NL, tone: u, steps: [{at: soon, channel: email, template: t}]}\n",
            )
        ]
    )
    assert len(found) == 1
    assert [j.source.line for j in spec.journeys["e"]] == [4]


def test_no_cascades_a_persona_or_journey_with_errors_hides_the_checks_that_depend_on_it() -> None:
    """A persona left out for an error does not make the last one 'not a catch-all'; journeys
    without personas are not 'unknown persona'; a journey left out for an error does not make
    its persona (or any other) 'without a journey'."""
    assert problems("personas:\n  - {id: a, when: always}\n  - {id: b}\n") == [
        "r.yaml:3:5: error: missing 'when' in personas[1]\n"
        "  write a condition, or `always` for a catch-all",
        "r.yaml:2:5: error: persona 'a' has no journey in personas[id=a]\n"
        "  add a journey with `persona: a` and its steps",
    ]
    assert problems(f"journeys:\n  - {{persona: x, locale: nl_NL, tone: u, {_STEPS}}}\n") == [
        "rules:1:1: error: no personas defined in personas\n  add a `personas:` section"
    ]
    assert problems(
        "personas:\n  - {id: e, when: always}\n  - {id: f, when: always}\n"
        "journeys:\n  - {persona: e, locale: nl_NL, tone: u,"
        " steps: [{at: soon, channel: email, template: t}]}\n"
    ) == [
        "r.yaml:2:5: error: persona 'e' matches everyone, so the personas after it never match"
        " in personas[0]\n  move the catch-all to the end of the list",
        "r.yaml:5:55: error: 'soon' is not a step time in journeys[0].steps[0].at\n"
        "  write it relative to the due date in days or weeks: due - 2d, due, due + 7d, due + 3w",
    ]


def test_an_empty_value_is_reported_as_nothing() -> None:
    assert problems("personas:\n  - id:\n    when: always\n") == [
        "r.yaml:3:5: error: expected text, found nothing in personas[0].id"
    ]


def test_a_condition_error_points_into_the_condition_quoted_or_not() -> None:
    """The column is the condition's own column plus the offset of the mistake, one more for
    the opening quote."""
    hint = "  expected one of: consumer, business"
    assert problems("personas:\n  - {id: e, when: 'customer.kind == \"x\"'}\n") == [
        f'r.yaml:2:37: error: "x" is never a value of customer.kind in personas[0].when\n{hint}'
    ]
    assert problems('personas:\n  - {id: e, when: customer.kind == "x"}\n') == [
        f'r.yaml:2:36: error: "x" is never a value of customer.kind in personas[0].when\n{hint}'
    ]


def test_every_key_the_guide_documents_is_accepted() -> None:
    """The `note` of a step, the `label` of a journey and a payment option, settings.timezone,
    and every other key: no 'unknown key'."""
    spec, found = validate_sources(
        [
            RuleSource(
                "r.yaml",
                "personas:\n  - {id: e, label: E, description: d, when: always}\n"
                "journeys:\n"
                "  - persona: e\n    label: J\n    when: always\n    locale: nl_NL\n    tone: u\n"
                "    shift_by: behaviour.avg_days_late\n    payment_options: [ideal]\n"
                "    steps:\n"
                "      - {at: due, channel: email, template: t, fallback_after: 1d, required: true,"
                " note: first, if_no_channel: skip}\n"
                "      - {at: due + 9d, action: handoff, first_contact: false}\n"
                "payment_options:\n  - {method: ideal, when: always, label: iDEAL}\n"
                "channels:\n  send_window: {days: mon, hours: '08:00-17:00'}\n  holidays: [NL]\n"
                "  prefer_typical_pay_hour: false\n  limits: {per_customer_per_week: 2}\n"
                "  sms_segments: 1\n"
                "settings:\n  default_locale: nl_NL\n  currency: EUR\n  max_shift: 1d\n"
                "  experiment_seed: 1\n  creditor: {}\n  legal: {}\n"
                "  timezone: Europe/Amsterdam\n",
            )
        ]
    )
    assert found == [] and spec is not None
    assert spec.journeys["e"][0].when == ex.Always()
    assert spec.journeys["e"][0].steps[0].if_no_channel == "skip"


def test_send_days_that_are_neither_text_nor_a_list_are_refused_at_the_days() -> None:
    assert with_everyone("channels:\n  send_window: {days: 5}\n") == [
        "r.yaml:10:23: error: expected text, found 5 in channels.send_window.days"
    ]


def test_keys_and_values_where_text_belongs_are_described_as_such() -> None:
    assert problems("personas:\n  - {id: {a: 1}, when: always}\n") == [
        "r.yaml:2:10: error: expected text, found keys and values in personas[0].id"
    ]


def test_a_range_of_three_weekdays_names_the_part_that_is_not_a_weekday() -> None:
    """'mon-tue-wed' is a range from mon to 'tue-wed', which is no weekday."""
    assert with_everyone('channels:\n  send_window: {days: "mon-tue-wed"}\n') == [
        "r.yaml:10:23: error: unknown weekday 'tue-wed' in channels.send_window.days\n"
        "  expected one of: mon, tue, wed, thu, fri, sat, sun"
    ]
    assert with_everyone('channels:\n  send_window: {days: "mon, funday"}\n') == [
        "r.yaml:10:23: error: unknown weekday 'funday' in channels.send_window.days\n"
        "  expected one of: mon, tue, wed, thu, fri, sat, sun"
    ]


def test_a_step_that_is_not_keys_and_an_action_that_is_not_text() -> None:
    assert problems(ONE_JOURNEY + "      - 5\n      - {at: due, action: 5}\n") == [
        "r.yaml:8:9: error: expected keys and values, found 5 in journeys[0].steps[0]",
        "r.yaml:9:27: error: expected text, found 5 in journeys[0].steps[1].action",
        "r.yaml:9:9: error: missing 'channel' in journeys[0].steps[1]\n  e.g. `channel: email`",
        "r.yaml:9:9: error: missing 'template' in journeys[0].steps[1]\n"
        "  name the message, e.g. `template: reminder-1`",
    ]


def test_a_missing_rules_folder_has_an_empty_key_path_in_json(tmp_path: Path) -> None:
    """`validate --json` prints each problem's fields: the key path is text, never null."""
    with pytest.raises(RuleError) as caught:
        read_rule_dir(tmp_path / "nope")
    (problem,) = caught.value.problems
    assert problem.to_json() == {
        "path": str(tmp_path / "nope"),
        "line": 1,
        "column": 1,
        "key_path": "",
        "problem": "no such rules directory",
        "hint": "pass the folder with your *.yaml rule files, e.g. `--rules rules/`",
        "severity": "error",
    }


def test_every_channel_of_a_list_is_checked_after_one_that_is_not_text() -> None:
    assert errors_of(ONE_JOURNEY + "      - {at: due, channel: [3, pigeon], template: t}\n") == [
        "r.yaml:8:29: error: expected text, found 3 in journeys[0].steps[0].channel[0]",
        "r.yaml:8:32: error: unknown channel 'pigeon' in journeys[0].steps[0].channel\n"
        "  did you mean 'phone'?\n"
        "  expected one of: email, sms, whatsapp, letter, phone, preferred",
    ]


def test_a_first_contact_that_is_not_true_or_false_is_refused_at_its_value() -> None:
    assert problems(
        ONE_JOURNEY + "      - {at: due, channel: email, template: t}\n"
        "      - {at: due + 9d, action: handoff, first_contact: 1}\n"
    ) == [
        "r.yaml:9:56: error: expected true or false, found 1 in journeys[0].steps[1].first_contact"
    ]


def test_an_entry_that_is_not_keys_does_not_stop_the_entries_after_it_being_checked() -> None:
    assert problems(
        "personas:\n  - {id: e, when: always}\n"
        "journeys:\n"
        "  - 5\n"
        f"  - {{persona: e, locale: xx, tone: u, {_STEPS}}}\n"
        f"  - {{persona: e, locale: nl_NL, tone: u, {_STEPS}}}\n"
        "payment_options:\n  - 5\n  - method: idael\n"
    ) == [
        "r.yaml:8:5: error: expected keys and values, found 5 in payment_options[0]",
        "r.yaml:9:13: error: unknown payment method 'idael' in payment_options[1].method\n"
        "  did you mean 'ideal'?",
        "r.yaml:4:5: error: expected keys and values, found 5 in journeys[0]",
        "r.yaml:5:26: error: unsupported locale 'xx' in journeys[1].locale\n"
        "  use language_COUNTRY with language nl or de: nl_NL, nl_BE, de_DE, de_AT",
    ]


def test_two_steps_on_the_same_day_are_in_order() -> None:
    """Only a step earlier than the one above it goes back in time; the same day does not."""
    spec, found = validate_sources(
        [
            RuleSource(
                "r.yaml",
                ONE_JOURNEY + "      - {at: due + 7d, channel: email, template: t}\n"
                "      - {at: due + 1w, channel: letter, template: t}\n",
            )
        ]
    )
    assert found == [] and spec is not None
    assert [s.at_days for s in spec.journeys["e"][0].steps] == [7, 7]


def test_every_holiday_calendar_is_checked_after_one_that_is_not_text() -> None:
    assert with_everyone("channels:\n  holidays: [5, XX]\nsettings:\n  default_locale: 5\n") == [
        "r.yaml:10:14: error: expected text, found 5 in channels.holidays[0]",
        "r.yaml:10:17: error: no holiday calendar for 'XX' in channels.holidays\n"
        "  use an ISO 3166 country code, e.g. NL, DE, BE, AT",
        "r.yaml:12:19: error: expected text, found 5 in settings.default_locale",
    ]


def test_a_weekly_limit_that_is_not_a_number_leaves_three_in_the_partial_spec() -> None:
    spec, found = validate_partly(
        [RuleSource("r.yaml", EVERYONE + "channels:\n  limits: {per_customer_per_week: x}\n")]
    )
    assert len(found) == 1
    assert spec.channels.per_customer_per_week == 3


_EXPERIMENT = """\
experiments:
  - id: later
    persona: everyone
    control: as-is
    variants:
      - {id: as-is, weight: 50}
      - {id: later, weight: 50, steps: [{step: 1, at: due + 5d}]}
"""


def test_an_experiment_is_read_against_the_personas_and_their_journeys() -> None:
    """The experiments section sees the personas (an unknown one is named) and each persona's
    journeys (a step it does not have is named with the journey's place)."""
    spec, found = validate_sources([RuleSource("r.yaml", EVERYONE + _EXPERIMENT)])
    assert spec is not None and found == []
    (experiment,) = spec.experiments
    assert (experiment.id, experiment.persona, experiment.control) == ("later", "everyone", "as-is")
    assert [v.id for v in experiment.variants] == ["as-is", "later"]
    assert experiment.variants[1].steps[0].at_days == 5
    assert with_everyone(_EXPERIMENT.replace("persona: everyone", "persona: everyon")) == [
        "r.yaml:11:14: error: unknown persona 'everyon' in experiments[0].persona\n"
        "  did you mean 'everyone'?"
    ]
    assert with_everyone(_EXPERIMENT.replace("step: 1", "step: 2")) == [
        "r.yaml:15:48: error: step 2 does not exist in the journey at r.yaml:5 (1 steps) in"
        " experiments[0].variants[1].steps[0].step\n"
        "  steps count from 1 in the order the journey lists them"
    ]


def test_the_catch_all_check_waits_for_personas_with_errors_but_not_for_other_errors() -> None:
    """A persona left out may be the catch-all: no 'not a catch-all' then. An error elsewhere
    (an unknown section) does not hide that the last persona is not a catch-all."""
    assert problems('personas:\n  - {id: a, when: customer.kind == "consumer"}\n  - {id: b}\n') == [
        "r.yaml:3:5: error: missing 'when' in personas[1]\n"
        "  write a condition, or `always` for a catch-all",
        "r.yaml:2:5: error: persona 'a' has no journey in personas[id=a]\n"
        "  add a journey with `persona: a` and its steps",
    ]
    assert problems('zzz: 1\npersonas:\n  - {id: a, when: customer.kind == "consumer"}\n')[1] == (
        "r.yaml:3:5: error: the last persona is not a catch-all: some debtors would match no"
        " persona in personas[0]\n"
        "  add a final persona with `when: always` (e.g. id: everyone-else)"
    )


def test_a_hand_off_without_a_notice_keeps_no_channels() -> None:
    """Its channel is ignored (a warning says so): the step has none."""
    spec, found = validate_sources(
        [
            RuleSource(
                "r.yaml",
                ONE_JOURNEY + "      - {at: due, channel: email, template: t}\n"
                "      - {at: due + 9d, action: handoff, channel: email}\n",
            )
        ]
    )
    assert spec is not None and [p.severity for p in found] == ["warning"]
    assert [s.channels for s in spec.journeys["e"][0].steps] == [("email",), ()]


@pytest.mark.parametrize("written", ["5", "later"])
def test_an_if_no_channel_that_is_refused_leaves_skip_in_the_partial_spec(written: str) -> None:
    spec, found = validate_partly(
        [
            RuleSource(
                "r.yaml",
                ONE_JOURNEY
                + f"      - {{at: due, channel: email, template: t, if_no_channel: {written}}}\n",
            )
        ]
    )
    assert len(found) == 1
    assert spec.journeys["e"][0].steps[0].if_no_channel == "skip"


def test_a_catch_all_in_the_middle_is_named_even_when_the_last_is_one_too() -> None:
    assert errors_of(
        'personas:\n  - {id: a, when: customer.kind == "consumer"}\n'
        "  - {id: b, when: always}\n  - {id: c, when: always}\n"
    )[0] == (
        "r.yaml:3:5: error: persona 'b' matches everyone, so the personas after it never match"
        " in personas[1]\n  move the catch-all to the end of the list"
    )


def test_a_payment_option_with_a_broken_condition_is_left_out_of_the_partial_spec() -> None:
    spec, found = validate_partly(
        [RuleSource("r.yaml", EVERYONE + "payment_options:\n  - {method: paypal, when: 5}\n")]
    )
    assert len(found) == 1
    assert spec.payment_options == ()


def test_a_send_step_without_a_template_keeps_its_channels_in_the_partial_spec() -> None:
    """Further checks of the same pass (templates per channel) still see where it would send."""
    spec, found = validate_partly(
        [RuleSource("r.yaml", ONE_JOURNEY + "      - {at: due, channel: sms}\n")]
    )
    assert [p.problem for p in found] == ["missing 'template'"]
    assert spec.journeys["e"][0].steps[0].channels == ("sms",)


def test_holiday_calendars_written_under_settings_are_refused_with_where_they_belong() -> None:
    """settings.holidays was accepted and never read: the calendars silently stayed NL and DE."""
    assert with_everyone("settings:\n  holidays: [BE]\n") == [
        "r.yaml:10:3: error: holiday calendars belong in the channels section; settings.holidays"
        " is not read in settings.holidays\n  move the list to `channels:` as `holidays: [NL, DE]`"
    ]


def test_an_empty_persona_id_is_refused_and_its_label_stays_empty() -> None:
    spec, found = validate_partly([RuleSource("r.yaml", "personas:\n  - {id: '', when: always}\n")])
    assert str(found[0]) == (
        "r.yaml:2:10: error: persona id '' is not a plain id in personas[0].id\n"
        "  use lower case letters, digits and dashes, e.g. consumer-nl"
    )
    assert [(p.id, p.label) for p in spec.personas] == [("", "")]


def test_a_duplicate_persona_id_points_at_both_id_keys_not_at_the_entries() -> None:
    assert errors_of(
        "personas:\n  - label: A\n    id: a\n    when: always\n"
        "  - label: B\n    when: always\n    id: a\n"
    )[0] == (
        "r.yaml:7:5: error: duplicate persona id 'a' in personas[1].id\n"
        "  it is already used at r.yaml:3; ids must be unique"
    )


def test_a_journey_persona_that_is_not_text_is_refused_at_its_value() -> None:
    assert errors_of(
        f"personas:\n  - {{id: e, when: always}}\njourneys:\n  - {{persona: 5, locale: nl_NL, tone: u, {_STEPS}}}\n"
    ) == ["r.yaml:4:15: error: expected text, found 5 in journeys[0].persona"]


def test_a_journey_s_locale_tone_shift_by_or_steps_of_the_wrong_kind_is_refused_at_its_key() -> (
    None
):
    """Each error names the key it is about, so a credit manager finds the value to fix."""
    assert problems(
        "personas:\n  - {id: e, when: always}\njourneys:\n"
        f"  - {{persona: e, locale: 5, tone: u, {_STEPS}}}\n"
        f"  - {{persona: e, locale: nl_NL, tone: [u], {_STEPS}}}\n"
        f"  - {{persona: e, locale: nl_NL, tone: u, shift_by: 3, {_STEPS}}}\n"
        "  - {persona: e, locale: nl_NL, tone: u, steps: 5}\n"
    ) == [
        "r.yaml:4:26: error: expected text, found 5 in journeys[0].locale",
        "r.yaml:5:39: error: expected text, found a list in journeys[1].tone",
        "r.yaml:6:52: error: expected text, found 3 in journeys[2].shift_by",
        "r.yaml:7:49: error: expected a list, found 5 in journeys[3].steps\n"
        "  start items with '- '",
        "r.yaml:7:42: error: a journey needs at least one step in journeys[3].steps",
    ]


def test_a_step_after_a_hand_off_is_refused_once_at_that_step() -> None:
    """A hand-off ends the journey (the daemon marks it handed_off), but decide() would still
    plan a step written after it: the debtor would hear from us while the agency collects."""
    assert errors_of(
        ONE_JOURNEY + "      - {at: due + 1w, channel: email, template: t}\n"
        "      - {at: due + 3w, action: handoff}\n"
        "      - {at: due + 4w, channel: letter, template: t}\n"
        "      - {at: due + 5w, channel: letter, template: t}\n"
    ) == [
        "r.yaml:10:9: error: this step comes after a hand-off, which ends the journey: the"
        " debtor is the agency's (or a person's) from then on in journeys[0].steps[2]\n"
        "  move the step before the hand-off, or remove it"
    ]
    assert (
        errors_of(
            ONE_JOURNEY + "      - {at: due + 1w, channel: email, template: t}\n"
            "      - {at: due + 3w, action: handoff}\n"
        )
        == []
    )


def test_a_journey_that_starts_with_a_hand_off_is_warned_at_that_step_with_the_fix() -> None:
    """Its debtors would get nothing: the warning points at the hand-off and says what to add."""
    assert problems(ONE_JOURNEY + "      - {at: due, action: handoff}\n") == [
        "r.yaml:8:9: warning: the journey starts with a hand-off, which is never a debtor's first"
        " contact unless a rule says so: its debtors get nothing in journeys[0].steps[0]\n"
        "  add a reminder step before it, or `first_contact: true` on the hand-off"
    ]


def test_a_time_zone_or_a_payment_method_that_is_not_text_is_refused_at_its_key() -> None:
    assert with_everyone("settings:\n  timezone: 5\n") == [
        "r.yaml:10:13: error: expected text, found 5 in settings.timezone"
    ]
    assert with_everyone("payment_options:\n  - method: 5\n") == [
        "r.yaml:10:13: error: expected text, found 5 in payment_options[0].method"
    ]


def test_settings_holidays_in_flow_style_are_refused_at_the_key_not_at_the_brace() -> None:
    assert with_everyone("settings: {holidays: [BE]}\n") == [
        "r.yaml:9:12: error: holiday calendars belong in the channels section; settings.holidays"
        " is not read in settings.holidays\n  move the list to `channels:` as `holidays: [NL, DE]`"
    ]


def test_every_key_set_twice_is_named_and_the_keys_after_it_still_count() -> None:
    """A duplicate key in a later file is one error; the file's other keys are still read."""
    assert problems(
        EVERYONE,
        "settings: {currency: EUR, timezone: Europe/Berlin}\n",
        "settings: {currency: USD, timezone: Europe/Vienna}\n",
    ) == [
        "t.yaml:1:12: error: 'settings.currency' is set twice in settings.currency\n"
        "  it is already set at s.yaml:1; keep one",
        "t.yaml:1:27: error: 'settings.timezone' is set twice in settings.timezone\n"
        "  it is already set at s.yaml:1; keep one",
    ]
    spec, _ = validate_partly(
        [
            RuleSource("r.yaml", EVERYONE),
            RuleSource("s.yaml", "settings: {currency: EUR}\n"),
            RuleSource("t.yaml", "settings: {currency: USD, default_locale: de_AT}\n"),
        ]
    )
    assert (spec.settings.currency, spec.settings.default_locale) == ("EUR", "de_AT")


def test_a_channels_section_never_written_as_keys_cites_no_place() -> None:
    """`channels: [x]` is an error; the partial spec's channel policy then cites no file (it
    cited a made-up position, line 1 of a file without a name)."""
    spec, _ = validate_partly(
        [RuleSource("r.yaml", EVERYONE), RuleSource("s.yaml", "channels: [x]\n")]
    )
    assert spec.channels.source is None
    spec, _ = validate_partly([RuleSource("r.yaml", EVERYONE)])
    assert spec.channels.source is None
