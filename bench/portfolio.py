"""Seeded random fact sheets for benchmarks: a mix of NL/DE businesses and consumers."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from engine.decision.model import FactSheet

ROLES = ["accounts_payable", "controller", "owner", "director", "consumer"]


def fact_sheet(rng: random.Random, today: dt.date) -> dict[str, Any]:
    """One debtor's flat facts, drawn from a hidden behaviour type."""
    kind = "consumer" if rng.random() < 0.45 else "business"
    country = rng.choices(["NL", "DE", "BE", "AT"], weights=[50, 38, 7, 5])[0]
    behaviour = rng.choices(["good", "slipped", "late", "chronic"], weights=[30, 25, 30, 15])[0]
    late = {"good": 0.5, "slipped": 1.5, "late": 5.0, "chronic": 25.0}[behaviour]
    avg_late = max(0.0, rng.gauss(late, late / 3 + 0.5))
    ratio = {"good": 0.95, "slipped": 0.92, "late": 0.4, "chronic": 0.15}[behaviour]
    channels = ["email", "sms", "whatsapp", "letter", "phone"]
    preferred = rng.choice(channels)
    return {
        "customer.id": f"C-{rng.randrange(10**9)}",
        "customer.kind": kind,
        "customer.country": country,
        "customer.timezone": "Europe/Amsterdam" if country in ("NL", "BE") else "Europe/Berlin",
        "customer.employees": None if kind == "consumer" else int(rng.lognormvariate(3, 1.3)),
        "customer.payer_role": "consumer" if kind == "consumer" else rng.choice(ROLES[:4]),
        "customer.credit_score": rng.choice([None, rng.randint(5, 99)]),
        "customer.preferred_channel": preferred,
        "customer.consent.sms": rng.random() < 0.4,
        "customer.consent.whatsapp": rng.random() < 0.3,
        "customer.consent.email": rng.random() > 0.03,
        "balance.open_amount": Decimal(str(round(rng.lognormvariate(6, 1.6), 2))),
        "balance.oldest_due_date": today - dt.timedelta(days=rng.randint(-10, 60)),
        "behaviour.avg_days_late": round(avg_late, 1),
        "behaviour.on_time_ratio": round(min(1.0, max(0.0, rng.gauss(ratio, 0.08))), 2),
        "behaviour.broken_promises": rng.choices([0, 1, 2, 3], weights=[80, 12, 5, 3])[0],
        "behaviour.paid_after.email": round(rng.random() * 0.5, 2),
        "behaviour.paid_after.sms": rng.choice([None, round(rng.random() * 0.6, 2)]),
        "behaviour.typical_pay_hour": rng.choice([None, rng.randint(7, 21)]),
        "journey.steps_sent": rng.randint(0, 3),
        "journey.messages_last_7_days": rng.choices([0, 1, 2, 3], weights=[60, 25, 10, 5])[0],
    }


def fact_sheets(count: int, seed: int, today: dt.date) -> list[FactSheet]:
    rng = random.Random(seed)
    return [FactSheet.build(fact_sheet(rng, today)) for _ in range(count)]
