"""What a served worker does before its first request: every template compiled, a few stored
previews made, what is loaded kept out of the garbage collector, freed heap kept.

A template is compiled on its first use (10-60 ms of CPU each: Jinja parses, generates and
compiles Python). Served cold, each rare step, tone and part (the HTML of `nudge.du`, a
`handoff-notice.Sie`) stalled the first request that needed it, and every request queued
behind it in that worker, minutes into a run. The first stored preview also compiles the
facts and invoice statements (about 50 ms) and loads Babel's locales. 2026-11-24 measurements
in docs/api.md ("The tail").
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from pathlib import Path

from sqlalchemy import text

from engine.api.state import ApiState
from engine.messages.render import renderer_for
from engine.messages.sandbox import HTML_SUFFIX
from engine.preview.stored import preview_stored
from engine.store.heap import keep_freed_heap

#: Stored customers previewed at start (the first by id): enough to touch both countries'
#: locales and the statements; a few milliseconds each.
WARM_PREVIEWS = 20

log = logging.getLogger("payjourney.api")


def compile_templates(templates_dir: Path) -> int:
    """Compile every template of `templates_dir` into the shared renderer's cache, as text and
    (for the email's HTML part) in HTML mode; the number compiled. A file that does not
    compile (a syntax error, not UTF-8) is logged and left for its first render, which reports
    it as the message's problem, as before."""
    env = renderer_for(templates_dir).env
    compiled = 0
    for name in env.list_templates():
        # `layout/email.html` is HTML by its name; every other file is also loaded as
        # `name@html` by an HTML part (its own, or a parent's extends/imports)
        for variant in (name,) if name.endswith(".html") else (name, name + HTML_SUFFIX):
            try:
                env.get_template(variant)
            except Exception as exc:  # a warm-up never stops the start
                log.warning("template %s not compiled ahead: %s", variant, exc)
                continue
            compiled += 1
    return compiled


def warm_previews(state: ApiState, count: int = WARM_PREVIEWS) -> int:
    """Preview the first `count` stored customers as of now, as a request would (nothing is
    written); the number made. A customer whose preview fails is logged (the error's type, not
    the customer) and skipped: its request will answer the error, as before."""
    with state.engine.connect() as conn:
        ids = list(
            conn.execute(text("SELECT id FROM customer ORDER BY id LIMIT :n"), {"n": count})
            .scalars()
            .all()
        )
    rules = state.rulebook.current
    now = dt.datetime.now(dt.UTC)
    made = 0
    for customer_id in ids:
        try:
            preview_stored(state.engine, rules, customer_id, now, state.preview, letter_pdf=False)
        except Exception as exc:  # one bad debtor never stops the start
            log.warning("warm-up preview of a stored customer failed: %s", type(exc).__name__)
            continue
        made += 1
    return made


def prepare_worker(state: ApiState) -> None:
    """Run once in a served worker, after the app is built and before it takes requests."""
    compile_templates(state.preview.templates_dir)
    warm_previews(state)
    # what is loaded by now (compiled rules, templates, libraries) lives as long as the
    # process: kept out of the garbage collector's full passes, which otherwise walk it all
    # and stall a request now and then
    gc.collect()
    gc.freeze()
    keep_freed_heap()  # SQLite's scratch memory, reused rather than refaulted
