"""The preview answer of shared/design/surfaces.md: decide, then render the message it names."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine.decision.decide import decide
from engine.decision.model import Decision, FactSheet
from engine.messages.payments.base import PaymentProvider
from engine.messages.render import DEFAULT_TEMPLATES_DIR, render_preview
from engine.rules.compile import CompiledRules


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewSettings:
    """Where templates live and which payment provider makes links (None: links are not made)."""

    templates_dir: Path = DEFAULT_TEMPLATES_DIR
    payments: PaymentProvider | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Preview:
    """A decision, its JSON answer (with the rendered message) and the letter PDF, if any."""

    decision: Decision
    facts: FactSheet
    answer: dict[str, Any]
    pdf: bytes | None = None


def preview_answer(
    rules: CompiledRules,
    facts: FactSheet,
    now: dt.datetime,
    settings: PreviewSettings,
    *,
    invoices: Sequence[Mapping[str, Any]] = (),
    address: Sequence[str] = (),
    letter_pdf: bool = True,
) -> Preview:
    """Decide for `facts` at `now` and render the message of the step it names.

    The letter PDF is written to a private temporary folder and returned as bytes: the answer's
    `message.pdf` is left for the caller to point at (an URL, a file it writes, a data URI).
    With `letter_pdf` false no PDF is built (building one takes longer than all the rest).
    """
    decision = decide(rules, facts, now)
    answer = decision.to_json()
    with contextlib.ExitStack() as stack:
        # a folder only when a PDF is built: making and removing one costs milliseconds
        folder = (
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="payjourney-preview-")))
            if letter_pdf and decision.channel == "letter"
            else None
        )
        answer.update(
            render_preview(
                decision,
                facts,
                templates_dir=settings.templates_dir,
                settings=rules.spec.settings,
                invoices=invoices,
                address=address,
                payments=settings.payments,
                pdf_dir=folder,
                today=now.date(),
                letter_pdf=folder is not None,
            )
        )
        pdf = None
        message = answer.get("message")
        if isinstance(message, dict) and message.get("pdf"):
            pdf = Path(message["pdf"]).read_bytes()
            message["pdf"] = None
    return Preview(decision=decision, facts=facts, answer=answer, pdf=pdf)


def pdf_data_uri(pdf: bytes) -> str:
    """A letter PDF as a data URI, for answers that have no URL to point at."""
    return "data:application/pdf;base64," + base64.b64encode(pdf).decode("ascii")


def parse_moment(text: str | None, zone: str = "Europe/Amsterdam") -> dt.datetime:
    """An ISO 8601 time as an aware datetime; the clock when `text` is empty.

    A time without an offset is read in `zone` (the rules' time zone, `settings.timezone`), a
    bare date as the start of that day there: the same meaning on the command line and the API.
    ValueError says how to write it."""
    if not text:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 time; write e.g. 2026-11-24T09:30:00+01:00,"
            " 2026-11-24T09:30 (the rules' time zone) or 2026-11-24 (start of that day)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment
