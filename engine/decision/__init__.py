"""The pure decision core: fact sheets in, a decision with its trace out; no I/O, no clock."""

from __future__ import annotations

# Imported eagerly: `decide` is both a module and the function users call, and the function wins.
from engine.decision.decide import decide
from engine.decision.model import Action, Decision, FactSheet, Money, Trace, TraceEntry

__all__ = ["Action", "Decision", "FactSheet", "Money", "Trace", "TraceEntry", "decide"]
