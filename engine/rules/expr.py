"""Condition expressions: a safe parser (no eval), type checks against the fact schema, evaluation.

Grammar (lowest precedence first)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand [op operand]        op: == != < <= > >= in, not in
    operand    := fact | number | string | true | false | list | "(" expr ")"
                | "exists" "(" fact ")" | "always"

A comparison with an unknown (null) fact is false; `exists(fact)` asks whether it is known.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from engine.rules.facts import SCHEMA, FactType, suggest

# ---------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class Fact:
    name: str
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Literal:
    value: str | int | float | bool
    offset: int = 0


@dataclass(frozen=True, slots=True)
class ListLiteral:
    items: tuple[Literal, ...]
    offset: int = 0


Operand: TypeAlias = Fact | Literal | ListLiteral


@dataclass(frozen=True, slots=True)
class Always:
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Exists:
    fact: Fact
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Compare:
    left: Operand
    op: str  # == != < <= > >= in "not in"
    right: Operand
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    offset: int = 0


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expr, ...]
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]
    offset: int = 0


Expr: TypeAlias = Always | Exists | Compare | Not | And | Or
Atom: TypeAlias = Exists | Compare

COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
NEGATED_OP = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "always", "exists"})


class ExprError(ValueError):
    """A condition does not parse or does not type-check; `offset` is the 0-based column in it."""

    def __init__(self, message: str, offset: int, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


# ---------------------------------------------------------------- tokenizer

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # number string name op end
    text: str
    offset: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            char = text[pos]
            hint = ""
            if char == "=":
                hint = "use == to compare"
            elif char in "&|!":
                hint = "use the words and, or, not"
            raise ExprError(f"unexpected character {char!r}", pos, hint)
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


# ---------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.pos = 0

    def peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.pos + ahead, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos = min(self.pos + 1, len(self.toks) - 1)
        return tok

    def is_word(self, word: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "name" and tok.text == word

    def expect(self, kind: str, text: str, what: str) -> _Tok:
        tok = self.peek()
        if tok.kind != kind or tok.text != text:
            got = "the end" if tok.kind == "end" else repr(tok.text)
            raise ExprError(f"expected {what}, found {got}", tok.offset)
        return self.take()

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise ExprError("empty condition", 0, "write a condition, or `always`")
        expr = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            hint = "join conditions with `and` or `or`" if tok.kind == "name" else ""
            raise ExprError(f"unexpected {tok.text!r}", tok.offset, hint)
        return expr

    def parse_or(self) -> Expr:
        start = self.peek().offset
        parts = [self.parse_and()]
        while self.is_word("or"):
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else Or(tuple(parts), start)

    def parse_and(self) -> Expr:
        start = self.peek().offset
        parts = [self.parse_not()]
        while self.is_word("and"):
            self.take()
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else And(tuple(parts), start)

    def parse_not(self) -> Expr:
        if self.is_word("not"):
            tok = self.take()
            return Not(self.parse_not(), tok.offset)
        return self.parse_comparison()

    def parse_comparison(self) -> Expr:
        tok = self.peek()
        if tok.kind == "op" and tok.text == "(":
            self.take()
            inner = self.parse_or()
            self.expect("op", ")", "')'")
            return inner
        if self.is_word("always"):
            self.take()
            return Always(tok.offset)
        if self.is_word("exists"):
            self.take()
            self.expect("op", "(", "'(' after exists")
            fact_tok = self.peek()
            if fact_tok.kind != "name" or fact_tok.text in KEYWORDS:
                raise ExprError("exists() takes a fact name", fact_tok.offset)
            self.take()
            self.expect("op", ")", "')'")
            return Exists(Fact(fact_tok.text, fact_tok.offset), tok.offset)
        left = self.parse_operand()
        op_tok = self.peek()
        if op_tok.kind == "op" and op_tok.text in COMPARE_OPS:
            op = self.take().text
        elif self.is_word("in"):
            self.take()
            op = "in"
        elif self.is_word("not") and self.is_word("in", 1):
            self.take()
            self.take()
            op = "not in"
        else:
            if isinstance(left, Fact):  # a bare boolean fact reads as `fact == true`
                return Compare(left, "==", Literal(True, left.offset), left.offset)
            if isinstance(left, Literal) and isinstance(left.value, bool):
                return Always(left.offset) if left.value else Not(Always(left.offset), left.offset)
            raise ExprError("a value alone is not a condition", left.offset, "compare it to a fact")
        right = self.parse_operand()
        return Compare(left, op, right, left.offset)

    def parse_operand(self) -> Operand:
        tok = self.peek()
        if tok.kind == "number":
            self.take()
            number: int | float = float(tok.text) if "." in tok.text else int(tok.text)
            return Literal(number, tok.offset)
        if tok.kind == "string":
            self.take()
            return Literal(_unquote(tok.text), tok.offset)
        if tok.kind == "name":
            if tok.text in ("true", "false"):
                self.take()
                return Literal(tok.text == "true", tok.offset)
            if tok.text in KEYWORDS:
                raise ExprError(f"expected a fact or a value, found {tok.text!r}", tok.offset)
            self.take()
            return Fact(tok.text, tok.offset)
        if tok.kind == "op" and tok.text == "[":
            self.take()
            items: list[Literal] = []
            while not (self.peek().kind == "op" and self.peek().text == "]"):
                item = self.parse_operand()
                if not isinstance(item, Literal):
                    raise ExprError(
                        "a list holds only numbers, strings, true or false", item.offset
                    )
                items.append(item)
                if self.peek().kind == "op" and self.peek().text == ",":
                    self.take()
                elif not (self.peek().kind == "op" and self.peek().text == "]"):
                    raise ExprError("expected ',' or ']' in the list", self.peek().offset)
            self.take()
            return ListLiteral(tuple(items), tok.offset)
        got = "the end of the condition" if tok.kind == "end" else repr(tok.text)
        raise ExprError(f"expected a fact or a value, found {got}", tok.offset)


def parse(text: str) -> Expr:
    """Parse a condition; raise ExprError with the offending column."""
    return _Parser(text).parse()


# ---------------------------------------------------------------- printing


def _literal_source(lit: Literal) -> str:
    value = lit.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _operand_source(op: Operand) -> str:
    if isinstance(op, Fact):
        return op.name
    if isinstance(op, Literal):
        return _literal_source(op)
    return "[" + ", ".join(_literal_source(i) for i in op.items) + "]"


def to_source(expr: Expr) -> str:
    """Canonical text of an expression; `parse(to_source(e))` gives `e` back (offsets aside)."""
    if isinstance(expr, Always):
        return "always"
    if isinstance(expr, Exists):
        return f"exists({expr.fact.name})"
    if isinstance(expr, Compare):
        return f"{_operand_source(expr.left)} {expr.op} {_operand_source(expr.right)}"
    if isinstance(expr, Not):
        return f"not ({to_source(expr.operand)})"
    joiner = " and " if isinstance(expr, And) else " or "
    return "(" + joiner.join(to_source(e) for e in expr.operands) + ")"


def strip_offsets(expr: Expr) -> Expr:
    """The same expression with every offset 0, for structural comparison."""
    if isinstance(expr, Always):
        return Always()
    if isinstance(expr, Exists):
        return Exists(Fact(expr.fact.name))
    if isinstance(expr, Compare):
        return Compare(_strip_operand(expr.left), expr.op, _strip_operand(expr.right))
    if isinstance(expr, Not):
        return Not(strip_offsets(expr.operand))
    if isinstance(expr, And):
        return And(tuple(strip_offsets(e) for e in expr.operands))
    return Or(tuple(strip_offsets(e) for e in expr.operands))


def _strip_operand(op: Operand) -> Operand:
    if isinstance(op, Fact):
        return Fact(op.name)
    if isinstance(op, Literal):
        return Literal(op.value)
    return ListLiteral(tuple(Literal(i.value) for i in op.items))


# ---------------------------------------------------------------- type checking


def _literal_type(lit: Literal) -> FactType:
    if isinstance(lit.value, bool):
        return FactType.BOOL
    if isinstance(lit.value, str):
        return FactType.STRING
    return FactType.NUMBER


def _check_fact(fact: Fact) -> FactType:
    if fact.name not in SCHEMA:
        hint = suggest(fact.name)
        raise ExprError(
            f"unknown fact '{fact.name}'",
            fact.offset,
            f"did you mean '{hint}'?" if hint else "see docs/rules.md#facts for every fact",
        )
    return SCHEMA[fact.name].type


def _check_value(fact: Fact, ftype: FactType, lit: Literal) -> None:
    ltype = _literal_type(lit)
    if ftype is FactType.DATE:
        if ltype is FactType.STRING and isinstance(lit.value, str):
            try:
                dt.date.fromisoformat(lit.value)
                return
            except ValueError:
                pass
        raise ExprError(
            f"{fact.name} is a date; {_literal_source(lit)} is not a date",
            lit.offset,
            'write a date as "YYYY-MM-DD"',
        )
    if ltype is not ftype:
        raise ExprError(
            f"type mismatch: {fact.name} is a {ftype.value}, {_literal_source(lit)} is a "
            f"{ltype.value}",
            lit.offset,
            _type_hint(ftype),
        )
    choices = SCHEMA[fact.name].choices
    if choices and lit.value not in choices:
        raise ExprError(
            f"{_literal_source(lit)} is never a value of {fact.name}",
            lit.offset,
            "expected one of: " + ", ".join(choices),
        )


def _type_hint(ftype: FactType) -> str:
    return {
        FactType.NUMBER: "compare with a number, without quotes (e.g. 3 or 2.5)",
        FactType.STRING: 'compare with a quoted string (e.g. "NL")',
        FactType.BOOL: "compare with true or false",
        FactType.DATE: 'compare with a quoted date "YYYY-MM-DD"',
        FactType.STRING_LIST: 'ask membership: "value" in fact',
    }[ftype]


def check(expr: Expr) -> None:
    """Type-check an expression against the fact schema; raise ExprError on the first problem."""
    if isinstance(expr, Always):
        return
    if isinstance(expr, Exists):
        _check_fact(expr.fact)
        return
    if isinstance(expr, Not):
        check(expr.operand)
        return
    if isinstance(expr, And | Or):
        for e in expr.operands:
            check(e)
        return
    _check_compare(expr)


def _check_compare(cmp: Compare) -> None:
    left, op, right = cmp.left, cmp.op, cmp.right
    if op in ("in", "not in"):
        if isinstance(left, Literal) and isinstance(right, Fact):
            ftype = _check_fact(right)
            if ftype is not FactType.STRING_LIST:
                raise ExprError(
                    f"'{op}' needs a list on its right; {right.name} is a {ftype.value}",
                    right.offset,
                    f'write {right.name} in ["a", "b"]',
                )
            if not isinstance(left.value, str):
                member = _literal_source(left)
                raise ExprError(
                    f"{right.name} holds text; {member} is a {_literal_type(left).value}",
                    left.offset,
                    f'write "{member}" {op} {right.name}',
                )
            return
        if not isinstance(left, Fact):
            raise ExprError(f"'{op}' needs a fact on its left", left.offset)
        ftype = _check_fact(left)
        if not isinstance(right, ListLiteral):
            raise ExprError(
                f"'{op}' needs a list on its right",
                right.offset,
                f'write {left.name} in ["a", "b"]',
            )
        if ftype is FactType.STRING_LIST:
            raise ExprError(
                f"{left.name} is a list; ask whether it holds a value",
                left.offset,
                f'write "value" in {left.name}',
            )
        for item in right.items:
            _check_value(left, ftype, item)
        return
    if isinstance(right, Fact) and not isinstance(left, Fact):
        left, right = right, left
    if not isinstance(left, Fact):
        raise ExprError("a comparison needs a fact on one side", left.offset)
    ftype = _check_fact(left)
    if isinstance(right, Fact):
        raise ExprError(
            f"compare {left.name} with a value, not with another fact",
            right.offset,
            "facts are compared with numbers, strings, dates, true or false",
        )
    if isinstance(right, ListLiteral):
        raise ExprError(f"'{op}' does not take a list", right.offset, f"use {left.name} in [...]")
    if ftype is FactType.STRING_LIST:
        raise ExprError(
            f"{left.name} is a list; ask whether it holds a value",
            left.offset,
            f'write "value" in {left.name}',
        )
    if op not in ("==", "!=") and ftype not in (FactType.NUMBER, FactType.DATE):
        raise ExprError(
            f"'{op}' compares numbers or dates; {left.name} is a {ftype.value}",
            cmp.offset,
            "use == or != for strings and true/false",
        )
    _check_value(left, ftype, right)


def normalise(expr: Expr) -> Expr:
    """Put every comparison as `fact op value` (flip `3 < x` to `x > 3`); dates as dates."""
    if isinstance(expr, Not):
        return Not(normalise(expr.operand), expr.offset)
    if isinstance(expr, And):
        return And(tuple(normalise(e) for e in expr.operands), expr.offset)
    if isinstance(expr, Or):
        return Or(tuple(normalise(e) for e in expr.operands), expr.offset)
    if (
        isinstance(expr, Compare)
        and isinstance(expr.right, Fact)
        and expr.op not in ("in", "not in")
    ):
        flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(expr.op, expr.op)
        return Compare(expr.right, flipped, expr.left, expr.offset)
    return expr


# ---------------------------------------------------------------- evaluation


def facts_in(expr: Expr) -> Iterator[str]:
    """Every fact name an expression reads, in order, with repeats."""
    if isinstance(expr, Exists):
        yield expr.fact.name
    elif isinstance(expr, Compare):
        for side in (expr.left, expr.right):
            if isinstance(side, Fact):
                yield side.name
    elif isinstance(expr, Not):
        yield from facts_in(expr.operand)
    elif isinstance(expr, And | Or):
        for e in expr.operands:
            yield from facts_in(e)


def atoms_in(expr: Expr) -> Iterator[Atom]:
    """Every comparison and exists() in an expression."""
    if isinstance(expr, Exists | Compare):
        yield expr
    elif isinstance(expr, Not):
        yield from atoms_in(expr.operand)
    elif isinstance(expr, And | Or):
        for e in expr.operands:
            yield from atoms_in(e)


Predicate = Callable[[Mapping[str, Any]], bool]


def literal_value(lit: Literal, fact: str) -> Any:
    """A literal as the fact's values are: dates compared with a date fact become dates."""
    if SCHEMA[fact].type is FactType.DATE and isinstance(lit.value, str):
        return dt.date.fromisoformat(lit.value)
    return lit.value


def _compare_predicate(cmp: Compare) -> Predicate:
    if isinstance(cmp.left, Literal) and isinstance(cmp.right, Fact):  # "vip" in customer.tags
        member, name = cmp.left.value, cmp.right.name
        if cmp.op == "in":
            return lambda v: v[name] is not None and member in v[name]
        return lambda v: v[name] is not None and member not in v[name]
    assert isinstance(cmp.left, Fact)
    name = cmp.left.name
    if isinstance(cmp.right, ListLiteral):
        choices = frozenset(literal_value(i, name) for i in cmp.right.items)
        if cmp.op == "in":
            return lambda v: v[name] is not None and v[name] in choices
        return lambda v: v[name] is not None and v[name] not in choices
    assert isinstance(cmp.right, Literal)
    value = literal_value(cmp.right, name)
    if isinstance(value, bool):  # never let 1 == true
        if cmp.op == "==":
            return lambda v: v[name] is value
        return lambda v: isinstance(x := v[name], bool) and x is not value
    # one lambda per operator: these run for every fact sheet, an extra call each would show
    if cmp.op == "==":
        return lambda v: (x := v[name]) is not None and x == value
    if cmp.op == "!=":
        return lambda v: (x := v[name]) is not None and x != value
    if cmp.op == "<":
        return lambda v: (x := v[name]) is not None and x < value
    if cmp.op == "<=":
        return lambda v: (x := v[name]) is not None and x <= value
    if cmp.op == ">":
        return lambda v: (x := v[name]) is not None and x > value
    return lambda v: (x := v[name]) is not None and x >= value


