"""docs/api.md stays true: every `sh` block runs against a live `payjourney serve`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from engine.rules.rulebook import RuleBook
from tests.api.conftest import DSN_SECRET, ROOT, TOKENS

GUIDE = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
CURLS = [body for lang, body in re.findall(r"```(\w+)\n(.*?)```", GUIDE, re.S) if lang == "sh"]


def test_the_guide_has_curl_examples_for_every_endpoint() -> None:
    text = "\n".join(CURLS)
    for path in ("/v1/customers/", "/v1/preview", "/v1/events", "letter.pdf", "/v1/payments",
                 "/v1/webhooks/dsn"):  # fmt: skip
        assert path in text


@pytest.fixture
def unmatched_entry(sqlite_url: str, rulebook: RuleBook) -> None:
    """The statement entry the guide assigns: 120.00 EUR from J. de Vries, no reference."""
    import datetime as dt
    from decimal import Decimal

    from engine.banking.book import book_entries
    from engine.banking.entry import StatementEntry
    from engine.store.db import make_engine

    gift = StatementEntry(
        statement_id="STMT-2026-11-23", reference="N1", position=1,
        account_iban="NL91ABNA0417164300", booked_on=dt.date(2026, 11, 23),
        amount=Decimal("120.00"), currency="EUR", direction="credit", payer_name="J. de Vries",
        payer_iban="NL20INGB0001234567", remittance="voor de bloemen",
    )  # fmt: skip
    engine = make_engine(sqlite_url)
    try:
        book_entries(engine, [("2026-11-23.xml", "camt053", gift)], rules=rulebook.current)
    finally:
        engine.dispose()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_every_curl_example_runs_and_answers_json(
    unmatched_entry: None, server: str, tmp_path: object
) -> None:
    """Each block exits 0 (`--fail-with-body` where a 2xx is expected) and prints JSON."""
    setup = next(body for body in CURLS if body.startswith("API="))
    env = {
        "PATH": "/usr/bin:/bin",
        "API": server,
        "TOKEN": TOKENS["preview"][0],
        "EVENTS_TOKEN": TOKENS["events"][0],
        "DSN_SECRET": DSN_SECRET,
    }
    for body in CURLS:
        if body is setup:
            continue
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", body],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{body}\n{done.stdout}\n{done.stderr}"
        for line in filter(None, re.split(r"(?<=\})\s*(?=\{)", done.stdout.strip())):
            json.loads(line)
    assert (tmp_path / "letter.pdf").read_bytes().startswith(b"%PDF-")  # type: ignore[operator]
