"""The reads run on the driver's cursor give what SQLAlchemy's execution of the same statement
gives: the same rows, keys, values and value types, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.exc import DBAPIError

from engine.store import tables as t
from engine.store.driver_read import DriverSelect
from engine.store.facts_sql import (
    _query_by_ids,
    _read_by_ids,
    fact_sheets_on,
    legal_in_default,
    sheet_from_row,
)
from engine.store.generate import generate
from engine.store.message_data import _readers, _statements, message_data_on
from tests.store.builders import NOW

PARAMS = {
    "now": NOW,
    "year_ago": NOW - dt.timedelta(days=365),
    "today": NOW.astimezone(dt.UTC).date(),
    "yesterday": NOW.astimezone(dt.UTC).date() - dt.timedelta(days=1),
}


def typed(rows: list[dict[str, Any]]) -> list[list[tuple[str, type, Any]]]:
    """Rows as (key, type, value) lists: Decimal("1.00") == 1.0, so types are compared too."""
    return [[(k, type(v), v) for k, v in row.items()] for row in rows]


@pytest.fixture
def portfolio(store: Engine) -> list[str]:
    # with invoices falling due soon: every debtor has something open
    generate(store, debtors=60, seed=5, today=NOW.date(), due_within_days=10)
    with store.connect() as conn:
        return list(conn.execute(select(t.Customer.id).order_by(t.Customer.id)).scalars())


def test_the_facts_of_one_or_several_debtors_are_those_sqlalchemy_reads(
    store: Engine, portfolio: list[str]
) -> None:
    """For one id, a few ids and no id the driver's rows equal `Connection.execute`'s, key for
    key and type for type, and so do the fact sheets made from them."""
    postgresql = store.dialect.name == "postgresql"
    in_default = legal_in_default()
    chunks = [[i] for i in portfolio[:25]] + [portfolio[25:32], portfolio[40:], ["C-404"], []]
    with store.connect() as conn:
        for ids in chunks:
            params = {**PARAMS, "ids": ids}
            expected = [r._asdict() for r in conn.execute(_query_by_ids(postgresql), params)]
            found = _read_by_ids(postgresql).rows(conn, params)
            assert typed(found) == typed(expected), ids
            assert len(found) == len([i for i in ids if i in portfolio])
            sheets = fact_sheets_on(conn, ids, NOW)
            assert sheets == {r["id"]: sheet_from_row(r, NOW, in_default) for r in expected}


def test_open_invoices_and_addresses_are_those_sqlalchemy_reads(
    store: Engine, portfolio: list[str]
) -> None:
    """The preview's open invoices and addresses come out as SQLAlchemy reads them."""
    invoices, addresses = _statements()
    invoice_reader, address_reader = _readers()
    with store.connect() as conn:
        for ids in ([portfolio[3]], portfolio[10:20], []):
            params = {"ids": ids, "now": NOW, "today": PARAMS["today"]}
            found = invoice_reader.rows(conn, params)
            assert typed(found) == typed([r._asdict() for r in conn.execute(invoices, params)])
            assert len(found) >= len(ids)
            assert typed(address_reader.rows(conn, {"ids": ids})) == typed(
                [r._asdict() for r in conn.execute(addresses, {"ids": ids})]
            )
        data = message_data_on(conn, portfolio[:5], NOW)
    assert set(data) == set(portfolio[:5])
    assert all(d.invoices and d.address for d in data.values())


def test_the_read_joins_the_callers_transaction(store: Engine) -> None:
    """A read on the cursor begins the connection's transaction as `execute` would, so it
    sees what the caller wrote in it and the caller's rollback covers it."""
    customer = t.Customer.__table__  # type: ignore[attr-defined]
    reader = DriverSelect(
        select(customer.c.id, customer.c.name).where(customer.c.id == bindparam("id")), ("id",)
    )
    with store.connect() as conn:
        assert reader.rows(conn, {"id": "C-NEW"}) == []
        assert conn.in_transaction()
        conn.execute(
            customer.insert(),
            {"id": "C-NEW", "name": "Nieuw B.V.", "kind": "business", "country": "NL"},
        )
        assert reader.rows(conn, {"id": "C-NEW"}) == [{"id": "C-NEW", "name": "Nieuw B.V."}]
        conn.rollback()
        assert reader.rows(conn, {"id": "C-NEW"}) == []


def test_a_database_error_is_sqlalchemys_error_with_the_statement(store: Engine) -> None:
    """A read the driver refuses raises SQLAlchemy's DBAPIError (what callers catch)."""
    customer = t.Customer.__table__  # type: ignore[attr-defined]
    reader = DriverSelect(select(customer.c.id).where(customer.c.id == bindparam("id")), ("id",))
    with store.connect() as conn, pytest.raises(DBAPIError, match="FROM customer"):
        reader.rows(conn, {"id": object()})  # no driver can send an object()
