"""The HTTP API: previews, what-ifs, events, provider webhooks and the staff page."""

from engine.api.app import create_app
from engine.api.config import ApiConfig

__all__ = ["ApiConfig", "create_app"]
