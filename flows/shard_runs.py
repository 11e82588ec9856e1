"""Fan a monitor cycle out: one flow run of the ``monitor-shard`` deployment per shard.

The runs go to the work pool like any other deployment run, so the workers share them; the
monitor run waits for all of them (at most PARLEY_SHARD_TIMEOUT seconds, then cancels the
rest) and gathers their reports. A shard's report comes back as its flow run's result, so
the workers must persist results where the monitor run can read them (one machine: the
default ``$PREFECT_HOME/storage``; several: a shared ``PREFECT_LOCAL_STORAGE_PATH``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.deployments import arun_deployment
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Cancelling

from parley.flows.pipeline.cycle import Runtime, sync_feed_rows, utcnow
from parley.flows.pipeline.report import CycleReport
from parley.flows.pipeline.shard import Shard, ShardRunsFailed

SHARD_DEPLOYMENT = "monitor-shard/monitor-shard"
POLL_SECONDS = 2.0


@dataclass
class ShardedCycle:
    """The reports of the shards that completed, merged, and a line for each that did not."""

    report: CycleReport
    problems: list[str] = field(default_factory=list)

    def raise_problems(self) -> None:
        if self.problems:
            raise ShardRunsFailed("; ".join(self.problems))


async def shard_deployment_exists() -> bool:
    async with get_client() as client:
        try:
            await client.read_deployment_by_name(SHARD_DEPLOYMENT)
        except ObjectNotFound:
            return False
    return True


async def run_shards(runtime: Runtime, parameters: dict[str, Any]) -> ShardedCycle | None:
    """Run the cycle as ``runtime.settings.shards`` shard runs and merge their reports.

    None when the server has no ``monitor-shard`` deployment (``parley run``, ``parley
    serve``): the caller then runs the cycle itself, as one.
    """
    logger = get_run_logger()
    count = runtime.settings.shards
    if not await shard_deployment_exists():
        logger.info("no %s deployment: polling the %s shards here, as one", SHARD_DEPLOYMENT, count)
        return None
    cycle = ShardedCycle(CycleReport(started_at=utcnow()))
    sync_feed_rows(runtime)  # once, before the shards read the rows side by side
    timeout = runtime.settings.shard_timeout
    runs = await asyncio.gather(
        *(_start(Shard(index, count), parameters, timeout) for index in range(count))
    )
    for index, run in enumerate(runs):
        shard = Shard(index, count)
        problem = await _collect(run, cycle.report, timeout)
        if problem:
            cycle.problems.append(f"shard {shard}: flow run {run.name}: {problem}")
            logger.error("shard failed shard=%s flow_run=%s error=%s", shard, run.name, problem)
    return cycle


async def _start(shard: Shard, parameters: dict[str, Any], timeout: int) -> FlowRun:
    run: FlowRun = await arun_deployment(
        SHARD_DEPLOYMENT,
        parameters={**parameters, "index": shard.index, "count": shard.count},
        timeout=timeout,
        poll_interval=POLL_SECONDS,
        as_subflow=True,
    )
    return run


async def _collect(run: FlowRun, into: CycleReport, timeout: int) -> str | None:
    """Add a finished shard's feed outcomes to ``into``; else cancel it and say why."""
    state = run.state
    if state is None or not state.is_final():
        await _cancel(run)
        return f"not finished after {timeout} s ({state.name if state else 'no state'}); cancelled"
    if not state.is_completed():
        return f"ended {state.name}: {state.message or 'no message'}"
    try:
        result = await state.aresult()
    except Exception as exc:  # a report that cannot be read is a problem of this shard only
        return (
            f"its report could not be read ({type(exc).__name__}); the workers must persist "
            "results where the monitor run can read them (PREFECT_LOCAL_STORAGE_PATH)"
        )
    if not isinstance(result, CycleReport):
        return f"returned {type(result).__name__}, not a cycle report"
    into.feeds.extend(result.feeds)
    return None


async def _cancel(run: FlowRun) -> None:
    started = run.state is not None and run.state.is_running()
    state: State[Any] = Cancelling() if started else Cancelled()
    async with get_client() as client:
        await client.set_flow_run_state(run.id, state, force=True)
