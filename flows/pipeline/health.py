"""Health alerts for feeds: one when a feed reaches N failures in a row, one when it recovers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session

from parley.alerts.channels import Channel
from parley.alerts.render import HealthView, render_health
from parley.storage import outbox
from parley.storage.models import Feed

if TYPE_CHECKING:
    from parley.flows.pipeline.process import Pipeline

HEALTH_TOPIC = "health"
HEALTH_SEVERITY = "high"


def feed_health(
    session: Session,
    pipeline: Pipeline,
    feed: Feed,
    *,
    failures_before: int,
    failing_since: datetime | None,
    now: datetime,
) -> int:
    """Queue a health alert if this fetch crossed the threshold either way; return rows queued.

    ``failures_before`` and ``failing_since`` are the feed's values before this fetch.
    """
    threshold = pipeline.failure_threshold
    if feed.failures_in_row == threshold and failures_before < threshold:
        state, since = "failing", feed.failing_since
    elif failures_before >= threshold and feed.failures_in_row == 0:
        state, since = "recovered", failing_since
    else:
        return 0
    view = HealthView(state, feed.name, feed.url, failures_before + 1 if state == "failing"
                      else failures_before, feed.last_error, since)  # fmt: skip
    rendered = render_health(view, pipeline.zone)
    streak = since.isoformat() if since else "?"
    queued = 0
    for channel in pipeline.channels:
        if not channel.wants(HEALTH_TOPIC, HEALTH_SEVERITY):
            continue
        parts = (feed.url, HEALTH_TOPIC, state, streak, channel.name)
        row = outbox.enqueue(
            session,
            key=hashlib.sha256("\x1f".join(parts).encode()).hexdigest(),
            channel=channel.name,
            kind="health",
            topic_key=HEALTH_TOPIC,
            title=rendered.title,
            body=rendered.body,
            now=now,
            severity=HEALTH_SEVERITY,
            mode=channel.mode,
        )
        queued += row is not None
    return queued


def channel_health(
    session: Session,
    channels: Iterable[Channel],
    zone: ZoneInfo,
    *,
    subject: Channel,
    state: str,
    streak: datetime | None,
    failures: int,
    error: str | None,
    now: datetime,
) -> int:
    """Tell the other channels that ``subject`` has a dead alert (once per streak of failures,
    the streak named by the channel's last successful send) or that it sends again."""
    view = HealthView(state, subject.name, subject.safe_url, failures, error, None, "Channel")
    rendered = render_health(view, zone)
    mark = streak.isoformat() if streak else "never"
    queued = 0
    for channel in channels:
        if channel.name == subject.name or not channel.wants(HEALTH_TOPIC, HEALTH_SEVERITY):
            continue
        parts = ("channel", subject.name, state, mark, channel.name)
        row = outbox.enqueue(
            session,
            key=hashlib.sha256("\x1f".join(parts).encode()).hexdigest(),
            channel=channel.name,
            kind="health",
            topic_key=HEALTH_TOPIC,
            title=rendered.title,
            body=rendered.body,
            now=now,
            severity=HEALTH_SEVERITY,
        )
        queued += row is not None
    return queued
