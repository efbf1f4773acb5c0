"""A portfolio of debtors whose one step is due now, on rules whose window is always open where
they live; shared by the multi-daemon tests and bench/dispatch.py."""

from __future__ import annotations

import datetime as dt
import functools
import shutil
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from engine.decision.decide import decide
from engine.rules.compile import compile_rules
from engine.rules.rulespec import load_rules
from engine.store import tables as t
from engine.store.bulk import upsert
from engine.store.planner import plan

ROOT = Path(__file__).resolve().parents[2]
JOURNEYS = """\
personas:
  - id: everyone
    when: always
journeys:
  - persona: everyone
    locale: nl_NL
    tone: u
    payment_options: [{options}]
    steps:
      - {{at: due + 1d, channel: email, template: reminder-1}}
channels:
  send_window: {{days: mon-sun, hours: "07:00-20:00"}}
  holidays: []
  prefer_typical_pay_hour: false
"""


def fleet_rules(directory: Path, *, options: str = "ideal") -> Path:
    """A rule pack with one email step; `options` the payment options (e.g. "ideal, bank_transfer")."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("settings.yaml", "payment_options.yaml"):
        shutil.copy(ROOT / "rules" / name, directory / name)
    (directory / "journeys.yaml").write_text(JOURNEYS.format(options=options), encoding="utf-8")
    return directory


#: The sender's domain, so the Message-IDs the sink records can be mapped back to message keys.
SINK_DOMAIN = "voorbeeld.example"


def sink_channel_env(port: int) -> dict[str, str]:
    """The environment that makes `payjourney run` send email through the real SMTP adapter
    (channels/email.py via the channel registry) to a sink on loopback, without TLS."""
    return {
        "PAYJOURNEY_CHANNELS": "email",
        "PAYJOURNEY_SMTP_HOST": "127.0.0.1",
        "PAYJOURNEY_SMTP_PORT": str(port),
        "PAYJOURNEY_SMTP_SECURITY": "none",
        "PAYJOURNEY_SMTP_FROM": f"debiteuren@{SINK_DOMAIN}",
    }


def midday_zone(now: dt.datetime) -> str:
    """An IANA zone where it is about 13:00 now, so the send window is open whenever tests run."""
    offset = 13 - now.astimezone(dt.UTC).hour
    offset = (offset + 12) % 24 - 12  # -12 .. +11
    if offset == 0:
        return "Etc/UTC"
    # POSIX sign convention: Etc/GMT-2 is two hours ahead of UTC
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def seed(engine: Engine, debtors: int, rules_dir: Path, now: dt.datetime) -> int:
    """Write `debtors` debtors with one open invoice each and plan them: one due step each."""
    zone = midday_zone(now)
    due = (now - dt.timedelta(days=10)).date()
    customers, contacts, invoices = [], [], []
    for n in range(debtors):
        cid = f"F-{n:06d}"
        customers.append(
            {
                "id": cid,
                "kind": "business",
                "country": "NL",
                "name": f"Klant {n} B.V.",
                "timezone": zone,
                "tags": [],
                "created_at": now,
                "updated_at": now,
            }
        )
        contacts.append(
            {
                "id": f"{cid}-P",
                "customer_id": cid,
                "is_primary": True,
                "name": "Anna de Vries",
                "email": f"debiteur{n}@example.nl",
                "decision_authority": False,
                "consent_email": True,
                "consent_sms": False,
                "consent_whatsapp": False,
                "updated_at": now,
            }
        )
        invoices.append(
            {
                "id": f"{cid}-I1",
                "customer_id": cid,
                "number": f"2026-{n:06d}",
                "amount": Decimal("250.00"),
                "currency": "EUR",
                "issue_date": due - dt.timedelta(days=30),
                "due_date": due,
                "warns_of_default": False,
                "updated_at": now,
            }
        )
    with engine.begin() as conn:
        upsert(conn, t.Customer.__table__, customers)  # type: ignore[attr-defined]
        upsert(conn, t.Contact.__table__, contacts)  # type: ignore[attr-defined]
        upsert(conn, t.Invoice.__table__, invoices)  # type: ignore[attr-defined]
    rules = compile_rules(load_rules(rules_dir))
    summary = plan(engine, functools.partial(decide, rules), now)
    assert not summary.failures, summary.failures[:3]
    return summary.actions["send"]
