"""The durable_rules compiler: its sharp edges pinned, and differential tests against the evaluator."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.decision.model import FactSheet
from engine.errors import EngineError, RuleError
from engine.rules import compile as comp
from engine.rules import expr as ex
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulespec import RuleSource, load_sources
from tests.conftest import RULES
from tests.test_expr import expressions

_TAIL = """
journeys:
  - persona: everyone
    locale: nl_NL
    tone: u
    steps:
      - {at: due + 3d, channel: email, template: reminder-1}
payment_options:
  - method: bank_transfer
"""


def pack(*conditions: str) -> CompiledRules:
    """A rule pack with one persona per condition and a catch-all."""
    lines = ["personas:"]
    for i, condition in enumerate(conditions):
        lines += [f"  - id: p{i}", f"    when: '{condition}'"]
    lines += ["  - id: everyone", "    when: always"]
    journeys = "".join(
        f"\n  - persona: p{i}\n    locale: nl_NL\n    tone: u\n    steps:\n"
        "      - {at: due + 3d, channel: email, template: reminder-1}"
        for i in range(len(conditions))
    )
    text = "\n".join(lines) + _TAIL.replace("journeys:", "journeys:" + journeys, 1)
    return compile_rules(load_sources([RuleSource("t.yaml", text)]))


def sheet(**facts: Any) -> dict[str, Any]:
    return dict(FactSheet.build(None, **facts).values)


def test_a_catch_all_does_not_loop_on_the_session_state() -> None:
    """durable_rules re-asserts its state after each action; `always` must not match it."""
    rules = pack()
    for _ in range(50):
        assert rules.persona_index_durable(sheet()) == 0
    # the state is still there and never became an event of ours
    state = comp._get_host().get_state(rules.name)
    assert state.get("t") is None


def test_first_matching_persona_wins_by_priority() -> None:
    """Two personas both match: the one written first is chosen."""
    rules = pack('customer.kind == "business"', 'customer.country == "NL"')
    assert (
        rules.persona_index_durable(sheet(customer__kind="business", customer__country="NL")) == 0
    )
    assert (
        rules.persona_index_durable(sheet(customer__kind="consumer", customer__country="NL")) == 1
    )
    assert (
        rules.persona_index_durable(sheet(customer__kind="consumer", customer__country="DE")) == 2
    )


def test_in_compiles_to_an_or_of_equalities() -> None:
    """durable_rules has no $in: `in [..]` becomes $or of equalities."""
    fields = comp._FieldMap()
    condition = comp._durable(ex.parse('customer.country in ["NL", "BE"]'), fields)
    assert condition == {"$or": [{"f0": "NL"}, {"f0": "BE"}]}
    rules = pack('customer.country in ["NL", "BE"]')
    assert rules.persona_index_durable(sheet(customer__country="BE")) == 0
    assert rules.persona_index_durable(sheet(customer__country="DE")) == 1


def test_negation_of_a_comparison_treats_unknown_as_the_evaluator_does() -> None:
    """not (credit_score < 30) holds for an unknown score, in both engines."""
    rules = pack("not (customer.credit_score < 30)")
    for score in (None, 10, 30, 90):
        values = sheet(customer__credit_score=score)
        assert rules.persona_index_durable(values) == rules.persona_index_plain(values)
    assert rules.persona_index_durable(sheet()) == 0


def test_no_dispatch_threads_are_started() -> None:
    """Our Host runs actions inside post(): no background timer threads."""
    before = {t.name for t in threading.enumerate()}
    rules = pack("customer.employees > 5")
    rules.persona_index_durable(sheet(customer__employees=9))
    after = {t.name for t in threading.enumerate()}
    assert not [t for t in after - before if t.startswith("Thread")]


def test_the_same_rules_compile_twice_and_a_change_gets_a_new_name() -> None:
    """A name registers once: the same content reuses it, changed content gets a new one."""
    first = pack("customer.employees > 5")
    again = pack("customer.employees > 5")
    other = pack("customer.employees > 6")
    assert first.name == again.name != other.name
    assert again.persona_index_durable(sheet(customer__employees=6)) == 0
    assert other.persona_index_durable(sheet(customer__employees=6)) == 1


def test_set_rulesets_does_not_consume_our_definition() -> None:
    """durable_rules deletes 'run' from what it is given: we pass it a copy."""
    fields = comp._FieldMap()
    spec = load_sources(
        [RuleSource("t.yaml", "personas:\n  - id: everyone\n    when: always\n" + _TAIL)]
    )
    definition = comp.durable_ruleset(spec.personas, fields)
    comp._register("payjourney_copytest", definition)
    assert "all" in definition["persona_0"]


def test_memoised_answers_equal_fresh_durable_answers(default_rules: CompiledRules) -> None:
    """The atom-vector memo never changes an answer."""
    values = sheet(
        customer__kind="consumer", customer__country="DE", balance__open_amount=Decimal("99")
    )
    first = default_rules.classify(values)
    assert default_rules.classify(values) is first
    assert default_rules.persona_index_durable(values) == first.persona.index


# ------------------------------------------------------------------ differential tests


_COUNTRIES = st.sampled_from(["NL", "DE", "BE", "AT", "FR"])
fact_sheets = st.builds(
    lambda kind, country, employees, role, amount, late, ratio, broken, score, tags, due: sheet(
        customer__kind=kind,
        customer__country=country,
        customer__employees=employees,
        customer__payer_role=role,
        balance__open_amount=amount,
        behaviour__avg_days_late=late,
        behaviour__on_time_ratio=ratio,
        behaviour__broken_promises=broken,
        customer__credit_score=score,
        customer__tags=tags,
        balance__oldest_due_date=due,
    ),
    st.sampled_from(["consumer", "business"]),
    _COUNTRIES,
    st.none() | st.integers(0, 5000),
    st.none() | st.sampled_from(["controller", "accounts_payable", "owner", "consumer"]),
    st.decimals(0, 100_000, places=2, allow_nan=False, allow_infinity=False),
    st.none() | st.floats(0, 60, allow_nan=False),
    st.none() | st.floats(0, 1, allow_nan=False),
    st.integers(0, 5),
    st.none() | st.integers(0, 100),
    st.lists(st.sampled_from(["vip", "b2b", "new"]), max_size=2),
    st.none() | st.dates(dt.date(2025, 1, 1), dt.date(2027, 1, 1)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fact_sheets)
def test_durable_rules_and_the_evaluator_agree_on_the_default_pack(values: dict[str, Any]) -> None:
    """On every generated fact sheet both engines choose the same persona."""
    rules = compile_rules(_default_spec())
    assert rules.persona_index_durable(values) == rules.persona_index_plain(values)
    assert rules.classify(values) == rules.classify_plain(values)


# keyed by the mutant under test: mutmut forks each mutant's run from a process that has already
# loaded the pack with the original code, and a spec cached there would hide rulespec mutants
_SPEC_CACHE: dict[str, Any] = {}


def _default_spec() -> Any:
    key = os.environ.get("MUTANT_UNDER_TEST", "")
    if key not in _SPEC_CACHE:
        from engine.rules.rulespec import load_rules

        _SPEC_CACHE[key] = load_rules(RULES)
    return _SPEC_CACHE[key]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(expressions.filter(lambda e: not isinstance(e, ex.Always)), min_size=1, max_size=3),
    st.lists(fact_sheets, min_size=1, max_size=6),
)
def test_durable_rules_and_the_evaluator_agree_on_random_conditions(
    conditions: list[ex.Expr], sheets: list[dict[str, Any]]
) -> None:
    """Random personas (negations, lists, exists, unknowns) classify alike in both engines;
    a condition durable_rules cannot hold is refused as a rule error naming its persona."""
    try:
        rules = pack(*(ex.to_source(c).replace("'", "''") for c in conditions))
    except RuleError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.problem.startswith("durable_rules cannot hold this condition")
            assert problem.key_path in {f"persona 'p{i}'" for i in range(len(conditions))}
        return
    for values in sheets:
        assert rules.persona_index_durable(values) == rules.persona_index_plain(values)


def test_a_condition_durable_rules_cannot_hold_is_a_rule_error_at_its_persona() -> None:
    """durable_rules 2.0.28 keeps one rule's condition in 32 slots ("error code: 113");
    pushing a `not` down over five or-pairs fills them. The pack is refused with the persona's
    file:line and the fix, not a bare C error; the other personas are not blamed."""
    five = " and ".join(
        f"(customer.credit_score == {i} or behaviour.broken_promises == {i})" for i in range(5)
    )
    four = five.rsplit(" and ", 1)[0]
    compile_ok = pack(f"not ({four})")  # just fits
    assert compile_ok.persona_index_durable(sheet(customer__credit_score=9)) == 0
    with pytest.raises(RuleError) as refused:
        pack('customer.kind == "consumer"', f"not ({five})")
    (problem,) = refused.value.problems
    assert (problem.path, problem.line, problem.column) == ("t.yaml", 4, 5)
    assert problem.key_path == "persona 'p1'"
    assert str(problem) == (
        "t.yaml:4:5: error: durable_rules cannot hold this condition in one rule: more than its"
        " 32 parts once compiled (each comparison and each and/or takes some, a negated"
        " comparison more) in persona 'p1'\n"
        "  split it: put one side of an `or` in a persona of its own above this one, or write"
        " `not (...)` around fewer comparisons"
    )


def test_a_refused_condition_is_found_per_pack_even_after_a_pack_whose_same_persona_fit() -> None:
    """Each persona is tried alone under its own pack's name: a first persona that fit in an
    earlier pack does not hide the same-numbered persona that does not fit in this one."""
    pairs = " and ".join(
        f"(customer.credit_score == {i} or behaviour.broken_promises == {i})" for i in range(5)
    )
    with pytest.raises(RuleError):
        pack('customer.kind == "business"', f"not ({pairs})")
    with pytest.raises(RuleError) as refused:
        pack(f"not ({pairs})", 'customer.kind == "business"')
    assert [p.key_path for p in refused.value.problems] == ["persona 'p0'"]


def test_other_refusals_by_durable_rules_are_reported_as_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only its code 113 is explained as the 32-part limit; any other refusal of one persona
    is passed on in its own words, and a refusal no single persona causes is an EngineError."""
    real = comp._register

    def refuse(name: str, definition: dict[str, Any]) -> list[int]:
        if name.endswith("_persona_1") or not name.endswith(("_persona_0", "_persona_2")):
            raise RuntimeError("Could not create ruleset, error code: 999")
        return real(name, definition)

    monkeypatch.setattr(comp, "_register", refuse)
    with pytest.raises(RuleError) as refused:
        pack('customer.kind == "business"', 'customer.kind == "consumer"')
    (problem,) = refused.value.problems
    assert problem.key_path == "persona 'p1'"
    assert problem.problem == (
        "durable_rules refuses this condition: Could not create ruleset, error code: 999"
    )

    def refuse_the_pack_only(name: str, definition: dict[str, Any]) -> list[int]:
        if not name.endswith(("_persona_0", "_persona_1", "_persona_2")):
            raise RuntimeError("boom")
        return real(name, definition)

    monkeypatch.setattr(comp, "_register", refuse_the_pack_only)
    with pytest.raises(EngineError) as failed:
        pack('customer.kind == "business"', 'customer.kind == "consumer"')
    assert str(failed.value) == "durable_rules refused the persona rules: boom"


