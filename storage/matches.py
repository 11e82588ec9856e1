"""Topic matches: recorded once per (entry, topic, revision)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, func, select

from .models import Entry, Feed, Match
from .upsert import insert_ignore


def record_match(
    session: Session,
    *,
    entry_id: int,
    revision: int,
    topic_key: str,
    severity: str,
    kind: str,
    terms: Sequence[str],
    field: str,
    snippet: str,
    now: datetime,
) -> int | None:
    """Insert a match; None when this revision was already matched to this topic."""
    values = {
        "entry_id": entry_id,
        "revision": revision,
        "topic_key": topic_key,
        "severity": severity,
        "kind": kind,
        "terms": list(terms),
        "field": field,
        "snippet": snippet,
        "created_at": now,
    }
    return insert_ignore(session, Match, values, ["entry_id", "topic_key", "revision"])


def match_exists(session: Session, entry_id: int, topic_key: str, revision: int) -> bool:
    """Whether this revision of the entry was matched to the topic already."""
    query = select(func.count()).where(
        Match.entry_id == entry_id, Match.topic_key == topic_key, Match.revision == revision
    )
    return session.exec(query).one() > 0


def entries_between(
    session: Session, since: datetime | None, until: datetime | None
) -> list[tuple[Entry, Feed]]:
    """Stored entries (latest text) published — or first seen — in [since, until)."""
    when = func.coalesce(Entry.published_at, Entry.first_seen_at)
    query = select(Entry, Feed).join(Feed, col(Feed.id) == Entry.feed_id)
    if since is not None:
        query = query.where(when >= since)
    if until is not None:
        query = query.where(when < until)
    return [(entry, feed) for entry, feed in session.exec(query.order_by(when, col(Entry.id)))]
