"""The condition language: parsing, type checks, evaluation; properties with hypothesis."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.decision.model import FactSheet
from engine.rules import expr as ex
from engine.rules.facts import SCHEMA, FactType


def holds(text: str, **facts: object) -> bool:
    parsed = ex.normalise(ex.parse(text))
    ex.check(parsed)
    return ex.predicate(parsed)(FactSheet.build(None, **facts).values)


def test_the_design_example_condition_holds_for_a_late_dutch_smb() -> None:
    """The condition from the design note reads as a credit manager expects."""
    text = 'customer.kind == "business" and behaviour.avg_days_late >= 3 and customer.country in ["NL", "BE"]'
    assert holds(
        text, customer__kind="business", behaviour__avg_days_late=4, customer__country="BE"
    )
    assert not holds(
        text, customer__kind="business", behaviour__avg_days_late=2, customer__country="NL"
    )
    assert not holds(
        text, customer__kind="consumer", behaviour__avg_days_late=9, customer__country="NL"
    )


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    """`a or b and c` is `a or (b and c)`; `not a and b` is `(not a) and b`."""
    assert holds(
        'customer.country == "DE" or customer.kind == "consumer" and customer.employees > 5',
        customer__country="DE",
        customer__kind="business",
    )
    assert not holds(
        "not customer.decision_authority and customer.employees > 5",
        customer__decision_authority=False,
        customer__employees=1,
    )


def test_an_unknown_fact_makes_every_comparison_false_and_exists_tells() -> None:
    """Unknown is not zero: credit_score < 30 is false when no score is known."""
    assert not holds("customer.credit_score < 30")
    assert not holds("customer.credit_score >= 30")
    assert holds("not exists(customer.credit_score)")
    assert holds(
        "exists(customer.credit_score) and customer.credit_score < 30", customer__credit_score=12
    )


def test_membership_in_a_list_fact() -> None:
    """`"vip" in customer.tags` asks whether the tag is there."""
    assert holds('"vip" in customer.tags', customer__tags=["vip", "b2b"])
    assert not holds('"vip" in customer.tags', customer__tags=["b2b"])
    assert holds('"vip" not in customer.tags', customer__tags=[])


def test_dates_compare_with_iso_strings() -> None:
    """A date fact compares with a quoted YYYY-MM-DD."""
    assert holds('balance.oldest_due_date < "2026-01-01"', balance__oldest_due_date="2025-12-01")
    assert not holds(
        'balance.oldest_due_date < "2026-01-01"', balance__oldest_due_date="2026-02-01"
    )


def test_a_value_on_the_left_is_flipped() -> None:
    """`3 <= behaviour.avg_days_late` means the same as `behaviour.avg_days_late >= 3`."""
    assert holds("3 <= behaviour.avg_days_late", behaviour__avg_days_late=3)
    assert not holds("3 < behaviour.avg_days_late", behaviour__avg_days_late=3)


def test_true_is_never_equal_to_one() -> None:
    """A boolean fact compared with true is not fooled by numbers."""
    assert holds("customer.consent.sms == true", customer__consent__sms=True)
    assert not holds("customer.consent.sms", customer__consent__sms=False)


@pytest.mark.parametrize(
    ("text", "offset", "fragment"),
    [
        ("customer.kind = 'x'", 14, "unexpected character '='"),
        ("customer.kind == ", 17, "expected a fact or a value"),
        ("(customer.kind == 'x'", 21, "expected ')'"),
        ("customer.kind == 'x' customer.country == 'NL'", 21, "unexpected 'customer.country'"),
        ("", 0, "empty condition"),
        ("42", 0, "a value alone is not a condition"),
        ("exists(3)", 7, "exists() takes a fact name"),
    ],
)
def test_syntax_errors_point_at_the_column(text: str, offset: int, fragment: str) -> None:
    """A parse error names what is wrong and where."""
    with pytest.raises(ex.ExprError) as info:
        ex.parse(text)
    assert fragment in info.value.message
    assert info.value.offset == offset


# ------------------------------------------------------------------ properties

_FACTS_BY_TYPE = {
    t: sorted(n for n, f in SCHEMA.items() if f.type is t and not f.choices) for t in FactType
}
_strings = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=8
)


def _literal_for(ftype: FactType) -> st.SearchStrategy[ex.Literal]:
    if ftype is FactType.NUMBER:
        return st.one_of(
            st.integers(-10_000, 10_000),
            st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 3)),
        ).map(ex.Literal)
    if ftype is FactType.BOOL:
        return st.booleans().map(ex.Literal)
    if ftype is FactType.DATE:
        return st.dates(dt.date(2000, 1, 1), dt.date(2040, 1, 1)).map(
            lambda d: ex.Literal(d.isoformat())
        )
    return _strings.map(ex.Literal)


@st.composite
def _atoms(draw: st.DrawFn) -> ex.Expr:
    ftype = draw(st.sampled_from([FactType.NUMBER, FactType.STRING, FactType.BOOL, FactType.DATE]))
    name = draw(st.sampled_from(_FACTS_BY_TYPE[ftype]))
    kind = draw(st.sampled_from(["cmp", "in", "exists"]))
    if kind == "exists":
        return ex.Exists(ex.Fact(name))
    if kind == "in" and ftype in (FactType.NUMBER, FactType.STRING):
        items = draw(st.lists(_literal_for(ftype), max_size=4))
        return ex.Compare(
            ex.Fact(name), draw(st.sampled_from(["in", "not in"])), ex.ListLiteral(tuple(items))
        )
    ops = ["==", "!="] if ftype in (FactType.STRING, FactType.BOOL) else list(ex.NEGATED_OP)
    return ex.Compare(ex.Fact(name), draw(st.sampled_from(ops)), draw(_literal_for(ftype)))


expressions: st.SearchStrategy[ex.Expr] = st.recursive(
    st.one_of(_atoms(), st.just(ex.Always())),
    lambda inner: st.one_of(
        inner.map(ex.Not),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: ex.And(tuple(xs))),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: ex.Or(tuple(xs))),
    ),
    max_leaves=8,
)


@settings(max_examples=300)
@given(expressions)
def test_printing_then_parsing_gives_the_same_expression(expression: ex.Expr) -> None:
    """Round trip: parse(to_source(e)) == e, and it type-checks."""
    text = ex.to_source(expression)
    parsed = ex.parse(text)
    assert ex.strip_offsets(parsed) == ex.strip_offsets(expression)
    ex.check(parsed)


@settings(max_examples=500)
@given(st.text(max_size=60))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    """Any text either parses or raises ExprError; nothing else escapes."""
    try:
        ex.check(ex.parse(text))
    except ex.ExprError as exc:
        assert 0 <= exc.offset <= len(text)


@settings(max_examples=300)
@given(st.text(alphabet='abcdefghijklmnopqrstuvwxyz._ ()[],"<>=!0123456789', max_size=60))
def test_condition_like_text_never_crashes_the_parser(text: str) -> None:
    """Text made of the language's own characters parses or fails cleanly."""
    with contextlib.suppress(ex.ExprError):
        ex.check(ex.parse(text))


def test_cached_sources_and_checks_keep_equal_looking_conditions_apart() -> None:
    """`x == 1` and `x == true` compare equal in Python (True == 1); the source text and check
    a trace reuses are per condition object, so each is still named as written and judged on
    its own."""
    one = ex.Compare(ex.Fact("journey.steps_sent"), "==", ex.Literal(1))
    true = ex.Compare(ex.Fact("journey.steps_sent"), "==", ex.Literal(True))
    assert one == true  # why equality cannot be the cache key
    assert [ex.source_of(one), ex.source_of(true)] == [
        "journey.steps_sent == 1",
        "journey.steps_sent == true",
    ]
    assert ex.source_of(one) is ex.source_of(one)  # made once
    both = ex.And((one, ex.Compare(ex.Fact("balance.open_invoices"), ">", ex.Literal(2))))
    assert ex.false_part(both, {"journey.steps_sent": 1, "balance.open_invoices": 1}) == (
        "balance.open_invoices > 2"
    )
    assert ex.false_part(both, {"journey.steps_sent": 0, "balance.open_invoices": 3}) == (
        "journey.steps_sent == 1"
    )
    assert ex.false_part(both, {"journey.steps_sent": 1, "balance.open_invoices": 3}) is None
