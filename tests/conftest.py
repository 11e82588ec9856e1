"""Shared fixtures: databases (SQLite and the real local PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import pg_available, throwaway_database
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from parley.flows.ingest.localserver import FeedServer
from parley.storage.db import init_db, make_engine

# Unit tests never start a Prefect server by accident; flow tests opt in (tests/prefect_env.py).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The URL of a throwaway database on 127.0.0.1:5432, dropped at the end of the run."""
    reason = pg_available()
    if reason is not None:
        if os.environ.get("PARLEY_REQUIRE_PG"):
            pytest.fail(reason)
        pytest.skip(reason)
    with throwaway_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with empty tables: a temp SQLite file, then the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'parley.db'}"
    url: str = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    SQLModel.metadata.drop_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A real Prefect server for flow tests, started once per test session (~10 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def server() -> Iterator[FeedServer]:
    """A loopback feed server with ETag/304 support, stopped after the test."""
    with FeedServer() as feeds:
        yield feeds
