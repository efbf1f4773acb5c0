"""The rule language: YAML with positions, validation, the frozen spec, conditions, the fact schema, compilation to durable_rules and the rules in force."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.rules.compile import CompiledRules, compile_rules
    from engine.rules.rulebook import RuleBook
    from engine.rules.rulespec import load_rules, read_rule_dir, validate_sources
    from engine.rules.spec import RuleSpec

# Imported on first use, so that reading one module (say, the fact schema) does not start
# durable_rules or load the templates.
_EXPORTS = {
    "load_rules": "engine.rules.rulespec",
    "validate_sources": "engine.rules.rulespec",
    "read_rule_dir": "engine.rules.rulespec",
    "CompiledRules": "engine.rules.compile",
    "compile_rules": "engine.rules.compile",
    "RuleBook": "engine.rules.rulebook",
    "RuleSpec": "engine.rules.spec",
}
__all__ = [
    "CompiledRules",
    "RuleBook",
    "RuleSpec",
    "compile_rules",
    "load_rules",
    "read_rule_dir",
    "validate_sources",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
