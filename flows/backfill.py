"""The backfill flow, started by hand: ingest feed URLs/files or re-match stored history."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger

from parley.flows.artifacts import publish_matches
from parley.flows.ingest.fetch import fetch_all
from parley.flows.ingest.model import FeedRequest, FetchResult
from parley.flows.pipeline.backfill import (
    BackfillReport,
    file_result,
    is_url,
    rematch,
    source_feed_ids,
)
from parley.flows.pipeline.cycle import fetch_config, open_runtime, process
from parley.flows.settings import load_settings


@flow(name="backfill")
async def backfill(
    sources: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    apply: bool = False,
    send: bool = False,
) -> BackfillReport:
    """With ``sources`` (feed URLs or files): store their items and record matches.
    Without: re-match stored items published in [since, until) with the current topics.

    Alerts are queued only with ``send``; a re-match writes nothing unless ``apply``.
    """
    logger = get_run_logger()
    settings = load_settings()
    runtime = open_runtime(settings, queue_alerts=send)
    try:
        if sources:
            report = BackfillReport("ingest", write=True, send=send)
            pairs = source_feed_ids(runtime, sources)
            urls = [FeedRequest(feed_id, src) for src, feed_id in pairs if is_url(src)]
            fetched = {r.feed_id: r for r in await fetch_all(urls, fetch_config(settings))}
            results: list[FetchResult] = [
                fetched[feed_id] if is_url(src) else file_result(feed_id, Path(src))
                for src, feed_id in pairs
            ]
            report.sources = process(runtime, results)
            report.matches = [m for outcome in report.sources for m in outcome.matches]
            report.examined = sum(o.new + o.changed for o in report.sources)
        else:

            def progress(done: int, total: int) -> None:
                logger.info("backfill progress items=%s total=%s", done, total)

            report = rematch(runtime, since, until, write=apply or send, progress=progress)
        await publish_matches(report.matches, settings.zone, "parley-backfill", report.render())
        return report
    finally:
        runtime.engine.dispose()
