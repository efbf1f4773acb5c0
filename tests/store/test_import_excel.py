"""Import files as credit managers make them in Excel: ';' CSVs, decimal commas, day-first dates,
.xlsx workbooks; what cannot be read unambiguously is reported with value, column and format."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, select

from engine.store import tables as t
from engine.store.errors import ImportFileError, ImportRejected
from engine.store.importer import import_path

CUSTOMERS_NL = "id;kind;country;name\nC-1;business;NL;Bakker B.V.\nC-2;consumer;DE;Jonas Weber\n"


def invoices(store: Engine) -> dict[str, tuple[Decimal, dt.date, dt.date]]:
    table = t.Invoice.__table__  # type: ignore[attr-defined]
    with store.connect() as conn:
        rows = conn.execute(
            select(table.c.id, table.c.amount, table.c.issue_date, table.c.due_date)
        )
        return {r.id: (r.amount, r.issue_date, r.due_date) for r in rows}


def write(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name.replace("_csv", ".csv")).write_text(text, encoding="utf-8")
    return directory


def test_a_semicolon_csv_with_decimal_commas_and_day_first_dates_loads(
    store: Engine, tmp_path: Path
) -> None:
    """Dutch Excel's CSV export (';', 1.210,00, 21-11-2026) loads as the numbers and dates meant."""
    files = write(
        tmp_path / "in",
        customers_csv=CUSTOMERS_NL,
        invoices_csv="id;customer_id;amount;issue_date;due_date\n"
        "I-1;C-1;1.210,00;21-10-2026;21-11-2026\n"
        "I-2;C-2;89,95;01.11.2026;15.11.2026\n",
    )
    report = import_path(store, files)
    assert report.rows == {"customers": 2, "invoices": 2}
    assert invoices(store) == {
        "I-1": (Decimal("1210.00"), dt.date(2026, 10, 21), dt.date(2026, 11, 21)),
        "I-2": (Decimal("89.95"), dt.date(2026, 11, 1), dt.date(2026, 11, 15)),
    }


def test_a_tab_separated_file_is_read_too(store: Engine, tmp_path: Path) -> None:
    """The delimiter is sniffed from the header: tabs work like commas and semicolons."""
    files = write(tmp_path / "in", customers_csv="id\tkind\tcountry\nC-9\tbusiness\tNL\n")
    assert import_path(store, files).rows == {"customers": 1}


@pytest.mark.parametrize(
    ("column", "cell", "expected"),
    [
        pytest.param(
            "amount",
            "1.210",
            "'1.210' is ambiguous (1210 or 1.21?); write two decimals",
            id="thousands-or-decimals",
        ),
        pytest.param(
            "amount", "veel", "'veel' is not an amount; expected 1234.56 or 1.234,56", id="words"
        ),
        pytest.param(
            "due_date",
            "03/04/2026",
            "'03/04/2026' is ambiguous: day/month or month/day? write 2026-04-03 or 03-04-2026"
            " (expected YYYY-MM-DD or DD-MM-YYYY)",
            id="slash",
        ),
        pytest.param("due_date", "11/21/2026", "'11/21/2026' reads month first", id="month-first"),
        pytest.param("due_date", "31-02-2026", "'31-02-2026' is not a date", id="no-such-day"),
    ],
)
def test_a_cell_that_is_not_clear_names_the_value_column_and_format(
    store: Engine, tmp_path: Path, column: str, cell: str, expected: str
) -> None:
    """An amount or a date that could be read two ways is never guessed; nothing is loaded."""
    row = {"amount": "10,00", "due_date": "2026-10-31", column: cell}
    files = write(
        tmp_path / "in",
        customers_csv=CUSTOMERS_NL,
        invoices_csv="id;customer_id;amount;issue_date;due_date\n"
        f"I-1;C-1;{row['amount']};2026-10-01;{row['due_date']}\n",
    )
    with pytest.raises(ImportRejected) as caught:
        import_path(store, files)
    assert f"invoices.csv:1: {column}: {expected}" in str(caught.value)
    assert invoices(store) == {}


