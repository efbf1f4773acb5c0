"""The next message of a stored customer: facts and open invoices from the store, then decide."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from engine.preview.answer import Preview, PreviewSettings, preview_answer
from engine.rules.compile import CompiledRules
from engine.store.errors import CustomerNotFound
from engine.store.facts_sql import fact_sheets_on
from engine.store.message_data import message_data_on


def preview_stored(
    engine: Engine,
    rules: CompiledRules,
    customer_id: str,
    now: dt.datetime,
    settings: PreviewSettings,
    *,
    letter_pdf: bool = True,
) -> Preview:
    """The preview of `customer_id` at `now`; CustomerNotFound when the store has no such id.
    `letter_pdf` false: a letter's PDF is not built (`Preview.pdf` stays None)."""
    with engine.connect() as conn:  # one connection and snapshot for facts and invoices
        sheets = fact_sheets_on(conn, [customer_id], now)
        if customer_id not in sheets:
            raise CustomerNotFound(customer_id)
        facts = sheets[customer_id]
        data = message_data_on(conn, [customer_id], now)[customer_id]
    return preview_answer(
        rules,
        facts,
        now,
        settings,
        invoices=data.invoices,
        address=data.address,
        letter_pdf=letter_pdf,
    )
