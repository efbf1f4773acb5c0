"""Validated rules -> a durable_rules ruleset that classifies fact sheets into paying personas.

The only module that imports durable_rules. Its sharp edges (2.0.28, unmaintained) and how each
is designed around, each pinned by a test in tests/test_compile.py:

- after each action it re-asserts the session state as a fact: every rule matches on the event
  type `t == "debtor"`, which the state never carries, and we post *events* (consumed once);
- rules fire by `pri` (lower first): persona i gets pri i, so the first matching persona wins;
- no `$in`: `x in [a, b]` compiles to an `$or` of equalities; negations are pushed down to the
  comparisons, with `$nex` so a missing fact behaves as in the plain-Python evaluator;
- its Host starts dispatch threads and may run actions off-thread: `_SyncHost` starts none, so
  `post()` runs the action before it returns; one Host per process, posts serialised by a lock;
- `set_rulesets` mutates its argument and a name registers once: each rule pack is registered
  under the hash of its version and compiled definition, from a fresh dict;
- at most 1024 live sessions per ruleset: every post uses the one default session;
- one rule's condition holds at most 32 parts ("error code: 113"): a pack with a longer one is
  refused as a RuleError at that persona's file:line (`_refused`), by `validate` too;
- its JSON reader rejects numbers in exponent form without a decimal point (1e-05, 1e+16:
  "error code 204"), which Python's json writes for tiny and huge floats: numbers and dates reach
  durable_rules as order-preserving integer codes instead (see `_FieldMap.code`), exact and
  always readable by it;
- per-post cost (JSON into C and back) bounds it near 30-80k posts/s: decisions are memoised on
  the truth vector of the rules' atomic comparisons (see `AtomKey`), so durable_rules is asked once per distinct
  class of fact sheets and every fact sheet in a class provably gets the same answer.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from durable.engine import Host, MessageNotHandledException

from engine.errors import EngineError, RuleError, RuleProblem
from engine.rules import expr as ex
from engine.rules.experiments import Experiments
from engine.rules.facts import SCHEMA, FactType
from engine.rules.spec import Journey, PaymentOption, Persona, RuleSpec

_EVENT_TYPE = "debtor"
_CACHE_LIMIT = 200_000


class _SyncHost(Host):  # type: ignore[misc]
    """A durable_rules Host without background dispatch threads: actions run inside post()."""

    def _run(self) -> None:  # the base class starts two timer threads here
        return None


_host: _SyncHost | None = None
_host_lock = threading.RLock()
# ruleset name -> the list its actions append the fired persona index to (one per content hash,
# since durable_rules can never register a name twice)
_registered: dict[str, list[int]] = {}


def _get_host() -> _SyncHost:
    global _host
    with _host_lock:
        if _host is None:
            _host = _SyncHost()
        return _host


def _recorder(hits: list[int], index: int) -> Callable[[Any], None]:
    def record(c: Any) -> None:  # durable_rules inspects the arity: exactly one argument
        hits.append(index)

    return record


def _register(name: str, definition: dict[str, dict[str, Any]]) -> list[int]:
    """Register a persona ruleset once per name; the list its actions record into."""
    with _host_lock:
        hits = _registered.get(name)
        if hits is None:
            hits = []
            rules = copy.deepcopy(definition)  # set_rulesets mutates what it is given
            for _rule_name, rule in rules.items():
                rule["run"] = _recorder(hits, rule["pri"])
            _get_host().set_rulesets({name: rules})
            _registered[name] = hits
        return hits


def _refused(
    spec: RuleSpec, definition: dict[str, dict[str, Any]], name: str, exc: Exception
) -> Exception:
    """Why durable_rules refused a ruleset, as rule errors where it is one persona's condition.

    durable_rules 2.0.28 holds one rule's condition in 32 slots (rete.h, MAX_SEQUENCE_EXPRESSIONS:
    "error code: 113"); negations pushed to the comparisons, with a known-check each, fill them
    sooner than the written condition suggests. Each persona is registered alone to find which.
    """
    problems = []
    for persona in spec.personas:
        rule = f"persona_{persona.index}"
        try:
            _register(f"{name}_{rule}", {rule: definition[rule]})
        except Exception as alone:
            problems.append(
                RuleProblem(
                    path=persona.source.path,
                    line=persona.source.line,
                    column=persona.source.column,
                    key_path=f"persona {persona.id!r}",
                    problem="durable_rules cannot hold this condition in one rule: more than"
                    " its 32 parts once compiled (each comparison and each and/or takes some,"
                    " a negated comparison more)"
                    if "error code: 113" in str(alone)
                    else f"durable_rules refuses this condition: {alone}",
                    hint="split it: put one side of an `or` in a persona of its own above this"
                    " one, or write `not (...)` around fewer comparisons",
                )
            )
    if problems:
        return RuleError(problems)
    return EngineError(f"durable_rules refused the persona rules: {exc}")


# ------------------------------------------------------------------ expression -> durable dict


@dataclass
class _FieldMap:
    """Short event keys for facts (and for `"value" in list_fact` membership flags), and the
    order-preserving codes of numbers and dates.

    For a number or date fact with the sorted distinct literals t0 < t1 < ... the rules compare
    it with, the code of t_j is 2j and a value strictly between t_(j-1) and t_j codes as 2j-1.
    So `x op t_j` holds exactly when `code(x) op 2j`, for every comparison operator.
    """

    keys: dict[str, str] = field(default_factory=dict)
    members: dict[tuple[str, str], str] = field(default_factory=dict)
    thresholds: dict[str, list[Any]] = field(default_factory=dict)

    def learn(self, expression: ex.Expr) -> None:
        """Collect the literals every ordered fact is compared with."""
        for name in ex.facts_in(expression):  # also facts only asked about by exists()
            if SCHEMA[name].type in (FactType.NUMBER, FactType.DATE):
                self.thresholds.setdefault(name, [])
        for atom in ex.atoms_in(expression):
            if not (isinstance(atom, ex.Compare) and isinstance(atom.left, ex.Fact)):
                continue
            name = atom.left.name
            if SCHEMA[name].type not in (FactType.NUMBER, FactType.DATE):
                continue
            items = atom.right.items if isinstance(atom.right, ex.ListLiteral) else (atom.right,)
            known = self.thresholds.setdefault(name, [])
            for item in items:
                assert isinstance(item, ex.Literal)
                known.append(ex.literal_value(item, name))
        for name, values in self.thresholds.items():
            self.thresholds[name] = sorted(set(values))

    def code(self, name: str, value: Any) -> Any:
        """The value as durable_rules sees it: an order code for numbers and dates."""
        cuts = self.thresholds.get(name)
        if cuts is None:
            return value
        i = bisect.bisect_left(cuts, value)
        return 2 * i if i < len(cuts) and cuts[i] == value else 2 * i - 1

    def fact(self, name: str) -> str:
        if name not in self.keys:
            self.keys[name] = f"f{len(self.keys)}"
        return self.keys[name]

    def member(self, fact: str, value: str) -> str:
        if (fact, value) not in self.members:
            self.members[(fact, value)] = f"m{len(self.members)}"
        return self.members[(fact, value)]


_OPS = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_NEVER: dict[str, Any] = {"$nex": {"t": 1}}  # `t` is on every event, so this never matches


def _value(lit: ex.Literal, fact: str, fields: _FieldMap) -> Any:
    return fields.code(fact, ex.literal_value(lit, fact))


def _cmp(key: str, op: str, value: Any) -> dict[str, Any]:
    if op == "==":
        return {key: value}
    return {_OPS[op]: {key: value}}


def _durable(expr: ex.Expr, fields: _FieldMap, negate: bool = False) -> dict[str, Any]:
    """A durable_rules condition for `expr` (or for `not expr`), negations pushed to the leaves."""
    if isinstance(expr, ex.Not):
        return _durable(expr.operand, fields, not negate)
    if isinstance(expr, ex.And | ex.Or):
        joins_all = isinstance(expr, ex.And) != negate
        parts = [_durable(e, fields, negate) for e in expr.operands]
        return {"$and" if joins_all else "$or": parts}
    if isinstance(expr, ex.Always):
        return _NEVER if negate else {"t": _EVENT_TYPE}
    if isinstance(expr, ex.Exists):
        return {"$nex" if negate else "$ex": {fields.fact(expr.fact.name): 1}}
    return _durable_compare(expr, fields, negate)


def _durable_compare(cmp: ex.Compare, fields: _FieldMap, negate: bool) -> dict[str, Any]:
    if isinstance(cmp.left, ex.Literal):  # "vip" in customer.tags: a precomputed flag
        assert isinstance(cmp.right, ex.Fact) and isinstance(cmp.left.value, str)
        key = fields.member(cmp.right.name, cmp.left.value)
        wanted = (cmp.op == "in") != negate
        if negate:  # unknown list: `in` and `not in` are false, so their negation is true
            return {"$or": [{"$nex": {key: 1}}, {key: wanted}]}
        return {key: wanted}
    assert isinstance(cmp.left, ex.Fact)
    name = cmp.left.name
    key = fields.fact(name)
    if isinstance(cmp.right, ex.ListLiteral):
        values = [_value(i, name, fields) for i in cmp.right.items]
        is_in = cmp.op == "in"
        if is_in != negate:  # in, or not (not in): one of the values (and known)
            if not values:
                return _NEVER if not negate else {"$nex": {key: 1}}
            inner: dict[str, Any] = {"$or": [{key: v} for v in values]}
        else:  # not in, or not (in): none of the values (and known)
            inner = {"$and": [{"$ex": {key: 1}}, *({"$neq": {key: v}} for v in values)]}
        return {"$or": [{"$nex": {key: 1}}, inner]} if negate else inner
    assert isinstance(cmp.right, ex.Literal)
    value = _value(cmp.right, name, fields)
    if not negate:
        return _cmp(key, cmp.op, value)
    return {"$or": [{"$nex": {key: 1}}, _cmp(key, ex.NEGATED_OP[cmp.op], value)]}


def durable_ruleset(personas: Sequence[Persona], fields: _FieldMap) -> dict[str, dict[str, Any]]:
    """The dict form of the persona ruleset (without actions), one rule per persona, pri = order."""
    rules: dict[str, dict[str, Any]] = {}
    for persona in personas:
        fields.learn(persona.when)
    for persona in personas:
        condition = {"$and": [{"t": _EVENT_TYPE}, _durable(persona.when, fields)]}
        rules[f"persona_{persona.index}"] = {"all": [{"m": condition}], "pri": persona.index}
    return rules


# ------------------------------------------------------------------ compiled rules


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """What the rules say about one class of fact sheets."""

    persona: Persona
    journey: Journey
    payment_options: tuple[str, ...]


class CompiledRules:
    """A rule pack compiled for deciding: the durable_rules persona ruleset plus plain predicates.

    `classify(values)` answers through durable_rules (memoised per atom vector);
    `classify_plain(values)` is the plain-Python evaluator of the same spec, the oracle in tests
    and the source of explanation traces.
    """

    def __init__(self, spec: RuleSpec) -> None:
        self.spec = spec
        self.version = spec.version
        self._fields = _FieldMap()
        definition = durable_ruleset(spec.personas, self._fields)
        # named after what is registered: a process that compiles the same rules differently
        # (mutation testing forks one that already registered them) never reuses a registration
        what = json.dumps([spec.version, definition])
        self.name = "payjourney_" + hashlib.sha256(what.encode()).hexdigest()[:24]
        try:
            self._hits = _register(self.name, definition)
        except Exception as exc:  # durable_rules raises its C module's own `error` type
            raise _refused(spec, definition, self.name, exc) from exc
        self.persona_predicates: tuple[ex.Predicate, ...] = tuple(
            ex.predicate(p.when) for p in spec.personas
        )
        self.persona_facts: tuple[tuple[str, ...], ...] = tuple(
            tuple(dict.fromkeys(ex.facts_in(p.when))) for p in spec.personas
        )
        self._journey_choices: dict[str, tuple[tuple[Journey, ex.Predicate], ...]] = {
            pid: tuple(
                (j, ex.predicate(j.when) if j.when is not None else (lambda v: True))
                for j in journeys
            )
            for pid, journeys in spec.journeys.items()
        }
        self._options: tuple[tuple[PaymentOption, ex.Predicate], ...] = tuple(
            (o, ex.predicate(o.when)) for o in spec.payment_options
        )
        self._key = AtomKey(
            [p.when for p in spec.personas]
            + [j.when for j in spec.all_journeys() if j.when is not None]
            + [o.when for o in spec.payment_options]
        )
        self._cache: dict[tuple[bool, ...], Classification] = {}
        #: per-debtor variants (a hash of the customer id): decided after the memoised persona
        self.experiments = Experiments(spec)

    # -------------------------------------------------------------- classification

    def event_for(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The durable_rules event for a fact sheet: referenced facts only, unknowns left out."""
        event: dict[str, Any] = {"t": _EVENT_TYPE}
        code = self._fields.code
        for name, key in self._fields.keys.items():
            value = values[name]
            if value is not None:
                event[key] = code(name, value)
        for (name, member), key in self._fields.members.items():
            value = values[name]
            if value is not None:
                event[key] = member in value
        return event

    def persona_index_durable(self, values: Mapping[str, Any]) -> int:
        """Ask durable_rules (no memo) which persona the fact sheet belongs to."""
        event = self.event_for(values)
        with _host_lock:
            self._hits.clear()
            try:
                state = _get_host().post(self.name, event)
            except MessageNotHandledException as exc:
                raise EngineError(
                    "no persona matched; the rule pack must end with a catch-all (`when: always`)"
                ) from exc
            except Exception as exc:  # durable_rules raises bare Exceptions from C
                raise EngineError(f"durable_rules failed on a fact sheet: {exc}") from exc
            if isinstance(state, dict) and state.get("exception"):
                # durable_rules stores an action's exception in the session state and returns
                # it from every later post: never decide on such a session
                raise EngineError(f"a durable_rules action failed: {state['exception']}")
            if len(self._hits) != 1:
                raise EngineError(f"durable_rules fired {len(self._hits)} persona rules, not 1")
            return self._hits[0]

    def persona_index_plain(self, values: Mapping[str, Any]) -> int:
        """The plain-Python evaluator's answer: the first persona whose `when` holds."""
        for index, pred in enumerate(self.persona_predicates):
            if pred(values):
                return index
        raise EngineError("no persona matched; the rule pack must end with a catch-all")

    def _complete(self, persona_index: int, values: Mapping[str, Any]) -> Classification:
        persona = self.spec.personas[persona_index]
        journey = next(j for j, pred in self._journey_choices[persona.id] if pred(values))
        offered = [o.method for o, pred in self._options if pred(values)]
        if journey.payment_options is not None:
            options = tuple(m for m in journey.payment_options if m in offered)
        else:
            options = tuple(offered)
        return Classification(persona=persona, journey=journey, payment_options=options)

    def classify(self, values: Mapping[str, Any]) -> Classification:
        """Persona (decided by durable_rules), journey and payment options for a fact sheet."""
        key = self._key(values)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            hit = self._complete(self.persona_index_durable(values), values)
            self._cache[key] = hit
        return hit

    def classify_plain(self, values: Mapping[str, Any]) -> Classification:
        """The same answer from the plain-Python evaluator, without durable_rules or memo."""
        return self._complete(self.persona_index_plain(values), values)

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    def clear_cache(self) -> None:
        """Forget memoised answers (benchmarks of the cold path)."""
        self._cache.clear()


class AtomKey:
    """A memo key: the truth vector of every atomic comparison in the rules.

    Every condition is a boolean function of its atoms, so two fact sheets with the same vector
    get the same persona, journey and payment options from any correct evaluator: the vector is
    a sound memo key for durable_rules' answers. (Keying on per-fact value classes instead was
    measured slower: one bisect per fact costs more than a few inlined comparisons.)
    """

    def __init__(self, conditions: Sequence[ex.Expr]) -> None:
        unique: dict[ex.Expr, None] = {}
        for condition in conditions:
            for atom in ex.atoms_in(condition):
                unique.setdefault(ex.strip_offsets(atom), None)
        self.atoms = tuple(unique)
        self._predicates = tuple(ex.predicate(a) for a in self.atoms)

    def __call__(self, values: Mapping[str, Any]) -> tuple[bool, ...]:
        return tuple([p(values) for p in self._predicates])


def compile_rules(spec: RuleSpec) -> CompiledRules:
    """Compile a validated spec; cheap to call again for the same version."""
    return CompiledRules(spec)
