"""`payjourney explain --render`, run as the real CLI, adds the message a debtor will get."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _explain(facts: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "--rules",
            "rules",
            "explain",
            facts,
            "--now",
            "2026-11-24T09:00:00+01:00",
            "--render",
            *extra,
        ],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_explain_render_json_has_message_links_and_qr(tmp_path: Path) -> None:
    done = _explain("examples/facts/consumer-nl-letter.json", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["channel"] == "letter" and answer["tone"] == "jij"
    assert answer["amount_due"]["formatted"] == "€ 89,95"
    message = answer["message"]
    assert "binnen 14 dagen" in message["subject"]
    assert "de dag nadat deze brief bij je is bezorgd" in message["text"]
    assert Path(message["pdf"]).read_bytes().startswith(b"%PDF-")
    methods = [o["method"] for o in answer["payment_options"]]
    assert methods[-1] == "bank_transfer"
    bank = answer["payment_options"][-1]
    assert bank["qr"].startswith("data:image/png;base64,") and bank["epc_payload"]
    assert all(o["url"] is None for o in answer["payment_options"] if "created" in o)


def test_explain_render_table_prints_the_message() -> None:
    done = _explain("examples/facts/smb-late-nl.json")
    assert done.returncode == 0, done.stderr
    assert "wilt u € 1.234,50 uiterlijk 01-12-2026 betalen?" in done.stdout
    assert "Pay by bank_transfer: IBAN NL91 ABNA 0417 1643 00" in done.stdout
