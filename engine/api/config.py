"""What the API is configured with: database, rules, templates, tokens, limits, providers."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.api.auth import ApiToken, parse_tokens
from engine.messages.render import DEFAULT_TEMPLATES_DIR

#: The largest request body the API reads (a what-if with its rule files and a few hundred rows).
DEFAULT_BODY_LIMIT = 1_048_576


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiConfig:
    """Everything `create_app` needs; `from_env` reads it the way `payjourney serve` does."""

    db_url: str
    rules_dir: Path
    templates_dir: Path = DEFAULT_TEMPLATES_DIR
    tokens: tuple[ApiToken, ...] = ()
    body_limit: int = DEFAULT_BODY_LIMIT
    #: signs the staff page's session cookie; random per process unless configured
    session_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    #: Mollie: API key for fetching a payment's status when its webhook arrives
    mollie_api_key: str | None = None
    mollie_base_url: str = "https://api.mollie.com/v2"
    #: the Mollie signing secret of next-gen webhooks (X-Mollie-Signature), when configured
    mollie_webhook_secret: str | None = None
    #: Barzahlen: the payment key that signs its slip webhooks (Bz-Signature)
    barzahlen_payment_key: str | None = None
    #: the hook URL as configured at Barzahlen (its host, port and path are signed); behind a
    #: proxy that rewrites them, set it, else the URL the request reached is used
    barzahlen_hook_url: str | None = None
    #: cookies only over HTTPS (turn off for plain-HTTP loopback use and tests)
    secure_cookies: bool = True
    #: the channel providers' webhook secrets (PAYJOURNEY_TWILIO_AUTH_TOKEN, ...: docs/channels.md)
    channel_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls,
        *,
        db_url: str,
        rules_dir: Path,
        templates_dir: Path = DEFAULT_TEMPLATES_DIR,
        environ: Mapping[str, str] | None = None,
        tokens_file: Path | None = None,
    ) -> ApiConfig:
        """Tokens from PAYJOURNEY_API_TOKENS (and `tokens_file`), secrets from PAYJOURNEY_*."""
        env = os.environ if environ is None else environ
        text = env.get("PAYJOURNEY_API_TOKENS", "")
        if tokens_file is not None:
            text += "\n" + tokens_file.read_text(encoding="utf-8")
        secret = env.get("PAYJOURNEY_SESSION_SECRET")
        return cls(
            db_url=db_url,
            rules_dir=rules_dir,
            templates_dir=templates_dir,
            tokens=parse_tokens(text),
            body_limit=int(env.get("PAYJOURNEY_API_BODY_LIMIT", DEFAULT_BODY_LIMIT)),
            session_secret=secret.encode() if secret else secrets.token_bytes(32),
            mollie_api_key=env.get("PAYJOURNEY_MOLLIE_API_KEY") or None,
            mollie_base_url=env.get("PAYJOURNEY_MOLLIE_BASE_URL", "https://api.mollie.com/v2"),
            mollie_webhook_secret=env.get("PAYJOURNEY_MOLLIE_WEBHOOK_SECRET") or None,
            barzahlen_payment_key=env.get("PAYJOURNEY_BARZAHLEN_PAYMENT_KEY") or None,
            barzahlen_hook_url=env.get("PAYJOURNEY_BARZAHLEN_HOOK_URL") or None,
            secure_cookies=env.get("PAYJOURNEY_INSECURE_COOKIES", "") != "1",
            channel_env={k: v for k, v in env.items() if k.startswith("PAYJOURNEY_")},
        )
