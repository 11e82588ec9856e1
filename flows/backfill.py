"""The backfill flow, started by hand: ingest feed URLs (with their archives), feed files and
JSON Lines dumps, or re-match stored history."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger

from parley.flows.artifacts import publish_matches
from parley.flows.ingest.archive import DEFAULT_MAX_PAGES, Window
from parley.flows.pipeline.archives import ArchiveJob, ingest_archive
from parley.flows.pipeline.backfill import (
    BackfillReport,
    file_result,
    is_dump,
    is_url,
    rematch,
    source_feed_ids,
    store_file,
)
from parley.flows.pipeline.cycle import Runtime, fetch_config, open_runtime, process
from parley.flows.pipeline.dumps import DEFAULT_BATCH, DumpJob, ingest_dump
from parley.flows.pipeline.progress import LogSink, Meter, Sink, TerminalSink
from parley.flows.settings import Settings, load_settings


@flow(name="backfill")
async def backfill(
    sources: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    apply: bool = False,
    send: bool = False,
    dumps: list[str] | None = None,
    restart: bool = False,
    max_pages: int = DEFAULT_MAX_PAGES,
    batch_size: int = DEFAULT_BATCH,
    show_progress: bool = False,
) -> BackfillReport:
    """With ``sources`` (feed URLs, feed files, ``.jsonl`` dumps) or ``dumps``: store their
    items in [since, until) and record matches; a URL's archive pages are followed back to
    ``since``. Without: re-match stored items published in [since, until) with the current
    topics. Alerts are queued only with ``send``; a re-match writes nothing unless ``apply``.

    Dumps and archives record their progress: a re-run with the same arguments resumes
    (``restart`` starts over). ``show_progress`` also draws progress on this process's stdout.
    """
    logger = get_run_logger()
    settings = load_settings()
    sinks: list[Sink] = [LogSink(logger)]
    if show_progress:
        sinks.append(TerminalSink(sys.stdout))
    runtime = open_runtime(settings, queue_alerts=send)
    window = Window(since, until)
    try:
        dump_paths = [s for s in sources or [] if is_dump(s)] + list(dumps or [])
        others = [s for s in sources or [] if not is_dump(s)]
        if others or dump_paths:
            report = BackfillReport("ingest", write=True, send=send)
            await _ingest_feeds(runtime, settings, others, window, report, sinks,
                                max_pages=max_pages, restart=restart, send=send)  # fmt: skip
            for path in dump_paths:
                job = DumpJob(Path(path), window, restart, batch_size, send)
                outcome = await ingest_dump(runtime, job, sinks)
                report.notes.append(outcome.note())
                report.problems += outcome.problems + ([outcome.error] if outcome.error else [])
                report.matches += outcome.matches
                report.examined += outcome.new + outcome.changed
        else:
            meters: list[Meter] = []

            def progress(done: int, total: int) -> None:
                if not meters:
                    meters.append(Meter("re-match", total, sinks))
                if done < total:
                    meters[0].update(done)
                else:
                    meters[0].done = done
                    meters[0].finish()

            report = rematch(runtime, since, until, write=apply or send, restart=restart,
                             progress=progress)  # fmt: skip
        summary = "\n".join([report.render(), *(f"error: {p}" for p in report.problems)])
        await publish_matches(report.matches, settings.zone, "parley-backfill", summary)
        return report
    finally:
        runtime.engine.dispose()


async def _ingest_feeds(
    runtime: Runtime,
    settings: Settings,
    sources: list[str],
    window: Window,
    report: BackfillReport,
    sinks: list[Sink],
    *,
    max_pages: int,
    restart: bool,
    send: bool,
) -> None:
    """Feed URLs with their archives, then feed files (read whole, as a fetch would be)."""
    pairs = source_feed_ids(runtime, sources)
    for source, feed_id in pairs:
        if not is_url(source):
            continue
        job = ArchiveJob(feed_id, source, window, max_pages, restart, send)
        outcome = await ingest_archive(runtime, job, fetch_config(settings), sinks)
        report.sources.append(outcome.feed)
        report.notes.append(outcome.note())
        if outcome.feed.error:
            report.problems.append(outcome.feed.error)
    files = [(Path(src), feed_id) for src, feed_id in pairs if not is_url(src)]
    if window.since is None and window.until is None:
        report.sources += process(runtime, [file_result(feed_id, path) for path, feed_id in files])
    else:
        for path, feed_id in files:
            stored, outside = store_file(runtime, feed_id, path, window)
            report.sources.append(stored)
            report.notes.append(f"file {path}: {stored.new} new, {stored.changed} edited, "
                                f"{outside} outside the date range")  # fmt: skip
            if stored.error:
                report.problems.append(stored.error)
    report.matches = [m for outcome in report.sources for m in outcome.matches]
    report.examined = sum(o.new + o.changed for o in report.sources)
