"""Reading an experiment from the store: first message per debtor, payments after it, windows."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from engine.experiments.readout import UnknownExperiment, read_experiment
from engine.store import tables as t
from tests.conftest import ROOT
from tests.store.conftest import db_url, pg_database, store

__all__ = ["db_url", "pg_database", "store"]

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


def _world(engine: Engine) -> None:
    """Control `a`: 10 debtors 30 days in, 3 paid within 5 days, 1 after 20 days, 1 paid before
    the first message only. Variant `b`: 10 debtors 30 days in, 6 paid within 2 days; and 2
    debtors 3 days in (window open), one of them paid."""
    customers, messages, payments = [], [], []

    def debtor(cid: str, variant: str, first_days_ago: float, paid_after: float | None) -> None:
        first = NOW - dt.timedelta(days=first_days_ago)
        customers.append({"id": cid, "kind": "consumer", "country": "NL", "tags": []})
        for n, at in enumerate((first, first + dt.timedelta(days=7))):
            if at > NOW:
                continue
            messages.append(
                {
                    "id": f"M-{cid}-{n}",
                    "customer_id": cid,
                    "channel": "email",
                    "status": "sent",
                    "sent_at": at,
                    "created_at": at,
                    "experiment": "exp-1",
                    "variant": variant,
                    "trace": [],
                    "status_history": [],
                }
            )
        if paid_after is not None:
            paid = first + dt.timedelta(days=paid_after)
            payments.append(
                {
                    "id": f"P-{cid}",
                    "customer_id": cid,
                    "amount": Decimal("10.00"),
                    "currency": "EUR",
                    "paid_at": paid,
                    "local_hour": 10,
                    "local_weekday": 1,
                }
            )

    for n in range(10):
        paid = 5.0 if n < 3 else (20.0 if n == 3 else (-2.0 if n == 4 else None))
        debtor(f"A-{n}", "a", 30, paid)
    for n in range(10):
        debtor(f"B-{n}", "b", 30, 2.0 if n < 6 else None)
    debtor("B-10", "b", 3, 1.0)
    debtor("B-11", "b", 3, None)
    with engine.begin() as conn:
        conn.execute(insert(t.Customer.__table__), customers)  # type: ignore[attr-defined]
        conn.execute(insert(t.Message.__table__), messages)  # type: ignore[attr-defined]
        conn.execute(insert(t.Payment.__table__), payments)  # type: ignore[attr-defined]


def test_shares_windows_and_curves_come_from_first_messages_and_later_payments(
    store: Engine,
) -> None:
    _world(store)
    result = read_experiment(store, "exp-1", NOW, window_days=14)
    a, b = result.arms
    assert (a.variant, a.debtors, a.closed, a.paid, a.share) == ("a", 10, 10, 3, 0.3)
    assert (b.variant, b.debtors, b.closed, b.paid, b.share) == ("b", 12, 10, 6, 0.6)
    assert a.curve.unpaid_at(5) == pytest.approx(0.7)  # a payment before the message is no outcome
    assert a.curve.unpaid_at(20) == pytest.approx(0.6)
    assert b.median_days == pytest.approx(2.0)
    (diff,) = result.comparisons
    assert diff.difference == pytest.approx(0.3)
    assert diff.low is not None and diff.high is not None and diff.low < 0.3 < diff.high
    assert result.headline.startswith("not enough data yet")
    assert not result.enough


def test_an_unknown_experiment_says_which_exist(store: Engine) -> None:
    _world(store)
    with pytest.raises(UnknownExperiment, match="known: exp-1"):
        read_experiment(store, "exp-2", NOW)


def test_the_cli_prints_the_read_out_as_json(tmp_path: Path) -> None:
    from engine.store.db import make_engine
    from engine.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = make_engine(url)
    upgrade(engine)
    _world(engine)
    engine.dispose()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "experiments",
            "exp-1",
            "--json",
            "--window",
            "14",
            "--now",
            NOW.isoformat(),
            "--db",
            url,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (answer,) = json.loads(done.stdout)
    shares = {v["variant"]: v["share_paid"] for v in answer["variants"]}
    assert shares == {"a": 0.3, "b": 0.6}
    assert answer["enough_data"] is False
    assert "fixed horizon" in answer["peeking_guard"]
    # the tables, in process (the subprocess above already proved the command line)
    from typer.testing import CliRunner

    from engine.cli import app

    table = CliRunner().invoke(app, ["--db", url, "experiments", "--now", NOW.isoformat()])
    assert table.exit_code == 0, table.output
    assert "not enough data yet" in table.output and "30.0%" in table.output