def test_an_action_exception_is_kept_in_the_session_state_so_actions_only_record() -> None:
    """durable_rules returns a failed action's exception from every later post of the session;
    our actions only append to a list, and a state carrying an exception is refused."""
    host = comp._get_host()

    def boom(c: Any) -> None:
        raise RuntimeError("boom")

    # a fresh name per run: the host is process-wide, and mutmut runs the suite twice in one process
    name = f"pin_exception_{uuid.uuid4().hex}"
    host.set_rulesets({name: {"r": {"all": [{"m": {"t": "x"}}], "pri": 0, "run": boom}}})
    for _ in range(2):
        state = host.post(name, {"t": "x"})
        assert "boom" in state["exception"]
    rules = pack("customer.employees > 5")
    for employees in range(20):  # many posts, one session, no exception ever stored
        rules.persona_index_durable(sheet(customer__employees=employees))
    assert "exception" not in host.get_state(rules.name)


# ------------------------------------------------------------------ pinned behaviours


def _pack_text(personas: str, journeys: str = "", options: str = "") -> CompiledRules:
    text = (
        "personas:\n" + personas + "  - id: everyone\n    when: always\n"
        "journeys:\n" + journeys + "  - persona: everyone\n    locale: nl_NL\n    tone: u\n"
        "    steps:\n      - {at: due + 3d, channel: email, template: reminder-1}\n"
        "payment_options:\n" + (options or "  - method: bank_transfer\n")
    )
    return compile_rules(load_sources([RuleSource("t.yaml", text)]))


