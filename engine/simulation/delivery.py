"""The channel of a simulation: the outbox writes what would be sent, the behaviour model gets it.

A real `Channel` in the daemon's channel map: dispatch renders, commits the outbox row and calls
`send` exactly as for a provider. The debtor's reaction comes back later as events (payments,
promises, disputes) recorded through the store, never as a shortcut into the journey.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy import Engine, select

from channels.base import CHANNEL_NAMES, Channel, OutgoingMessage, Receipt
from channels.outbox import OutboxChannel
from channels.receipts import accepted
from engine.simulation.behaviour import BehaviourModel, Received
from engine.store import tables as t

PROVIDER = "simulation"
M = t.Message.__table__  # type: ignore[attr-defined]


class SimulatedDelivery:
    """Hands each message to the outbox (when given) and to the simulated debtor."""

    def __init__(
        self,
        name: str,
        *,
        model: BehaviourModel,
        engine: Engine,
        clock: Callable[[], dt.datetime],
        outbox: OutboxChannel | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.engine = engine
        self.clock = clock
        self.outbox = outbox

    def send(self, message: OutgoingMessage) -> Receipt:
        if self.outbox is not None:
            self.outbox.send(message)
        now = self.clock()
        # the outbox row is committed (`sending`) before any provider call: it says the journey
        # and tone the debtor is addressed in
        with self.engine.connect() as conn:
            row = conn.execute(
                select(M.c.journey, M.c.step, M.c.tone).where(M.c.id == message.idempotency_key)
            ).first()
        self.model.receive(
            Received(
                customer_id=str(message.customer_id),
                channel=message.channel,
                step=int(row.step) if row is not None and row.step is not None else 1,
                tone=row.tone if row is not None else None,
                persona=row.journey if row is not None else None,
                text=message.text,
                at=now,
            )
        )
        return accepted(
            message, provider=PROVIDER, provider_message_id=message.idempotency_key, at=now
        )

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()


def simulated_channels(
    model: BehaviourModel,
    engine: Engine,
    clock: Callable[[], dt.datetime],
    outbox_dir: Path | None = None,
) -> Mapping[str, Channel]:
    """A simulated delivery for every channel name, writing into `outbox_dir` when given."""
    return {
        name: SimulatedDelivery(
            name,
            model=model,
            engine=engine,
            clock=clock,
            outbox=OutboxChannel(name, outbox_dir, clock=clock) if outbox_dir is not None else None,
        )
        for name in CHANNEL_NAMES
    }
