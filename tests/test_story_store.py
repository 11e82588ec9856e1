"""Stories as a cycle writes them (statements, no ORM objects), on SQLite and PostgreSQL:
opening, joining, outlet counts and times, facts, corroboration, and the alert's story context
of a story opened by the alert's own entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from parley.flows.pipeline.process import _story_context
from parley.storage.db import session_scope
from parley.storage.models import Entry, Feed, Story, StoryEntry
from parley.storage.stories import (
    StoryState,
    add_to_story,
    open_story,
    set_corroborated,
    story_of_entry,
)

WHEN = datetime(2025, 3, 27, 11, 0, tzinfo=UTC)


def _entries(session: Session) -> tuple[list[Feed], list[Entry]]:
    """Two feeds; entries 0 and 1 of the first, 2 and 3 of the second."""
    feeds = [Feed(url=f"http://127.0.0.1/{n}.xml", name=f"Outlet {n}") for n in range(2)]
    session.add_all(feeds)
    session.flush()
    entries = []
    for n in range(4):
        feed_id = feeds[n // 2].id
        assert feed_id is not None
        entries.append(Entry(feed_id=feed_id, uid=f"u{n}", title=f"Title {n}",
                             link=f"https://example.org/{n}", content_hash=f"h{n}"))  # fmt: skip
    session.add_all(entries)
    session.flush()
    return feeds, entries


def _stored(session: Session, story_id: int) -> StoryState:
    return StoryState.of(session.get_one(Story, story_id, populate_existing=True))


def test_open_story_is_one_member_and_one_outlet(engine: Engine) -> None:
    with session_scope(engine) as session:
        _, entries = _entries(session)
        story = open_story(session, topic_key="t", entry=entries[0], official=True,
                           signature=["b", "a"], facts={"numbers": ["22", "175"]},
                           when=WHEN)  # fmt: skip
        assert story.id > 0
        assert (story.outlets, story.headline, story.opened_by) == (1, "Title 0", entries[0].id)
        assert story.signature == ["a", "b"] and story.facts == {"numbers": ["175", "22"]}
        assert _stored(session, story.id) == story
        members = session.exec(select(StoryEntry).where(StoryEntry.story_id == story.id)).all()
        assert [(m.entry_id, m.role, m.added) for m in members] == [
            (entries[0].id, "opened", {"numbers": ["175", "22"]})]  # fmt: skip
        assert story_of_entry(session, entries[0].id or 0, "t") == story
        assert story_of_entry(session, entries[0].id or 0, "other") is None


def test_joining_counts_outlets_and_times_in_the_database(engine: Engine) -> None:
    with session_scope(engine) as session:
        _, entries = _entries(session)
        opened = open_story(session, topic_key="t", entry=entries[0], official=False,
                            signature=[], facts={}, when=WHEN)  # fmt: skip
        same_feed = add_to_story(session, opened, entries[1], role="coverage", added={},
                                 when=WHEN + timedelta(hours=2))  # fmt: skip
        assert (same_feed.outlets, same_feed.last_seen_at) == (1, WHEN + timedelta(hours=2))
        # From the state as first read: counts and times are taken in by the statement.
        earlier = add_to_story(session, opened, entries[2], role="development",
                               added={"numbers": ["22"]}, when=WHEN - timedelta(hours=1),
                               facts={"numbers": ["22"]})  # fmt: skip
        assert earlier.outlets == 2
        assert earlier.first_seen_at == WHEN - timedelta(hours=1)
        assert earlier.last_seen_at == WHEN + timedelta(hours=2)
        assert earlier.facts == {"numbers": ["22"]}
        assert _stored(session, opened.id) == earlier


def test_an_entry_already_in_the_story_changes_only_the_facts(engine: Engine) -> None:
    with session_scope(engine) as session:
        _, entries = _entries(session)
        story = open_story(session, topic_key="t", entry=entries[0], official=False,
                           signature=[], facts={}, when=WHEN)  # fmt: skip
        again = add_to_story(session, story, entries[0], role="coverage", added={},
                             when=WHEN + timedelta(days=1))  # fmt: skip
        assert again == story == _stored(session, story.id)
        facts = add_to_story(session, story, entries[0], role="coverage", added={},
                             when=WHEN + timedelta(days=1), facts={"dates": ["03-27"]})  # fmt: skip
        assert facts.facts == {"dates": ["03-27"]}
        assert (facts.outlets, facts.last_seen_at) == (1, WHEN)
        assert _stored(session, story.id) == facts


def test_add_to_story_takes_an_orm_story(engine: Engine) -> None:
    with session_scope(engine) as session:
        _, entries = _entries(session)
        story_id = open_story(session, topic_key="t", entry=entries[0], official=False,
                              signature=[], facts={}, when=WHEN).id  # fmt: skip
        orm = session.get_one(Story, story_id)
        joined = add_to_story(session, orm, entries[2], role="coverage", added={}, when=WHEN)
        assert joined.outlets == 2 == _stored(session, story_id).outlets


def test_corroboration_is_written_only_when_it_changes(engine: Engine) -> None:
    with session_scope(engine) as session:
        _, entries = _entries(session)
        story = open_story(session, topic_key="t", entry=entries[0], official=False,
                           signature=[], facts={}, when=WHEN)  # fmt: skip
        assert set_corroborated(session, story, False) is story
        marked = set_corroborated(session, story, True)
        assert marked.corroborated and _stored(session, story.id).corroborated


def test_context_of_a_story_opened_by_the_alert_reads_nothing_and_says_the_same(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        feeds, entries = _entries(session)
        story = open_story(session, topic_key="t", entry=entries[2], official=True,
                           signature=[], facts={}, when=WHEN)  # fmt: skip
        read = _story_context(session, story)
        assert _story_context(session, story, (feeds[1], entries[2])) == read
        assert read.outlets == (("Outlet 1", "https://example.org/2"),)
        assert (read.opener_headline, read.opener_outlet) == ("Title 2", "Outlet 1")