def test_a_spec_without_a_catch_all_is_refused_when_nobody_matches() -> None:
    """Validation always adds a catch-all; a spec built around it gets a clear error from both
    engines instead of a wrong persona."""
    import dataclasses

    spec = pack('customer.kind == "business"').spec
    rules = CompiledRules(dataclasses.replace(spec, personas=spec.personas[:1]))
    values = sheet(customer__kind="consumer")
    with pytest.raises(EngineError) as plain:
        rules.persona_index_plain(values)
    assert str(plain.value) == "no persona matched; the rule pack must end with a catch-all"
    with pytest.raises(EngineError) as durable:
        rules.persona_index_durable(values)
    assert str(durable.value) == (
        "no persona matched; the rule pack must end with a catch-all (`when: always`)"
    )
    assert rules.persona_index_durable(sheet(customer__kind="business")) == 0


def test_payment_options_without_a_journey_list_are_every_offered_one_in_pack_order() -> None:
    """A journey without its own list offers each option whose `when` holds, in the order of
    the pack; a journey with a list narrows and orders it."""
    rules = _pack_text(
        "  - id: nl\n    when: 'customer.country == \"NL\"'\n",
        "  - persona: nl\n    locale: nl_NL\n    tone: u\n"
        "    payment_options: [ideal, bank_transfer]\n"
        "    steps:\n      - {at: due + 3d, channel: email, template: reminder-1}\n",
        "  - method: bank_transfer\n"
        '  - method: ideal\n    when: \'customer.country in ["NL", "BE"]\'\n'
        "  - method: sepa_direct_debit\n    when: 'customer.kind == \"business\"'\n",
    )
    for facts, persona, options in (
        ({"customer__country": "BE", "customer__kind": "business"}, "everyone",
         ("bank_transfer", "ideal", "sepa_direct_debit")),
        ({"customer__country": "DE", "customer__kind": "consumer"}, "everyone",
         ("bank_transfer",)),
        ({"customer__country": "NL", "customer__kind": "business"}, "nl",
         ("ideal", "bank_transfer")),
    ):  # fmt: skip
        for found in (rules.classify(sheet(**facts)), rules.classify_plain(sheet(**facts))):
            assert (found.persona.id, found.payment_options) == (persona, options)


