"""An outgoing email as the MIME bytes an SMTP server receives; the one builder of the SMTP
channel and the outbox.

Structure: the text, and the HTML as its alternative (quoted-printable UTF-8); images the HTML
shows (`cid:` references, and `data:` URIs lifted into parts of their own) beside the HTML in a
multipart/related; files (the letter PDF) after the body in a multipart/mixed.

Written out by hand: the standard library's EmailMessage and its generator took 2.5 ms per
message, more than rendering it (bench/dispatch.py); this takes a fiftieth of that. The parts
are few and fixed, and the tests read every message back with the `email` package.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import quopri
import re
from collections.abc import Mapping

from channels.base import Attachment, OutgoingMessage

_DATA_URI = re.compile(
    r"""src=(["'])data:(image/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=\s]+)\1""", re.I
)


def lift_data_uris(html: str) -> tuple[str, tuple[Attachment, ...]]:
    """`html` with each `data:image/...;base64` source replaced by a `cid:` part of its own
    (mail programs show inline parts; many block data: URIs)."""
    parts: list[Attachment] = []

    def replace(match: re.Match[str]) -> str:
        quote, mime, payload = match.group(1), match.group(2), match.group(3)
        try:
            data = base64.b64decode("".join(payload.split()), validate=True)
        except binascii.Error:
            return match.group(0)
        cid = f"img{len(parts) + 1}-{hashlib.sha256(data).hexdigest()[:12]}"
        extension = mime.split("/")[1].split("+")[0]
        parts.append(
            Attachment(filename=f"{cid}.{extension}", content_type=mime, data=data, content_id=cid)
        )
        return f"src={quote}cid:{cid}{quote}"

    return _DATA_URI.sub(replace, html), tuple(parts)


def email_bytes(message: OutgoingMessage, headers: Mapping[str, str]) -> bytes:
    """The whole email: `headers` (From, To, Message-ID, Date ... in order; addresses and the
    subject may be non-ASCII, they are encoded here) and the body of `message`."""
    boundary = "pj-" + hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:24]
    text = _text_part("plain", message.text)
    body = text
    inline = [a for a in message.attachments if a.content_id]
    files = [a for a in message.attachments if not a.content_id]
    if message.html is not None:
        html, lifted = lift_data_uris(message.html)
        inline += lifted
        shown = _text_part("html", html)
        if inline:
            parts = [shown, *(_attachment(a) for a in inline)]
            shown = _multipart("related", boundary + "r", parts)
        body = _multipart("alternative", boundary + "a", [text, shown])
    else:
        files = list(message.attachments)
    if files:
        body = _multipart("mixed", boundary + "m", [body, *(_attachment(a) for a in files)])
    head = "".join(f"{name}: {_header_value(name, value)}\r\n" for name, value in headers.items())
    return head.encode("ascii") + b"MIME-Version: 1.0\r\n" + body


_ADDRESS_HEADERS = frozenset({"from", "to", "reply-to", "cc", "sender"})


def _header_value(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"the {name} header may not contain a line break: {value!r}")
    if value.isascii():
        return value
    if name.lower() in _ADDRESS_HEADERS:
        try:  # display names are encoded; an address itself must be ASCII
            return ", ".join(
                email.utils.formataddr(pair, charset="utf-8")
                for pair in email.utils.getaddresses([value])
            )
        except UnicodeEncodeError:
            raise ValueError(
                f"the {name} address {value!r} is not ASCII; this SMTP channel does not speak "
                "SMTPUTF8: use the address's ASCII (punycode) form"
            ) from None
    return _encoded_words(value)


def _encoded_words(text: str) -> str:
    """RFC 2047 encoded words (base64 UTF-8, at most 75 characters each), folded."""
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
    filename = part.filename.replace("\\", "_").replace('"', "_")
    if not filename.isascii():
        filename = _encoded_words(filename)
    head = (
        f"Content-Type: {part.content_type}\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: {disposition}; filename="{filename}"\r\n'
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
