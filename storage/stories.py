"""Stories: find the open ones of a topic, open a new one, add an entry to one.

The functions a cycle calls for every matching item (finding, opening and joining stories,
and what an alert says of its story) run prebuilt statements on the session's connection and
return plain values (:class:`StoryState`), not ORM objects: each costs one round trip, with no
statement building, identity map or flush. The report queries are in ``story_reports.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, case, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, func

from .models import Entry, Feed, Story, StoryEntry
from .upsert import insert_ignore


@dataclass(frozen=True)
class StoryState:
    """A story as stored (the columns of :class:`Story`), read or written by this module."""

    id: int
    topic_key: str
    headline: str
    opened_by: int
    first_seen_at: datetime
    last_seen_at: datetime
    outlets: int
    official: bool
    corroborated: bool
    signature: list[str]
    facts: dict[str, list[str]]

    @classmethod
    def of(cls, story: Story | StoryState) -> StoryState:
        """``story`` as a StoryState (an ORM Story's current attribute values)."""
        if isinstance(story, StoryState):
            return story
        assert story.id is not None
        return cls(story.id, story.topic_key, story.headline, story.opened_by,
                   story.first_seen_at, story.last_seen_at, story.outlets, story.official,
                   story.corroborated, story.signature, story.facts)  # fmt: skip


class MemberLike(Protocol):
    """What joining a story needs of an entry (an Entry, or an Entry just written)."""

    @property
    def id(self) -> int | None: ...

    @property
    def feed_id(self) -> int: ...

    @property
    def title(self) -> str: ...


_STORY = Story.__table__  # type: ignore[attr-defined]
_MEMBER = StoryEntry.__table__  # type: ignore[attr-defined]
_ENTRY = Entry.__table__  # type: ignore[attr-defined]
_FEED = Feed.__table__  # type: ignore[attr-defined]
_STORY_FIELDS = tuple(StoryState.__dataclass_fields__)
_STORY_COLUMNS = [_STORY.c[name] for name in _STORY_FIELDS]

_RECENT = (
    core_select(*_STORY_COLUMNS)
    .where(
        _STORY.c.topic_key == bindparam("topic_key"),
        _STORY.c.last_seen_at >= bindparam("since"),
        _STORY.c.first_seen_at <= bindparam("until"),
    )
    .order_by(_STORY.c.last_seen_at.desc())
)
_OF_ENTRY = (
    core_select(*_STORY_COLUMNS)
    .join(_MEMBER, _MEMBER.c.story_id == _STORY.c.id)
    .where(
        _MEMBER.c.entry_id == bindparam("entry_id"), _STORY.c.topic_key == bindparam("topic_key")
    )
)
_OPEN = insert(_STORY).returning(_STORY.c.id)
_HAS_OUTLET = (
    core_select(_MEMBER.c.id)
    .where(_MEMBER.c.story_id == bindparam("story_id"), _MEMBER.c.feed_id == bindparam("feed_id"))
    .limit(1)
)
_WHEN = bindparam("when", type_=_STORY.c.first_seen_at.type)
_NEW_FACTS = bindparam("new_facts", type_=_STORY.c.facts.type)
# A member joined: the story's times take in ``when`` and a new feed adds an outlet, both in
# the statement (so what the caller read may be older), which returns the story as stored.
_JOINED = {
    "first_seen_at": case((_STORY.c.first_seen_at > _WHEN, _WHEN), else_=_STORY.c.first_seen_at),
    "last_seen_at": case((_STORY.c.last_seen_at < _WHEN, _WHEN), else_=_STORY.c.last_seen_at),
    "outlets": _STORY.c.outlets + bindparam("new_outlet", type_=_STORY.c.outlets.type),
}
_BY_ID = update(_STORY).where(_STORY.c.id == bindparam("story_id"))
_JOIN = _BY_ID.values(**_JOINED).returning(*_STORY_COLUMNS)
_JOIN_FACTS = _BY_ID.values(**_JOINED, facts=_NEW_FACTS).returning(*_STORY_COLUMNS)
_FACTS = _BY_ID.values(facts=_NEW_FACTS).returning(*_STORY_COLUMNS)
_CORROBORATED = _BY_ID.values(
    corroborated=bindparam("new_corroborated", type_=_STORY.c.corroborated.type)
)


def _story(row: Any) -> StoryState:
    return StoryState(*row)


def _connection(session: Session) -> Connection:
    return session.connection()


def recent_stories(
    session: Session, topic_key: str, since: datetime, until: datetime
) -> list[StoryState]:
    """The topic's stories active between ``since`` and ``until``, most recent first."""
    params = {"topic_key": topic_key, "since": since, "until": until}
    return [_story(row) for row in _connection(session).execute(_RECENT, params)]


def story_of_entry(session: Session, entry_id: int, topic_key: str) -> StoryState | None:
    """The story of ``topic_key`` that holds the entry, if any."""
    params = {"entry_id": entry_id, "topic_key": topic_key}
    row = _connection(session).execute(_OF_ENTRY, params).first()
    return _story(row) if row is not None else None


def open_story(
    session: Session,
    *,
    topic_key: str,
    entry: MemberLike,
    official: bool,
    signature: Sequence[str],
    facts: Mapping[str, Sequence[str]],
    when: datetime,
) -> StoryState:
    """A new story with ``entry`` as its opener (its only member, its feed the one outlet)."""
    assert entry.id is not None
    story = StoryState(
        id=0,  # given by the INSERT
        topic_key=topic_key,
        headline=entry.title,
        opened_by=entry.id,
        first_seen_at=when,
        last_seen_at=when,
        outlets=1,
        official=official,
        corroborated=False,
        signature=sorted(signature),
        facts={k: sorted(v) for k, v in facts.items()},
    )
    values = {name: getattr(story, name) for name in _STORY_FIELDS if name != "id"}
    story_id = _connection(session).execute(_OPEN, values).scalar_one()
    _add_member(session, story_id, entry, "opened", facts, when)
    return replace(story, id=story_id)


def add_to_story(
    session: Session,
    story: Story | StoryState,
    entry: MemberLike,
    *,
    role: str,
    added: Mapping[str, Sequence[str]],
    when: datetime,
    facts: Mapping[str, list[str]] | None = None,
) -> StoryState:
    """Record the entry in the story (``when`` it was published), and in the story its times,
    its outlet count and ``facts`` when given; return the story as stored now.

    An entry already in the story (a concurrent run added it) changes only the facts.
    """
    current = StoryState.of(story)
    assert entry.id is not None
    new_outlet = not has_outlet(session, current.id, entry.feed_id)
    params: dict[str, Any] = {"story_id": current.id, "new_facts": facts}
    if _add_member(session, current.id, entry, role, added, when):
        params |= {"when": when, "new_outlet": int(new_outlet)}
        statement = _JOIN if facts is None else _JOIN_FACTS
    elif facts is not None:
        statement = _FACTS
    else:
        return current
    return _story(_connection(session).execute(statement, params).one())


def _add_member(
    session: Session,
    story_id: int,
    entry: MemberLike,
    role: str,
    added: Mapping[str, Sequence[str]],
    when: datetime,
) -> bool:
    values = {
        "story_id": story_id,
        "entry_id": entry.id,
        "feed_id": entry.feed_id,
        "role": role,
        "added": {k: sorted(v) for k, v in added.items() if v},
        "created_at": when,
    }
    return insert_ignore(session, StoryEntry, values, ["story_id", "entry_id"]) is not None


def set_corroborated(session: Session, story: StoryState, corroborated: bool) -> StoryState:
    """Store whether the story counts as corroborated (no write when that does not change)."""
    if story.corroborated == corroborated:
        return story
    params = {"story_id": story.id, "new_corroborated": corroborated}
    _connection(session).execute(_CORROBORATED, params)
    return replace(story, corroborated=corroborated)


def has_outlet(session: Session, story_id: int, feed_id: int) -> bool:
    """Whether the feed already reported the story (one index lookup)."""
    params = {"story_id": story_id, "feed_id": feed_id}
    return _connection(session).execute(_HAS_OUTLET, params).first() is not None


_OPENER = (
    core_select(_ENTRY.c.title, _ENTRY.c.link, _FEED.c.name)
    .select_from(_MEMBER)
    .join(_ENTRY, _ENTRY.c.id == _MEMBER.c.entry_id)
    .join(_FEED, _FEED.c.id == _MEMBER.c.feed_id)
    .where(_MEMBER.c.story_id == bindparam("story_id"), _MEMBER.c.role == "opened")
    .order_by(_MEMBER.c.created_at, _MEMBER.c.id)
    .limit(1)
)


@dataclass(frozen=True)
class Opener:
    """The report that opened a story: its headline and link, and its outlet."""

    title: str
    link: str | None
    outlet: str


def story_opener(session: Session, story_id: int) -> Opener | None:
    """The entry that opened the story, with its outlet."""
    row = _connection(session).execute(_OPENER, {"story_id": story_id}).first()
    return Opener(*row) if row is not None else None


def _outlets_statement() -> Any:
    order = (_MEMBER.c.created_at, _MEMBER.c.id)
    first = (
        core_select(
            _MEMBER.c.id.label("member_id"),
            func.row_number().over(partition_by=_MEMBER.c.feed_id, order_by=order).label("rank"),
        )
        .where(_MEMBER.c.story_id == bindparam("story_id"))
        .subquery()
    )
    return (
        core_select(_FEED.c.name, _ENTRY.c.link)
        .select_from(_MEMBER)
        .join(first, first.c.member_id == _MEMBER.c.id)
        .join(_ENTRY, _ENTRY.c.id == _MEMBER.c.entry_id)
        .join(_FEED, _FEED.c.id == _MEMBER.c.feed_id)
        .where(first.c.rank == 1)
        .order_by(*order)
    )


_OUTLETS = _outlets_statement()


def story_outlets(session: Session, story_id: int) -> list[tuple[str, str | None]]:
    """(outlet name, link) once per outlet, in the order they first reported the story; the
    link is that of the outlet's first report.

    Reads one row per feed of the story (its first member), not every member.
    """
    outlets: dict[str, str | None] = {}
    for name, link in _connection(session).execute(_OUTLETS, {"story_id": story_id}):
        outlets.setdefault(name, link)  # two feeds of one name: one outlet
    return list(outlets.items())


_DEVELOPMENTS = (
    core_select(_MEMBER.c.added, _ENTRY.c.title)
    .select_from(_MEMBER)
    .join(_ENTRY, _ENTRY.c.id == _MEMBER.c.entry_id)
    .where(_MEMBER.c.story_id == bindparam("story_id"), _MEMBER.c.role == "development")
    .order_by(_MEMBER.c.created_at.desc(), _MEMBER.c.id.desc())
    .limit(bindparam("count"))
)


def latest_developments(
    session: Session, story_id: int, count: int
) -> list[tuple[dict[str, list[str]], str]]:
    """The story's last ``count`` developments, newest first (by publication time): what
    each added and its entry's headline."""
    params = {"story_id": story_id, "count": count}
    return [(added, title) for added, title in _connection(session).execute(_DEVELOPMENTS, params)]
