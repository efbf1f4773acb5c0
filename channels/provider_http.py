"""The HTTP edge every provider adapter shares: one client, and httpx's failures made channel errors.

Like httpx's own `map_exceptions`, foreign exceptions are translated here at the boundary, so an
adapter only ever raises `TransientChannelError` or `PermanentChannelError`. Each provider keeps
its own table of error codes; this module maps what is the same for all of them: timeouts,
refused connections, 429 with Retry-After, 5xx.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from channels.base import (
    ChannelError,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def make_client(
    base_url: str, *, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, **kwargs: object
) -> httpx.Client:
    """An httpx client for one provider: its base URL, a timeout, no environment proxies."""
    return httpx.Client(base_url=base_url, timeout=timeout, trust_env=False, **kwargs)  # type: ignore[arg-type]


@contextmanager
def transport_errors(provider: str) -> Iterator[None]:
    """Translate httpx's network failures into TransientChannelError with a code."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransientChannelError(
            f"{provider} did not answer in time ({type(exc).__name__}); the message may or may "
            "not have been accepted, the outbox's idempotency key makes the retry safe",
            provider=provider,
            code="timeout",
        ) from exc
    except httpx.TransportError as exc:
        raise TransientChannelError(
            f"could not reach {provider} ({type(exc).__name__}); check the network and the base URL",
            provider=provider,
            code="connection",
        ) from exc


def retry_after(headers: Mapping[str, str]) -> dt.timedelta | None:
    """The Retry-After header as a duration: seconds or an HTTP date; None when absent or bad."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return dt.timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(when - dt.datetime.now(dt.UTC), dt.timedelta(0))


def classify_http(
    provider: str,
    response: httpx.Response,
    *,
    code: str | None,
    description: str,
    codes: Mapping[str, type[ChannelError]],
) -> ChannelError:
    """The channel error for a failed response: the provider's code first, then the HTTP status.

    `codes` is the provider's own table (code -> class); a code it does not list falls back on
    the status: 429, 408 and 5xx are transient, any other 4xx permanent for this message.
    """
    cls: type[ChannelError]
    if code is not None and code in codes:
        cls = codes[code]
    elif response.status_code == 401:
        # the credentials, not the recipient: retrying works once the operator fixes them
        cls = TransientChannelError
        description += "; check the channel's credentials (docs/channels.md)"
    elif response.status_code in (408, 425, 429) or response.status_code >= 500:
        cls = TransientChannelError
    else:
        cls = PermanentChannelError
    message = f"{provider} refused the message: {description} (HTTP {response.status_code})"
    shown = code if code is not None else f"http-{response.status_code}"
    if cls is TransientChannelError:
        return TransientChannelError(
            message, provider=provider, code=shown, retry_after=retry_after(response.headers)
        )
    return cls(message, provider=provider, code=shown)


def scrub(text: str, *secrets: str | None) -> str:
    """`text` with the recipient (and any other personal value) replaced, for error messages.

    Providers echo the phone number or address in their error descriptions; error messages end
    up in logs, and logs must not hold personal data.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<recipient>")
            digits = secret.lstrip("+")
            if digits != secret and digits:
                text = text.replace(digits, "<recipient>")
    return text


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or None when it has none (a proxy's HTML error page, an empty 429)."""
    try:
        return response.json()
    except ValueError:
        return None


def provider_error(
    provider: str,
    response: httpx.Response,
    message: OutgoingMessage,
    *,
    code: str | None,
    description: str,
    codes: Mapping[str, type[ChannelError]],
) -> ChannelError:
    """The classified error for a refused message, its description scrubbed, logged without
    personal data."""
    error = classify_http(
        provider,
        response,
        code=code,
        description=scrub(description, message.recipient),
        codes=codes,
    )
    log.info(
        "%s %s not sent: %s",
        message.channel,
        message.idempotency_key,
        type(error).__name__,
        extra={"code": error.code, "provider": provider},
    )
    return error