def test_membership_in_a_list_fact_is_unknown_when_the_list_is() -> None:
    """`"vip" in customer.tags` and `not in` are false for unknown tags, and their negations true
    (as in the plain evaluator); two members of the same list are told apart."""
    conditions = (
        '"vip" in customer.tags',
        '"vip" not in customer.tags',
        'not ("vip" in customer.tags)',
        'not ("vip" not in customer.tags)',
        '"b2b" in customer.tags',
    )
    expected = {  # tags -> which conditions hold
        None: (False, False, True, True, False),
        (): (False, True, True, False, False),
        ("vip",): (True, False, False, True, False),
        ("b2b",): (False, True, True, False, True),
    }
    for i, condition in enumerate(conditions):
        rules = pack(condition, '"b2b" in customer.tags')
        for tags, holds in expected.items():
            values = sheet(customer__tags=None if tags is None else list(tags))
            want = 0 if holds[i] else (1 if holds[4] else 2)
            assert rules.persona_index_durable(values) == want, (condition, tags)
            assert rules.persona_index_plain(values) == want


def test_an_empty_list_holds_for_no_value_and_its_negations_only_for_unknown_or_known() -> None:
    """`x in []` never holds; `x not in []` holds for every known value; `not (x in [])` always;
    `not (x not in [])` only when x is unknown, as in the plain evaluator."""
    for condition, known, unknown in (
        ("customer.country in []", False, False),
        ("customer.country not in []", True, False),
        ("not (customer.country in [])", True, True),
        ("not (customer.country not in [])", False, True),
    ):
        rules = pack(condition)
        for value, holds in (("NL", known), (None, unknown)):
            values = sheet(customer__country=value)
            want = 0 if holds else 1
            assert rules.persona_index_durable(values) == want, (condition, value)
            assert rules.persona_index_plain(values) == want, (condition, value)


