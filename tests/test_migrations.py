"""Schema migrations: every database reaches the models' shape through the revisions.

From the outside first (`parley db …`), then init_db on SQLite and PostgreSQL: an empty
database, one made by parley before it had migrations (tests/data/legacy/*.sql, with rows), two
workers upgrading at once. `test_upgrade_from_empty_matches_the_models` is the guard for later
schema changes: a column or table added to storage/models.py without a revision fails it.
The baseline has no downgrade, so none is tested.
"""

from __future__ import annotations

import fnmatch
import os
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from clirun import Cli, clean_environ
from pg import throwaway_database
from sqlalchemy import Column, Integer, MetaData, func, inspect, select, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from parley.storage.db import StorageError, init_db, make_engine, schema_state, session_scope
from parley.storage.migrations.autogen import new_revision
from parley.storage.migrations.runner import (
    BASELINE,
    BASELINE_TABLES,
    MIGRATIONS_DIR,
    PG_LOCK_KEY,
    alembic_config,
    head_revision,
)
from parley.storage.models import OutboxAlert

ROOT = Path(__file__).resolve().parent.parent
LEGACY = Path(__file__).resolve().parent / "data" / "legacy"
DB_PASSWORD = "pw-Secret-7aa31c"
WORKER_TIMEOUT = 120
WAIT_LIMIT = 60.0


@pytest.fixture
def bare(db_url: str) -> Iterator[Engine]:
    """An engine on an empty database (no tables, no version stamp)."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _differences(engine: Engine, metadata: MetaData = SQLModel.metadata) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))


def _versions(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


# --- the command -------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    env = {**clean_environ(), "PARLEY_DATABASE_URL": f"sqlite:///{tmp_path / 'parley.db'}"}
    return Cli(tmp_path, env)


def test_db_current_and_upgrade_from_the_command_line(cli: Cli) -> None:
    before = cli("db", "current")
    assert before.code == 1, before
    assert "schema revision none (empty)" in before.out
    assert "run `parley db upgrade`" in before.out

    upgraded = cli("db", "upgrade")
    assert upgraded.code == 0, upgraded
    assert f"upgraded from empty to schema revision {head_revision()} (head)" in upgraded.out

    again = cli("db", "upgrade")
    assert again.code == 0, again
    assert "already at schema revision" in again.out

    now = cli("db", "current")
    assert now.code == 0, now
    assert f"schema revision {head_revision()} (head)" in now.out


def test_db_upgrade_adopts_a_database_made_before_migrations(cli: Cli, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'parley.db'}")
    _create_legacy(engine)
    engine.dispose()
    result = cli("db", "upgrade")
    assert result.code == 0, result
    assert "tables made before migrations adopted" in result.out


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "current"]])
def test_unreachable_database_is_one_line_with_the_password_masked(
    cli: Cli, command: list[str]
) -> None:
    url = f"postgresql+psycopg://nobody:{DB_PASSWORD}@127.0.0.1:1/x"
    result = cli(*command, PARLEY_DATABASE_URL=url)
    assert result.code == 2, result
    assert "Traceback" not in result.both
    (line,) = result.err.strip().splitlines()
    assert line.startswith("error: database postgresql+psycopg://nobody:***@127.0.0.1:1/x")
    assert "unreachable" in line
    assert DB_PASSWORD not in result.both


# --- an empty database -------------------------------------------------------------------


def test_upgrade_from_empty_matches_the_models(bare: Engine) -> None:
    upgrade = init_db(bare)
    assert upgrade.before.current == ()
    assert upgrade.after.up_to_date
    assert _differences(bare) == [], "models changed without a revision: make migration m=…"
    assert _versions(bare) == [head_revision()]


def test_the_check_catches_a_column_added_without_a_revision(bare: Engine) -> None:
    init_db(bare)
    changed = MetaData()
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["feed"].append_column(Column("extra", Integer, nullable=True))
    differences = _differences(bare, changed)
    assert [d[0] for d in differences if isinstance(d, tuple)] == ["add_column"]


def test_a_second_init_db_changes_nothing(bare: Engine) -> None:
    init_db(bare)
    again = init_db(bare)
    assert not again.changed
    assert again.before.up_to_date


def test_the_revisions_form_one_line_from_the_baseline() -> None:
    scripts = alembic_config().get_section("alembic") or {}
    assert scripts.get("script_location") == str(MIGRATIONS_DIR)
    from alembic.script import ScriptDirectory

    directory = ScriptDirectory.from_config(alembic_config())
    assert directory.get_heads() == [head_revision()]
    assert directory.get_bases() == [BASELINE]


def test_a_revision_this_parley_does_not_know_is_a_clear_error(bare: Engine) -> None:
    init_db(bare)
    with bare.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'feedface'"))
    with pytest.raises(StorageError, match="revision feedface, which this version of parley"):
        init_db(bare)
    assert _versions(bare) == ["feedface"]


# --- a database made before migrations ---------------------------------------------------


def _create_legacy(engine: Engine, without: frozenset[str] = frozenset()) -> None:
    """Run the frozen DDL of the old create_all, leaving out the tables in ``without``."""
    script = (LEGACY / f"{engine.dialect.name}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in script.splitlines() if not line.startswith("--"))
    with engine.begin() as connection:
        for statement in filter(None, (s.strip() for s in body.split(";"))):
            table = statement.split()[2] if statement.startswith("CREATE TABLE") else ""
            on = statement.split(" ON ")[1].split()[0] if " ON " in statement else table
            if on not in without:
                connection.exec_driver_sql(statement)


OLD_ROWS = """
INSERT INTO feed (id, url, name, language, tier, interval, active, failures_in_row)
  VALUES (1, 'http://127.0.0.1:9/a.xml', 'Outlet A', 'en', 'wire', 0, TRUE, 0);
