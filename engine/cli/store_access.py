"""Opening the store for one command: schema ready, errors as a message, no litter on failure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy import Engine

from engine.errors import PayjourneyError


@contextmanager
def open_store(db_url: str, *, ready: bool = True) -> Iterator[Engine]:
    """The engine for `db_url`; a SQLite file is created and migrated on first use.

    A payjourney error becomes its message on stderr and exit 1. When the command fails, a
    SQLite file this command created is removed again: a failed first try leaves nothing behind.
    """
    from engine.store.db import make_engine
    from engine.store.migrate import ensure_ready, remove_sqlite_file, sqlite_file

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    path = sqlite_file(db_url)
    created = path is not None and not path.exists()
    engine: Engine | None = None
    ok = False
    try:
        engine = make_engine(db_url)
        if ready:
            ensure_ready(engine)
        yield engine
        ok = True
    except PayjourneyError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    except typer.Exit as exc:
        ok = exc.exit_code == 0
        raise
    finally:
        if engine is not None:
            engine.dispose()
        if created and not ok and path is not None:
            remove_sqlite_file(path)
