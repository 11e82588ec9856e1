"""Read-only story queries for reports (timeline, entry view, cycle report), through the ORM.

The queries a cycle runs for every matching item are in ``stories.py``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from sqlmodel import Session, col, select

from .models import Entry, Feed, Story, StoryEntry


def story_members(session: Session, story_id: int) -> list[tuple[StoryEntry, Entry, Feed]]:
    """The story's entries with their feeds, in the order they joined."""
    query = (
        select(StoryEntry, Entry, Feed)
        .join(Entry, col(Entry.id) == StoryEntry.entry_id)
        .join(Feed, col(Feed.id) == StoryEntry.feed_id)
        .where(StoryEntry.story_id == story_id)
        .order_by(col(StoryEntry.created_at), col(StoryEntry.id))
    )
    return [(se, e, f) for se, e, f in session.exec(query)]


def stories_of_topic(
    session: Session, topic_key: str, since: datetime | None, until: datetime | None
) -> list[Story]:
    """The topic's stories active in [``since``, ``until``), oldest first (open ends: None)."""
    query = select(Story).where(Story.topic_key == topic_key)
    if since is not None:
        query = query.where(col(Story.last_seen_at) >= since)
    if until is not None:
        query = query.where(col(Story.first_seen_at) < until)
    return list(session.exec(query.order_by(col(Story.first_seen_at), col(Story.id))))


@dataclass(frozen=True)
class DayCount:
    day: date
    items: int  # reports that joined one of the topic's stories
    stories: int  # stories opened
    developments: int


def daily_counts(
    session: Session,
    topic_key: str,
    since: datetime | None,
    until: datetime | None,
    zone: tzinfo,
) -> list[DayCount]:
    """Per day in ``zone`` (days with something only, in order): the topic's reports that
    joined a story, the stories opened and the developments, by publication time."""
    query = (
        select(StoryEntry.created_at, StoryEntry.role)
        .join(Story, col(Story.id) == StoryEntry.story_id)
        .where(Story.topic_key == topic_key)
    )
    if since is not None:
        query = query.where(col(StoryEntry.created_at) >= since)
    if until is not None:
        query = query.where(col(StoryEntry.created_at) < until)
    days: dict[date, Counter[str]] = defaultdict(Counter)
    for when, role in session.exec(query):
        days[when.astimezone(zone).date()][role] += 1
    return [
        DayCount(day, sum(roles.values()), roles["opened"], roles["development"])
        for day, roles in sorted(days.items())
    ]


def memberships(session: Session, entry_id: int) -> list[tuple[StoryEntry, Story]]:
    """Every story the entry belongs to, with its role there, by topic."""
    query = (
        select(StoryEntry, Story)
        .join(Story, col(Story.id) == StoryEntry.story_id)
        .where(StoryEntry.entry_id == entry_id)
        .order_by(col(Story.topic_key), col(Story.id))
    )
    return [(se, story) for se, story in session.exec(query)]


def stories_of_entries(session: Session, entry_ids: Sequence[int]) -> list[tuple[int, Story]]:
    """(entry id, story) for every story that holds one of ``entry_ids``.

    Each story is read once, however many of the entries it holds.
    """
    wanted = sorted(set(entry_ids))
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(wanted), 500):  # bounded IN lists
        query = select(StoryEntry.entry_id, StoryEntry.story_id).where(
            col(StoryEntry.entry_id).in_(wanted[start : start + 500])
        )
        pairs += [(entry_id, story_id) for entry_id, story_id in session.exec(query)]
    ids = sorted({story_id for _, story_id in pairs})
    stories: dict[int | None, Story] = {}
    for start in range(0, len(ids), 500):
        query_stories = select(Story).where(col(Story.id).in_(ids[start : start + 500]))
        stories.update((story.id, story) for story in session.exec(query_stories))
    return [(entry_id, stories[story_id]) for entry_id, story_id in pairs]
