"""Store a feed's fetch, match what is new or changed, queue the alerts — one transaction.

Because the matches and the outbox rows are written in the same transaction as the entries,
a crash loses nothing (the entries come back as new next cycle) and a re-run adds nothing
(unique keys on entries, matches and idempotency keys).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from parley.alerts.channels import Channel
from parley.alerts.render import AlertView, render_alert, word_diff
from parley.flows.ingest.model import EntryDraft, FetchResult, FetchStatus, ParseStatus
from parley.flows.ingest.parse import parse_feed
from parley.flows.pipeline.health import feed_health
from parley.flows.pipeline.report import FeedOutcome, MatchRecord
from parley.flows.topics.match import TopicMatch, TopicMatcher
from parley.storage import outbox
from parley.storage.db import session_scope
from parley.storage.entries import EntryChange, Snapshot, apply_entries
from parley.storage.feeds import record_fetch
from parley.storage.matches import matched_before, record_match
from parley.storage.models import Entry, Feed


@dataclass(frozen=True)
class Pipeline:
    """What the stages after fetching need: where to store, what to match, whom to tell."""

    engine: Engine
    matcher: TopicMatcher
    channels: Sequence[Channel]
    zone: ZoneInfo
    queue_alerts: bool = True
    failure_threshold: int = 3


def process_fetch(pipeline: Pipeline, result: FetchResult, now: datetime) -> FeedOutcome:
    """Parse a fetch result and store it with its matches and alerts."""
    status, error, drafts = _parse(result)
    with session_scope(pipeline.engine) as session:
        feed = session.get_one(Feed, result.feed_id)
        outcome = FeedOutcome(feed.id or 0, feed.name, feed.url, status.value, error)
        failed = status not in (FetchStatus.OK, FetchStatus.NOT_MODIFIED, ParseStatus.WARNING)
        failures_before, failing_since = feed.failures_in_row, feed.failing_since
        retry_until = now + timedelta(seconds=result.retry_after) if result.retry_after else None
        record_fetch(
            session,
            feed,
            status=status.value,
            failed=failed,
            now=now,
            error=error,
            etag=result.validators.etag,
            last_modified=result.validators.last_modified,
            body_hash=result.validators.body_hash,
            retry_after_until=retry_until,
        )
        if pipeline.queue_alerts:
            feed_health(session, pipeline, feed, failures_before=failures_before,
                        failing_since=failing_since, now=now)  # fmt: skip
        if drafts:
            changes = apply_entries(session, outcome.feed_id, drafts, now)
            outcome.new = sum(1 for c in changes if c.previous is None)
            outcome.changed = len(changes) - outcome.new
            for change in changes:
                outcome.matches.extend(match_entry(session, pipeline, feed, change, now))
    return outcome


def _parse(result: FetchResult) -> tuple[FetchStatus | ParseStatus, str | None, list[EntryDraft]]:
    if result.status is not FetchStatus.OK:
        return result.status, result.error, []
    parsed = parse_feed(result)
    if parsed.status is ParseStatus.NOT_A_FEED:
        return FetchStatus.NOT_A_FEED, parsed.message, []
    if parsed.status is ParseStatus.PARSE_ERROR:
        return FetchStatus.PARSE_ERROR, parsed.message, []
    if parsed.status is ParseStatus.WARNING:
        return ParseStatus.WARNING, parsed.message, parsed.entries
    return FetchStatus.OK, None, parsed.entries


def match_entry(
    session: Session, pipeline: Pipeline, feed: Feed, change: EntryChange, now: datetime
) -> list[MatchRecord]:
    """Match one new or edited entry; record each match and queue its alerts."""
    entry = change.entry
    assert entry.id is not None
    records = []
    for hit in pipeline.matcher.match(entry.title, entry.summary):
        edited = change.previous is not None and matched_before(
            session, entry.id, hit.topic_key, entry.revision
        )
        kind = "updated" if edited else "new"
        match_id = record_match(
            session,
            entry_id=entry.id,
            revision=entry.revision,
            topic_key=hit.topic_key,
            severity=hit.severity,
            kind=kind,
            terms=hit.terms,
            field=hit.field,
            snippet=hit.snippet,
            now=now,
        )
        if match_id is None:
            continue  # this revision was matched to this topic before
        queued = 0
        if pipeline.queue_alerts:
            diff = _diff(change.previous, entry) if edited else None
            queued = _enqueue(session, pipeline, feed, entry, hit, kind, diff, match_id, now)
        records.append(_record(feed, entry, hit, kind, queued))
    return records


def _diff(previous: Snapshot | None, entry: Entry) -> str | None:
    if previous is None:
        return None
    old = f"{previous.title}\n{previous.summary}"
    return word_diff(old, f"{entry.title}\n{entry.summary}")


def idempotency_key(feed: Feed, entry: Entry, topic_key: str, channel: str) -> str:
    """The same alert for the same channel always gets the same key."""
    parts = (feed.url, entry.uid, str(entry.revision), topic_key, channel)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _enqueue(
    session: Session,
    pipeline: Pipeline,
    feed: Feed,
    entry: Entry,
    hit: TopicMatch,
    kind: str,
    diff: str | None,
    match_id: int,
    now: datetime,
) -> int:
    view = AlertView(
        kind=kind,
        topic_name=hit.topic_name,
        topic_key=hit.topic_key,
        severity=hit.severity,
        headline=entry.title,
        outlet=feed.name,
        published_at=entry.published_at,
        link=entry.link,
        terms=hit.terms,
        field=hit.field,
        snippet=hit.snippet,
        diff=diff,
    )
    rendered = render_alert(view, pipeline.zone)
    queued = 0
    for channel in pipeline.channels:
        if not channel.wants(hit.topic_key, hit.severity):
            continue
        row_id = outbox.enqueue(
            session,
            key=idempotency_key(feed, entry, hit.topic_key, channel.name),
            channel=channel.name,
            kind=kind,
            topic_key=hit.topic_key,
            title=rendered.title,
            body=rendered.body,
            now=now,
            match_id=match_id,
        )
        queued += row_id is not None
    return queued


def _record(feed: Feed, entry: Entry, hit: TopicMatch, kind: str, queued: int) -> MatchRecord:
    return MatchRecord(
        entry_id=entry.id or 0,
        feed_name=feed.name,
        topic_key=hit.topic_key,
        topic_name=hit.topic_name,
        kind=kind,
        headline=entry.title,
        link=entry.link,
        terms=tuple(hit.terms),
        field=hit.field,
        snippet=hit.snippet,
        published_at=entry.published_at,
        alerts_queued=queued,
    )
