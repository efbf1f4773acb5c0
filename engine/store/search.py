"""Finding stored customers by id or name, for the staff page's search box."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, or_, select

from engine.store import tables as t


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    id: str
    name: str | None
    country: str


def find_customers(engine: Engine, text: str, *, limit: int = 20) -> list[Found]:
    """Customers whose id starts with `text` or whose name contains it (case-insensitive),
    exact id first; forgotten customers are never found."""
    table = t.Customer.__table__  # type: ignore[attr-defined]
    needle = text.strip()
    if not needle:
        return []
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        select(table.c.id, table.c.name, table.c.country)
        .where(
            table.c.forgotten_at.is_(None),
            or_(
                table.c.id.like(f"{escaped}%", escape="\\"),
                func.lower(table.c.name).like(f"%{escaped.lower()}%", escape="\\"),
            ),
        )
        .order_by((table.c.id == needle).desc(), table.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [Found(id=r.id, name=r.name, country=r.country) for r in conn.execute(query)]
