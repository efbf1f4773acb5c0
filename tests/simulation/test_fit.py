"""`--fit` reads response rates back from a store's history of messages and payments."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

from engine.simulation.fit import MIN_MESSAGES, fit_rates, response_table
from engine.store import tables as t
from engine.store.db import make_engine
from engine.store.generate import generate
from engine.store.migrate import upgrade

#: Known rates the history is drawn with, per (persona, channel, step).
KNOWN = {
    ("consumer-nl", "sms", 1): 0.33,
    ("consumer-nl", "email", 2): 0.12,
    ("accounts-payable", "email", 1): 0.23,
}
#: 600 messages per cell: three standard errors of a share near 0.3 are about 0.056.
PER_CELL = 600
TOLERANCE = 0.06


def test_fit_recovers_known_response_rates_from_a_generated_history(tmp_path: Path) -> None:
    """Messages drawn to be followed by a payment within 14 days at known rates: the fitted
    shares are within 0.06 (three standard errors) of them, with the counts behind them."""
    engine = make_engine(f"sqlite:///{tmp_path / 'history.db'}")
    upgrade(engine)
    today = dt.date(2026, 6, 1)
    generate(engine, debtors=len(KNOWN) * PER_CELL, seed=11, today=today)
    with engine.begin() as conn:  # only our drawn history counts
        conn.execute(t.Payment.__table__.delete())  # type: ignore[attr-defined]
        conn.execute(t.Message.__table__.delete())  # type: ignore[attr-defined]
    rng = random.Random(4)
    messages, payments = [], []
    start = dt.datetime(2026, 7, 1, 9, tzinfo=dt.UTC)
    for n, ((persona, channel, step), rate) in enumerate(KNOWN.items()):
        for k in range(PER_CELL):
            number = n * PER_CELL + k + 1
            cid = f"C-{number:06d}"
            sent = start + dt.timedelta(hours=rng.randint(0, 24 * 60))
            messages.append(
                {
                    "id": f"m-{number}",
                    "customer_id": cid,
                    "journey": persona,
                    "step": step,
                    "channel": channel,
                    "status": "sent",
                    "sent_at": sent,
                    "trace": [],
                    "status_history": [],
                    "created_at": sent,
                }
            )
            paid_in = rng.uniform(0.1, 14) if rng.random() < rate else rng.uniform(15, 40)
            paid_at = sent + dt.timedelta(days=paid_in)
            payments.append(
                {
                    "id": f"p-{number}",
                    "customer_id": cid,
                    "amount": Decimal("10.00"),
                    "currency": "EUR",
                    "paid_at": paid_at,
                    "local_hour": paid_at.hour,
                    "local_weekday": paid_at.weekday(),
                }
            )
    for k in range(40):  # an imported history: messages without journey or step
        sent = start + dt.timedelta(hours=k)
        messages.append(
            {
                "id": f"h-{k}",
                "customer_id": "C-000001",
                "journey": None,
                "step": None,
                "channel": "letter",
                "status": "sent",
                "sent_at": sent,
                "trace": [],
                "status_history": [],
                "created_at": sent,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(t.Message.__table__), messages)  # type: ignore[attr-defined]
        conn.execute(insert(t.Payment.__table__), payments)  # type: ignore[attr-defined]
    rates = fit_rates(engine, window_days=14, until=start + dt.timedelta(days=120))
    engine.dispose()
    found = {(r.persona, r.channel, r.step): r for r in rates}
    for key, rate in KNOWN.items():
        assert found[key].messages == PER_CELL
        assert abs(found[key].share - rate) < TOLERANCE, (key, found[key].share, rate)
    table = response_table(rates)
    assert table[("consumer-nl", "sms", 1)] == found[("consumer-nl", "sms", 1)].share
    assert found[(None, "letter", None)].messages == 40, "counted once, not twice"
    email = found[(None, "email", None)]
    assert email.messages == 2 * PER_CELL >= MIN_MESSAGES
    assert abs(email.share - (0.12 + 0.23) / 2) < TOLERANCE
