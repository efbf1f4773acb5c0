"""The next message for a debtor, decided and rendered: for a stored customer or for posted rows."""

from engine.preview.answer import PreviewSettings, preview_answer
from engine.preview.posted import PostedPreview, preview_posted
from engine.preview.stored import preview_stored

__all__ = [
    "PostedPreview",
    "PreviewSettings",
    "preview_answer",
    "preview_posted",
    "preview_stored",
]
