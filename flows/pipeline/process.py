"""Store a feed's fetch, match what is new or changed, queue the alerts — one transaction.

Because the matches and the outbox rows are written in the same transaction as the entries,
a crash loses nothing (the entries come back as new next cycle) and a re-run adds nothing
(unique keys on entries, matches and idempotency keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from parley.alerts.channels import Channel
from parley.alerts.render import AlertView, StoryContext, word_diff
from parley.alerts.routes import Subject, route_kind, targets
from parley.flows.ingest.model import (
    EntryDraft,
    FetchResult,
    FetchStatus,
    ParseResult,
    ParseStatus,
)
from parley.flows.ingest.parse import parse_feed
from parley.flows.pipeline.health import feed_health, feed_silence, silence
from parley.flows.pipeline.item_alerts import TopicAlert, queue_item_alerts
from parley.flows.pipeline.report import FeedOutcome, MatchRecord
from parley.flows.stories.assign import DEVELOPMENT, NEW, UPDATED, Decision, assign
from parley.flows.stories.facts import Facts, describe
from parley.flows.topics.match import TopicMatch, TopicMatcher
from parley.flows.topics.relevance import RelevanceMatcher
from parley.storage.db import session_scope
from parley.storage.entries import (
    EntryChange,
    Snapshot,
    apply_entries,
    recent_times,
    recent_times_of,
    watched_since,
    watched_since_of,
)
from parley.storage.feeds import feed_rows, record_fetch
from parley.storage.matches import match_exists, record_match
from parley.storage.models import Entry, Feed
from parley.storage.stories import (
    Opener,
    StoryState,
    latest_developments,
    set_corroborated,
    story_opener,
    story_outlets,
)


@dataclass(frozen=True)
class Pipeline:
    """What the stages after fetching need: where to store, what to match, whom to tell."""

    engine: Engine
    matcher: TopicMatcher | RelevanceMatcher
    channels: Sequence[Channel]
    zone: ZoneInfo
    queue_alerts: bool = True
    failure_threshold: int = 3
    corroboration: int = 3


def process_fetch(
    pipeline: Pipeline, result: FetchResult, now: datetime, parsed: ParseResult | None = None
) -> FeedOutcome:
    """Parse a fetch result (unless ``parsed`` is its parse) and store it with its matches and
    alerts."""
    status, error, drafts = _parse(result, parsed)
    with session_scope(pipeline.engine) as session:
        return _store(session, pipeline, result, status, error, drafts, now)


def process_unchanged(
    pipeline: Pipeline, results: Sequence[FetchResult], now: datetime
) -> list[FeedOutcome]:
    """Store answers that brought nothing new (NOT_MODIFIED) in one transaction.

    Such a fetch only updates its feed row and may queue a health alert, so one transaction
    for all of them saves a commit per feed, and what they read (the feed rows, the feeds'
    latest entry times) is read for all of them at once. If it fails, nothing of it is kept.
    """
    with session_scope(pipeline.engine) as session:
        ids = [result.feed_id for result in results]
        feeds = {feed.id: feed for feed in feed_rows(session, ids)}  # held: session.get finds them
        times = recent_times_of(session, ids)
        watched = watched_since_of(session, ids)
        outcomes = []
        for result in results:
            known = _Known(times.get(result.feed_id, []), watched.get(result.feed_id))
            outcomes.append(_store(session, pipeline, result, result.status, result.error, [],
                                   now, known))  # fmt: skip
        del feeds
        return outcomes


@dataclass(frozen=True)
class _Known:
    """A feed's latest entry times and first-watched time, read before its fetch is stored."""

    times: list[datetime]
    watched: datetime | None


def _store(
    session: Session,
    pipeline: Pipeline,
    result: FetchResult,
    status: FetchStatus | ParseStatus,
    error: str | None,
    drafts: list[EntryDraft],
    now: datetime,
    known: _Known | None = None,
) -> FeedOutcome:
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
    if failed:
        before = []
    else:
        before = known.times if known is not None else recent_times(session, outcome.feed_id)
    if drafts:
        changes = apply_entries(session, outcome.feed_id, drafts, now)
        outcome.new = sum(1 for c in changes if c.previous is None)
        outcome.changed = len(changes) - outcome.new
        # Oldest first, so the first report of a story opens it.
        for change in sorted(changes, key=lambda c: c.entry.published_at or now):
            outcome.matches.extend(match_entry(session, pipeline, feed, change, now))
    if pipeline.queue_alerts and not failed:
        # Nothing stored (a 304, or no entries): the feed's latest times are those read before.
        after = recent_times(session, outcome.feed_id) if drafts else before
        # When the feed was first watched only shortens a silence: not needed without one.
        watched = None
        if known is not None and not drafts:
            watched = known.watched
        elif silence(after, now) is not None:
            watched = watched_since(session, outcome.feed_id)
        feed_silence(session, pipeline, feed, before=before, after=after, watched=watched,
                     now=now)  # fmt: skip
    return outcome


