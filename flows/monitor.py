"""The monitor flow: one cycle — fetch due feeds, store, match, queue alerts, deliver."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from parley.flows.artifacts import publish_cycle, publish_topics
from parley.flows.deliver import deliver_task
from parley.flows.ingest.fetch import fetch_all
from parley.flows.ingest.model import FeedRequest, FetchResult
from parley.flows.pipeline.cycle import (
    Runtime,
    due_requests,
    fetch_config,
    open_runtime,
    process,
    utcnow,
)
from parley.flows.pipeline.report import CycleReport, FeedOutcome
from parley.flows.reports.cycle import TopicMove, topic_moves
from parley.flows.settings import Settings, load_settings
from parley.storage.db import session_scope

FEEDS_PER_BATCH = 500  # feeds fetched, then stored, per round of a cycle


@task(name="fetch-feeds", cache_policy=NO_CACHE)
async def fetch_task(requests: list[FeedRequest], settings: Settings) -> list[FetchResult]:
    return await fetch_all(requests, fetch_config(settings))


@task(name="store-and-match", cache_policy=NO_CACHE)
def store_task(runtime: Runtime, results: list[FetchResult]) -> list[FeedOutcome]:
    return process(runtime, results)


async def run_cycle(runtime: Runtime, *, deliver: bool = True, force: bool = False) -> CycleReport:
    """One cycle inside a flow run: the tasks in order, and a report of what happened."""
    logger = get_run_logger()
    report = CycleReport(started_at=utcnow())
    requests, skipped = due_requests(runtime, report.started_at, force=force)
    stored: list[FeedOutcome] = []
    # In batches, so that a cycle over thousands of feeds holds one batch of bodies at a time.
    for start in range(0, max(1, len(requests)), FEEDS_PER_BATCH):
        batch = requests[start : start + FEEDS_PER_BATCH]
        results = await fetch_task(batch, quote(runtime.settings))  # type: ignore[call-overload]
        stored += store_task(quote(runtime), quote(results))  # type: ignore[call-overload]
        del results
    report.feeds = [*stored, *skipped]
    for outcome in report.failures:
        logger.warning(
            "feed failed feed_url=%s feed_id=%s status=%s error=%s",
            outcome.url, outcome.feed_id, outcome.status, outcome.error,
        )  # fmt: skip
    if deliver:
        report.delivery = deliver_task(quote(runtime))  # type: ignore[call-overload]
    report.finished_at = utcnow()
    logger.info(report.summary_line())
    await publish_cycle(report, runtime.settings.zone)
    await publish_topics(moved_topics(runtime, report), runtime.settings.zone)
    return report


def moved_topics(runtime: Runtime, report: CycleReport) -> list[TopicMove]:
    """The topics whose stories this cycle touched (read after the cycle's commits)."""
    if not report.matches:
        return []
    with session_scope(runtime.engine) as session:
        return topic_moves(session, report.matches)


@flow(name="monitor", log_prints=False)
async def monitor(
    feeds_file: str | None = None,
    base_url: str | None = None,
    deliver: bool = True,
    force: bool = False,
    overrides: dict[str, str | None] | None = None,
) -> CycleReport:
    """Poll every due feed once, store what changed, match topics, queue and send alerts.

    ``feeds_file`` overrides PARLEY_FEEDS_FILE; relative feed URLs resolve against
    ``base_url``. ``force`` fetches feeds even before their interval has passed;
    ``overrides`` replace settings by field name (e.g. ``{"database_url": …}``).
    """
    settings = load_settings(**(overrides or {}))
    runtime = open_runtime(
        settings, feeds_file=Path(feeds_file) if feeds_file else None, base_url=base_url
    )
    try:
        return await run_cycle(runtime, deliver=deliver, force=force)
    finally:
        runtime.engine.dispose()
