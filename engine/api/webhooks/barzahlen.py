"""Barzahlen's `paid` / `expired` slip webhooks: `Bz-Signature` checked over the URL Barzahlen
called, then booked by `engine.banking.slips.record_slip_webhook` (a paid slip is a statement
credit matched by our RF reference, settled like any payment)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from sqlalchemy import Engine

from engine.api.webhooks.registry import Booked, ForgedWebhook, UnusableWebhook, WebhookRequest
from engine.banking import slips
from engine.rules.compile import CompiledRules


class BarzahlenWebhook:
    """Verifies and books Barzahlen slip webhooks. `hook_url` is the URL configured at
    Barzahlen (its host, port and path are signed); without it, the URL the request reached."""

    def __init__(self, engine: Engine, payment_key: str, *, hook_url: str | None = None) -> None:
        self.engine, self.key, self.hook_url = engine, payment_key, hook_url

    def take(self, request: WebhookRequest, *, rules: CompiledRules, now: dt.datetime) -> Booked:
        url = urlsplit(self.hook_url or request.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        hook = slips.WebhookRequest(
            signature_header=request.headers.get("bz-signature", ""),
            host=url.hostname or "",
            port=port,
            path=url.path or "/",
            query=urlsplit(request.url).query,
            date=request.headers.get("date", ""),
            body=request.body,
        )
        try:
            outcome = slips.record_slip_webhook(self.engine, self.key, hook, rules=rules, now=now)
        except slips.SignatureMismatch as exc:
            raise ForgedWebhook(str(exc)) from None
        except slips.WebhookRejected as exc:
            raise UnusableWebhook(str(exc)) from None
        return Booked(events=1, recorded=int(outcome.recorded))
