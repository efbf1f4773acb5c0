"""The outbox channel: writes exactly what would be sent into a directory, and sends nothing.

For dry runs and the demo. Email becomes an `.eml` file (the MIME message an SMTP server would
get, Message-ID from the idempotency key); every other channel a `.json` file. Each file says it
is an outbox copy (`X-Payjourney-Outbox` header, `"outbox"` key) and every receipt names the
provider `outbox`, so nobody mistakes a dry run for a delivery. Never the default for real runs:
`payjourney run` uses it only when asked (`--outbox DIR`).

The file name is the idempotency key: the same message written twice is one file, never two.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Mapping
from email.utils import format_datetime
from pathlib import Path

from channels import mime
from channels.base import (
    CHANNEL_NAMES,
    Channel,
    OutgoingMessage,
    Receipt,
    TransientChannelError,
)
from channels.receipts import accepted

PROVIDER = "outbox"
OUTBOX_NOTE = "payjourney outbox (dry run): written, not sent"
DEFAULT_SENDER = "payjourney outbox <outbox@payjourney.invalid>"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def message_id(idempotency_key: str, domain: str = "payjourney") -> str:
    """The RFC 5322 Message-ID for a message: the idempotency key, so a resend is recognised."""
    return f"<{_SAFE.sub('_', idempotency_key)}@{domain}>"


def email_bytes(
    message: OutgoingMessage, *, sender: str = DEFAULT_SENDER, extra: Mapping[str, str] = {}
) -> bytes:
    """The MIME email for a message as the SMTP channel builds it (channels/mime.py), with the
    outbox's Message-ID from the idempotency key and the `extra` headers."""
    headers = {
        "From": sender,
        "To": message.recipient,
        "Subject": message.subject or "",
        "Message-ID": message_id(message.idempotency_key),
        "Content-Language": message.locale.replace("_", "-"),
        **extra,
    }
    return mime.email_bytes(message, headers)


class OutboxChannel:
    """A `Channel` that writes each message to `directory` instead of delivering it."""

    def __init__(
        self,
        name: str,
        directory: Path,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        if name not in CHANNEL_NAMES:
            raise ValueError(f"unknown channel {name!r}; expected one of {CHANNEL_NAMES}")
        self.name = name
        self.directory = directory
        self._clock = clock
        directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, message: OutgoingMessage) -> Path:
        """Where the message is written: `<key>.<channel>.eml` or `.json`."""
        suffix = "eml" if self.name == "email" else "json"
        return self.directory / f"{_SAFE.sub('_', message.idempotency_key)}.{self.name}.{suffix}"

    def send(self, message: OutgoingMessage) -> Receipt:
        if message.channel != self.name:
            raise ValueError(f"a {message.channel} message was handed to the {self.name} outbox")
        now = self._clock()
        path = self.path_for(message)
        if self.name == "email":
            stamp = {"Date": format_datetime(now), "X-Payjourney-Outbox": OUTBOX_NOTE}
            data = email_bytes(message, extra=stamp)
        else:
            data = json.dumps(_as_json(message, now), ensure_ascii=False, indent=2).encode()
        try:
            _write_atomically(path, data)
        except OSError as exc:  # a full disk or a folder gone: try again later, as for a provider
            raise TransientChannelError(
                f"could not write {path.name} into the outbox {self.directory}: {exc.strerror}",
                provider=PROVIDER,
                code=f"errno-{exc.errno}",
            ) from exc
        return accepted(message, provider=PROVIDER, provider_message_id=path.name, at=now)

    def close(self) -> None:
        return None


def outbox_channels(directory: Path) -> Mapping[str, Channel]:
    """An outbox channel for every channel name, all writing into `directory`."""
    return {name: OutboxChannel(name, directory) for name in CHANNEL_NAMES}


def _as_json(message: OutgoingMessage, now: dt.datetime) -> dict[str, object]:
    return {
        "outbox": OUTBOX_NOTE,
        "idempotency_key": message.idempotency_key,
        "channel": message.channel,
        "recipient": message.recipient,
        "locale": message.locale,
        "subject": message.subject,
        "text": message.text,
        "template": message.template,
        "template_parameters": list(message.template_parameters),
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "bytes": len(a.data)}
            for a in message.attachments
        ],
        "customer_id": message.customer_id,
        "metadata": dict(message.metadata),
        "written_at": now.isoformat(),
    }


def _write_atomically(path: Path, data: bytes) -> None:
    # a crash mid-write leaves a .tmp file, never half a message under the real name
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
