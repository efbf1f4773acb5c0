"""The condition language, pinned where mutation testing found slips no other test noticed.

Each test states what a rule author relies on; docs/testing.md lists the mutants of
engine/rules/expr.py these kill and the ones that no behaviour can tell apart.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.decision.model import FactSheet
from engine.rules import expr as ex
from tests.test_expr import expressions

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def holds(text: str, **facts: object) -> bool:
    parsed = ex.normalise(ex.parse(text))
    ex.check(parsed)
    return ex.predicate(parsed)(FactSheet.build(None, **facts).values)


def problem(text: str) -> ex.ExprError:
    with pytest.raises(ex.ExprError) as info:
        ex.check(ex.parse(text))
    return info.value


# ------------------------------------------------------------------ comparisons


@settings(max_examples=200)
@given(
    op=st.sampled_from(sorted(_OPS)),
    fact_value=st.one_of(st.none(), st.integers(-3, 3)),
    limit=st.integers(-3, 3),
)
def test_every_comparison_means_what_it_says_with_the_value_on_either_side(
    op: str, fact_value: int | None, limit: int
) -> None:
    """`score op 1` is Python's own comparison; `1 op score` reads the other way round;
    an unknown score makes both false."""
    facts = {"customer__credit_score": fact_value}
    written_fact_first = holds(f"customer.credit_score {op} {limit}", **facts)
    written_value_first = holds(f"{limit} {op} customer.credit_score", **facts)
    if fact_value is None:
        assert not written_fact_first
        assert not written_value_first
    else:
        assert written_fact_first is _OPS[op](fact_value, limit)
        assert written_value_first is _OPS[op](limit, fact_value)


def test_at_most_includes_the_limit_and_more_than_excludes_it() -> None:
    """`<=` and `>` at, below and above the limit."""
    assert holds("balance.max_days_overdue <= 30", balance__max_days_overdue=30)
    assert not holds("balance.max_days_overdue <= 30", balance__max_days_overdue=31)
    assert holds("balance.max_days_overdue > 30", balance__max_days_overdue=31)
    assert not holds("balance.max_days_overdue > 30", balance__max_days_overdue=30)


def test_a_yes_no_fact_differs_from_true_only_when_it_is_known_to_be_false() -> None:
    """`!= true` holds for false, never for true, and never for a yes/no fact nobody knows."""
    text = "customer.decision_authority != true"
    assert holds(text, customer__decision_authority=False)
    assert not holds(text, customer__decision_authority=True)
    assert not holds(text, customer__decision_authority=None)
    assert holds("customer.decision_authority != false", customer__decision_authority=True)
    assert not holds("customer.decision_authority != false", customer__decision_authority=False)


def test_a_fact_not_in_a_list_is_true_only_for_a_known_value_outside_it() -> None:
    """`country not in ["NL", "BE"]`: DE yes, NL no, unknown country no (unknown, not false)."""
    text = 'customer.country not in ["NL", "BE"]'
    assert holds(text, customer__country="DE")
    assert not holds(text, customer__country="NL")
    assert not holds(text, customer__country=None)


def test_a_tag_test_on_unknown_tags_is_false_either_way() -> None:
    """With no tag list known, neither `"vip" in tags` nor `"vip" not in tags` holds."""
    assert not holds('"vip" in customer.tags', customer__tags=None)
    assert not holds('"vip" not in customer.tags', customer__tags=None)
    assert not holds('"vip" not in customer.tags', customer__tags=["vip"])
    assert holds('"vip" not in customer.tags', customer__tags=["b2b"])


# ------------------------------------------------------------------ text and structure


def test_quotes_and_backslashes_inside_a_string_survive_parsing_and_printing() -> None:
    """`"say \\"hi\\" \\\\ bye"` is the text `say "hi" \\ bye`, and prints back the same."""
    source = r'customer.name == "say \"hi\" \\ bye"'
    parsed = ex.parse(source)
    assert isinstance(parsed, ex.Compare)
    assert parsed.right == ex.Literal('say "hi" \\ bye', 17)
    assert ex.to_source(parsed) == source
    assert ex.parse(ex.to_source(parsed)) == parsed
    assert ex.parse("customer.name == 'it\\'s'") == ex.Compare(
        ex.Fact("customer.name"), "==", ex.Literal("it's", 17)
    )


@settings(max_examples=100)
@given(expressions)
def test_ignoring_positions_changes_nothing_else(expression: ex.Expr) -> None:
    """strip_offsets keeps every fact, operator, value and nesting; only columns become 0."""
    assert ex.strip_offsets(expression) == expression
    assert ex.strip_offsets(ex.parse(ex.to_source(expression))) == expression


@settings(max_examples=100)
@given(expressions)
def test_a_condition_written_fact_first_is_already_normal(expression: ex.Expr) -> None:
    """normalise leaves a fact-first condition exactly as parsed, columns included."""
    parsed = ex.parse(ex.to_source(expression))
    assert ex.normalise(parsed) == parsed


def test_flipping_a_comparison_keeps_its_columns() -> None:
    """After `3 < score` becomes `score > 3`, errors still point where the author wrote."""
    parsed = ex.parse('x == 1 or not (2 < customer.credit_score and "a" == customer.name)')
    assert ex.normalise(parsed) == ex.Or(
        (
            ex.Compare(ex.Fact("x", 0), "==", ex.Literal(1, 5), 0),
            ex.Not(
                ex.And(
                    (
                        ex.Compare(
                            ex.Fact("customer.credit_score", 19), ">", ex.Literal(2, 15), 15
                        ),
                        ex.Compare(ex.Fact("customer.name", 52), "==", ex.Literal("a", 45), 45),
                    ),
                    15,
                ),
                10,
            ),
        ),
        0,
    )


def test_the_facts_a_condition_reads_include_those_under_not() -> None:
    """`not exists(credit_score)` reads credit_score (the engine asks for it)."""
    parsed = ex.parse("not exists(customer.credit_score) and not customer.employees > 5")
    assert list(ex.facts_in(parsed)) == ["customer.credit_score", "customer.employees"]


# ------------------------------------------------------------------ errors an author reads


def test_an_error_reads_as_its_message_and_carries_no_hint_unless_given() -> None:
    """str(error) is the message; a parse error without advice has an empty hint."""
    with pytest.raises(ex.ExprError) as info:
        ex.parse("exists(3)")
    assert str(info.value) == "exists() takes a fact name"
    assert info.value.hint == ""


def test_a_bracket_closed_with_the_wrong_kind_is_an_error_naming_it() -> None:
    """`(kind == "x"]` is not accepted: the error names the `]` it found and its column."""
    with pytest.raises(ex.ExprError) as info:
        ex.parse('(customer.kind == "x"]')
    assert info.value.message == "expected ')', found ']'"
    assert info.value.offset == 21
    with pytest.raises(ex.ExprError) as info:
        ex.parse('(customer.kind == "x"')
    assert info.value.message == "expected ')', found the end"


def test_a_misspelt_fact_suggests_the_right_one() -> None:
    """`customer.kindd` asks "did you mean 'customer.kind'?"; a name like no fact points at the docs."""
    assert problem('customer.kindd == "business"').hint == "did you mean 'customer.kind'?"
    assert problem("zzz.qqq == 1").hint == "see docs/rules.md#facts for every fact"


def test_a_date_fact_compared_with_a_non_date_shows_how_to_write_a_date() -> None:
    """`oldest_due_date < "soon"` and `< 3` both say: write a date as "YYYY-MM-DD"."""
    for text in ('balance.oldest_due_date < "soon"', "balance.oldest_due_date < 3"):
        error = problem(text)
        assert "is not a date" in error.message
        assert error.hint == 'write a date as "YYYY-MM-DD"'


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ('customer.employees == "5"', "compare with a number, without quotes (e.g. 3 or 2.5)"),
        ("customer.name == 5", 'compare with a quoted string (e.g. "NL")'),
        ('customer.consent.sms == "yes"', "compare with true or false"),
    ],
)
def test_a_value_of_the_wrong_type_says_how_to_write_the_right_one(text: str, hint: str) -> None:
    """A number in quotes, a string without, "yes" for a yes/no fact: each gets its own advice."""
    error = problem(text)
    assert error.message.startswith("type mismatch")
    assert error.hint == hint


def test_a_value_a_fact_never_takes_lists_the_values_it_does() -> None:
    """`customer.kind == "busines"` answers with every kind there is."""
    error = problem('customer.kind == "busines"')
    assert error.message == '"busines" is never a value of customer.kind'
    assert error.hint == "expected one of: consumer, business"


def test_membership_between_two_facts_or_two_values_is_an_error_not_a_crash() -> None:
    """`country in tags` and `"a" in ["a"]` are refused with a message, not a traceback."""
    assert problem("customer.country in customer.tags").message == "'in' needs a list on its right"
    assert problem('"a" in ["a"]').message == "'in' needs a fact on its left"


@pytest.mark.parametrize(
    ("text", "message", "offset", "hint"),
    [
        (
            '"vip" in customer.country',
            "'in' needs a list on its right; customer.country is a string",
            9,
            'write customer.country in ["a", "b"]',
        ),
        (
            '"vip" not in customer.country',
            "'not in' needs a list on its right; customer.country is a string",
            13,
            'write customer.country in ["a", "b"]',
        ),
        ('not "a" in ["a"]', "'in' needs a fact on its left", 4, ""),
        (
            'customer.country in "NL"',
            "'in' needs a list on its right",
            20,
            'write customer.country in ["a", "b"]',
        ),
        (
            'not customer.tags in ["a"]',
            "customer.tags is a list; ask whether it holds a value",
            4,
            'write "value" in customer.tags',
        ),
        (
            'not customer.tags == "a"',
            "customer.tags is a list; ask whether it holds a value",
            4,
            'write "value" in customer.tags',
        ),
        ("not 3 == 4", "a comparison needs a fact on one side", 4, ""),
        (
            "not customer.kind == customer.name",
            "compare customer.kind with a value, not with another fact",
            21,
            "facts are compared with numbers, strings, dates, true or false",
        ),
        (
            'not customer.kind == ["a"]',
            "'==' does not take a list",
            21,
            "use customer.kind in [...]",
        ),
        (
            'not "x" < customer.kind',
            "'<' compares numbers or dates; customer.kind is a string",
            4,
            "use == or != for strings and true/false",
        ),
        (
            'not customer.employees in ["5"]',
            'type mismatch: customer.employees is a number, "5" is a string',
            27,
            "compare with a number, without quotes (e.g. 3 or 2.5)",
        ),
    ],
)
def test_a_condition_that_cannot_be_checked_says_what_where_and_how_to_fix(
    text: str, message: str, offset: int, hint: str
) -> None:
    """Each type error of the rule language: its message, its column, its advice."""
    error = problem(text)
    assert (error.message, error.offset, error.hint) == (message, offset, hint)


def test_a_number_asked_for_in_a_tag_list_is_refused_with_the_quoted_form() -> None:
    """Tags are text: `3 in customer.tags` is refused and shows `"3" in customer.tags`."""
    error = problem("not 3 in customer.tags")
    assert (error.message, error.offset, error.hint) == (
        "customer.tags holds text; 3 is a number",
        4,
        'write "3" in customer.tags',
    )
    error = problem("true not in customer.tags")
    assert error.hint == 'write "true" not in customer.tags'
    ex.check(ex.parse('"3" in customer.tags'))


def test_a_value_written_first_passes_the_check_as_the_author_wrote_it() -> None:
    """`3 < customer.credit_score` type-checks before it is flipped, as rule files are checked."""
    ex.check(ex.parse("3 < customer.credit_score"))
    ex.check(ex.parse('"2026-01-01" <= balance.oldest_due_date'))


# ------------------------------------------------------------------ the parser, column by column

_EVERYTHING = (
    "not exists(customer.credit_score) or (customer.consent.sms and -2.5 < behaviour.avg_days_late"
    " or true) and customer.country not in [\"NL\", 'BE', 3, true,] or (always and false)"
    ' or "vip" in customer.tags and customer.employees >= 10 and not customer.kind != "x"'
    " and x in []"
)


def test_every_construct_of_the_language_parses_to_its_tree_with_its_columns() -> None:
    """Precedence, parentheses, a bare yes/no fact, `true`/`false` alone, negative decimals,
    `not in`, lists (trailing comma, mixed, empty), `always`, `exists`: each with its column."""
    f, lit, cmp = ex.Fact, ex.Literal, ex.Compare
    sms = f("customer.consent.sms", 38)
    assert ex.parse(_EVERYTHING) == ex.Or(
        (
            ex.Not(ex.Exists(f("customer.credit_score", 11), 4), 0),
            ex.And(
                (
                    ex.Or(
                        (
                            ex.And(
                                (
                                    cmp(sms, "==", lit(True, 38), 38),
                                    cmp(lit(-2.5, 63), "<", f("behaviour.avg_days_late", 70), 63),
                                ),
                                38,
                            ),
                            ex.Always(97),
                        ),
                        38,
                    ),
                    cmp(
                        f("customer.country", 107),
                        "not in",
                        ex.ListLiteral(
                            (lit("NL", 132), lit("BE", 138), lit(3, 144), lit(True, 147)), 131
                        ),
                        107,
                    ),
                ),
                37,
            ),
            ex.And((ex.Always(158), ex.Not(ex.Always(169), 169)), 158),
            ex.And(
                (
                    cmp(lit("vip", 179), "in", f("customer.tags", 188), 179),
                    cmp(f("customer.employees", 206), ">=", lit(10, 228), 206),
                    ex.Not(cmp(f("customer.kind", 239), "!=", lit("x", 256), 239), 235),
                    cmp(f("x", 264), "in", ex.ListLiteral((), 269), 264),
                ),
                179,
            ),
        ),
        0,
    )


def test_printing_keeps_numbers_and_yes_no_values_as_written() -> None:
    """10 stays 10 (not 10.0), -2.5 stays -2.5, true stays true (not 1), in canonical form."""
    assert ex.to_source(ex.parse(_EVERYTHING)) == (
        "(not (exists(customer.credit_score)) or (((customer.consent.sms == true and"
        " -2.5 < behaviour.avg_days_late) or always) and customer.country not in"
        ' ["NL", "BE", 3, true]) or (always and not (always)) or ("vip" in customer.tags and'
        ' customer.employees >= 10 and not (customer.kind != "x") and x in []))'
    )


@pytest.mark.parametrize(
    ("text", "message", "offset", "hint"),
    [
        ('customer.kind = "x"', "unexpected character '='", 14, "use == to compare"),
        ("a & b", "unexpected character '&'", 2, "use the words and, or, not"),
        ("a | b", "unexpected character '|'", 2, "use the words and, or, not"),
        ("!a", "unexpected character '!'", 0, "use the words and, or, not"),
        ("a ; b", "unexpected character ';'", 2, ""),
        ("a == 1x", "unexpected character '1'", 5, ""),
        ("   ", "empty condition", 0, "write a condition, or `always`"),
        ("a == 1 b", "unexpected 'b'", 7, "join conditions with `and` or `or`"),
        ("a == 1 )", "unexpected ')'", 7, ""),
        ('a == 1 "x"', "unexpected '\"x\"'", 7, ""),
        ("exists customer.kind", "expected '(' after exists, found 'customer.kind'", 7, ""),
        ("exists(and)", "exists() takes a fact name", 7, ""),
        ("exists(customer.kind", "expected ')', found the end", 20, ""),
        ("not 42", "a value alone is not a condition", 4, "compare it to a fact"),
        ('"x"', "a value alone is not a condition", 0, "compare it to a fact"),
        ("a == and", "expected a fact or a value, found 'and'", 5, ""),
        ("a ==", "expected a fact or a value, found the end of the condition", 4, ""),
        ("a == (1)", "expected a fact or a value, found '('", 5, ""),
        ("a == [1", "expected ',' or ']' in the list", 7, ""),
        ("a == [1 2]", "expected ',' or ']' in the list", 8, ""),
        ("a == [1, b]", "a list holds only numbers, strings, true or false", 9, ""),
        ("a in [1)", "expected ',' or ']' in the list", 7, ""),
        ("not ]", "expected a fact or a value, found ']'", 4, ""),
        ("a in [1, )", "expected a fact or a value, found ')'", 9, ""),
        ("a in [1,", "expected a fact or a value, found the end of the condition", 8, ""),
        ("not", "expected a fact or a value, found the end of the condition", 3, ""),
        ("a not b", "unexpected 'not'", 2, "join conditions with `and` or `or`"),
    ],
)
def test_a_condition_that_does_not_parse_says_what_where_and_how_to_fix(
    text: str, message: str, offset: int, hint: str
) -> None:
    """Each syntax error: its message, its column, its advice."""
    with pytest.raises(ex.ExprError) as info:
        ex.parse(text)
    assert (info.value.message, info.value.offset, info.value.hint) == (message, offset, hint)


@pytest.mark.parametrize(
    ("written", "mirrored"),
    [("<", ">"), ("<=", ">="), (">", "<"), (">=", "<="), ("==", "=="), ("!=", "!=")],
)
def test_a_value_written_first_becomes_the_mirrored_comparison(written: str, mirrored: str) -> None:
    """`30 <= days` is `days >= 30` for every engine that reads it (durable_rules, explain)."""
    normal = ex.normalise(ex.parse(f"30 {written} balance.max_days_overdue"))
    assert normal == ex.Compare(
        ex.Fact("balance.max_days_overdue", 4 + len(written)), mirrored, ex.Literal(30, 0), 0
    )
    assert ex.to_source(normal) == f"balance.max_days_overdue {mirrored} 30"


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("exists(customer.kindd)", 7),
        ('customer.kind == "business" and customer.kindd == "business"', 32),
        ('customer.kind == "business" or not exists(customer.kindd)', 42),
    ],
)
def test_a_misspelt_fact_is_found_anywhere_in_a_condition(text: str, offset: int) -> None:
    """Inside exists(), after `and`, under `or not`: the typo is named at its column."""
    error = problem(text)
    assert (error.message, error.offset) == ("unknown fact 'customer.kindd'", offset)
