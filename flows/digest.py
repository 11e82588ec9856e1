"""The digest flow: one message per digest channel with the alerts it gathered since the last."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote
from sqlmodel import Session

from parley.flows.pipeline.cycle import Runtime, open_runtime, utcnow
from parley.flows.pipeline.digest import DigestReport, build_digests
from parley.flows.settings import load_settings


@task(name="send-digests", cache_policy=NO_CACHE)
def digest_task(runtime: Runtime) -> DigestReport:
    names = {topic.key: topic.name for topic in runtime.pipeline.matcher.topics}
    with Session(runtime.engine, expire_on_commit=False) as session:
        report = build_digests(
            session,
            runtime.channels,
            utcnow(),
            runtime.settings.zone,
            topic_names=names,
            max_attempts=runtime.settings.deliver_max_attempts,
            timeout=runtime.settings.deliver_timeout,
        )
    if report.failed:
        get_run_logger().warning(
            "digest failures count=%s first_error=%s", report.failed, report.errors[0]
        )
    return report


@flow(name="digest")
def digest(overrides: dict[str, str | None] | None = None) -> DigestReport:
    """Send each digest channel one message with its pending alerts, by topic and story.

    ``overrides`` replace settings by field name (e.g. ``{"database_url": …}``).
    """
    runtime = open_runtime(load_settings(**(overrides or {})))
    try:
        report: DigestReport = digest_task(quote(runtime))  # type: ignore[call-overload]
        return report
    finally:
        runtime.engine.dispose()
