"""`payjourney status`: due, claimed, sent in the last hour and day, failed, unknown, lag, daemons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select

from engine.banking.watch import FolderState, folder_state
from engine.store import tables as t

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
M = t.Message.__table__  # type: ignore[attr-defined]
D = t.DaemonBeat.__table__  # type: ignore[attr-defined]
#: A daemon whose heartbeat is older than this is shown as not alive.
ALIVE_WITHIN = dt.timedelta(seconds=30)


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonRow:
    id: str
    alive: bool
    beat_at: dt.datetime
    ruleset_version: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    due: int
    scheduled: int
    claimed: int
    sent_last_hour: int
    sent_last_day: int
    failed: int
    unknown: int
    lag_seconds: float | None  # how late the oldest due step is
    daemons: tuple[DaemonRow, ...]
    statements: FolderState | None = None  # the watched statement folder, when one is named
    statements_dir: Path | None = None

    def rows(self) -> Iterator[tuple[str, str]]:
        alive = sum(d.alive for d in self.daemons)
        yield "due now", str(self.due)
        yield "scheduled later", str(self.scheduled - self.due)
        yield "claimed", str(self.claimed)
        yield "sent, last hour", str(self.sent_last_hour)
        yield "sent, last day", str(self.sent_last_day)
        yield "failed", str(self.failed)
        yield "unknown (payjourney messages --status unknown)", str(self.unknown)
        yield (
            "lag of the oldest due step",
            "-" if self.lag_seconds is None else f"{self.lag_seconds:,.0f}s",
        )
        yield "daemons alive", str(alive)
        if self.statements is not None:
            yield (
                "statement files waiting",
                str(self.statements.waiting + self.statements.importing),
            )
            failed = self.statements.failed
            folder = self.statements_dir or Path(".")
            where = f" (see {folder / 'failed'}/*.error.txt)" if failed else ""
            yield f"statement files failed{where}", str(len(failed))


def read_status(engine: Engine, now: dt.datetime, statements_dir: Path | None = None) -> Status:
    """The schedule's counts; with `statements_dir`, also what lies in the statement folder."""
    with engine.connect() as conn:
        by_status: dict[str, int] = {
            r[0]: int(r[1])
            for r in conn.execute(select(S.c.status, func.count()).group_by(S.c.status))
        }
        due, oldest = conn.execute(
            select(func.count(), func.min(S.c.send_at)).where(
                S.c.status.in_(("scheduled", "fallback")), S.c.send_at <= now
            )
        ).one()

        def sent_since(delta: dt.timedelta) -> int:
            return int(
                conn.execute(
                    select(func.count()).where(
                        M.c.status.in_(("sent", "delivered")), M.c.sent_at >= now - delta
                    )
                ).scalar_one()
            )

        hour, day = sent_since(dt.timedelta(hours=1)), sent_since(dt.timedelta(days=1))
        unknown = conn.execute(select(func.count()).where(M.c.status == "unknown")).scalar_one()
        daemons = tuple(
            DaemonRow(
                id=r.id,
                alive=r.stopped_at is None and r.beat_at >= now - ALIVE_WITHIN,
                beat_at=r.beat_at,
                ruleset_version=r.ruleset_version,
            )
            for r in conn.execute(select(D).order_by(D.c.beat_at.desc()).limit(20))
        )
    oldest_at = oldest if oldest is None or oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
    return Status(
        due=int(due),
        scheduled=int(by_status.get("scheduled", 0)) + int(by_status.get("fallback", 0)),
        claimed=int(by_status.get("claimed", 0)),
        sent_last_hour=hour,
        sent_last_day=day,
        failed=int(by_status.get("failed", 0)),
        unknown=int(unknown),
        lag_seconds=(now - oldest_at).total_seconds() if oldest_at else None,
        daemons=daemons,
        statements=folder_state(statements_dir) if statements_dir is not None else None,
        statements_dir=statements_dir,
    )
