"""Phone tasks: a call a person makes, written where the credit team works from, and its outcome.

Channels may not touch the database, so the task goes behind the seam to a sink: a JSON Lines
task file (one task per line: the script rendered in the debtor's language and tone, the amount,
the payment link, the number) and optionally a POST to the team's task system (a webhook with an
`Idempotency-Key` header). The caller records the outcome (reached, promise to pay, dispute, no
answer) in the task system, which posts it back; `parse_call_outcome` makes it a `CallOutcome`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import httpx

from channels.base import (
    ChannelError,
    OutgoingMessage,
    PermanentChannelError,
    Receipt,
    TransientChannelError,
)
from channels.provider_http import make_client, provider_error, transport_errors
from channels.receipts import CallbackRejected, accepted

PROVIDER = "phone-task"
Outcome = Literal["reached", "promise", "dispute", "no_answer"]
OUTCOMES: tuple[Outcome, ...] = ("reached", "promise", "dispute", "no_answer")

#: The task system's answers: it is our own team's tool, so only HTTP statuses mean anything.
ERROR_CODES: Mapping[str, type[ChannelError]] = {
    "http-400": PermanentChannelError,
    "http-401": TransientChannelError,
    "http-429": TransientChannelError,
    "http-500": TransientChannelError,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneTaskSettings:
    task_file: Path
    webhook_url: str | None = None
    webhook_token: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOutcome:
    """What came of one call: the task (our idempotency key), the outcome, and a promise's terms."""

    task_id: str
    outcome: Outcome
    occurred_at: dt.datetime
    promised_date: dt.date | None = None
    promised_amount: Decimal | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown call outcome {self.outcome!r}; expected one of {OUTCOMES}")
        if self.occurred_at.tzinfo is None:
            raise ValueError("a call outcome's occurred_at must be timezone-aware")
        if self.outcome == "promise" and self.promised_date is None:
            raise ValueError("a promise to pay needs its promised_date")


def parse_call_outcome(payload: Mapping[str, object]) -> CallOutcome:
    """`{"task_id", "outcome", "occurred_at", "promised_date"?, "promised_amount"?, "note"?}` checked;
    raises CallbackRejected naming what is wrong."""
    try:
        occurred_at = dt.datetime.fromisoformat(str(payload["occurred_at"]))
        promised = payload.get("promised_date")
        amount = payload.get("promised_amount")
        note = payload.get("note")
        return CallOutcome(
            task_id=str(payload["task_id"]),
            outcome=str(payload["outcome"]),  # type: ignore[arg-type]
            occurred_at=occurred_at,
            promised_date=dt.date.fromisoformat(str(promised)) if promised else None,
            promised_amount=Decimal(str(amount)) if amount is not None else None,
            note=str(note) if note is not None else None,
        )
    except KeyError as exc:
        raise CallbackRejected(PROVIDER, f"a call outcome needs {exc.args[0]!r}") from exc
    except (ValueError, InvalidOperation) as exc:
        raise CallbackRejected(PROVIDER, f"invalid call outcome: {exc}") from exc


class PhoneTaskChannel:
    """Call tasks: appended to a JSON Lines file, and posted to a task system when configured."""

    name = "phone"
    provider = PROVIDER

    def __init__(
        self,
        settings: PhoneTaskSettings,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        if settings.webhook_url:
            headers = (
                {"Authorization": f"Bearer {settings.webhook_token}"}
                if settings.webhook_token
                else {}
            )
            self._client = make_client(
                settings.webhook_url, timeout=settings.timeout, headers=headers
            )

    def tasks(self) -> list[dict[str, object]]:
        """The task file as written so far."""
        path = self.settings.task_file
        if not path.exists():
            return []
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def task(self, message: OutgoingMessage, now: dt.datetime) -> dict[str, object]:
        return {
            "task_id": message.idempotency_key,
            "customer_id": message.customer_id,
            "phone": message.recipient,
            "locale": message.locale,
            "subject": message.subject,
            "script": message.text,
            "amount": message.metadata.get("amount"),
            "currency": message.metadata.get("currency"),
            "payment_link": message.metadata.get("payment_link"),
            "created_at": now.isoformat(),
            "outcomes": list(OUTCOMES),
        }

    def send(self, message: OutgoingMessage) -> Receipt:
        now = self._clock()
        task = self.task(message, now)
        try:
            with self._lock:
                if not any(t.get("task_id") == message.idempotency_key for t in self.tasks()):
                    self.settings.task_file.parent.mkdir(parents=True, exist_ok=True)
                    with self.settings.task_file.open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps(task, ensure_ascii=False) + "\n")
                        handle.flush()
                        os.fsync(handle.fileno())
        except OSError as exc:
            raise TransientChannelError(
                f"cannot write the call task to {self.settings.task_file} ({exc.strerror}); "
                "check PAYJOURNEY_PHONE_TASK_FILE",
                provider=PROVIDER,
                code=f"errno-{exc.errno}",
            ) from exc
        provider_id = message.idempotency_key
        if self._client is not None:
            with transport_errors(PROVIDER):
                response = self._client.post(
                    "", json=task, headers={"Idempotency-Key": message.idempotency_key}
                )
            if response.status_code >= 400:
                raise provider_error(
                    PROVIDER,
                    response,
                    message,
                    code=f"http-{response.status_code}",
                    description="the task system refused the call task",
                    codes=ERROR_CODES,
                )
            with contextlib.suppress(ValueError, AttributeError):
                provider_id = str(response.json().get("id") or provider_id)
        return accepted(message, provider=PROVIDER, provider_message_id=provider_id, at=now)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
