"""RFC 3464 delivery status notifications (bounces) parsed into delivery receipts.

A DSN is a multipart/report (report-type=delivery-status) whose second part holds one block of
per-message fields and one block per recipient (Action, Status, Diagnostic-Code), and whose third
part returns the original message or its headers; the original Message-ID there names the
message our email channel sent. `failed` with a 5.x.x status is a hard bounce (stop emailing
this address), with 4.x.x a soft one; `delayed` is only a warning and yields nothing.

A DSN is an email to the bounce address, unsigned; the mail system that receives it forwards it
to `POST /v1/webhooks/dsn` signed by the Standard Webhooks scheme (`webhook-id`,
`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with
the shared `whsec_` secret), checked by `parse_dsn_callback` before the DSN is read.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.policy
import email.utils
import hashlib
import hmac
import logging
from collections.abc import Callable
from email.message import Message

from channels.receipts import CallbackRejected, DeliveryReceipt, InboundRequest, ReplayGuard

PROVIDER = "smtp"
log = logging.getLogger(__name__)
#: How far a forwarded DSN's `webhook-timestamp` may be from our clock (Standard Webhooks).
TOLERANCE = dt.timedelta(minutes=5)
SECRET_PREFIX = "whsec_"


def dsn_secret(text: str) -> bytes:
    """The key of a `whsec_<base64>` secret; ValueError saying how to make one."""
    try:
        key = base64.b64decode(text.strip().removeprefix(SECRET_PREFIX) + "==", validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(
            "PAYJOURNEY_DSN_WEBHOOK_SECRET must be whsec_ followed by base64, e.g."
            ' "whsec_$(openssl rand -base64 32)"'
        ) from exc
    if len(key) < 16:
        raise ValueError(
            "PAYJOURNEY_DSN_WEBHOOK_SECRET is shorter than 16 bytes; make one with"
            ' "whsec_$(openssl rand -base64 32)"'
        )
    return key


def sign_forwarded(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for a forwarded DSN (what the forwarder sends)."""
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def parse_dsn_callback(
    request: InboundRequest,
    *,
    secret: str,
    replay_guard: ReplayGuard | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> tuple[DeliveryReceipt, ...]:
    """A forwarded DSN, its Standard Webhooks signature checked over the raw bytes (so a DSN in
    any charset verifies), then parsed; CallbackRejected for a missing, stale or wrong one."""
    webhook_id = request.header("webhook-id") or ""
    stamp = request.header("webhook-timestamp") or ""
    given = (request.header("webhook-signature") or "").split()
    if not (webhook_id and stamp and given):
        raise CallbackRejected(
            PROVIDER, "unsigned: webhook-id, webhook-timestamp and webhook-signature are required"
        )
    try:
        timestamp = int(stamp)
    except ValueError:
        raise CallbackRejected(
            PROVIDER, f"webhook-timestamp {stamp[:20]!r} is not unix seconds"
        ) from None
    now = clock()
    if abs(now.timestamp() - timestamp) > TOLERANCE.total_seconds():
        raise CallbackRejected(
            PROVIDER, "webhook-timestamp is more than 5 minutes from our clock (a replay, or a"
            " clock out of step: check NTP on the forwarding host)"
        )  # fmt: skip
    expected = sign_forwarded(dsn_secret(secret), webhook_id, timestamp, request.body)
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in given):
        raise CallbackRejected(PROVIDER, "the webhook-signature does not match the body")
    if replay_guard is not None:
        replay_guard.check(PROVIDER, webhook_id)
    try:
        return parse_dsn(request.body, now=now)
    except CallbackRejected as exc:
        # the bounce address also receives auto-replies (RFC 3834 sends them to the envelope
        # sender): authentic mail that is no bounce is dropped, so a forwarder can pass it all
        log.info("forwarded mail is not a DSN of ours; nothing recorded (%s)", exc.reason)
        return ()


def _date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _original_message_id(report: Message) -> str | None:
    for part in report.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return str(inner["Message-ID"]).strip()
        elif content_type == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                headers = email.message_from_bytes(raw, policy=email.policy.compat32)
                if headers.get("Message-ID"):
                    return str(headers["Message-ID"]).strip()
    return None


def _field(block: Message, name: str) -> str | None:
    value = block.get(name)
    return " ".join(str(value).split()) if value is not None else None


def _typed(value: str | None) -> str | None:
    """`rfc822; someone@example.nl` -> `someone@example.nl`; `smtp; 550 ...` -> `550 ...`."""
    if value is None:
        return None
    _, sep, rest = value.partition(";")
    return rest.strip() if sep else value.strip()


def parse_dsn(raw: bytes, *, now: dt.datetime | None = None) -> tuple[DeliveryReceipt, ...]:
    """The bounce (and delivery) receipts in one DSN; raises CallbackRejected when it is not one.

    Each receipt names the original Message-ID as `provider_message_id`, the RFC 3463 status as
    `code`, the Diagnostic-Code as `detail`, and `permanent` for hard bounces.
    """
    report = email.message_from_bytes(raw, policy=email.policy.compat32)
    status_part = next(
        (p for p in report.walk() if p.get_content_type() == "message/delivery-status"), None
    )
    if report.get_content_type() != "multipart/report" or status_part is None:
        raise CallbackRejected(
            PROVIDER,
            "not an RFC 3464 delivery status notification (expected multipart/report with a "
            "message/delivery-status part)",
        )
    original = _original_message_id(report)
    if original is None:
        raise CallbackRejected(
            PROVIDER,
            "the DSN does not return the original message's headers, so it cannot name the "
            "message it is about (the MTA must return at least headers: RET=HDRS)",
        )
    blocks = [b for b in status_part.get_payload() if isinstance(b, Message)]
    if len(blocks) < 2:
        raise CallbackRejected(PROVIDER, "the DSN has no per-recipient status block")
    per_message, recipients = blocks[0], blocks[1:]
    fallback_at = (
        _date(_field(per_message, "Arrival-Date"))
        or _date(report.get("Date"))
        or now
        or dt.datetime.now(dt.UTC)
    )
    receipts: list[DeliveryReceipt] = []
    for block in recipients:
        action = (_field(block, "Action") or "").lower()
        status = _field(block, "Status") or ""
        occurred_at = _date(_field(block, "Last-Attempt-Date")) or fallback_at
        detail = _typed(_field(block, "Diagnostic-Code"))
        if action == "failed":
            receipts.append(
                DeliveryReceipt(
                    provider=PROVIDER,
                    provider_message_id=original,
                    status="bounced",
                    occurred_at=occurred_at,
                    code=status or None,
                    permanent=not status.startswith("4"),
                    detail=detail,
                )
            )
        elif action in ("delivered", "relayed", "expanded"):
            receipts.append(
                DeliveryReceipt(
                    provider=PROVIDER,
                    provider_message_id=original,
                    status="delivered",
                    occurred_at=occurred_at,
                    code=status or None,
                    detail=detail,
                )
            )
    return tuple(receipts)
