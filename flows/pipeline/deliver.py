"""Drain the outbox: send each due row to its channel, then record how it went.

A row is claimed with a lease and committed before sending, so two runs never send the
same row at once; the result — the row's new state and one ``DeliveryAttempt`` per apprise
service — is committed right after each send.

A channel with a ``rate_limit`` of K messages per M minutes gets at most K messages in any
M minutes: when its due rows would go over, the rows that do not fit go as ONE message grouped
by topic and story (the digest's rendering), and are marked sent together under one bundle id.
The bundle id is written with the claim, before the send: a run that takes the rows over
after a crash (once their lease has run out) sends the same bundle again — at least once,
never while another run may still be sending it. When the K messages are already spent, the
rows wait (deferred, not failed) until the oldest message of the window leaves it. Health
alerts and critical alerts are never bundled, and quiet hours apply before the rate limit.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from parley.alerts.channels import Channel
from parley.alerts.notify import TEXT, SendOutcome, ServiceResult, send
from parley.alerts.ratelimit import RateLimit
from parley.alerts.render import bundle_title
from parley.flows.pipeline.digest import group_rows, render_digest
from parley.flows.pipeline.health import channel_health
from parley.flows.pipeline.report import DeliveryReport
from parley.storage import attempts, outbox
from parley.storage.db import session_scope
from parley.storage.models import OutboxAlert

Sender = Callable[[Channel, str, str], SendOutcome]
FormatSender = Callable[[Channel, str, str, str], SendOutcome]  # channel, title, body, format
CLAIM_BATCH = 20
BUNDLE_MAX = 500  # rows gathered into one bundle; more wait for the next window
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
    topic_names: Mapping[str, str] | None = None,
    only: Collection[int] | None = None,
) -> DeliveryReport:
    """Send every due outbox row once; failures stay pending with a backoff, then go dead.

    Rows queued for a digest channel are left alone: flows/pipeline/digest.py sends them.
    ``sender`` replaces the apprise send (a bundle's body format is then not passed on).
    ``only`` restricts the run to the outbox rows with those ids (lease, attempts, backoff,
    quiet hours and rate limits apply to them as to any row); None: every due row.
    """

    def send_formatted(channel: Channel, title: str, body: str, body_format: str) -> SendOutcome:
        if sender is not None:
            return sender(channel, title, body)
        return send(channel, title, body, timeout=timeout, body_format=body_format)

    run = _Delivery(
        engine=engine,
        channels={channel.name: channel for channel in channels},
        now=now,
        send=send_formatted,
        max_attempts=max_attempts,
        zone=zone,
        # A lease outlives the sends of its batch, so no other run can claim a row being sent.
        lease=timedelta(seconds=timeout * CLAIM_BATCH * 1.5 + 60),
        topic_names=topic_names or {},
        only=None if only is None else frozenset(only),
    )
    if only is not None and not only:
        return run.report
    with session_scope(engine) as session:
        # Rows queued for a digest whose channel has since become immediate go out now.
        outbox.release_digest_rows(session, {c.name for c in channels if c.digest})
    while True:
        with session_scope(engine) as session:
            rows = outbox.claim_due(session, now(), run.lease, limit=CLAIM_BATCH, ids=run.only)
        if not rows:
            break
        by_channel: dict[str, list[OutboxAlert]] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        for name, channel_rows in by_channel.items():
            run.deliver_channel(name, channel_rows)
    return run.report


@dataclass
class _Delivery:
    """One delivery run: its clock, channels, sender, and what it did so far."""

    engine: Engine
    channels: Mapping[str, Channel]
    now: Callable[[], datetime]
    send: FormatSender
    max_attempts: int
    zone: ZoneInfo
    lease: timedelta
    topic_names: Mapping[str, str]
    only: frozenset[int] | None = None  # the rows this run may send; None: every due row
    report: DeliveryReport = field(default_factory=DeliveryReport)

    def deliver_channel(self, name: str, rows: Sequence[OutboxAlert]) -> None:
        """Send one channel's claimed rows: bundles again, then the rest within its limit."""
        channel = self.channels.get(name)
        waiting = [row for row in rows if not self._held_quiet(channel, row)]
        bundles: dict[str, list[OutboxAlert]] = {}
        loose: list[OutboxAlert] = []
        for row in waiting:
            if row.bundle_id is None:
                loose.append(row)
            else:
                bundles.setdefault(row.bundle_id, []).append(row)
        for bundle_id, members in bundles.items():
            self._resend_bundle(name, channel, bundle_id, members)
        limit = channel.rate_limit if channel is not None else None
        if channel is None or limit is None:
            for row in loose:
                self._send_rows(name, channel, [row])
            return
        for row in loose:
            if not limit.bundles(row.kind, row.severity):
                self._send_rows(name, channel, [row])
        self._send_limited(channel, limit, [r for r in loose if limit.bundles(r.kind, r.severity)])

    def _send_limited(self, channel: Channel, limit: RateLimit, rows: list[OutboxAlert]) -> None:
        """Send ``rows`` one by one while the limit allows; bundle the rest, or hold them."""
        if not rows:
            return
        when = self.now()
        since = when - limit.window
        with session_scope(self.engine) as session:
            room = limit.count - outbox.messages_sent_since(session, channel.name, since)
        if len(rows) <= room:
            for row in rows:
                self._send_rows(channel.name, channel, [row])
            return
        # Over the limit: the bundle takes every due row of the channel, not just this batch.
        with session_scope(self.engine) as session:
            more = outbox.claim_due(session, when, self.lease, BUNDLE_MAX, channel=channel.name,
                                    unbundled=True, ids=self.only)  # fmt: skip
        for row in more:
            if self._held_quiet(channel, row):
                continue
            if limit.bundles(row.kind, row.severity):
                rows.append(row)
            else:
                self._send_rows(channel.name, channel, [row])
        if room <= 0:
            self._hold_for_room(channel, rows, since, limit)
            return
        singles, grouped = rows[: room - 1], rows[room - 1 :]
        for row in singles:
            self._send_rows(channel.name, channel, [row])
        if len(grouped) == 1:
            self._send_rows(channel.name, channel, grouped)
            return
        bundle_id = uuid.uuid4().hex
        with session_scope(self.engine) as session:
            outbox.set_bundle(session, [row.id for row in grouped if row.id is not None], bundle_id)
        for row in grouped:
            row.bundle_id = bundle_id
        self._send_rows(channel.name, channel, grouped)

    def _hold_for_room(
        self, channel: Channel, rows: Sequence[OutboxAlert], since: datetime, limit: RateLimit
    ) -> None:
        """The limit is spent: defer ``rows`` until the oldest message leaves the window."""
        with session_scope(self.engine) as session:
            oldest = outbox.first_sent_since(session, channel.name, since)
            until = (oldest or self.now()) + limit.window
            for row in rows:
                assert row.id is not None
                outbox.defer(session, row.id, until)
        self.report.deferred += len(rows)

    def _resend_bundle(
        self, name: str, channel: Channel | None, bundle_id: str, members: list[OutboxAlert]
    ) -> None:
        """A bundle sent before (failed, or cut short by a crash) goes out again as one."""
        with session_scope(self.engine) as session:
            others = outbox.claim_bundle(session, bundle_id, self.now(), self.lease)
        members += [row for row in others if not self._held_quiet(channel, row)]
        self._send_rows(name, channel, members)

    def _held_quiet(self, channel: Channel | None, row: OutboxAlert) -> bool:
        """Defer the row to the end of its channel's quiet hours unless its severity bypasses
        them."""
        if channel is None or channel.quiet is None or not channel.quiet.holds(row.severity):
            return False
        until = channel.quiet.until(self.now(), self.zone)
        if until is None:
            return False
        assert row.id is not None
        with session_scope(self.engine) as session:
            outbox.defer(session, row.id, until)
        self.report.deferred += 1
        return True

    def _send_rows(self, name: str, channel: Channel | None, rows: Sequence[OutboxAlert]) -> None:
        """Send one row, or a bundle of rows as one message, then record the outcome."""
        if channel is None:
            result = SendOutcome(ok=False, error=f"channel {name!r} is not configured")
        elif len(rows) == 1:
            result = self.send(channel, rows[0].title, rows[0].body, TEXT)
        else:
            title, body, body_format = self._render_bundle(channel, rows)
            result = self.send(channel, title, body, body_format)
        self._record(name, channel, rows, result)

    def _render_bundle(self, channel: Channel, rows: Sequence[OutboxAlert]) -> tuple[str, str, str]:
        with Session(self.engine) as session:
            sections = group_rows(session, rows, self.topic_names)
        digest = render_digest(sections, len(rows), self.now(), self.zone,
                               body_format=channel.format)  # fmt: skip
        limit = channel.rate_limit.text if channel.rate_limit is not None else "reached"
        title = bundle_title(len(rows), [section.name for section in sections], limit)
        return title, digest.body, digest.body_format

    def _record(
        self, name: str, channel: Channel | None, rows: Sequence[OutboxAlert], result: SendOutcome
    ) -> None:
        """Mark the rows sent or failed and store the attempt, in one transaction."""
        when = self.now()
        services = result.services or (_summary(channel, name, result),)
        ids = [row.id for row in rows if row.id is not None]
        bundle_id = rows[0].bundle_id if len(rows) > 1 else None
        error = result.error or "send failed"
        jitter = random.uniform(0.0, JITTER)
        dead = False
        with session_scope(self.engine) as session:
            previous_success = outbox.last_sent_at(session, name)
            for row_id in ids:
                for service in services:
                    attempts.record(session, row_id, attempted_at=when, ok=service.ok,
                                    status=service.status, service=service.service,
                                    target=service.target, detail=service.detail,
                                    http_status=service.http_status,
                                    duration_ms=service.duration_ms,
                                    bundle_id=bundle_id)  # fmt: skip
                if result.ok:
                    outbox.mark_sent(session, row_id, when)
                else:
                    stored = outbox.mark_failed(session, row_id, error, when, self.max_attempts,
                                                jitter)  # fmt: skip
                    dead = dead or stored.status == outbox.DEAD
            self._channel_health(session, channel, result.ok, dead, previous_success, error, rows)
        if result.ok:
            self.report.sent += len(ids)
            self.report.bundles += len(ids) > 1
            return
        self.report.failed += len(ids)
        self.report.dead += len(ids) if dead else 0
        self.report.errors.append(error)

    def _channel_health(
        self,
        session: Session,
        channel: Channel | None,
        ok: bool,
        dead: bool,
        previous_success: datetime | None,
        error: str,
        rows: Sequence[OutboxAlert],
    ) -> None:
        """A note to the other channels when this one's alert went dead, or it came back."""
        if channel is None:
            return
        if ok:
            failing = f"[parley health] Channel failing: {channel.name} "
            if outbox.health_alerted_since(session, failing, previous_success):
                channel_health(session, self.channels.values(), self.zone, subject=channel,
                               state="recovered", streak=previous_success, failures=0,
                               error=None, now=self.now())  # fmt: skip
        elif dead:
            channel_health(session, self.channels.values(), self.zone, subject=channel,
                           state="failing", streak=previous_success,
                           failures=max(row.attempts for row in rows) + 1, error=error,
                           now=self.now())  # fmt: skip


def _summary(channel: Channel | None, name: str, result: SendOutcome) -> ServiceResult:
    """An attempt record for a send that gave no per-service detail (e.g. a test sender)."""
    return ServiceResult(
        service="-",
        target=channel.safe_url if channel is not None else name,
        ok=result.ok,
        status="success" if result.ok else "error",
        detail=result.error or "",
    )