def test_numbers_and_dates_compare_alike_in_both_engines_at_every_boundary() -> None:
    """Order codes keep every comparison: below, at and above each threshold, between two, for
    each operator; an unknown value matches nothing but a negation."""
    rules = pack(
        "balance.open_amount > 100",
        "balance.open_amount >= 50 and balance.open_amount <= 60",
        "balance.open_amount == 20",
        "balance.open_amount != 10 and balance.open_amount < 15",
        'balance.oldest_due_date < "2026-01-01"',
        "not (customer.employees >= 3)",
    )
    amounts = ("0", "9.99", "10", "14.99", "15", "19.99", "20", "20.01", "49.99", "50", "55",
               "60", "60.01", "100", "100.01", "5000")  # fmt: skip
    for amount in amounts:
        values = sheet(balance__open_amount=Decimal(amount), customer__employees=5)
        assert rules.persona_index_durable(values) == rules.persona_index_plain(values), amount
    expected = {"100.01": 0, "50": 1, "60": 1, "60.01": 6, "20": 2, "14.99": 3, "10": 6, "15": 6}
    for amount, persona in expected.items():
        values = sheet(balance__open_amount=Decimal(amount), customer__employees=5)
        assert rules.persona_index_durable(values) == persona, amount
    for due, persona in ((dt.date(2025, 12, 31), 4), (dt.date(2026, 1, 1), 6), (None, 6)):
        values = sheet(balance__open_amount=Decimal("30"), balance__oldest_due_date=due,
                       customer__employees=5)  # fmt: skip
        assert rules.persona_index_durable(values) == persona, due
    for employees, persona in ((2, 5), (3, 6), (None, 5)):
        values = sheet(balance__open_amount=Decimal("30"), customer__employees=employees)
        assert rules.persona_index_durable(values) == persona, employees


def test_a_fact_only_asked_whether_it_is_known_is_compiled_too() -> None:
    """`exists(x)` for a number or date fact with no comparison: known or not is all it asks."""
    rules = pack("exists(balance.oldest_due_date)", "exists(customer.employees)")
    assert rules.persona_index_durable(sheet(balance__oldest_due_date=dt.date(2026, 1, 5))) == 0
    assert rules.persona_index_durable(sheet(customer__employees=0)) == 1
    assert rules.persona_index_durable(sheet()) == 2


def test_thresholds_are_learnt_past_conditions_on_text_lists_and_existence() -> None:
    """A number compared after a text comparison, a tag membership or an existence test in the
    same condition is still coded right; so are numbers in a list."""
    rules = pack(
        'customer.country == "DE" and balance.open_amount < 5',
        '"vip" in customer.tags and balance.open_amount > 1000',
        "exists(customer.credit_score) and customer.credit_score > 50",
        "customer.employees in [5, 10]",
    )
    cases = (
        ({"customer__country": "DE", "balance__open_amount": Decimal("4")}, 0),
        ({"customer__country": "DE", "balance__open_amount": Decimal("5")}, 4),
        ({"customer__tags": ["vip"], "balance__open_amount": Decimal("1000.01")}, 1),
        ({"customer__tags": ["vip"], "balance__open_amount": Decimal("1000")}, 4),
        ({"customer__credit_score": 51}, 2),
        ({"customer__credit_score": 50}, 4),
        ({"customer__employees": 10}, 3),
        ({"customer__employees": 7}, 4),
    )
    for facts, persona in cases:
        values = sheet(**{"balance__open_amount": Decimal("100"), **facts})
        assert rules.persona_index_durable(values) == persona, facts
        assert rules.persona_index_plain(values) == persona, facts


