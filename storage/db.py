"""Engine and sessions. Nothing is created at import time: call :func:`make_engine`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session, SQLModel, create_engine

from . import models  # noqa: F401  (registers the tables on SQLModel.metadata)

SQLITE_BUSY_TIMEOUT_MS = 30_000


class StorageError(RuntimeError):
    """The database cannot be used; the message names it with the password masked."""


def safe_url(url: str) -> str:
    """The database URL with any password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL mode and their folder is created."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"database URL {safe_url(url)!r} is not valid: {exc}") from None
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise StorageError(f"database {safe_url(url)}: {exc}") from None


def init_db(engine: Engine) -> None:
    """Create the tables that do not exist yet (existing data is left alone)."""
    with unreachable_as_storage_error(engine):
        SQLModel.metadata.create_all(engine)
        _add_missing_columns(engine)


# Columns added after the first release: (table, column, DDL type and default).
_ADDED_COLUMNS = (
    ("outboxalert", "mode", "VARCHAR(16) NOT NULL DEFAULT 'immediate'"),
    ("outboxalert", "bundle_id", "VARCHAR(36)"),
)


def _add_missing_columns(engine: Engine) -> None:
    """Add the columns newer code expects to tables an older version created."""
    inspector = inspect(engine)
    for table, column, ddl in _ADDED_COLUMNS:
        present = {c["name"] for c in inspector.get_columns(table)}
        if column not in present:
            with engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))


def check_connection(engine: Engine) -> None:
    """Raise StorageError naming the database when it cannot be reached."""
    with unreachable_as_storage_error(engine), engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@contextmanager
def unreachable_as_storage_error(engine: Engine) -> Iterator[None]:
    """Turn a connection failure into a StorageError that names the database, password masked."""
    try:
        yield
    except OperationalError as exc:
        raise StorageError(
            f"database {engine.url.render_as_string(hide_password=True)} "
            f"is unreachable: {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    message = str(getattr(exc, "orig", None) or exc)
    return message.strip().splitlines()[0] if message.strip() else type(exc).__name__


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
