"""Payments and bounces reaching a running daemon, on a clock the test moves: a statement dropped
in the watched folder stops tomorrow's reminder, a broken one is put aside, the same one twice
books once; a bounce forwarded to the DSN webhook sends the reminder by SMS instead."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from channels.base import OutgoingMessage, Receipt
from channels.dsn import dsn_secret, sign_forwarded
from channels.email import build_email, message_id
from channels.outbox import OutboxChannel
from channels.receipts import accepted
from engine.api import create_app
from engine.banking.entry import StatementEntry
from engine.banking.generate import write_camt053
from engine.daemon.scheduler import Daemon
from engine.daemon.settings import DaemonConfigError, DaemonSettings
from engine.messages.payments.options import payment_reference
from engine.rules.rulebook import RuleBook
from engine.store import tables as t
from tests.api.conftest import config
from tests.channels.conftest import SmtpTls, dsn_for, smtp_settings
from tests.daemon.harness import RULES, STEP1, Clock, World, debtor

P = t.Payment.__table__  # type: ignore[attr-defined]
E = t.BankEntry.__table__  # type: ignore[attr-defined]
S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
J = t.Journey.__table__  # type: ignore[attr-defined]
BEFORE_STEP1 = STEP1 - dt.timedelta(hours=1)  # Thursday 07:00 in Amsterdam
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def statement(folder: Path, name: str, amount: str = "500.00", sid: str = "STMT-1105") -> Path:
    """A CAMT.053 with one credit paying C-1 by the RF reference printed on our letter."""
    entry = StatementEntry(
        statement_id=sid,
        reference="N1",
        position=1,
        account_iban="NL91ABNA0417164300",
        booked_on=BEFORE_STEP1.date(),
        amount=Decimal(amount),
        currency="EUR",
        direction="credit",
        payer_name="Klant C-1 B.V.",
        payer_iban="NL20INGB0001234567",
        creditor_reference=payment_reference("C-1", ["C-1-I1"]),
    )
    path = folder / name
    path.write_bytes(write_camt053([entry], statement_id=sid, account_iban=entry.account_iban))
    return path


@pytest.fixture
def daemon(store: Engine, tmp_path: Path) -> Iterator[tuple[Daemon, Clock, Path]]:
    """A started daemon (outbox channels) watching tmp/statements, its clock at 07:00 Thursday,
    with C-1's first reminder planned for 08:00."""
    debtor(store, tmp_path)
    clock = Clock(BEFORE_STEP1)
    World(store, tmp_path, clock).plan()
    folder = tmp_path / "statements"
    folder.mkdir()
    outbox = tmp_path / "outbox"
    settings = DaemonSettings(
        daemon_id="test-daemon", statements_dir=folder, statements_quiet=dt.timedelta(0)
    )
    running = Daemon(
        engine=store,
        rulebook=RuleBook(RULES),
        channels={n: OutboxChannel(n, outbox, clock=clock) for n in ("email", "sms", "letter")},
        settings=settings,
        clock=clock,
        pdf_dir=tmp_path / "pdf",
    )
    running.start()
    try:
        yield running, clock, folder
    finally:
        running.close()


def _metric(running: Daemon, name: str, **labels: str) -> float:
    """A sample of the daemon's Prometheus registry (0 when never counted)."""
    return float(running.metrics.registry.get_sample_value(name, labels) or 0)


def step_statuses(store: Engine) -> list[str]:
    with store.connect() as conn:
        return list(conn.execute(select(S.c.status)).scalars())


def test_a_statement_dropped_in_the_folder_stops_the_reminder(
    store: Engine, daemon: tuple[Daemon, Clock, Path]
) -> None:
    """07:00 the bank's file arrives with C-1's 500 EUR; the daemon's next turn books it and
    ends the journey; at 10:00 no reminder goes out. The file is moved to imported/."""
    running, clock, folder = daemon
    assert step_statuses(store) == ["scheduled"]
    statement(folder, "2026-11-05.xml")
    running.tick()
    assert step_statuses(store) == ["cancelled"]
    with store.connect() as conn:
        assert conn.execute(select(J.c.state)).scalar() == "done"
    assert sorted(p.name for p in (folder / "imported").iterdir()) == ["2026-11-05.xml"]
    assert not any(folder.glob("*.xml"))
    clock.advance(hours=3)
    assert running.tick()["sent"] == 0
    assert not any((folder / ".importing").iterdir())