def test_the_memo_tells_apart_sheets_whose_journey_or_payment_options_differ() -> None:
    """One persona for all: the memo key holds the journeys' and the options' conditions too,
    so a sheet never gets the journey or options memoised for another."""
    rules = _pack_text(
        "",
        "  - persona: everyone\n    when: 'customer.country == \"DE\"'\n    locale: de_DE\n"
        "    tone: Sie\n    steps:\n      - {at: due + 3d, channel: email, template: reminder-1}\n",
        "  - method: bank_transfer\n"
        "  - method: sepa_direct_debit\n    when: 'customer.kind == \"business\"'\n",
    )
    nl = rules.classify(sheet(customer__country="NL", customer__kind="consumer"))
    de = rules.classify(sheet(customer__country="DE", customer__kind="consumer"))
    b2b = rules.classify(sheet(customer__country="NL", customer__kind="business"))
    assert (nl.journey.locale, nl.payment_options) == ("nl_NL", ("bank_transfer",))
    assert (de.journey.locale, de.payment_options) == ("de_DE", ("bank_transfer",))
    assert (b2b.journey.locale, b2b.payment_options) == (
        "nl_NL",
        ("bank_transfer", "sepa_direct_debit"),
    )
    assert rules.cache_size == 3


def test_the_memo_is_emptied_when_it_reaches_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most `_CACHE_LIMIT` classes are held; the next new one starts a fresh memo."""
    monkeypatch.setattr(comp, "_CACHE_LIMIT", 3)
    rules = pack("customer.employees > 1", "customer.employees > 2", "customer.employees > 3")
    sizes = []
    for employees in (4, 3, 2, 1, 3):
        rules.classify(sheet(customer__employees=employees))
        sizes.append(rules.cache_size)
    assert sizes == [1, 2, 3, 1, 2]
    rules.clear_cache()
    assert rules.cache_size == 0


class _FakeHost:
    """Answers a post as the test says: a state, or an error, recording hits as told."""

    def __init__(self, rules: CompiledRules, hits: list[int], answer: Any) -> None:
        self.rules, self.hits, self.answer = rules, hits, answer

    def post(self, name: str, event: dict[str, Any]) -> Any:
        assert name == self.rules.name and event["t"] == "debtor"
        self.rules._hits.extend(self.hits)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("hits", "answer", "message"),
    [
        ([0], {"sid": "0", "exception": "boom"}, "a durable_rules action failed: boom"),
        (
            [0],
            RuntimeError("error code 204"),
            "durable_rules failed on a fact sheet: error code 204",
        ),
        ([], {"sid": "0"}, "durable_rules fired 0 persona rules, not 1"),
        ([0, 1], {"sid": "0"}, "durable_rules fired 2 persona rules, not 1"),
    ],
)
def test_a_post_that_went_wrong_is_never_taken_as_an_answer(
    monkeypatch: pytest.MonkeyPatch, hits: list[int], answer: Any, message: str
) -> None:
    """An action's exception kept in the state, a bare error from C, no rule or two rules fired:
    each is an EngineError saying which, never a persona."""
    rules = pack("customer.employees > 5")
    monkeypatch.setattr(comp, "_get_host", lambda: _FakeHost(rules, hits, answer))
    with pytest.raises(EngineError) as refused:
        rules.persona_index_durable(sheet())
    assert str(refused.value) == message
    monkeypatch.setattr(comp, "_get_host", lambda: _FakeHost(rules, [1], {"sid": "0"}))
    assert rules.persona_index_durable(sheet()) == 1


def test_not_in_a_list_holds_for_a_known_value_outside_it() -> None:
    """`x not in [..]` holds for a known value outside the list only; `not (x in [..])` also
    for an unknown one."""
    for condition, unknown in (
        ('customer.country not in ["NL", "BE"]', False),
        ('not (customer.country in ["NL", "BE"])', True),
    ):
        rules = pack(condition)
        for value, holds in (("NL", False), ("BE", False), ("DE", True), (None, unknown)):
            want = 0 if holds else 1
            assert rules.persona_index_durable(sheet(customer__country=value)) == want, value


def test_the_compiled_pack_carries_its_experiments_into_the_decision(tmp_path: Path) -> None:
    """decide() reads the experiments from the compiled pack: without them no debtor of the
    experiment's persona would ever get a variant."""
    from engine.decision.decide import decide
    from engine.rules.rulespec import load_rules
    from tests.experiments.test_split import NOW, consumer, rules_with

    rules = compile_rules(load_rules(rules_with(tmp_path)))
    assert rules.experiments
    variants = {decide(rules, consumer(f"C-{n:05d}"), NOW).variant for n in range(40)}
    assert variants == {"as-is", "whatsapp-first"}
