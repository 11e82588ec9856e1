"""The monitor flow: one cycle — fetch due feeds, store, match, queue alerts, deliver.

With PARLEY_SHARDS above 1 the fetch/store/match part runs as monitor-shard flow runs
(flows/monitor_shard.py, started by flows/shard_runs.py); delivery and the report stay here.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from prefect import flow, get_run_logger

from parley.flows.artifacts import publish_cycle, publish_topics
from parley.flows.deliver import deliver_now
from parley.flows.ingest.fetch import fetch_all
from parley.flows.pipeline.cycle import (
    Runtime,
    due_requests,
    fetch_config,
    open_runtime,
    process,
    utcnow,
)
from parley.flows.pipeline.report import CycleReport, FeedOutcome
from parley.flows.pipeline.shard import Shard
from parley.flows.reports.cycle import TopicMove, topic_moves
from parley.flows.settings import load_settings
from parley.flows.shard_runs import run_shards
from parley.storage.db import session_scope

FEEDS_PER_BATCH = 500  # feeds fetched, then stored, per round of a cycle


async def poll(runtime: Runtime, *, force: bool = False, shard: Shard | None = None) -> CycleReport:
    """Fetch the due feeds (of ``shard``, or all), store and match them; no delivery yet.

    The stages are plain calls inside the flow run, not Prefect task runs: a task run costs
    ~50–70 ms of API traffic here, as much as a whole cycle's work when nothing changed. The
    time of each stage is in the report (its summary line and the cycle artifact).
    """
    logger = get_run_logger()
    report = CycleReport(started_at=utcnow())
    requests, skipped = due_requests(runtime, report.started_at, force=force, shard=shard)
    stored: list[FeedOutcome] = []
    config = fetch_config(runtime.settings)
    # In batches, so that a cycle over thousands of feeds holds one batch of bodies at a time.
    for start in range(0, max(1, len(requests)), FEEDS_PER_BATCH):
        batch = requests[start : start + FEEDS_PER_BATCH]
        began = time.perf_counter()
        results = await fetch_all(batch, config)
        fetched = time.perf_counter()
        stored += process(runtime, results)
        report.timed("fetch", fetched - began)
        report.timed("store", time.perf_counter() - fetched)
        del results
    report.feeds = [*stored, *skipped]
    for outcome in report.failures:
        logger.warning(
            "feed failed feed_url=%s feed_id=%s status=%s error=%s",
            outcome.url, outcome.feed_id, outcome.status, outcome.error,
        )  # fmt: skip
    return report


async def finish(runtime: Runtime, report: CycleReport, *, deliver: bool = True) -> CycleReport:
    """Send what is due (once per cycle, whatever the shards), log and publish the report."""
    if deliver:
        began = time.perf_counter()
        report.delivery = deliver_now(runtime)
        report.timed("deliver", time.perf_counter() - began)
    report.finished_at = utcnow()
    get_run_logger().info(report.summary_line())
    if not quiet(report):  # a quiet cycle has its summary line in the run's log only
        await publish_cycle(report, runtime.settings.zone)
        await publish_topics(moved_topics(runtime, report), runtime.settings.zone)
    return report


def quiet(report: CycleReport) -> bool:
    """Nothing moved: no new or edited entries, no failed feed, no alert sent or failed."""
    delivery = report.delivery
    return (
        not report.failures
        and not any(outcome.new or outcome.changed or outcome.matches for outcome in report.feeds)
        and (delivery is None or not (delivery.sent or delivery.failed or delivery.dead))
    )


async def run_cycle(runtime: Runtime, *, deliver: bool = True, force: bool = False) -> CycleReport:
    """One cycle inside a flow run: the tasks in order, and a report of what happened."""
    return await finish(runtime, await poll(runtime, force=force), deliver=deliver)


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
    jitter: float = 0.0,
) -> CycleReport:
    """Poll every due feed once, store what changed, match topics, queue and send alerts.

    With PARLEY_SHARDS above 1 and a ``monitor-shard`` deployment on the server, the feeds
    are polled by one flow run per shard on the work pool; this run waits for them, then
    delivers once and publishes the report of the whole cycle. Without that deployment the
    cycle runs here, as one.

    ``feeds_file`` overrides PARLEY_FEEDS_FILE; relative feed URLs resolve against
    ``base_url``. ``force`` fetches feeds even before their interval has passed;
    ``overrides`` replace settings by field name (e.g. ``{"database_url": …}``). ``jitter``
    waits a random 0…``jitter`` seconds first (Prefect schedules have no jitter of their own;
    deploy/prefect.yaml passes it from the monitor's schedule).
    """
    if jitter > 0:
        await asyncio.sleep(random.uniform(0, jitter))
    settings = load_settings(**(overrides or {}))
    runtime = open_runtime(
        settings, feeds_file=Path(feeds_file) if feeds_file else None, base_url=base_url
    )
    try:
        if settings.shards > 1:
            passed = {"feeds_file": feeds_file, "base_url": base_url, "force": force,
                      "overrides": overrides}  # fmt: skip
            began = time.perf_counter()
            sharded = await run_shards(runtime, passed)
            if sharded is not None:
                sharded.report.timed("shards", time.perf_counter() - began)
                report = await finish(runtime, sharded.report, deliver=deliver)
                sharded.raise_problems()
                return report
        return await run_cycle(runtime, deliver=deliver, force=force)
    finally:
        runtime.engine.dispose()
