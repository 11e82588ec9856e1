"""Bring a database to the newest schema revision, safely when several processes start at once.

Three kinds of database reach :func:`upgrade_to_head`:

* an empty one: every revision runs, from the baseline on;
* one created before parley had migrations (its tables are there, ``alembic_version`` is not):
  the baseline revision leaves the existing tables and their rows alone, adds what that older
  code would have added (``outboxalert.mode``), and stamps it; later revisions then run;
* one already stamped: the revisions it lacks run; at head, nothing happens.

Two workers starting together take turns: on PostgreSQL a transaction-scoped advisory lock, on
SQLite an immediate (write-locked) transaction, and in one process a thread lock (alembic keeps
its migration context in module globals). The loser then finds the schema at head.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, PrimaryKeyConstraint, String, Table, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
BASELINE = "baseline"
# The tables of the baseline: finding any of them without a version table means the database
# was made by parley before it had migrations.
BASELINE_TABLES = frozenset(
    {"feed", "entry", "entryrevision", "match", "outboxalert", "story", "storyentry"}
)
# Key of the PostgreSQL advisory lock held while the schema changes ("parley" in ASCII).
PG_LOCK_KEY = 0x7061726C6579
_in_process = threading.Lock()

# Alembic's own stamp, declared on the models' metadata as alembic makes it, so that
# ``SQLModel.metadata.drop_all`` (tests, benchmarks) removes it with the tables it describes.
# Autogenerate and compare_metadata leave the version table out of their comparison.
VERSION_TABLE = Table(
    "alembic_version",
    SQLModel.metadata,
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


class MigrationError(RuntimeError):
    """The schema cannot be brought to head; the message says why (never the URL)."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands against the revisions this parley ships."""

    current: tuple[str, ...]  # the revisions stamped in the database; () when none
    head: str
    legacy: bool  # parley's tables without a version table: made before migrations

    @property
    def up_to_date(self) -> bool:
        return self.current == (self.head,)

    def describe(self) -> str:
        where = ", ".join(self.current) or "none (empty)"
        if self.up_to_date:
            return f"schema revision {where} (head)"
        if self.legacy:
            return f"no schema revision (tables made before migrations); head is {self.head}"
        return f"schema revision {where}; head is {self.head}: run `parley db upgrade`"


@dataclass(frozen=True)
class Upgrade:
    """What :func:`upgrade_to_head` did."""

    before: SchemaState
    after: SchemaState

    @property
    def changed(self) -> bool:
        return self.before.current != self.after.current


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, in code: the migrations folder, and the connection to use."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # configparser interpolation turns %% into %: files named 20261125_<rev>_<slug>.py
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _scripts() -> tuple[str, frozenset[str]]:
    """The head revision and every known revision (the folder is read once per process)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    heads = scripts.get_heads()
    if len(heads) != 1:
        raise MigrationError(
            f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}): "
            "set one revision's down_revision to the other so they form one line"
        )
    return heads[0], frozenset(r.revision for r in scripts.walk_revisions())


def head_revision() -> str:
    return _scripts()[0]


def schema_state(connection: Connection) -> SchemaState:
    """Read the stamped revision and look for tables made before migrations."""
    head, known = _scripts()
    current = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    unknown = [r for r in current if r not in known]
    if unknown:
        raise MigrationError(
            f"the schema is at revision {', '.join(unknown)}, which this version of parley "
            "does not know: it was upgraded by a newer parley"
        )
    legacy = not current and bool(BASELINE_TABLES & set(inspect(connection).get_table_names()))
    return SchemaState(current, head, legacy)


def current_state(engine: Engine) -> SchemaState:
    """Where the database stands, changing nothing."""
    with engine.connect() as connection:
        return schema_state(connection)


def upgrade_to_head(engine: Engine) -> Upgrade:
    """Run the revisions the database lacks, one process or thread at a time."""
    with _in_process, engine.connect() as connection:
        before = schema_state(connection)
        connection.rollback()
        if before.up_to_date:
            return Upgrade(before, before)
        _lock_schema(connection)
        before = schema_state(connection)  # another worker may have upgraded meanwhile
        if not before.up_to_date:
            if before.legacy:
                log.info("adopting a database made before migrations: stamping %s", BASELINE)
            command.upgrade(alembic_config(connection), "head")
        after = schema_state(connection)
        connection.commit()
    return Upgrade(before, after)


def _lock_schema(connection: Connection) -> None:
    """Start the transaction that changes the schema, holding the database's lock."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    elif dialect == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
