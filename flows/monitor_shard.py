"""The monitor-shard flow: fetch, store and match the feeds of one shard (by feed host).

The monitor flow starts one run per shard through the ``monitor-shard`` deployment when
PARLEY_SHARDS is above 1, waits for them and delivers once; a shard run sends nothing itself.
Its result, the shard's cycle report, is persisted so the monitor run can read it.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from parley.flows.monitor import poll
from parley.flows.pipeline.cycle import open_runtime, utcnow
from parley.flows.pipeline.report import CycleReport
from parley.flows.pipeline.shard import Shard
from parley.flows.settings import load_settings


@flow(name="monitor-shard", persist_result=True, log_prints=False)
async def monitor_shard(
    index: int,
    count: int,
    feeds_file: str | None = None,
    base_url: str | None = None,
    force: bool = False,
    overrides: dict[str, str | None] | None = None,
) -> CycleReport:
    """Poll the due feeds of shard ``index`` (from 0) of ``count``; store and match them.

    The other parameters are the monitor flow's, passed on unchanged.
    """
    shard = Shard(index, count)
    settings = load_settings(**(overrides or {}))
    runtime = open_runtime(
        settings, feeds_file=Path(feeds_file) if feeds_file else None, base_url=base_url
    )
    try:
        report = await poll(runtime, force=force, shard=shard)
    finally:
        runtime.engine.dispose()
    report.finished_at = utcnow()
    get_run_logger().info("shard %s: %s", shard, report.summary_line())
    return report
