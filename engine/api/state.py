"""What the routes share: configuration, the database engine, the rules in force, previews."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from engine.api.config import ApiConfig
from engine.api.limits import TURNS
from engine.api.middleware import ApiMetrics
from engine.api.webhooks import WebhookRegistry
from engine.errors import RuleError
from engine.messages.render import template_checks
from engine.preview.answer import PreviewSettings
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulebook import RuleBook
from engine.rules.rulespec import RuleSource, ruleset_version, validate_sources

#: How many what-if rule sets stay compiled (each is a durable_rules ruleset for good).
WHAT_IF_CACHE = 32


@dataclass(slots=True, kw_only=True)
class ApiState:
    """Built once by `create_app`; read by every request."""

    config: ApiConfig
    engine: Engine
    rulebook: RuleBook
    preview: PreviewSettings
    metrics: ApiMetrics
    webhooks: WebhookRegistry
    #: previews at once on threads per worker; 0: on the event loop (engine/api/limits.py)
    preview_turns: int = TURNS
    _what_ifs: OrderedDict[str, CompiledRules] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def what_if(self, files: dict[str, str]) -> CompiledRules:
        """Compiled rules from posted files; RuleError (every problem, file:line:col) if bad."""
        sources = [RuleSource(name, text) for name, text in sorted(files.items())]
        with self._lock:  # the same files again: validated and compiled already
            known = self._what_ifs.get(ruleset_version(sources))
        if known is not None:
            return known
        spec, problems = validate_sources(sources)
        if spec is not None:
            for check in template_checks(self.config.templates_dir):
                problems.extend(check(spec))
        errors = [p for p in problems if p.severity == "error"]
        if spec is None or errors:
            raise RuleError(problems)
        with self._lock:
            found = self._what_ifs.get(spec.version)
            if found is not None:
                self._what_ifs.move_to_end(spec.version)
                return found
        compiled = compile_rules(spec)
        with self._lock:
            self._what_ifs[spec.version] = compiled
            while len(self._what_ifs) > WHAT_IF_CACHE:
                self._what_ifs.popitem(last=False)
        return compiled


def state_of(app: Any) -> ApiState:
    """The state `create_app` attached to the app."""
    found = app.state.payjourney
    assert isinstance(found, ApiState)
    return found
