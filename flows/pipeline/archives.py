"""Backfill a feed URL with its history: its archive or paged feed, page by page, resumable.

Each page is one transaction: its items in the date range (stored as feed items are), their
matches and alerts, and the run's progress row (pages done, the next page's URL). A re-run
with the same arguments goes on from the page after the last one committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from parley.flows.ingest.archive import DEFAULT_MAX_PAGES, Page, Window, walk
from parley.flows.ingest.fetch import FetchConfig
from parley.flows.ingest.redact import redact_url
from parley.flows.pipeline.backfill import run_key, store_drafts
from parley.flows.pipeline.cycle import Runtime, utcnow
from parley.flows.pipeline.progress import Meter, Sink
from parley.flows.pipeline.report import FeedOutcome
from parley.storage import backfills
from parley.storage.db import session_scope
from parley.storage.models import Feed


@dataclass
class ArchiveJob:
    feed_id: int
    url: str
    window: Window = field(default_factory=Window)
    max_pages: int = DEFAULT_MAX_PAGES
    restart: bool = False
    send: bool = False


@dataclass
class ArchiveOutcome:
    feed: FeedOutcome
    pages: int = 0  # pages read by the end of this run (counting a resumed start)
    outside: int = 0
    stop: str | None = None
    resumed_at: str | None = None  # the page URL a resumed run started at

    def note(self) -> str:
        resumed = f", resumed at {self.resumed_at}" if self.resumed_at else ""
        end = self.feed.error or f"stopped: {self.stop}"
        return (f"archive {self.feed.url}: {self.pages} pages{resumed}, {self.feed.new} new, "
                f"{self.feed.changed} edited, {self.outside} outside the date range; {end}")  # fmt: skip


async def ingest_archive(
    runtime: Runtime, job: ArchiveJob, config: FetchConfig, sinks: Sequence[Sink]
) -> ArchiveOutcome:
    """Walk the archive from ``job.url`` and store each page; see the module doc."""
    options = {"send": job.send, "max_pages": job.max_pages}
    key = run_key("archive", job.url, job.window, options)
    with session_scope(runtime.engine) as session:
        feed = session.get_one(Feed, job.feed_id)
        shown = redact_url(job.url)  # a URL's user:password never reaches output or logs
        outcome = ArchiveOutcome(FeedOutcome(job.feed_id, redact_url(feed.name), shown, "ok"))
        run, resumed = backfills.open_run(session, key, shown, utcnow(), restart=job.restart)
        run_id, start_url, pages_done = run.id, run.cursor, run.done
    assert run_id is not None
    meter = Meter(shown, None, list(sinks))
    first = job.url
    if resumed and start_url:
        first, outcome.resumed_at = start_url, redact_url(start_url)
        meter.note(f"resuming at page {pages_done + 1:,} ({outcome.resumed_at}) of {shown}")
    outcome.pages = pages_done if resumed else 0
    items = 0
    pages = walk(job.feed_id, first, config, job.window, max_pages=job.max_pages,
                 first_number=outcome.pages + 1)  # fmt: skip
    async for page in pages:
        if page.error is not None:
            outcome.feed.status, outcome.feed.error = "error", page.error
            break
        _store_page(runtime, run_id, page, outcome)
        items += len(page.drafts) + page.outside
        meter.update(items)
    meter.finish()
    return outcome


def _store_page(runtime: Runtime, run_id: int, page: Page, outcome: ArchiveOutcome) -> None:
    now = utcnow()
    with session_scope(runtime.engine) as session:
        feed = session.get_one(Feed, outcome.feed.feed_id)
        stored = store_drafts(session, runtime.pipeline, feed, page.drafts, now)
        backfills.advance(session, run_id, now, done=page.number, cursor=page.next_url,
                          skipped=page.outside, stored=stored.new + stored.changed)  # fmt: skip
        if page.next_url is None:
            backfills.finish(session, run_id, now)
    outcome.pages = page.number
    outcome.outside += page.outside
    outcome.stop = redact_url(page.stop) if page.stop else None
    outcome.feed.new += stored.new
    outcome.feed.changed += stored.changed
    outcome.feed.matches.extend(stored.matches)
