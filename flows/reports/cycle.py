"""What moved in a cycle, per topic: the stories its matches touched and in which roles."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from parley.flows.pipeline.report import MatchRecord
from parley.storage.story_reports import stories_of_entries

# A match's kind → the role column it counts in ("none" — a quiet re-match — moves nothing).
ROLES = {"new": "opened", "coverage": "coverage", "development": "development",
         "updated": "updated"}  # fmt: skip
ROLE_ORDER = ("opened", "coverage", "development", "updated")


@dataclass
class StoryMove:
    story_id: int
    headline: str
    first_seen_at: datetime
    outlets: int
    official: bool
    corroborated: bool
    roles: Counter[str] = field(default_factory=Counter)


@dataclass
class TopicMove:
    topic_key: str
    topic_name: str
    stories: list[StoryMove] = field(default_factory=list)
    unfiled: Counter[str] = field(default_factory=Counter)  # matches in no story (none so far)


def topic_moves(session: Session, matches: Sequence[MatchRecord]) -> list[TopicMove]:
    """Per topic with a new, coverage, development or updated match: its stories touched."""
    moving = [m for m in matches if m.kind in ROLES]
    found = stories_of_entries(session, [m.entry_id for m in moving])
    story_of = {(entry_id, story.topic_key): story for entry_id, story in found}
    topics: dict[str, TopicMove] = {}
    stories: dict[int, StoryMove] = {}
    for m in moving:
        topic = topics.setdefault(m.topic_key, TopicMove(m.topic_key, m.topic_name))
        story = story_of.get((m.entry_id, m.topic_key))
        if story is None or story.id is None:
            topic.unfiled[ROLES[m.kind]] += 1
            continue
        if story.id not in stories:
            stories[story.id] = StoryMove(story.id, story.headline, story.first_seen_at,
                                          story.outlets, story.official, story.corroborated)  # fmt: skip
            topic.stories.append(stories[story.id])
        stories[story.id].roles[ROLES[m.kind]] += 1
    for topic in topics.values():
        topic.stories.sort(key=lambda s: (s.first_seen_at, s.story_id))
    return sorted(topics.values(), key=lambda t: t.topic_key)
