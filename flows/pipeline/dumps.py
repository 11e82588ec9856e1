"""Backfill a JSON Lines dump: batches of lines stored with their progress, resumable.

Each batch of lines is one transaction: its items (grouped by feed, stored as feed items
are), their matches and alerts, and the run's progress row (how many lines, the byte offset).
A run killed at any point resumes after the last committed batch; storage is idempotent, so
nothing is stored twice either way. Bad lines are reported by file:line and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from parley.flows.ingest.archive import Window
from parley.flows.ingest.catalog import FeedSpec
from parley.flows.ingest.jsonl import DumpItem, DumpLine, LineError, count_lines, read_dump
from parley.flows.ingest.model import EntryDraft
from parley.flows.pipeline.backfill import is_url, run_key, store_drafts
from parley.flows.pipeline.cycle import Runtime, utcnow
from parley.flows.pipeline.progress import Meter, Sink
from parley.flows.pipeline.report import MatchRecord
from parley.storage import backfills
from parley.storage.db import session_scope
from parley.storage.feeds import ensure_feed
from parley.storage.models import Feed

log = logging.getLogger(__name__)
DEFAULT_BATCH = 500  # lines per transaction
MAX_PROBLEMS = 100  # bad lines named one by one; the rest are counted


@dataclass
class DumpOutcome:
    path: Path
    total: int = 0  # lines in the file
    lines: int = 0  # lines read by the end of this run (counting a resumed start)
    new: int = 0
    changed: int = 0
    bad: int = 0
    outside: int = 0
    resumed_at: int | None = None  # the line a resumed run started after
    matches: list[MatchRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None  # the file could not be read at all
    rate: float = 0.0  # lines per second in this run

    def note(self) -> str:
        if self.error:
            return f"dump {self.path}: {self.error}"
        resumed = f", resumed after line {self.resumed_at:,}" if self.resumed_at else ""
        return (f"dump {self.path}: {self.lines:,}/{self.total:,} lines{resumed}, "
                f"{self.new:,} new, {self.changed:,} edited, {self.bad:,} bad lines skipped, "
                f"{self.outside:,} outside the date range ({self.rate:,.0f} items/s)")  # fmt: skip


@dataclass
class DumpJob:
    path: Path
    window: Window = field(default_factory=Window)
    restart: bool = False
    batch_size: int = DEFAULT_BATCH
    send: bool = False


async def ingest_dump(runtime: Runtime, job: DumpJob, sinks: Sequence[Sink]) -> DumpOutcome:
    """Read ``job.path`` in batches, storing and matching its items; see the module doc.

    Between batches it yields to the event loop, so a cancelled run (Ctrl-C) stops there,
    right after a commit.
    """
    outcome = DumpOutcome(job.path)
    try:
        outcome.total = count_lines(job.path)
        size = job.path.stat().st_size
    except OSError as exc:
        outcome.error = f"read {job.path}: {exc.strerror or exc}"
        return outcome
    key = run_key("jsonl", f"{job.path.resolve()}:{size}", job.window, {"send": job.send})
    with session_scope(runtime.engine) as session:
        run, resumed = backfills.open_run(session, key, str(job.path), utcnow(),
                                          total=outcome.total, restart=job.restart)  # fmt: skip
        run_id, start_line, start_offset = run.id, run.done, run.byte_offset
    assert run_id is not None
    meter = Meter(job.path.name, outcome.total, list(sinks), start_done=start_line)
    if resumed:
        outcome.resumed_at = start_line
        meter.note(f"resuming at line {start_line:,} of {outcome.total:,} ({job.path})")
    outcome.lines = start_line
    feeds = _FeedCache(runtime, job.path)
    batch: list[DumpLine] = []
    for line in read_dump(job.path, start_offset=start_offset, start_line=start_line):
        batch.append(line)
        if len(batch) >= job.batch_size:
            _commit(runtime, run_id, batch, job.window, feeds, outcome)
            meter.update(outcome.lines)
            batch = []
            await asyncio.sleep(0)
    _commit(runtime, run_id, batch, job.window, feeds, outcome, last=True)
    outcome.rate = meter.finish().rate
    return outcome


def _commit(
    runtime: Runtime,
    run_id: int,
    batch: list[DumpLine],
    window: Window,
    feeds: _FeedCache,
    outcome: DumpOutcome,
    *,
    last: bool = False,
) -> None:
    """Store one batch and its progress in one transaction."""
    now = utcnow()
    bad = outside = new = changed = 0
    with session_scope(runtime.engine) as session:
        groups: dict[int, list[EntryDraft]] = {}
        for line in batch:
            error, item = line.error, line.item
            if item is not None:
                try:
                    feed_id = feeds.feed_id(session, item)
                except LineError as exc:
                    error = f"{outcome.path}:{line.number}: {exc}"
                else:
                    if window.holds(item.draft):
                        groups.setdefault(feed_id, []).append(item.draft)
                    else:
                        outside += 1
            if error is not None:
                bad += 1
                _problem(outcome, error)
        for feed_id, drafts in groups.items():
            feed = session.get_one(Feed, feed_id)
            stored = store_drafts(session, runtime.pipeline, feed, drafts, now)
            new, changed = new + stored.new, changed + stored.changed
            outcome.matches.extend(stored.matches)
        if batch:
            backfills.advance(session, run_id, now, done=batch[-1].number,
                              byte_offset=batch[-1].end, skipped=bad + outside,
                              stored=new + changed)  # fmt: skip
        if last:
            backfills.finish(session, run_id, now)
    feeds.committed()
    outcome.bad += bad
    outcome.outside += outside
    outcome.new += new
    outcome.changed += changed
    if batch:
        outcome.lines = batch[-1].number


def _problem(outcome: DumpOutcome, error: str) -> None:
    log.warning("backfill bad line: %s", error)
    if len(outcome.problems) < MAX_PROBLEMS:
        outcome.problems.append(error)
    elif len(outcome.problems) == MAX_PROBLEMS:
        outcome.problems.append(f"{outcome.path}: more bad lines (counted, not listed)")


class _FeedCache:
    """Feed rows by a line's ``feed`` value; rows made in a batch are known once it commits."""

    def __init__(self, runtime: Runtime, path: Path) -> None:
        self._configured = {spec.name: spec for spec in runtime.feeds}
        self._path = path
        self._known: dict[str | None, int] = {}
        self._pending: dict[str | None, int] = {}

    def feed_id(self, session: Session, item: DumpItem) -> int:
        ref = item.feed
        found = self._known.get(ref) or self._pending.get(ref)
        if found is None:
            found = self._resolve(session, item)
            self._pending[ref] = found
        return found

    def committed(self) -> None:
        self._known.update(self._pending)
        self._pending.clear()

    def _resolve(self, session: Session, item: DumpItem) -> int:
        ref = item.feed
        if ref is None:
            spec = FeedSpec(url=self._path.resolve().as_uri(), name=self._path.name)
        elif is_url(ref):
            spec = FeedSpec(url=ref, name=item.feed_name or ref, language=item.language or "en")
        elif ref in self._configured:
            spec = self._configured[ref]
        else:
            row = session.exec(select(Feed).where(Feed.name == ref)).first()
            if row is None or row.id is None:
                raise LineError(f"unknown feed {ref!r}: not a URL, nor a feed name in the "
                                "feeds file or the store")  # fmt: skip
            return row.id
        feed = ensure_feed(session, spec)
        assert feed.id is not None
        return feed.id
