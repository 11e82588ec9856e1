"""The deliver flow: send the due rows of the outbox, retry failures with backoff."""

from __future__ import annotations

from prefect import flow, get_run_logger

from parley.flows.pipeline.cycle import Runtime, open_runtime, utcnow
from parley.flows.pipeline.deliver import deliver_due
from parley.flows.pipeline.report import DeliveryReport
from parley.flows.settings import load_settings


def deliver_now(runtime: Runtime) -> DeliveryReport:
    """Send what is due, inside the calling flow run (a plain call: no task run of its own)."""
    report = deliver_due(
        runtime.engine,
        runtime.channels,
        utcnow,
        max_attempts=runtime.settings.deliver_max_attempts,
        timeout=runtime.settings.deliver_timeout,
        zone=runtime.settings.zone,
        topic_names={topic.key: topic.name for topic in runtime.pipeline.matcher.topics},
    )
    if report.failed:
        get_run_logger().warning(
            "delivery failures count=%s dead=%s first_error=%s",
            report.failed, report.dead, report.errors[0],
        )  # fmt: skip
    return report


@flow(name="deliver")
def deliver() -> DeliveryReport:
    """Send every alert that is due now."""
    runtime = open_runtime(load_settings())
    try:
        return deliver_now(runtime)
    finally:
        runtime.engine.dispose()
