"""Backfill as plain functions: ingest feed URLs or files, or re-match stored history."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlmodel import Session

from parley.flows.ingest.archive import Window
from parley.flows.ingest.catalog import FeedSpec
from parley.flows.ingest.model import (
    EntryDraft,
    FetchResult,
    FetchStatus,
    ParseStatus,
    Validators,
)
from parley.flows.ingest.parse import parse_bytes
from parley.flows.pipeline.cycle import Runtime, utcnow
from parley.flows.pipeline.process import Pipeline, match_entry
from parley.flows.pipeline.report import FeedOutcome, MatchRecord
from parley.storage import backfills
from parley.storage.db import session_scope
from parley.storage.entries import EntryChange, apply_entries
from parley.storage.feeds import ensure_feed
from parley.storage.matches import entries_between
from parley.storage.models import Entry, Feed

log = logging.getLogger(__name__)
PROGRESS_EVERY = 500
REMATCH_BATCH = 500  # entries re-matched per committed batch
RENDER_MATCHES = 50  # match lines in a report; the artifact's table has them all
DUMP_SUFFIXES = (".jsonl", ".ndjson")


@dataclass
class BackfillReport:
    mode: str  # "ingest" or "rematch"
    write: bool  # matches recorded (False: a dry run that changed nothing)
    send: bool  # alerts queued
    examined: int = 0
    sources: list[FeedOutcome] = field(default_factory=list)
    matches: list[MatchRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line per archive or dump
    problems: list[str] = field(default_factory=list)  # bad lines and failed pages, by place

    def render(self) -> str:
        what = (
            "dry run, nothing written"
            if not self.write
            else ("matches recorded, alerts queued" if self.send else "matches recorded, no alerts")
        )
        lines = [f"backfill ({self.mode}, {what}): {self.examined} items examined, "
                 f"{len(self.matches)} new matches"]  # fmt: skip
        for outcome in self.sources:
            state = outcome.error or f"{outcome.new} new, {outcome.changed} edited"
            lines.append(f"  source {outcome.url}: {outcome.status}: {state}")
        lines += [f"  {note}" for note in self.notes]
        for m in self.matches[:RENDER_MATCHES]:
            when = m.published_at.strftime("%Y-%m-%d") if m.published_at else "????-??-??"
            lines.append(f"  {when} [{m.topic_key}] {m.headline} — {m.feed_name}")
        if len(self.matches) > RENDER_MATCHES:
            lines.append(f"  … and {len(self.matches) - RENDER_MATCHES:,} more matches")
        return "\n".join(lines)


def run_key(kind: str, source: str, window: Window, options: Mapping[str, object]) -> str:
    """The same source, range and options give the same key: a re-run finds its progress."""
    since = window.since.isoformat() if window.since else None
    until = window.until.isoformat() if window.until else None
    document = {"kind": kind, "source": source, "since": since, "until": until, **options}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def is_dump(source: str) -> bool:
    return not is_url(source) and source.lower().endswith(DUMP_SUFFIXES)


@dataclass
class Stored:
    new: int = 0
    changed: int = 0
    matches: list[MatchRecord] = field(default_factory=list)


def store_drafts(
    session: Session, pipeline: Pipeline, feed: Feed, drafts: Sequence[EntryDraft], now: datetime
) -> Stored:
    """Store one feed's items as a fetch would (identity, revisions) and match what changed."""
    assert feed.id is not None
    changes = apply_entries(session, feed.id, drafts, now)
    stored = Stored()
    stored.new = sum(1 for c in changes if c.previous is None)
    stored.changed = len(changes) - stored.new
    for change in sorted(changes, key=lambda c: c.entry.published_at or now):
        stored.matches.extend(match_entry(session, pipeline, feed, change, now))
    return stored


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def file_result(feed_id: int, path: Path) -> FetchResult:
    """A local feed file as if it had been fetched."""
    uri = path.resolve().as_uri()
    try:
        body = path.read_bytes()
    except OSError as exc:
        error = f"read {path}: {exc.strerror or exc}"
        return FetchResult(feed_id, uri, FetchStatus.CONNECTION, Validators(), error=error)
    # A file has no Content-Type: say "XML" (charset from the XML declaration), or
    # feedparser flags every local file with a NonXMLContentType warning.
    headers = {"content-location": uri, "content-type": "application/xml"}
    return FetchResult(feed_id, uri, FetchStatus.OK, Validators(), body=body, headers=headers)


