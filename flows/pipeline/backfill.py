"""Backfill as plain functions: ingest feed URLs or files, or re-match stored history."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlmodel import Session

from parley.flows.ingest.catalog import FeedSpec
from parley.flows.ingest.model import FetchResult, FetchStatus, Validators
from parley.flows.pipeline.cycle import Runtime, utcnow
from parley.flows.pipeline.process import match_entry
from parley.flows.pipeline.report import FeedOutcome, MatchRecord
from parley.storage.db import session_scope
from parley.storage.entries import EntryChange
from parley.storage.feeds import ensure_feed
from parley.storage.matches import entries_between

log = logging.getLogger(__name__)
PROGRESS_EVERY = 500


@dataclass
class BackfillReport:
    mode: str  # "ingest" or "rematch"
    write: bool  # matches recorded (False: a dry run that changed nothing)
    send: bool  # alerts queued
    examined: int = 0
    sources: list[FeedOutcome] = field(default_factory=list)
    matches: list[MatchRecord] = field(default_factory=list)

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
        for m in self.matches:
            when = m.published_at.strftime("%Y-%m-%d") if m.published_at else "????-??-??"
            lines.append(f"  {when} [{m.topic_key}] {m.headline} — {m.feed_name}")
        return "\n".join(lines)


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
    progress: Callable[[int, int], None] | None = None,
) -> BackfillReport:
    """Match stored entries in [since, until) with the current topics.

    Only matches not recorded before are reported. A dry run does the same work in a
    transaction that is rolled back, so its report is exactly what a real run would do.
    """
    pipeline = runtime.pipeline
    report = BackfillReport("rematch", write=write, send=pipeline.queue_alerts and write)
    with session_scope(runtime.engine) as session:
        pairs = entries_between(session, since, until)
        total = len(pairs)
        for index, (entry, feed) in enumerate(pairs, start=1):
            change = EntryChange(entry=entry, previous=None)
            report.matches.extend(match_entry(session, pipeline, feed, change, utcnow()))
            if progress and (index % PROGRESS_EVERY == 0 or index == total):
                progress(index, total)
        report.examined = total
        if not write:
            _discard(session)
    return report


def _discard(session: Session) -> None:
    session.rollback()
    log.info("dry run: rolled back")