def _parse(
    result: FetchResult, parsed: ParseResult | None
) -> tuple[FetchStatus | ParseStatus, str | None, list[EntryDraft]]:
    if result.status is not FetchStatus.OK:
        return result.status, result.error, []
    if parsed is None:
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
    """Match one new or edited entry; record each match and its story, route each topic, then
    queue ONE alert per channel naming every topic routed there (item_alerts.py)."""
    entry = change.entry
    assert entry.id is not None
    matched: list[tuple[TopicMatch, str]] = []
    alerts: list[TopicAlert] = []
    for hit in pipeline.matcher.match(entry.title, entry.summary):
        # An entry stored by this transaction has no match yet (nor a story).
        if not change.inserted and match_exists(session, entry.id, hit.topic_key, entry.revision):
            continue  # this revision was matched to this topic before
        decision = assign(session, topic_key=hit.topic_key, terms=tuple(hit.terms), feed=feed,
                          entry=entry, previous=change.previous, now=now,
                          inserted=change.inserted)  # fmt: skip
        story = None
        if decision.story is not None:
            story = _corroborate(session, decision.story, pipeline.corroboration)
        match_id = record_match(
            session,
            entry_id=entry.id,
            revision=entry.revision,
            topic_key=hit.topic_key,
            severity=hit.severity,
            kind=decision.kind,
            terms=hit.terms,
            field=hit.field,
            snippet=hit.snippet,
            now=now,
        )
        if match_id is None:
            continue  # a concurrent run recorded it first
        matched.append((hit, decision.kind))
        kind = route_kind(decision.kind)  # coverage too: only routes asking for it take it
        if pipeline.queue_alerts and kind is not None:
            subject = Subject(kind, hit.topic_key, hit.severity, feed.tier)
            chosen = targets(pipeline.channels, subject)
            if chosen:
                view = _view(session, feed, entry, hit, decision, story, change.previous)
                alerts.append(TopicAlert(view, match_id, chosen))
    queued = queue_item_alerts(session, feed, entry, alerts, pipeline.zone, now)
    return [_record(feed, entry, hit, kind, queued[hit.topic_key]) for hit, kind in matched]


def _corroborate(session: Session, story: StoryState, needed: int) -> StoryState:
    return set_corroborated(session, story, story.outlets >= needed)


def _view(
    session: Session,
    feed: Feed,
    entry: Entry,
    hit: TopicMatch,
    decision: Decision,
    story: StoryState | None,
    previous: Snapshot | None,
) -> AlertView:
    diff = _diff(previous, entry) if decision.kind == UPDATED else None
    context = None
    if story is not None:
        opened_here = (feed, entry) if decision.kind == NEW else None
        context = _story_context(session, story, opened_here)
    return AlertView(
        kind=decision.kind,
        topic_name=hit.topic_name,
        topic_key=hit.topic_key,
        severity=hit.severity,
        headline=entry.title,
        outlet=feed.name,
        published_at=entry.published_at,
        link=entry.link,
        terms=tuple(hit.terms),
        field=hit.field,
        snippet=hit.snippet,
        diff=diff,
        added=tuple(describe(decision.added)) if decision.kind == DEVELOPMENT else (),
        story=context,
    )


def _story_context(
    session: Session, story: StoryState, opened_here: tuple[Feed, Entry] | None = None
) -> StoryContext:
    """What the alert says of its story: a few indexed reads, however large the story.

    ``opened_here``: the story was just opened by this entry of this feed, its only member,
    so there is nothing to read.
    """
    opener: Opener | None
    if opened_here is not None:
        feed, entry = opened_here
        opener = Opener(entry.title, entry.link, feed.name)
        outlets: tuple[tuple[str, str | None], ...] = ((feed.name, entry.link),)
        developments = []
    else:
        opener = story_opener(session, story.id)
        outlets = tuple(story_outlets(session, story.id))
        developments = latest_developments(session, story.id, 2)
    previous = None
    if len(developments) == 2:  # the one before the latest development
        added, title = developments[1]
        previous = "; ".join(describe(Facts.from_json(added))) or title
    return StoryContext(
        first_seen_at=story.first_seen_at,
        opener_headline=opener.title if opener else story.headline,
        opener_outlet=opener.outlet if opener else "",
        opener_link=opener.link if opener else None,
        outlets=outlets,
        official=story.official,
        corroborated=story.corroborated,
        previous_development=previous,
    )


def _diff(previous: Snapshot | None, entry: Entry) -> str | None:
    if previous is None:
        return None
    old = f"{previous.title}\n{previous.summary}"
    return word_diff(old, f"{entry.title}\n{entry.summary}")


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
