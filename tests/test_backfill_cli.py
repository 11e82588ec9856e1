"""`parley backfill` from the outside: the real command in a subprocess, a real Prefect server
(the test harness), a real loopback feed server, SQLite and PostgreSQL.

Archives: an RFC 5005 chain of three archive pages is followed back to --since (a loop in the
chain stops it), and a paged RSS feed is read page by page. Dumps: a 10,000-item JSON Lines
file is killed with SIGKILL part-way, resumed, and ends with every item stored once; bad lines
are reported by file:line and skipped.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from backfill_data import FEEDS, dump_lines, matching_uids, serve_archive, serve_paged
from clirun import Cli, clean_environ, parley_command
from flowrun import DEMO
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from parley.flows.ingest.localserver import FeedServer
from parley.storage.db import make_engine
from parley.storage.models import BackfillRun, Entry, Feed, Match

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_harness")]

TOPICS = DEMO.parent / "topics.yaml"
RUN_TIMEOUT = 240  # seconds for one backfill command
KILL_WAIT = 120  # seconds to wait for the run to reach the middle of the dump
DUMP_ITEMS = 10_000


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    from prefect.settings import PREFECT_API_URL

    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds: []\n", encoding="utf-8")
    env = {
        **clean_environ(),
        "COLUMNS": "250",
        "PARLEY_DATABASE_URL": db_url,
        "PARLEY_TOPICS_FILE": str(TOPICS),
        "PARLEY_FEEDS_FILE": str(feeds),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    return Cli(tmp_path, env)


@pytest.fixture
def db(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    with Session(engine) as session:
        yield session
    engine.dispose()


def _count(session: Session, model: type[Entry] | type[Match]) -> int:
    session.expire_all()
    return int(session.exec(select(func.count()).select_from(model)).one())


# --- archives and paged feeds ----------------------------------------------------------------


def test_an_rfc5005_archive_is_followed_back_to_since(
    cli: Cli, server: FeedServer, db: Session
) -> None:
    start = serve_archive(server)
    result = cli("backfill", start, "--since", "2025-03-05", "--until", "2025-03-25",
                 timeout=RUN_TIMEOUT)  # fmt: skip
    assert result.code == 0, result
    assert "Traceback" not in result.both
    paths = [r.path for r in server.requests]
    assert paths == ["/feed.xml", "/arch-3.xml", "/arch-2.xml"]  # never the February page
    assert (f"archive {start}: 3 pages, 20 new, 0 edited, 9 outside the date range; "
            "stopped: reached --since") in result.out  # fmt: skip
    days = sorted(e.published_at.day for e in db.exec(select(Entry)) if e.published_at)
    assert days == list(range(5, 25))  # [March 5, March 25): nothing outside is stored
    # every 4th day's item is about the plant: matched, recorded, no alert without --send
    assert {m.topic_key for m in db.exec(select(Match))} == {"znpp"}
    assert _count(db, Match) == 5  # days 8, 12, 16, 20, 24 (as day numbers 0-based: 7 … 23)
    assert "matches recorded, no alerts" in result.out


def test_a_loop_in_the_archive_chain_stops_the_walk(
    cli: Cli, server: FeedServer, db: Session
) -> None:
    start = serve_archive(server, loop=True)
    result = cli("backfill", start, timeout=RUN_TIMEOUT)
    assert result.code == 0, result
    assert [r.path for r in server.requests] == ["/feed.xml", "/arch-3.xml", "/arch-2.xml"]
    assert f"stopped: loop: {start} was read before" in result.out
    assert _count(db, Entry) == 29  # March 1-29, each once


def test_a_paged_feed_is_read_page_by_page(cli: Cli, server: FeedServer, db: Session) -> None:
    start = serve_paged(server)
    result = cli("backfill", start, "--max-pages", "2", timeout=RUN_TIMEOUT)
    assert result.code == 0, result
    assert "2 pages, 6 new" in result.out and "stopped: page cap: 2 pages read" in result.out
    resumed = cli("backfill", start, "--max-pages", "2", timeout=RUN_TIMEOUT)
    assert "2 pages, 0 new" in resumed.out  # a finished run starts over: nothing is new
    more = cli("backfill", start, timeout=RUN_TIMEOUT)
    assert more.code == 0, more
    assert "3 pages, 3 new" in more.out and "stopped: no older page" in more.out
    assert _count(db, Entry) == 9


# --- JSON Lines dumps --------------------------------------------------------------------------


def _progress(session: Session) -> tuple[int, int | None, str] | None:
    session.expire_all()
    try:
        run = session.exec(select(BackfillRun)).first()
    except SQLAlchemyError:  # the command has not created the tables yet
        session.rollback()
        return None
    session.rollback()  # end the read, so the next poll sees new commits
    return (run.done, run.total, run.status) if run is not None else None


def _kill_mid_run(
    cli: Cli, args: list[str], db: Session, sig: signal.Signals = signal.SIGKILL
) -> int:
    """Start `parley backfill …`, send it ``sig`` once its progress row is past a fifth of
    the dump (and not finished), and return the lines it had committed."""
    log = (cli.cwd / "killed.out").open("w")
    proc = subprocess.Popen([*parley_command(), *args], cwd=cli.cwd, env=cli.env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + KILL_WAIT
        while time.monotonic() < deadline and proc.poll() is None:
            seen = _progress(db)
            if seen is not None and DUMP_ITEMS // 5 <= seen[0] < DUMP_ITEMS:
                os.kill(proc.pid, sig)
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"the run ended or stalled before it could be killed: {_progress(db)}")
        assert proc.wait(timeout=60) == (-sig if sig == signal.SIGKILL else 130)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
    seen = _progress(db)
    assert seen is not None and seen[2] == "running"
    return seen[0]


@pytest.mark.slow
def test_a_killed_dump_backfill_resumes_and_stores_each_item_once(
    cli: Cli, tmp_path: Path, db: Session
) -> None:
    dump = tmp_path / "wires-2025-03.jsonl"
    dump.write_text("\n".join(dump_lines(DUMP_ITEMS)) + "\n", encoding="utf-8")
    args = ["backfill", str(dump), "--batch-size", "250"]

    done = _kill_mid_run(cli, args, db)
    assert done % 250 == 0
    assert _count(db, Entry) == done  # the items of the committed batches, no more
    killed_out = (tmp_path / "killed.out").read_text(encoding="utf-8")
    assert re.search(
        r"wires-2025-03\.jsonl: [\d,]+/10,000 items \(\d+%\), [\d,]+ items/s", killed_out
    )

    resumed = cli(*args, timeout=RUN_TIMEOUT)
    assert resumed.code == 0, resumed
    assert f"resuming at line {done:,} of 10,000 ({dump})" in resumed.out
    assert "10,000/10,000 items (100%)" in resumed.out
    assert (
        f"10,000/10,000 lines, resumed after line {done:,}, {DUMP_ITEMS - done:,} new"
        in resumed.out
    )
    rate = re.search(r"\(([\d,]+) items/s\)", resumed.out)
    assert rate is not None

    uids = list(db.exec(select(Entry.uid)))
    assert len(uids) == len(set(uids)) == DUMP_ITEMS
    feeds = {f.url for f in db.exec(select(Feed))}
    assert feeds == set(FEEDS)
    matched = db.exec(select(Entry.uid).join(Match, col(Match.entry_id) == Entry.id))
    assert sorted(matched) == sorted(matching_uids(DUMP_ITEMS))  # each matched once
    assert _progress(db) == (DUMP_ITEMS, DUMP_ITEMS, "done")

    again = cli(*args, timeout=RUN_TIMEOUT)  # finished: starts over, stores nothing new
    assert "resuming" not in again.out and "0 new, 0 edited" in again.out
    assert _count(db, Entry) == DUMP_ITEMS


def test_ctrl_c_stops_after_a_committed_batch_and_the_run_resumes(
    cli: Cli, tmp_path: Path, db: Session, db_url: str
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the kill test covers PostgreSQL; one database is enough for Ctrl-C")
    dump = tmp_path / "wires.jsonl"
    dump.write_text("\n".join(dump_lines(DUMP_ITEMS)) + "\n", encoding="utf-8")
    args = ["backfill", str(dump), "--batch-size", "250"]
    done = _kill_mid_run(cli, args, db, signal.SIGINT)
    assert done % 250 == 0 and _count(db, Entry) == done
    said = (tmp_path / "killed.out").read_text(encoding="utf-8")
    assert "interrupted: what was stored is kept; the same command resumes from there" in said
    assert "Traceback" not in said
    resumed = cli(*args, timeout=RUN_TIMEOUT)
    assert resumed.code == 0, resumed
    assert f"resuming at line {done:,} of 10,000" in resumed.out
    assert _count(db, Entry) == DUMP_ITEMS


def test_bad_lines_are_reported_with_their_line_and_skipped(
    cli: Cli, tmp_path: Path, db: Session
) -> None:
    good = dump_lines(6)
    lines = [good[0], '{"title": "broken', good[1], '["not", "an", "object"]', good[2],
             '{"feed": "Nowhere Times", "title": "Ceasefire talks resume"}', good[3], "",
             '{"title": "x", "published": "next Tuesday"}', good[4], good[5]]  # fmt: skip
    dump = tmp_path / "export.txt"  # any name with --jsonl
    dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("backfill", "--jsonl", str(dump), timeout=RUN_TIMEOUT)
    assert result.code == 0, result
    assert "Traceback" not in result.both
    errors = [line for line in result.err.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {dump}:2: invalid JSON (Unterminated string starting at column 11)",
        f"error: {dump}:4: expected a JSON object, got a list",
        f"error: {dump}:6: unknown feed 'Nowhere Times': not a URL, nor a feed name in the "
        "feeds file or the store",
        f"error: {dump}:9: field 'published': 'next Tuesday' is not a date",
    ]
    assert "11/11 lines, 6 new, 0 edited, 4 bad lines skipped" in result.out
    assert _count(db, Entry) == 6
