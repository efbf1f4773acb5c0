"""Everything a message needs: templates rendered in a sandbox, locale formatting, legal texts and sums, payment options, letters as PDF."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.messages.creditor import Creditor, load_creditor
    from engine.messages.render import RenderedMessage, check_templates, render_preview

# Imported on first use, so that reading one module (say, the fact schema) does not start
# durable_rules or load the templates.
_EXPORTS = {
    "RenderedMessage": "engine.messages.render",
    "render_preview": "engine.messages.render",
    "check_templates": "engine.messages.render",
    "Creditor": "engine.messages.creditor",
    "load_creditor": "engine.messages.creditor",
}
__all__ = ["Creditor", "RenderedMessage", "check_templates", "load_creditor", "render_preview"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
