"""Insert-or-ignore that works the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel


def insert_ignore(
    session: Session,
    model: type[SQLModel],
    values: Mapping[str, Any],
    conflict_columns: Sequence[str],
) -> int | None:
    """Insert one row unless one with the same ``conflict_columns`` exists.

    Returns the new row's id, or None when the row was already there (inserted by an earlier
    run or by a concurrent one) — the caller then knows the work was done before.
    """
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(table.c.id)
    )
    new_id = session.execute(statement).scalar_one_or_none()
    return int(new_id) if new_id is not None else None


def insert_many_ignore(
    session: Session,
    model: type[SQLModel],
    rows: Sequence[Mapping[str, Any]],
    conflict_columns: Sequence[str],
    returning: Sequence[str] = ("id",),
    chunk: int = 200,
) -> list[tuple[Any, ...]]:
    """Insert many rows in multi-row statements, skipping those that exist already.

    Returns the ``returning`` columns of the rows actually inserted (in no particular order).
    """
    if not rows:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = [table.c[name] for name in returning]
    # One statement executed over many parameter sets: SQLAlchemy compiles it once (cached)
    # and sends the rows in batches ("insertmanyvalues"), with RETURNING on both backends.
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(*columns)
    )
    inserted: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), chunk):
        batch = [dict(row) for row in rows[start : start + chunk]]
        inserted.extend(tuple(row) for row in session.execute(statement, batch))
    return inserted
