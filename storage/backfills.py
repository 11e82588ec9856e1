"""Backfill progress rows: find or start a run by its key, advance it with each batch."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from .models import BackfillRun

RUNNING = "running"
DONE = "done"


def open_run(
    session: Session,
    key: str,
    source: str,
    now: datetime,
    *,
    total: int | None = None,
    restart: bool = False,
) -> tuple[BackfillRun, bool]:
    """The run for ``key`` and whether it resumes one that stopped part-way.

    A finished run, or any run with ``restart``, starts over from the beginning.
    """
    run = get_run(session, key)
    if run is not None and run.status == RUNNING and not restart and run.done > 0:
        run.total = total if total is not None else run.total
        session.add(run)
        return run, True
    if run is None:
        run = BackfillRun(key=key, source=source, started_at=now, updated_at=now)
    run.cursor, run.byte_offset, run.done, run.total = None, 0, 0, total
    run.skipped, run.stored, run.status = 0, 0, RUNNING
    run.started_at = run.updated_at = now
    session.add(run)
    session.flush()
    return run, False


def advance(
    session: Session,
    run_id: int,
    now: datetime,
    *,
    done: int,
    cursor: str | None = None,
    byte_offset: int = 0,
    skipped: int = 0,
    stored: int = 0,
) -> None:
    """Record a batch in the caller's transaction (the one that stored its items)."""
    run = session.get_one(BackfillRun, run_id)
    run.done = done
    run.cursor = cursor
    run.byte_offset = byte_offset
    run.skipped += skipped
    run.stored += stored
    run.updated_at = now
    session.add(run)


def finish(session: Session, run_id: int, now: datetime) -> None:
    run = session.get_one(BackfillRun, run_id)
    run.status = DONE
    run.cursor = None
    run.updated_at = now
    session.add(run)


def get_run(session: Session, key: str) -> BackfillRun | None:
    return session.exec(select(BackfillRun).where(BackfillRun.key == key)).first()