def predicate(expr: Expr) -> Predicate:
    """Compile a checked, normalised expression into a plain-Python predicate over flat facts."""
    if isinstance(expr, Always):
        return lambda v: True
    if isinstance(expr, Exists):
        name = expr.fact.name
        return lambda v: v[name] is not None
    if isinstance(expr, Compare):
        return _compare_predicate(expr)
    if isinstance(expr, Not):
        inner = predicate(expr.operand)
        return lambda v: not inner(v)
    parts = tuple(predicate(e) for e in expr.operands)
    if isinstance(expr, And):
        return lambda v: all(p(v) for p in parts)
    return lambda v: any(p(v) for p in parts)


def false_part(expr: Expr, values: Mapping[str, Any]) -> str | None:
    """The part of a condition that made it false for these facts, as source text; None if true.

    For `a and b` it is the first false operand (looked into), for `a or b` the whole `or`
    (every option failed), for an atom the atom itself.
    """
    if _made(_PREDICATES, expr, _checked)(values):
        return None
    if isinstance(expr, And):
        for operand in expr.operands:
            part = false_part(operand, values)
            if part is not None:
                return part
    return source_of(expr)


def source_of(expr: Expr) -> str:
    """`to_source(expr)`, made once per expression object (a trace asks it of every persona
    condition for every debtor)."""
    return _made(_SOURCES, expr, to_source)


def _checked(expr: Expr) -> Predicate:
    return predicate(normalise(expr))


T = TypeVar("T")
#: Per expression object, by identity (the object is kept with its entry, so its id is not
#: reused): equal expressions are no key, `x == 1` equals `x == true` since True == 1.
_SOURCES: dict[int, tuple[Expr, str]] = {}
_PREDICATES: dict[int, tuple[Expr, Predicate]] = {}
_MADE_LIMIT = 4096


def _made(cache: dict[int, tuple[Expr, T]], expr: Expr, make: Callable[[Expr], T]) -> T:
    found = cache.get(id(expr))
    if found is not None and found[0] is expr:
        return found[1]
    value = make(expr)
    if len(cache) >= _MADE_LIMIT:  # rules reloaded many times: start again
        cache.clear()
    cache[id(expr)] = (expr, value)
    return value