@SQLITE
def test_a_broken_statement_is_put_aside_with_its_error_and_nothing_is_booked(
    store: Engine, daemon: tuple[Daemon, Clock, Path]
) -> None:
    """An entry without an amount: the file moves to failed/, the error file names the entry,
    no payment is booked, the reminder still goes out at 08:00; a good file after it is read."""
    running, clock, folder = daemon
    good = statement(folder, "good.xml").read_text()
    (folder / "good.xml").unlink()
    (folder / "broken.xml").write_text(good.replace('<Amt Ccy="EUR">500.00</Amt>', ""))
    running.tick()
    assert sorted(p.name for p in (folder / "failed").iterdir()) == [
        "broken.xml",
        "broken.xml.error.txt",
    ]
    error = (folder / "failed" / "broken.xml.error.txt").read_text()
    assert "broken.xml: entry 1" in error and "nothing of the file was loaded" in error
    assert _metric(running, "payjourney_statement_files_total", result="failed") == 1
    assert _metric(running, "payjourney_statement_files_failed") == 1
    from typer.testing import CliRunner

    from engine.cli import app

    url = store.url.render_as_string(hide_password=False)
    shown = CliRunner().invoke(
        app, ["--db", url, "status", "--statements", str(folder)], env={"COLUMNS": "250"}
    )
    assert shown.exit_code == 0, shown.output
    [row] = [line for line in shown.output.splitlines() if "statement files failed" in line]
    assert f"(see {folder / 'failed'}/*.error.txt)" in row and row.split("│")[-2].strip() == "1"
    assert "statement files waiting" in shown.output
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(E)).scalar() == 0
    clock.advance(hours=1, minutes=5)
    assert running.tick()["sent"] == 1


@SQLITE
def test_the_same_statement_dropped_twice_books_once(
    store: Engine, daemon: tuple[Daemon, Clock, Path]
) -> None:
    """The bank's file comes again (a second download): both copies are kept in imported/,
    the money is booked once."""
    running, _, folder = daemon
    statement(folder, "stmt.xml", amount="200.00")
    running.tick()
    statement(folder, "stmt.xml", amount="200.00")
    running.tick()
    assert sorted(p.name for p in (folder / "imported").iterdir()) == ["stmt.xml", "stmt.xml.2"]
    with store.connect() as conn:
        assert conn.execute(select(P.c.amount)).scalars().all() == [Decimal("200.00")]
    assert step_statuses(store) == ["scheduled"]  # 300 still open: the reminder asks for it


@SQLITE
def test_a_file_still_being_written_is_left_alone(
    store: Engine, daemon: tuple[Daemon, Clock, Path]
) -> None:
    """A `.part` file and a file modified just now are not taken; ten seconds later it is."""
    running, _, folder = daemon
    statement(folder, "upload.xml.part")
    assert running.statements is not None
    running.statements.quiet = dt.timedelta(seconds=10)
    fresh = statement(folder, "fresh.xml")
    running.tick()
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        "fresh.xml",
        "upload.xml.part",
    ]
    old = time.time() - 11
    os.utime(fresh, (old, old))
    running.tick()
    assert [p.name for p in (folder / "imported").iterdir()] == ["fresh.xml"]


@SQLITE
def test_a_missing_statement_folder_stops_the_daemon_at_start(
    store: Engine, tmp_path: Path
) -> None:
    """The daemon refuses to start, naming the folder and the option."""
    running = Daemon(
        engine=store,
        rulebook=RuleBook(RULES),
        channels={"email": OutboxChannel("email", tmp_path / "outbox")},
        settings=DaemonSettings(daemon_id="d", statements_dir=tmp_path / "nowhere"),
    )
    with pytest.raises(DaemonConfigError, match=r"nowhere does not exist.*--statements"):
        running.start()