INSERT INTO entry (id, feed_id, uid, title, summary, content_hash, revision, first_seen_at,
                   changed_at)
  VALUES (1, 1, 'guid-1', 'IAEA team rotates at ZNPP', '', 'h1', 1, '2025-03-01 10:00:00+00:00',
          '2025-03-01 10:00:00+00:00');
INSERT INTO match (id, entry_id, revision, topic_key, severity, kind, terms, field, snippet,
                   created_at)
  VALUES (1, 1, 1, 'znpp', 'high', 'new', '["ZNPP"]', 'title', 'at «ZNPP»',
          '2025-03-01 10:00:01+00:00');
INSERT INTO outboxalert (id, idempotency_key, match_id, channel, kind, topic_key, severity,
                         title, body, status, attempts, next_attempt_at, created_at)
  VALUES (1, 'key-1', 1, 'desk', 'new', 'znpp', 'high', '[ZNPP] rotation', 'body', 'pending', 0,
          '2025-03-01 10:00:01+00:00', '2025-03-01 10:00:01+00:00');
"""


def _insert_old_rows(engine: Engine) -> None:
    with engine.begin() as connection:
        for statement in filter(None, (s.strip() for s in OLD_ROWS.split(";"))):
            connection.exec_driver_sql(statement)


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: connection.execute(select(func.count()).select_from(text(name))).scalar_one()
            for name in ("feed", "entry", "match", "outboxalert")
        }


def test_a_database_made_before_migrations_keeps_its_rows(bare: Engine) -> None:
    _create_legacy(bare)
    _insert_old_rows(bare)
    assert schema_state(bare).legacy

    upgrade = init_db(bare)

    assert upgrade.before.legacy
    assert upgrade.after.up_to_date
    assert _counts(bare) == {"feed": 1, "entry": 1, "match": 1, "outboxalert": 1}
    with session_scope(bare) as session:
        alert = session.get(OutboxAlert, 1)
        assert alert is not None
        assert (alert.mode, alert.title, alert.status) == (
            "immediate",
            "[ZNPP] rotation",
            "pending",
        )
    assert _differences(bare) == []
    assert _versions(bare) == [head_revision()]


def test_an_older_database_missing_whole_tables_gets_them(bare: Engine) -> None:
    _create_legacy(bare, without=frozenset({"story", "storyentry"}))
    _insert_old_rows(bare)
    init_db(bare)
    assert set(inspect(bare).get_table_names()) >= BASELINE_TABLES
    assert _counts(bare)["outboxalert"] == 1
    assert _differences(bare) == []


# --- two workers at once -----------------------------------------------------------------

WORKER = """
import sys
from parley.storage.db import init_db, make_engine
engine = make_engine(sys.argv[1])
print("ready", flush=True)
print("changed" if init_db(engine).changed else "unchanged", flush=True)
engine.dispose()
"""


def _start_worker(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean_environ(), "PYTHONPATH": str(ROOT / "tests")},
    )


def _finish(workers: list[subprocess.Popen[str]]) -> list[str]:
    outcomes = []
    for worker in workers:
        try:
            out, err = worker.communicate(timeout=WORKER_TIMEOUT)
        finally:
            worker.kill()
        assert worker.returncode == 0, err
        outcomes.append(out.split()[-1])
    return sorted(outcomes)


def _waiting_for_the_lock(engine: Engine) -> int:
    with engine.connect() as connection:
        query = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return int(connection.execute(query).scalar_one())


@pytest.mark.postgres
def test_two_workers_upgrading_postgresql_at_once_take_turns(pg_url: str) -> None:
    with throwaway_database("parley_migrate") as url:
        engine = make_engine(url)
        holder = engine.connect()
        try:
            # Hold the migration lock so that both workers reach it and wait, then let go.
            holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
            workers = [_start_worker(url), _start_worker(url)]
            deadline = time.monotonic() + WAIT_LIMIT
            while _waiting_for_the_lock(engine) < 2:
                assert all(w.poll() is None for w in workers), "a worker ended early"
                assert time.monotonic() < deadline, "the workers never waited for the lock"
                time.sleep(0.05)
            holder.commit()
            assert _finish(workers) == ["changed", "unchanged"]
        finally:
            holder.close()
        assert _versions(engine) == [head_revision()]
        assert _differences(engine) == []
        engine.dispose()


def test_two_workers_upgrading_sqlite_at_once_take_turns(tmp_path: Path) -> None:
    path = tmp_path / "parley.db"
    url = f"sqlite:///{path}"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("BEGIN IMMEDIATE")  # the write lock: both workers queue behind it
        workers = [_start_worker(url), _start_worker(url)]
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        holder.execute("COMMIT")
    finally:
        holder.close()
    assert sorted(_finish(workers)) == ["changed", "unchanged"]
    engine = make_engine(url)
    assert _versions(engine) == [head_revision()]
    engine.dispose()


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'parley.db'}"
    engines = [make_engine(url) for _ in range(3)]
    start = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def upgrade(engine: Engine) -> None:
        start.wait()
        try:
            init_db(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WORKER_TIMEOUT)
    assert errors == []
    assert _versions(engines[0]) == [head_revision()]
    for engine in engines:
        engine.dispose()


# --- writing a revision, and shipping them ------------------------------------------------


def test_autogenerate_writes_importable_types(tmp_path: Path) -> None:
    """What `make migration` writes for new tables names UTCDateTime and plain sa types."""
    engine = make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
    init_db(engine)
    with engine.begin() as connection:  # the models now have a table the database lacks
        connection.execute(text("DROP TABLE storyentry"))
    config = alembic_config()
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", os.pathsep.join([str(MIGRATIONS_DIR / "versions"), str(tmp_path)])
    )
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.revision(
            config, message="storyentry again", autogenerate=True, version_path=str(tmp_path)
        )
    engine.dispose()
    (written,) = tmp_path.glob("*_storyentry_again.py")
    source = written.read_text(encoding="utf-8")
    assert "from parley.storage.types import UTCDateTime" in source
    assert "sa.Column('created_at', UTCDateTime(), nullable=False)" in source
    assert "sa.String(length=16)" in source
    assert "sqlmodel" not in source
    assert "def upgrade() -> None:" in source
    namespace: dict[str, object] = {}
    exec(compile(source, str(written), "exec"), namespace)
    assert namespace["down_revision"] == head_revision()


def test_the_wheel_ships_the_migration_environment() -> None:
    """Every file under storage/migrations is a module of a listed package or package data."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    packages = set(setuptools["packages"])
    data = setuptools["package-data"]
    for path in (ROOT / "storage" / "migrations").rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(ROOT / "storage")
        package = ".".join(["parley.storage", *relative.parent.parts])
        if path.suffix == ".py":
            assert package in packages, path
        else:
            assert any(fnmatch.fnmatch(path.name, p) for p in data.get(package, [])), path


def test_make_migration_writes_nothing_when_the_models_match_head(tmp_path: Path) -> None:
    before = sorted((MIGRATIONS_DIR / "versions").glob("*.py"))
    assert new_revision("nothing changed", tmp_path) == []
    assert sorted((MIGRATIONS_DIR / "versions").glob("*.py")) == before
