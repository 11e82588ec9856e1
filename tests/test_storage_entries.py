"""Entries: one transaction per feed returns only new and changed entries, on both databases."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from parley.storage.db import session_scope
from parley.storage.entries import (
    apply_entries,
    recent_times,
    recent_times_of,
    revisions,
    watched_since,
    watched_since_of,
)
from parley.storage.models import Entry, Feed

NOW = datetime(2025, 3, 25, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Draft:
    uid: str
    title: str
    summary: str = "text"
    guid: str | None = None
    link: str | None = None
    author: str | None = None
    published_at: datetime | None = NOW
    updated_at: datetime | None = None
    content_hash: str = ""

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", f"h:{self.title}|{self.summary}")


def _feed(engine: Engine) -> int:
    with session_scope(engine) as session:
        feed = Feed(url="http://127.0.0.1/feed.xml", name="Test feed")
        session.add(feed)
        session.flush()
        assert feed.id is not None
        return feed.id


def _apply(engine: Engine, feed_id: int, drafts: list[Draft], now: datetime = NOW):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return apply_entries(session, feed_id, drafts, now)


def test_first_write_returns_every_entry_as_new(engine: Engine) -> None:
    feed_id = _feed(engine)
    changes = _apply(engine, feed_id, [Draft("a", "A"), Draft("b", "B")])
    assert [(c.kind, c.entry.uid) for c in changes] == [("new", "a"), ("new", "b")]
    assert all(c.entry.id for c in changes)


def test_unchanged_entries_return_nothing(engine: Engine) -> None:
    feed_id = _feed(engine)
    _apply(engine, feed_id, [Draft("a", "A"), Draft("b", "B")])
    assert _apply(engine, feed_id, [Draft("a", "A"), Draft("b", "B")]) == []


def test_edit_returns_changed_entry_with_previous_text(engine: Engine) -> None:
    feed_id = _feed(engine)
    _apply(engine, feed_id, [Draft("a", "Talks set for Monday")])
    later = NOW + timedelta(hours=1)
    changes = _apply(engine, feed_id, [Draft("a", "Talks moved to Tuesday")], later)
    assert len(changes) == 1
    change = changes[0]
    assert change.kind == "changed"
    assert change.previous is not None
    assert change.previous.title == "Talks set for Monday"
    assert change.entry.title == "Talks moved to Tuesday"
    assert change.entry.revision == 2
    with session_scope(engine) as session:
        stored = session.exec(select(Entry)).one()
        assert stored.title == "Talks moved to Tuesday"
        assert stored.changed_at == later
        assert stored.first_seen_at == NOW
        history = revisions(session, stored.id or 0)
    assert [(r.revision, r.title) for r in history] == [
        (1, "Talks set for Monday"),
        (2, "Talks moved to Tuesday"),
    ]


def test_duplicate_uids_in_one_feed_are_stored_once(engine: Engine) -> None:
    feed_id = _feed(engine)
    changes = _apply(engine, feed_id, [Draft("a", "A"), Draft("a", "A again")])
    assert len(changes) == 1
    with session_scope(engine) as session:
        assert len(session.exec(select(Entry)).all()) == 1


def test_times_come_back_as_aware_utc(engine: Engine) -> None:
    feed_id = _feed(engine)
    kyiv = datetime(2025, 3, 25, 16, 30, tzinfo=UTC).astimezone()
    _apply(engine, feed_id, [replace(Draft("a", "A"), published_at=kyiv)])
    with session_scope(engine) as session:
        stored = session.exec(select(Entry)).one()
    assert stored.published_at == datetime(2025, 3, 25, 16, 30, tzinfo=UTC)
    assert stored.published_at is not None and stored.published_at.utcoffset() == timedelta(0)


def test_naive_times_are_refused(engine: Engine) -> None:
    feed_id = _feed(engine)
    with pytest.raises(Exception, match="naive datetime"):
        _apply(engine, feed_id, [replace(Draft("a", "A"), published_at=datetime(2025, 3, 1))])


def test_a_failed_transaction_keeps_what_was_stored(engine: Engine) -> None:
    feed_id = _feed(engine)
    _apply(engine, feed_id, [Draft("a", "A")])
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        apply_entries(session, feed_id, [Draft("b", "B")], NOW)
        raise RuntimeError("crash mid-feed")
    with session_scope(engine) as session:
        assert [e.uid for e in session.exec(select(Entry))] == ["a"]
    assert [c.entry.uid for c in _apply(engine, feed_id, [Draft("a", "A"), Draft("b", "B")])] == [
        "b"
    ]


def test_latest_times_of_many_feeds_read_at_once_are_those_read_one_by_one(
    engine: Engine,
) -> None:
    ids = []
    for number, count in enumerate((0, 3, 25)):  # none, fewer than the limit, more
        with session_scope(engine) as session:
            feed = Feed(url=f"http://127.0.0.1/feed-{number}.xml", name=f"Feed {number}")
            session.add(feed)
            session.flush()
            assert feed.id is not None
            ids.append(feed.id)
        drafts = [Draft(f"{number}-{i}", f"T{i}", published_at=None if i % 4 == 0 else
                        NOW - timedelta(hours=i)) for i in range(count)]  # fmt: skip
        _apply(engine, ids[-1], drafts, NOW + timedelta(minutes=number))
    with session_scope(engine) as session:
        times, watched = recent_times_of(session, ids), watched_since_of(session, ids)
        for feed_id in ids:
            assert times.get(feed_id, []) == recent_times(session, feed_id)
            assert watched.get(feed_id) == watched_since(session, feed_id)
    assert ids[0] not in times and len(times[ids[1]]) == 3 and len(times[ids[2]]) == 20
    assert all(t.tzinfo is not None for t in times[ids[2]])
