"""The CLI around the API: `preview --json` says what the API says; options after the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from engine.api.auth import find_token, parse_tokens
from engine.cli import hoist_global_options
from tests.api.conftest import NOW, ROOT, bearer

PAYJOURNEY = [sys.executable, "-m", "engine"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAYJOURNEY, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_preview_json_prints_the_same_answer_as_the_api(
    client: TestClient, sqlite_url: str
) -> None:
    """`payjourney preview C-DE --json --db URL` (options after the command) == the API."""
    rules = str(ROOT / "rules")
    done = run("preview", "C-DE", "--json", "--now", NOW, "--db", sqlite_url, "--rules", rules)
    assert done.returncode == 0, done.stderr
    api = client.get(
        "/v1/customers/C-DE/next-message", params={"now": NOW}, headers=bearer("preview")
    ).json()
    assert json.loads(done.stdout) == api


def test_each_worker_of_serve_writes_the_access_log(sqlite_url: str) -> None:
    """`serve --workers N` builds each worker's app with `app_from_env` in a new interpreter:
    the access log must come out there too, not only in a single-process `serve`."""
    code = (
        "import logging\n"
        "from engine.api.app import app_from_env\n"
        "app_from_env()\n"
        "logging.getLogger('payjourney.api.access').info('GET /v1/health 200 0.1ms')\n"
    )
    env = {**os.environ, "PAYJOURNEY_DB": sqlite_url, "PAYJOURNEY_RULES": str(ROOT / "rules")}
    env.pop("PAYJOURNEY_API_TOKENS", None)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "payjourney.api.access GET /v1/health 200 0.1ms" in done.stderr


def test_preview_of_an_unknown_customer_says_how_to_fix_it(sqlite_url: str) -> None:
    done = run("preview", "C-404", "--db", sqlite_url)
    assert done.returncode == 1 and "payjourney import" in done.stderr


def test_explain_reads_rules_given_after_the_command(tmp_path: Path) -> None:
    """`payjourney explain f.json --rules my-rules/`: users type options there."""
    done = run(
        "explain", "examples/facts/consumer-de.json", "--json", "--rules", str(tmp_path / "none")
    )
    assert done.returncode == 1 and "no such rules directory" in done.stderr


def test_global_options_move_in_front_of_the_command() -> None:
    assert hoist_global_options(["explain", "f.json", "--rules", "r", "--db=sqlite://"]) == [
        "--rules",
        "r",
        "--db=sqlite://",
        "explain",
        "f.json",
    ]
    assert hoist_global_options(["x", "--", "--db", "y"]) == ["x", "--", "--db", "y"]


def test_token_new_prints_a_secret_and_a_line_that_accepts_it() -> None:
    done = run("token", "new", "erp", "--scope", "events", "--scope", "preview")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    secret = lines[0].rsplit(" ", 1)[1]
    (token,) = parse_tokens(lines[-1])
    assert find_token([token], secret) == token and token.scopes == {"events", "preview"}
