"""A served worker is ready before its first request (templates compiled, statements warm), and
previews run in turn on threads or, when configured, on the event loop."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from fastapi.testclient import TestClient

from engine.api import create_app, warmup
from engine.api.limits import TURNS, in_turn, preview_turns
from engine.api.state import state_of
from engine.api.warmup import compile_templates, warm_previews
from engine.messages.render import renderer_for
from engine.messages.sandbox import HTML_SUFFIX
from engine.preview.answer import PreviewSettings
from engine.preview.stored import preview_stored
from engine.rules.rulebook import RuleBook
from engine.store.db import make_engine
from engine.store.migrate import upgrade
from tests.api.conftest import NOW, bearer, config
from tests.conftest import ROOT


def own_templates(tmp_path: Path) -> Path:
    """A copy of the templates folder: a renderer of its own, with nothing compiled yet."""
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    return folder.resolve()


def refuse_loading(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    env = renderer_for(folder).env

    def compiled_on_use(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a template was compiled on use: {args[1:]}")

    assert env.loader is not None
    monkeypatch.setattr(env.loader, "get_source", compiled_on_use)


def test_every_template_is_compiled_at_start_as_text_and_as_html(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file of the templates folder is compiled once at start, and in HTML mode as well
    unless it is an .html file; afterwards no lookup goes back to the file."""
    folder = own_templates(tmp_path)
    names = renderer_for(folder).env.list_templates()
    html_files = [n for n in names if n.endswith(".html")]
    assert compile_templates(folder) == 2 * len(names) - len(html_files)
    refuse_loading(monkeypatch, folder)
    env = renderer_for(folder).env
    for name in names:
        env.get_template(name)
        if not name.endswith(".html"):
            env.get_template(name + HTML_SUFFIX)


def test_a_stored_preview_after_the_warm_up_compiles_no_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, rulebook: RuleBook
) -> None:
    """The first request of a warmed worker renders the Dutch and the German message without
    waiting for Jinja (10-60 ms of CPU per template compiled on use)."""
    folder = own_templates(tmp_path)
    compile_templates(folder)
    refuse_loading(monkeypatch, folder)
    engine = make_engine(sqlite_url)
    try:
        for customer_id in ("C-NL", "C-DE"):
            found = preview_stored(
                engine,
                rulebook.current,
                customer_id,
                dt.datetime.fromisoformat(NOW),
                PreviewSettings(templates_dir=folder),
                letter_pdf=False,
            )
            assert found.answer["message"]["text"]
    finally:
        engine.dispose()


def test_a_template_that_does_not_compile_is_left_for_its_first_render(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken template (bad syntax, not UTF-8) does not stop the worker from starting: it is
    named in the log and the others are compiled (rendering it answers the template problem,
    as before)."""
    folder = own_templates(tmp_path)
    (folder / "nl" / "broken.u.j2").write_text("{% if %}\n", encoding="utf-8")
    (folder / "de" / "latin1.Sie.j2").write_bytes("Straße".encode("latin-1"))
    names = renderer_for(folder).env.list_templates()
    html_files = [n for n in names if n.endswith(".html")]
    with caplog.at_level(logging.WARNING, logger="payjourney.api"):
        assert compile_templates(folder) == 2 * len(names) - len(html_files) - 4
    assert "nl/broken.u.j2" in caplog.text
    assert "de/latin1.Sie.j2" in caplog.text


def test_the_warm_up_previews_the_first_stored_customers(
    sqlite_url: str, rulebook: RuleBook
) -> None:
    """Both stored debtors are previewed at start (nothing is written: the preview stays the
    same afterwards)."""
    state = state_of(create_app(config(sqlite_url), rulebook=rulebook))
    try:
        assert warm_previews(state) == 2
        assert warm_previews(state, count=1) == 1
    finally:
        state.engine.dispose()


def test_a_debtor_whose_preview_fails_does_not_stop_the_start(
    sqlite_url: str,
    rulebook: RuleBook,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Even an unexpected error in one debtor's preview is logged (its type, not who) and the
    others are warmed."""
    real = warmup.preview_stored

    def failing_for_c_de(engine: Any, rules: Any, customer_id: str, *args: Any, **kw: Any) -> Any:
        if customer_id == "C-DE":
            raise RuntimeError("a bug")
        return real(engine, rules, customer_id, *args, **kw)

    monkeypatch.setattr(warmup, "preview_stored", failing_for_c_de)
    state = state_of(create_app(config(sqlite_url), rulebook=rulebook))
    try:
        with caplog.at_level(logging.WARNING, logger="payjourney.api"):
            assert warm_previews(state) == 1
    finally:
        state.engine.dispose()
    assert "RuntimeError" in caplog.text
    assert "C-DE" not in caplog.text


def test_the_warm_up_of_an_empty_store_previews_nothing(tmp_path: Path, rulebook: RuleBook) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    state = state_of(create_app(config(url), rulebook=rulebook))
    try:
        assert warm_previews(state) == 0
    finally:
        state.engine.dispose()


def test_previews_run_two_at_a_time_on_threads_unless_configured() -> None:
    """Two threads per worker by default (on busy cores the event loop variant's tail was
    longer); PAYJOURNEY_API_CONCURRENCY sets the number, 0 runs them on the event loop."""
    assert preview_turns({}) == TURNS == 2
    assert preview_turns({"PAYJOURNEY_API_CONCURRENCY": "3"}) == 3
    assert preview_turns({"PAYJOURNEY_API_CONCURRENCY": "0"}) == 0


def test_a_preview_without_turns_runs_on_the_calling_thread() -> None:
    async def where(turns: int) -> int:
        return await in_turn(threading.get_ident, turns)

    assert anyio.run(where, 0) == threading.get_ident()


def test_a_served_app_on_the_event_loop_answers_as_on_threads(
    sqlite_url: str, rulebook: RuleBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PAYJOURNEY_API_CONCURRENCY=0: the same answer, with the same errors."""
    answers = []
    for turns in ("0", "2"):
        monkeypatch.setenv("PAYJOURNEY_API_CONCURRENCY", turns)
        with TestClient(create_app(config(sqlite_url), rulebook=rulebook)) as client:
            assert state_of(client.app).preview_turns == int(turns)
            got = client.get(
                f"/v1/customers/C-DE/next-message?now={quote(NOW)}", headers=bearer("preview")
            )
            missing = client.get(
                f"/v1/customers/C-XX/next-message?now={quote(NOW)}", headers=bearer("preview")
            )
        assert got.status_code == 200
        assert missing.status_code == 404
        answers.append((got.json(), missing.json()))
    assert answers[0] == answers[1]
