"""Response rates from a store's own history: per persona x channel x step, the share of messages
followed by a payment of that debtor within N days, with the counts behind it.

`payjourney simulate --fit` uses them in place of the assumed factors of the behaviour model, so
on a credit manager's data the simulated debtors react as theirs did. A message is counted
once, whatever else was sent in the window (the rate is "paid within N days after a message",
not the effect of that one message).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Engine, select

from engine.simulation.behaviour import ResponseTable
from engine.store import tables as t

M = t.Message.__table__  # type: ignore[attr-defined]
P = t.Payment.__table__  # type: ignore[attr-defined]
#: Fewer messages than this in a cell: the cell is shown, but the model backs off to the
#: channel's rate over all personas and steps.
MIN_MESSAGES = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    """One cell of the fitted table."""

    persona: str | None  # None: every persona
    channel: str
    step: int | None  # None: every step
    messages: int
    paid: int

    @property
    def share(self) -> float:
        return self.paid / self.messages if self.messages else 0.0


def fit_rates(
    engine: Engine,
    *,
    window_days: int = 14,
    until: dt.datetime | None = None,
    since: dt.datetime | None = None,
) -> list[Rate]:
    """Every persona x channel x step cell, then every channel over all personas and steps.
    Only messages sent from `since` whose whole window lies before `until` (default: the last
    payment) count."""
    with engine.connect() as conn:
        messages = conn.execute(
            select(M.c.customer_id, M.c.journey, M.c.channel, M.c.step, M.c.sent_at).where(
                M.c.status.in_(("sent", "delivered")), M.c.sent_at.is_not(None)
            )
        ).all()
        paid: dict[str, list[dt.datetime]] = defaultdict(list)
        for p in conn.execute(select(P.c.customer_id, P.c.paid_at).order_by(P.c.paid_at)):
            paid[p.customer_id].append(p.paid_at)
    if until is None:
        until = max((times[-1] for times in paid.values()), default=None)
    window = dt.timedelta(days=window_days)
    cells: dict[tuple[str | None, str, int | None], list[int]] = defaultdict(lambda: [0, 0])
    for m in messages:
        if until is not None and m.sent_at + window > until:
            continue  # its window is not over: whether it worked is not known yet
        if since is not None and m.sent_at < since:
            continue
        times = paid.get(m.customer_id, [])
        k = bisect.bisect_right(times, m.sent_at)
        hit = int(k < len(times) and times[k] <= m.sent_at + window)
        step = int(m.step) if m.step is not None else None
        # a message without a journey (an imported history) counts once, in the channel's cell
        for key in dict.fromkeys(((m.journey, m.channel, step), (None, m.channel, None))):
            cells[key][0] += 1
            cells[key][1] += hit
    return [
        Rate(persona=k[0], channel=k[1], step=k[2], messages=v[0], paid=v[1])
        for k, v in sorted(cells.items(), key=lambda kv: (kv[0][0] is None, str(kv[0])))
    ]


def response_table(rates: list[Rate]) -> ResponseTable:
    """The rates the behaviour model uses: cells with enough messages, and every channel's."""
    return {
        (r.persona, r.channel, r.step): r.share
        for r in rates
        if r.messages >= MIN_MESSAGES or r.persona is None
    }