def store_file(
    runtime: Runtime, feed_id: int, path: Path, window: Window
) -> tuple[FeedOutcome, int]:
    """A local feed file's items in ``window`` stored and matched in one transaction; the
    outcome and how many items fell outside the window (undated ones too, once it is set)."""
    result = file_result(feed_id, path)
    if result.body is None:
        return FeedOutcome(feed_id, path.name, result.url, result.status.value, result.error), 0
    parsed = parse_bytes(result.body, result.url, result.headers)
    if parsed.status in (ParseStatus.NOT_A_FEED, ParseStatus.PARSE_ERROR):
        return FeedOutcome(feed_id, path.name, result.url, parsed.status.value, parsed.message), 0
    kept = [draft for draft in parsed.entries if window.holds(draft)]
    with session_scope(runtime.engine) as session:
        stored = store_drafts(session, runtime.pipeline, session.get_one(Feed, feed_id), kept,
                              utcnow())  # fmt: skip
    outcome = FeedOutcome(feed_id, path.name, result.url, parsed.status.value, new=stored.new,
                          changed=stored.changed, matches=stored.matches)  # fmt: skip
    return outcome, len(parsed.entries) - len(kept)


def source_feed_ids(runtime: Runtime, sources: Sequence[str]) -> list[tuple[str, int]]:
    """A feed row for every source (a configured feed keeps its row)."""
    ids = []
    with session_scope(runtime.engine) as session:
        for source in sources:
            url = source if is_url(source) else Path(source).resolve().as_uri()
            name = source if is_url(source) else Path(source).name
            feed = ensure_feed(session, FeedSpec(url=url, name=name))
            assert feed.id is not None
            ids.append((source, feed.id))
    return ids


def rematch(
    runtime: Runtime,
    since: datetime | None,
    until: datetime | None,
    *,
    write: bool,
    restart: bool = False,
    batch: int = REMATCH_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillReport:
    """Match stored entries in [since, until) with the current topics.

    Only matches not recorded before are reported. A dry run does the same work in a
    transaction that is rolled back, so its report is exactly what a real run would do. A
    real run commits every ``batch`` entries with its progress (table ``backfillrun``): run
    again with the same range and topics, it resumes after the last committed batch
    (``restart`` starts over). Entries stored meanwhile were matched when they were stored.
    """
    pipeline = runtime.pipeline
    report = BackfillReport("rematch", write=write, send=pipeline.queue_alerts and write)
    if not write:
        with session_scope(runtime.engine) as session:
            pairs = entries_between(session, since, until)
            for index, (entry, feed) in enumerate(pairs, start=1):
                report.matches.extend(_rematch_one(session, pipeline, entry, feed))
                if progress and (index % PROGRESS_EVERY == 0 or index == len(pairs)):
                    progress(index, len(pairs))
            report.examined = len(pairs)
            _discard(session)
        return report
    key = run_key("rematch", "stored entries", Window(since, until),
                  {"send": report.send, "topics": _topics_digest(pipeline)})  # fmt: skip
    with Session(runtime.engine, expire_on_commit=False) as session:
        try:
            pairs = entries_between(session, since, until)
            run, resumed = backfills.open_run(session, key, "re-match", utcnow(),
                                              total=len(pairs), restart=restart)  # fmt: skip
            run_id, start = run.id, (run.done if resumed else 0)
            assert run_id is not None
            session.commit()
            if resumed:
                report.notes.append(f"re-match resumed after entry {start:,} of {len(pairs):,}")
            for offset in range(start, len(pairs), batch):
                for entry, feed in pairs[offset : offset + batch]:
                    report.matches.extend(_rematch_one(session, pipeline, entry, feed))
                done = min(len(pairs), offset + batch)
                backfills.advance(session, run_id, utcnow(), done=done)
                session.commit()  # the batch's matches with its progress
                if progress:
                    progress(done, len(pairs))
            backfills.finish(session, run_id, utcnow())
            session.commit()
        except BaseException:
            session.rollback()
            raise
    report.examined = len(pairs) - start
    return report


def _rematch_one(
    session: Session, pipeline: Pipeline, entry: Entry, feed: Feed
) -> list[MatchRecord]:
    return match_entry(session, pipeline, feed, EntryChange(entry=entry, previous=None), utcnow())


def _topics_digest(pipeline: Pipeline) -> str:
    """Other topics, another run: a resumed re-match must not skip what new topics would catch."""
    return hashlib.sha256(repr(pipeline.matcher.topics).encode()).hexdigest()[:16]


def _discard(session: Session) -> None:
    session.rollback()
    log.info("dry run: rolled back")
