"""Stories: find the open ones of a topic, open a new one, add an entry to one."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from sqlmodel import Session, col, func, select

from .models import Entry, Feed, Story, StoryEntry
from .upsert import insert_ignore


def recent_stories(
    session: Session, topic_key: str, since: datetime, until: datetime
) -> list[Story]:
    """The topic's stories active between ``since`` and ``until``, most recent first."""
    query = (
        select(Story)
        .where(
            Story.topic_key == topic_key,
            col(Story.last_seen_at) >= since,
            col(Story.first_seen_at) <= until,
        )
        .order_by(col(Story.last_seen_at).desc())
    )
    return list(session.exec(query))


def story_of_entry(session: Session, entry_id: int, topic_key: str) -> Story | None:
    query = (
        select(Story)
        .join(StoryEntry, col(StoryEntry.story_id) == Story.id)
        .where(StoryEntry.entry_id == entry_id, Story.topic_key == topic_key)
    )
    return session.exec(query).first()


def open_story(
    session: Session,
    *,
    topic_key: str,
    entry: Entry,
    official: bool,
    signature: Sequence[str],
    facts: Mapping[str, Sequence[str]],
    when: datetime,
) -> Story:
    assert entry.id is not None
    story = Story(
        topic_key=topic_key,
        headline=entry.title,
        opened_by=entry.id,
        first_seen_at=when,
        last_seen_at=when,
        outlets=0,  # the opener's feed is counted as it joins
        official=official,
        signature=sorted(signature),
        facts={k: sorted(v) for k, v in facts.items()},
    )
    session.add(story)
    session.flush()
    assert story.id is not None
    add_to_story(session, story, entry, role="opened", added=facts, when=when)
    return story


def add_to_story(
    session: Session,
    story: Story,
    entry: Entry,
    *,
    role: str,
    added: Mapping[str, Sequence[str]],
    when: datetime,
) -> bool:
    """Record the entry in the story (``when`` it was published); False if already there."""
    assert story.id is not None
    assert entry.id is not None
    new_outlet = not has_outlet(session, story.id, entry.feed_id)
    values = {
        "story_id": story.id,
        "entry_id": entry.id,
        "feed_id": entry.feed_id,
        "role": role,
        "added": {k: sorted(v) for k, v in added.items() if v},
        "created_at": when,
    }
    if insert_ignore(session, StoryEntry, values, ["story_id", "entry_id"]) is None:
        return False
    story.last_seen_at = max(story.last_seen_at, when)
    story.first_seen_at = min(story.first_seen_at, when)
    story.outlets += int(new_outlet)
    session.add(story)
    return True


def has_outlet(session: Session, story_id: int, feed_id: int) -> bool:
    """Whether the feed already reported the story (one index lookup)."""
    query = select(StoryEntry.id).where(
        StoryEntry.story_id == story_id, StoryEntry.feed_id == feed_id
    )
    return session.exec(query.limit(1)).first() is not None


def story_opener(session: Session, story_id: int) -> tuple[Entry, Feed] | None:
    """The entry that opened the story, with its feed."""
    query = (
        select(Entry, Feed)
        .join(StoryEntry, col(StoryEntry.entry_id) == Entry.id)
        .join(Feed, col(Feed.id) == StoryEntry.feed_id)
        .where(StoryEntry.story_id == story_id, StoryEntry.role == "opened")
        .order_by(col(StoryEntry.created_at), col(StoryEntry.id))
        .limit(1)
    )
    row = session.exec(query).first()
    return (row[0], row[1]) if row is not None else None


def story_outlets(session: Session, story_id: int) -> list[tuple[str, str | None]]:
    """(outlet name, link) once per outlet, in the order they first reported the story; the
    link is that of the outlet's first report.

    Reads one row per feed of the story (its first member), not every member.
    """
    order = (col(StoryEntry.created_at), col(StoryEntry.id))
    first = (
        select(
            col(StoryEntry.id).label("member_id"),
            func.row_number()
            .over(partition_by=col(StoryEntry.feed_id), order_by=order)
            .label("rank"),
        )
        .where(StoryEntry.story_id == story_id)
        .subquery()
    )
    query = (
        select(Feed.name, Entry.link)
        .select_from(StoryEntry)
        .join(first, first.c.member_id == StoryEntry.id)
        .join(Entry, col(Entry.id) == StoryEntry.entry_id)
        .join(Feed, col(Feed.id) == StoryEntry.feed_id)
        .where(first.c.rank == 1)
        .order_by(*order)
    )
    outlets: dict[str, str | None] = {}
    for name, link in session.exec(query):
        outlets.setdefault(name, link)  # two feeds of one name: one outlet
    return list(outlets.items())


def latest_developments(
    session: Session, story_id: int, count: int
) -> list[tuple[StoryEntry, Entry]]:
    """The story's last ``count`` developments, newest first (by publication time)."""
    query = (
        select(StoryEntry, Entry)
        .join(Entry, col(Entry.id) == StoryEntry.entry_id)
        .where(StoryEntry.story_id == story_id, StoryEntry.role == "development")
        .order_by(col(StoryEntry.created_at).desc(), col(StoryEntry.id).desc())
        .limit(count)
    )
    return [(se, e) for se, e in session.exec(query)]


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


# --- read-only queries for reports ------------------------------------------------------


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