def test_bad_rows_are_counted_per_row_not_per_problem(store: Engine, tmp_path: Path) -> None:
    """Two rows with two problems each are "2 bad row(s) (4 problems)"."""
    files = write(
        tmp_path / "in",
        customers_csv=CUSTOMERS_NL,
        invoices_csv="id;customer_id;amount;issue_date;due_date\n"
        "I-1;C-1;-5;2026-10-01;gisteren\n"
        "I-2;C-1;abc;2026-10-01;morgen\n",
    )
    with pytest.raises(ImportRejected) as caught:
        import_path(store, files)
    assert str(caught.value).startswith("2 bad row(s) (4 problems); nothing was imported")


def test_a_cell_without_a_header_is_an_error(store: Engine, tmp_path: Path) -> None:
    """A value in a column with no name is reported, never dropped silently."""
    files = write(
        tmp_path / "in",
        customers_csv="id,kind,country\nC-1,business,NL,VIP klant\n",
    )
    with pytest.raises(ImportRejected) as caught:
        import_path(store, files)
    assert "customers.csv:1: cell(s) without a column name in the header: 'VIP klant'" in str(
        caught.value
    )


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_an_xlsx_workbook_loads_each_sheet_named_after_what_it_holds(
    store: Engine, tmp_path: Path
) -> None:
    """Sheets `klanten customers` and `invoices` load with real numbers, dates and text dates."""
    book = workbook(
        tmp_path / "debiteuren.xlsx",
        {
            "customers": [
                ["id", "kind", "country"],
                ["C-1", "business", "NL"],
                [1002, "consumer", "DE"],
            ],
            "invoices": [
                ["id", "customer_id", "amount", "issue_date", "due_date"],
                ["I-1", "C-1", 1210, dt.datetime(2026, 10, 21), dt.datetime(2026, 11, 21)],
                ["I-2", 1002, "89,95", "01-11-2026", "15-11-2026"],
            ],
        },
    )
    assert import_path(store, book).rows == {"customers": 2, "invoices": 2}
    assert invoices(store) == {
        "I-1": (Decimal("1210.00"), dt.date(2026, 10, 21), dt.date(2026, 11, 21)),
        "I-2": (Decimal("89.95"), dt.date(2026, 11, 1), dt.date(2026, 11, 15)),
    }


def test_a_bad_cell_in_a_workbook_names_the_sheet_and_the_excel_row(
    store: Engine, tmp_path: Path
) -> None:
    """Problems read `book.xlsx[invoices]:3: amount: ...`, row 3 as Excel shows it."""
    book = workbook(
        tmp_path / "book.xlsx",
        {
            "customers": [["id", "kind", "country"], ["C-1", "business", "NL"]],
            "invoices": [
                ["id", "customer_id", "amount", "issue_date", "due_date"],
                ["I-1", "C-1", 10, "2026-10-01", "2026-10-31"],
                ["I-2", "C-1", "1,210", "2026-10-01", "2026-10-31", "extra"],
            ],
        },
    )
    with pytest.raises(ImportRejected) as caught:
        import_path(store, book)
    message = str(caught.value)
    assert f"{book}[invoices]:3: amount: '1,210' is ambiguous" in message
    assert f"{book}[invoices]:3: cell(s) without a column name in the header: 'extra'" in message
    assert message.startswith("1 bad row(s) (2 problems)")


def test_a_sheet_whose_name_says_nothing_is_refused_with_the_names_to_use(tmp_path: Path) -> None:
    """In a workbook of several sheets, `Blad2` cannot be guessed: rename it or remove it."""
    book = workbook(
        tmp_path / "book.xlsx",
        {"customers": [["id", "kind", "country"]], "Blad2": [["notes"]]},
    )
    from engine.store.sources import discover

    with pytest.raises(ImportFileError, match=r"book.xlsx\[Blad2\]: cannot tell what the sheet"):
        discover(book)


def test_a_workbook_of_one_sheet_may_take_its_kind_from_the_file_name(tmp_path: Path) -> None:
    """`invoices.xlsx` with Excel's default `Sheet1` holds invoices."""
    from engine.store.sources import discover

    book = workbook(tmp_path / "invoices.xlsx", {"Sheet1": [["id"]]})
    assert [(s.kind, s.name) for s in discover(book)] == [("invoices", f"{book}[Sheet1]")]
