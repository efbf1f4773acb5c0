"""Payment links once per message: a retry of the same message shows the links of its first try.

The links are created while rendering, right before the outbox row is committed. A message sent
again under the same idempotency key (a transient failure, a reconcile --not-sent) finds the
links its first attempt recorded in its trace and reuses them instead of asking the provider for
new ones, so the debtor never holds two live links for one message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from engine.messages.payments.base import PaymentLink, PaymentProvider, PaymentRequest


def recorded_links(trace: Sequence[Mapping[str, Any]] | None) -> dict[str, Mapping[str, Any]]:
    """The links a message's earlier attempt recorded (in its `dispatch` trace entry), by method."""
    links: dict[str, Mapping[str, Any]] = {}
    for entry in trace or ():
        if entry.get("rule") == "dispatch":
            for link in entry.get("payment_links") or ():
                links[str(link["method"])] = link
    return links


class ReusedLinks:
    """A provider that answers with the recorded link for a method, and asks `inner` otherwise."""

    def __init__(self, inner: PaymentProvider, links: Mapping[str, Mapping[str, Any]]) -> None:
        self.inner = inner
        self.links = links
        self.name = inner.name

    def supports(self, method: str) -> bool:
        return method in self.links or self.inner.supports(method)

    def create_link(self, request: PaymentRequest) -> PaymentLink:
        found = self.links.get(request.method)
        if found is None:
            return self.inner.create_link(request)
        expires = found.get("expires_at")
        return PaymentLink(
            method=request.method,
            provider=str(found.get("provider") or self.inner.name),
            url=str(found["url"]),
            created=True,
            id=found.get("link_id"),
            expires_at=dt.datetime.fromisoformat(expires) if isinstance(expires, str) else None,
            note="the link of this message's first attempt",
        )

    def close(self) -> None:
        self.inner.close()
