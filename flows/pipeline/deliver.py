"""Drain the outbox: send each due row to its channel, then record how it went.

A row is claimed with a lease and committed before sending, so two runs never send the
same row at once; the result is committed right after each send.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from parley.alerts.channels import Channel
from parley.alerts.notify import SendOutcome, send
from parley.flows.pipeline.health import channel_health
from parley.flows.pipeline.report import DeliveryReport
from parley.storage import outbox
from parley.storage.db import session_scope
from parley.storage.models import OutboxAlert

Sender = Callable[[Channel, str, str], SendOutcome]
CLAIM_BATCH = 20
UTC_ZONE = ZoneInfo("UTC")
JITTER = 0.2  # retries spread over +0–20 % of their backoff


def deliver_due(
    engine: Engine,
    channels: Sequence[Channel],
    now: Callable[[], datetime],
    *,
    max_attempts: int,
    timeout: float,
    sender: Sender | None = None,
    zone: ZoneInfo = UTC_ZONE,
) -> DeliveryReport:
    """Send every due outbox row once; failures stay pending with a backoff, then go dead.

    Rows queued for a digest channel are left alone: flows/pipeline/digest.py sends them.
    """
    by_name = {channel.name: channel for channel in channels}
    # A lease outlives the sends of its batch, so no other run can claim a row being sent.
    lease = timedelta(seconds=timeout * CLAIM_BATCH * 1.5 + 60)
    report = DeliveryReport()

    def default_sender(channel: Channel, title: str, body: str) -> SendOutcome:
        return send(channel, title, body, timeout=timeout)

    do_send = sender or default_sender
    with session_scope(engine) as session:
        # Rows queued for a digest whose channel has since become immediate go out now.
        outbox.release_digest_rows(session, {c.name for c in channels if c.digest})
    while True:
        with session_scope(engine) as session:
            rows = outbox.claim_due(session, now(), lease, limit=CLAIM_BATCH)
        if not rows:
            break
        for row in rows:
            if not _held_quiet(engine, by_name.get(row.channel), row, now(), zone, report):
                _send_one(engine, by_name, do_send, row, now, max_attempts, report, zone)
    return report


def _held_quiet(
    engine: Engine,
    channel: Channel | None,
    row: OutboxAlert,
    when: datetime,
    zone: ZoneInfo,
    report: DeliveryReport,
) -> bool:
    """Defer the row to the end of its channel's quiet hours unless its severity bypasses them."""
    if channel is None or channel.quiet is None or not channel.quiet.holds(row.severity):
        return False
    until = channel.quiet.until(when, zone)
    if until is None:
        return False
    assert row.id is not None
    with session_scope(engine) as session:
        outbox.defer(session, row.id, until)
    report.deferred += 1
    return True


def _send_one(
    engine: Engine,
    channels: Mapping[str, Channel],
    do_send: Sender,
    row: OutboxAlert,
    now: Callable[[], datetime],
    max_attempts: int,
    report: DeliveryReport,
    zone: ZoneInfo,
) -> None:
    assert row.id is not None
    channel = channels.get(row.channel)
    if channel is None:
        result = SendOutcome(ok=False, error=f"channel {row.channel!r} is not configured")
    else:
        result = do_send(channel, row.title, row.body)
    with session_scope(engine) as session:
        previous_success = outbox.last_sent_at(session, row.channel)
        if result.ok:
            outbox.mark_sent(session, row.id, now())
            report.sent += 1
            failing = f"[parley health] Channel failing: {row.channel} "
            if channel is not None and outbox.health_alerted_since(
                session, failing, previous_success
            ):
                channel_health(session, channels.values(), zone, subject=channel,
                               state="recovered", streak=previous_success, failures=0,
                               error=None, now=now())  # fmt: skip
            return
        error = result.error or "send failed"
        jitter = random.uniform(0.0, JITTER)
        stored = outbox.mark_failed(session, row.id, error, now(), max_attempts, jitter)
        if stored.status == outbox.DEAD and channel is not None:
            channel_health(session, channels.values(), zone, subject=channel, state="failing",
                           streak=previous_success, failures=stored.attempts, error=error,
                           now=now())  # fmt: skip
    report.failed += 1
    report.dead += stored.status == outbox.DEAD
    report.errors.append(error)
