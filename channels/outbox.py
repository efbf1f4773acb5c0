"""The outbox channel: writes exactly what would be sent into a directory, and sends nothing.

For dry runs and the demo. Email becomes an `.eml` file (the MIME message an SMTP server would
get, Message-ID from the idempotency key); every other channel a `.json` file. Each file says it
is an outbox copy (`X-Payjourney-Outbox` header, `"outbox"` key) and every receipt names the
provider `outbox`, so nobody mistakes a dry run for a delivery. Never the default for real runs:
`payjourney run` uses it only when asked (`--outbox DIR`).

The file name is the idempotency key: the same message written twice is one file, never two.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import quopri
import re
from collections.abc import Callable, Mapping
from email.utils import format_datetime
from pathlib import Path

from channels.base import (
    CHANNEL_NAMES,
    Attachment,
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
    """The MIME email for a message, as the bytes an SMTP server receives: text and an HTML
    alternative (quoted-printable UTF-8), attachments (base64; inline when they have a content
    id), Message-ID from the idempotency key.

    Written out by hand: the standard library's generator costs more than rendering the
    message itself (measured in bench/dispatch.py); the parts are few and fixed."""
    boundary = "pj-" + hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:24]
    headers = {
        "From": sender,
        "To": message.recipient,
        "Subject": _header(message.subject or ""),
        "Message-ID": message_id(message.idempotency_key),
        "Content-Language": message.locale.replace("_", "-"),
        "MIME-Version": "1.0",
        **extra,
    }
    text = _text_part("plain", message.text)
    body = text
    if message.html:
        body = _multipart("alternative", boundary + "a", [text, _text_part("html", message.html)])
    if message.attachments:
        parts = [body, *(_attachment(a) for a in message.attachments)]
        body = _multipart("mixed", boundary + "m", parts)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode("ascii") + body


def _header(text: str) -> str:
    """RFC 2047 encoded words (base64 UTF-8, at most 75 characters each) for non-ASCII text."""
    if text.isascii():
        return text
    words, chunk = [], ""
    for char in text:
        if len((chunk + char).encode()) > 45:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    encoded = (base64.b64encode(w.encode()).decode() for w in words)
    return "\r\n ".join(f"=?utf-8?b?{e}?=" for e in encoded)


def _text_part(subtype: str, text: str) -> bytes:
    encoded = quopri.encodestring(text.replace("\r\n", "\n").encode("utf-8"))
    encoded = encoded.replace(b"\n", b"\r\n")
    return (
        (
            f"Content-Type: text/{subtype}; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        + encoded
        + b"\r\n"
    )


def _attachment(part: Attachment) -> bytes:
    disposition = "inline" if part.content_id else "attachment"
    head = (
        f"Content-Type: {part.content_type}\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: {disposition}; filename="{part.filename}"\r\n'
    )
    if part.content_id:
        head += f"Content-ID: <{part.content_id}>\r\n"
    data = base64.encodebytes(part.data).replace(b"\n", b"\r\n")
    return head.encode() + b"\r\n" + data


def _multipart(kind: str, boundary: str, parts: list[bytes]) -> bytes:
    out = [f'Content-Type: multipart/{kind}; boundary="{boundary}"\r\n\r\n'.encode()]
    for part in parts:
        out.append(f"--{boundary}\r\n".encode() + part)
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


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
