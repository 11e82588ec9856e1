"""Insert-or-ignore that works the same on SQLite and PostgreSQL.

The statements are built once per table, conflict target and database kind, and run on the
session's connection: a row costs one round trip and no statement building (which took longer
than the INSERT itself). Being connection-level, they do not flush the session first: a row
they refer to must be in the database already (flushed, or written by a statement like these).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, SQLModel


@cache
def _statement(
    table: Table, conflict_columns: tuple[str, ...], returning: tuple[str, ...], dialect: str
) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    return statement.returning(*(table.c[name] for name in returning)) if returning else statement


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
    connection = session.connection()
    statement = _statement(model.__table__, tuple(conflict_columns), ("id",),  # type: ignore[attr-defined]
                           connection.dialect.name)  # fmt: skip
    new_id = connection.execute(statement, dict(values)).scalar_one_or_none()
    return int(new_id) if new_id is not None else None


def insert_many_ignore(
    session: Session,
    model: type[SQLModel],
    rows: Sequence[Mapping[str, Any]],
    conflict_columns: Sequence[str],
    returning: Sequence[str] = ("id",),
    chunk: int = 200,
) -> list[tuple[Any, ...]]:
    """Insert many rows, skipping those that exist already.

    Returns the ``returning`` columns of the rows actually inserted (in no particular order).
    With ``returning=()`` nothing is returned, and the rows go as one statement executed for
    each row (the driver's executemany: a pipeline on PostgreSQL) instead of multi-row
    statements, whose long text psycopg parses anew each time.
    """
    if not rows:
        return []
    connection = session.connection()
    statement = _statement(model.__table__, tuple(conflict_columns), tuple(returning),  # type: ignore[attr-defined]
                           connection.dialect.name)  # fmt: skip
    # One statement executed over many parameter sets: SQLAlchemy compiles it once (cached)
    # and, with RETURNING, sends the rows in batches ("insertmanyvalues") on both backends.
    inserted: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), chunk):
        batch = [dict(row) for row in rows[start : start + chunk]]
        result = connection.execute(statement, batch)
        if returning:
            inserted.extend(tuple(row) for row in result)
    return inserted
