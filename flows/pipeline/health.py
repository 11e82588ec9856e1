"""Health alerts for feeds: one when a feed reaches N failures in a row, one when it recovers."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session

from parley.alerts.channels import Channel
from parley.alerts.render import HealthView, RenderedAlert, render_health
from parley.alerts.routes import HEALTH, HEALTH_TOPIC, Subject, targets
from parley.storage import outbox
from parley.storage.models import Feed

if TYPE_CHECKING:
    from parley.flows.pipeline.process import Pipeline

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
    streak = since.isoformat() if since else "?"
    rendered = render_health(view, pipeline.zone)
    identity = (feed.url, state, streak)
    return queue_health(session, pipeline.channels, rendered, identity, now, tier=feed.tier)


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
    mark = streak.isoformat() if streak else "never"
    rendered = render_health(view, zone)
    identity = ("channel", subject.name, state, mark)
    return queue_health(session, channels, rendered, identity, now, skip=subject.name)


SILENCE_FACTOR = 4  # silent after four usual gaps without a new item …
MIN_SILENCE = timedelta(hours=12)  # … and never sooner than this
MIN_HISTORY = 5  # entries needed to know a feed's rhythm


def usual_gap(times: Sequence[datetime]) -> timedelta | None:
    """The median gap between a feed's latest items (newest first), or None without history."""
    if len(times) < MIN_HISTORY:
        return None
    gaps = sorted(abs(a - b) for a, b in itertools.pairwise(times))
    return gaps[len(gaps) // 2]


def silence(
    times: Sequence[datetime], now: datetime, watched_since: datetime | None = None
) -> timedelta | None:
    """How long the feed has been silent, when that is longer than its rhythm allows.

    Silence counts from the newest item, or from when parley started watching the feed if
    that is later: an old archive added today is not "silent for a year".
    """
    gap = usual_gap(times)
    if gap is None:
        return None
    quiet = now - max(times[0], watched_since or times[0])
    return quiet if quiet > max(gap * SILENCE_FACTOR, MIN_SILENCE) else None


def _days(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def feed_silence(
    session: Session,
    pipeline: Pipeline,
    feed: Feed,
    *,
    before: Sequence[datetime],
    after: Sequence[datetime],
    watched: datetime | None,
    now: datetime,
) -> int:
    """A health alert when a feed falls silent for longer than its usual gap (once per silence,
    named by its last item), and one when it publishes again after such an alert."""
    if before and after and after[0] > before[0]:
        title = f"[parley health] Feed silent: {feed.name} "
        if not outbox.health_alerted_since(session, title, before[0]):
            return 0
        view = HealthView("recovered", feed.name, feed.url, 0, None, before[0], detail=None)
        return _queue_feed_health(session, pipeline, feed, view, "publishing", before[0], now)
    quiet = silence(after, now, watched)
    if quiet is None:
        return 0
    gap = usual_gap(after)
    detail = f"nothing new for {_days(quiet)} (usually every {_days(gap or quiet)})"
    view = HealthView("silent", feed.name, feed.url, 0, None, after[0], detail=detail)
    return _queue_feed_health(session, pipeline, feed, view, "silent", after[0], now)


def _queue_feed_health(
    session: Session,
    pipeline: Pipeline,
    feed: Feed,
    view: HealthView,
    state: str,
    streak: datetime,
    now: datetime,
) -> int:
    rendered = render_health(view, pipeline.zone)
    identity = (feed.url, state, streak.isoformat())
    return queue_health(session, pipeline.channels, rendered, identity, now, tier=feed.tier)


def queue_health(
    session: Session,
    channels: Iterable[Channel],
    rendered: RenderedAlert,
    identity: tuple[str, ...],
    now: datetime,
    skip: str | None = None,
    tier: str | None = None,
) -> int:
    """Queue a health alert on every channel its routes send it to (but ``skip``), once per
    ``identity`` (what it is about and which streak) and channel; return rows queued.

    ``tier`` is the tier of the feed it is about (None for a channel's own health)."""
    return len(queue_health_rows(session, channels, rendered, identity, now, skip, tier))


def queue_health_rows(
    session: Session,
    channels: Iterable[Channel],
    rendered: RenderedAlert,
    identity: tuple[str, ...],
    now: datetime,
    skip: str | None = None,
    tier: str | None = None,
) -> list[int]:
    """:func:`queue_health`, returning the ids of the outbox rows it queued."""
    queued: list[int] = []
    subject = Subject(HEALTH, HEALTH_TOPIC, HEALTH_SEVERITY, tier)
    for channel, mode in targets(channels, subject, skip=skip):
        parts = (*identity, HEALTH_TOPIC, channel.name)
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
            mode=mode,
        )
        if row is not None:
            queued.append(row)
    return queued