class SmtpLike:
    """The email channel's bookkeeping without the network: the message is built as
    `channels.email` sends it and accepted under its Message-ID, as the SMTP adapter reports."""

    name = "email"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.settings = smtp_settings(25, SmtpTls(None, None))  # type: ignore[arg-type]
        self.sent: list[bytes] = []

    def send(self, message: OutgoingMessage) -> Receipt:
        self.sent.append(build_email(message, self.settings, now=self.clock()))
        key = message_id(message.idempotency_key, self.settings.domain)
        return accepted(message, provider="smtp", provider_message_id=key, at=self.clock())

    def close(self) -> None:
        return None


SECRET = "whsec_" + "c2VjcmV0LWZvci1kc24tZm9yd2FyZGluZy0zMmJ5dGVz"


@SQLITE
def test_a_bounce_forwarded_to_the_dsn_webhook_sends_the_reminder_by_sms(
    store: Engine, db_url: str, tmp_path: Path
) -> None:
    """The email reminder bounces (5.1.1); the mail system forwards the DSN, signed, to
    POST /v1/webhooks/dsn; on its next turn the daemon blocks email for C-1 and sends the same
    reminder by SMS. The same DSN forwarded again changes nothing."""
    debtor(store, tmp_path)
    clock = Clock(STEP1 + dt.timedelta(hours=2))
    world = World(store, tmp_path, clock)
    smtp = SmtpLike(clock)
    world.channels["email"] = smtp  # type: ignore[assignment]
    world.dispatcher.channels = world.channels  # type: ignore[misc]
    world.plan()
    assert world.tick()["sent"] == 1
    [sent] = smtp.sent
    body = dsn_for(sent, status="5.1.1")
    settings = config(db_url, channel_env={"PAYJOURNEY_DSN_WEBHOOK_SECRET": SECRET})
    with TestClient(create_app(settings)) as api:

        def forward(raw: bytes, key: bytes = dsn_secret(SECRET)) -> int:
            stamp = int(time.time())
            headers = {
                "webhook-id": "msg_1",
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign_forwarded(key, "msg_1", stamp, raw),
                "content-type": "message/rfc822",
            }
            answer = api.post("/v1/webhooks/dsn", content=raw, headers=headers)
            assert answer.status_code in (200, 401), answer.text
            return answer.json().get("recorded", -1) if answer.status_code == 200 else 401

        assert forward(body, key=b"x" * 32) == 401
        assert forward(body) == 1
        assert forward(body) == 0
    clock.advance(minutes=5)
    world.tick()
    assert [(m.channel, m.status) for m in world.messages()] == [
        ("email", "failed"),
        ("sms", "sent"),
    ]
    [block] = world.rows(t.ChannelBlock)
    assert (block.customer_id, block.channel, block.reason) == ("C-1", "email", "bounced")


@SQLITE
def test_a_statement_the_database_could_not_take_is_tried_again(
    store: Engine, daemon: tuple[Daemon, Clock, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database is away during one turn: the file goes back into the folder (not to
    failed/), and the next turn imports it."""
    from sqlalchemy.exc import OperationalError

    import engine.banking.watch as watch

    running, _, folder = daemon
    statement(folder, "stmt.xml")

    def away(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    with monkeypatch.context() as patch:
        patch.setattr(watch, "import_statements", away)
        running.tick()
    assert [p.name for p in folder.iterdir() if p.is_file()] == ["stmt.xml"]
    assert not any((folder / "failed").iterdir())
    assert _metric(running, "payjourney_statement_files_total", result="retried") == 1
    running.tick()
    assert [p.name for p in (folder / "imported").iterdir()] == ["stmt.xml"]
    assert _metric(running, "payjourney_statement_files_total", result="imported") == 1
    assert _metric(running, "payjourney_statement_files_failed") == 0
    assert step_statuses(store) == ["cancelled"]
