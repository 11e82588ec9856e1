"""Backfill stages without Prefect: the archive walk over a real loopback server, reading
JSON Lines dumps line by line, the progress display, and resuming a dump from its progress row.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from backfill_data import DAY, atom_page, dump_lines, serve_archive, serve_paged
from sqlmodel import Session, func, select

from parley.flows.ingest.archive import Page, Window, walk
from parley.flows.ingest.catalog import FeedSpec
from parley.flows.ingest.fetch import FetchConfig
from parley.flows.ingest.jsonl import LineError, count_lines, parse_line, read_dump
from parley.flows.ingest.localserver import FeedServer
from parley.flows.pipeline.archives import ArchiveJob, ingest_archive
from parley.flows.pipeline.cycle import Runtime, open_runtime
from parley.flows.pipeline.dumps import DumpJob, ingest_dump
from parley.flows.pipeline.progress import Meter, Snapshot, TerminalSink
from parley.flows.settings import load_settings
from parley.storage.db import session_scope
from parley.storage.feeds import ensure_feed
from parley.storage.models import BackfillRun, Entry

CONFIG = FetchConfig(timeout=5)
MARCH_5 = datetime(2025, 3, 5, tzinfo=UTC)


def _walk(url: str, window: Window, max_pages: int = 50) -> list[Page]:
    async def pages() -> list[Page]:
        return [page async for page in walk(1, url, CONFIG, window, max_pages=max_pages)]

    return asyncio.run(pages())


# --- the archive walk -----------------------------------------------------------------------


def test_walk_follows_prev_archive_until_since(server: FeedServer) -> None:
    start = serve_archive(server)
    pages = _walk(start, Window(since=MARCH_5))
    assert [p.url for p in pages] == [
        server.url(p) for p in ("/feed.xml", "/arch-3.xml", "/arch-2.xml")
    ]
    assert [p.stop for p in pages] == [None, None, "reached --since"]
    assert all(d.published_at and d.published_at >= MARCH_5 for p in pages for d in p.drafts)
    assert pages[-1].outside == 4  # March 1-4 on the page that reached --since
    assert "/arch-1.xml" not in [r.path for r in server.requests]


def test_walk_stops_at_a_loop_and_at_the_page_cap(server: FeedServer) -> None:
    start = serve_archive(server, loop=True)
    pages = _walk(start, Window())
    assert len(pages) == 3
    assert pages[-1].stop == f"loop: {server.url('/feed.xml')} was read before"
    assert len(server.requests) == 3
    capped = _walk(start, Window(), max_pages=2)
    assert [p.stop for p in capped] == [None, "page cap: 2 pages read"]


def test_walk_follows_next_in_a_paged_rss_feed(server: FeedServer) -> None:
    start = serve_paged(server)
    pages = _walk(start, Window())
    assert [p.url.rsplit("/", 1)[1] for p in pages] == ["paged.xml", "paged-2.xml", "paged-3.xml"]
    assert [len(p.drafts) for p in pages] == [3, 3, 3]
    assert pages[-1].stop == "no older page"


def test_a_failed_page_ends_the_walk_with_its_error(server: FeedServer) -> None:
    server.set("/feed.xml", atom_page([("a", "One", DAY)], {"prev-archive": "/gone.xml"}))
    pages = _walk(server.url("/feed.xml"), Window())
    assert pages[-1].error is not None and "HTTP 404" in pages[-1].error
    assert server.url("/gone.xml") in pages[-1].error


# --- JSON Lines --------------------------------------------------------------------------------


def test_a_line_becomes_a_draft_with_feed_identity_rules() -> None:
    item = parse_line(json.dumps({
        "feed": "https://wire.example/feed.xml", "title": "IAEA <b>team</b> rotates",
        "link": "https://wire.example/a?utm_source=x", "published": "2025-03-14T09:30:00+02:00",
    }).encode())  # fmt: skip
    assert item.feed == "https://wire.example/feed.xml"
    assert item.draft.title == "IAEA team rotates"
    assert item.draft.uid == "https://wire.example/a"  # no guid: the canonical link
    assert item.draft.published_at == datetime(2025, 3, 14, 7, 30, tzinfo=UTC)
    by_guid = parse_line(b'{"guid": "g-1", "title": "t", "published": 1741944600}')
    assert by_guid.draft.uid == "g-1" and by_guid.feed is None
    assert by_guid.draft.published_at == datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"title": "x",', "invalid JSON"),
        (b'["a list"]', "expected a JSON object, got a list"),
        (b'{"feed": "f"}', "no guid, link, title or summary"),
        (b'{"title": 5}', "field 'title' must be a string, got a number"),
        (
            b'{"title": "x", "published": "last week"}',
            "field 'published': 'last week' is not a date",
        ),
        (b'{"title": "\xff"}', "not UTF-8 text"),
    ],
)
def test_bad_lines_say_what_is_wrong(line: bytes, message: str) -> None:
    with pytest.raises(LineError, match=message):
        parse_line(line)


def test_read_dump_numbers_lines_and_resumes_from_an_offset(tmp_path: Path) -> None:
    path = tmp_path / "dump.jsonl"
    path.write_bytes(b'{"title": "one"}\n\nnot json\n{"title": "four"}')
    lines = list(read_dump(path))
    assert count_lines(path) == 4
    assert [(line.number, line.item is not None, line.error) for line in lines] == [
        (1, True, None), (2, False, None),
        (3, False, f"{path}:3: invalid JSON (Expecting value at column 1)"), (4, True, None),
    ]  # fmt: skip
    rest = list(read_dump(path, start_offset=lines[1].end, start_line=2))
    assert [line.number for line in rest] == [3, 4]


# --- progress ----------------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_text_has_count_rate_and_eta() -> None:
    snap = Snapshot("dump.jsonl", 5_000, 10_000, 1_250.0)
    assert snap.text() == "dump.jsonl: 5,000/10,000 items (50%), 1,250 items/s, ETA 4 s"


def test_progress_redraws_one_line_on_a_tty_and_writes_lines_elsewhere() -> None:
    ticks = iter(float(n) for n in range(100))
    tty, plain = _Tty(), io.StringIO()
    meter = Meter("d", 1000, [TerminalSink(tty, clock=lambda: next(ticks)), TerminalSink(plain)],
                  clock=lambda: next(ticks))  # fmt: skip
    for done in range(100, 1001, 100):
        meter.update(done)
    meter.finish()
    assert tty.getvalue().count("\r") >= 10 and tty.getvalue().count("\n") == 1
    lines = plain.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("d: 1,000/1,000 items (100%)")


# --- resuming a dump from its progress row -------------------------------------------------------


def _runtime(tmp_path: Path, db_url: str) -> Runtime:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds: []\n", encoding="utf-8")
    settings = load_settings(database_url=db_url, feeds_file=feeds, channels_file=None)
    return open_runtime(settings, queue_alerts=False)


def test_a_dump_resumes_after_its_last_committed_batch(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "dump.jsonl"
    path.write_text("\n".join(dump_lines(1_000)) + "\n", encoding="utf-8")
    runtime = _runtime(tmp_path, db_url)
    first = asyncio.run(ingest_dump(runtime, DumpJob(path, batch_size=100), []))
    assert first.new == 1_000 and first.resumed_at is None
    with Session(runtime.engine) as s:
        run = s.exec(select(BackfillRun)).one()
        assert (run.status, run.done, run.total, run.stored) == ("done", 1_000, 1_000, 1_000)
        # as if the process had died after 400 lines
        run.status, run.done, run.byte_offset = (
            "running",
            400,
            len("".join(line + "\n" for line in dump_lines(1_000)[:400]).encode()),
        )
        s.add(run)
        s.commit()
    again = asyncio.run(ingest_dump(runtime, DumpJob(path, batch_size=100), []))
    assert again.resumed_at == 400 and again.lines == 1_000
    assert again.new == 0  # nothing stored twice
    restarted = asyncio.run(ingest_dump(runtime, DumpJob(path, batch_size=100, restart=True), []))
    assert restarted.resumed_at is None and restarted.new == 0
    with Session(runtime.engine) as s:
        assert s.exec(select(func.count()).select_from(Entry)).one() == 1_000
    runtime.engine.dispose()


def test_a_dump_stores_only_items_in_the_date_range(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "dump.jsonl"
    path.write_text("\n".join(dump_lines(720)) + "\n", encoding="utf-8")  # 4 minutes apart
    runtime = _runtime(tmp_path, db_url)
    window = Window(datetime(2025, 3, 1, 12, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC))
    outcome = asyncio.run(ingest_dump(runtime, DumpJob(path, window), []))
    assert (outcome.new, outcome.outside, outcome.bad) == (180, 540, 0)
    with Session(runtime.engine) as s:
        times = [e.published_at for e in s.exec(select(Entry)) if e.published_at]
    assert len(times) == 180 and all(window.since <= t < window.until for t in times)  # type: ignore[operator]
    runtime.engine.dispose()


def test_an_archive_url_with_credentials_never_shows_them(
    tmp_path: Path, server: FeedServer
) -> None:
    start = serve_archive(server, loop=True).replace("://", "://reader:tok-Secret-77@", 1)
    runtime = _runtime(tmp_path, f"sqlite:///{tmp_path / 'p.db'}")
    with session_scope(runtime.engine) as session:
        feed = ensure_feed(session, FeedSpec(url=start, name=start))
        assert feed.id is not None
        feed_id = feed.id
    out = io.StringIO()
    job = ArchiveJob(feed_id, start)
    outcome = asyncio.run(ingest_archive(runtime, job, CONFIG, [TerminalSink(out)]))
    assert outcome.pages == 3 and outcome.feed.new == 29
    shown = " ".join([outcome.note(), out.getvalue(), outcome.feed.feed_name, outcome.feed.url])
    assert "tok-Secret-77" not in shown and "***@127.0.0.1" in shown
    with Session(runtime.engine) as s:
        assert "tok-Secret-77" not in s.exec(select(BackfillRun)).one().source
    runtime.engine.dispose()
