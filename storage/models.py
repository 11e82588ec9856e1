"""SQLModel tables: feeds, entries with their revisions, topic matches, the alert outbox
and the progress of backfills.

All times are timezone-aware UTC. Identity and idempotency live in unique constraints, so a
second run of the same work inserts nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _when(nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


def _text(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=nullable))


class Feed(SQLModel, table=True):
    """A watched feed and the state of its last fetch (conditional GET validators, errors)."""

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(unique=True, max_length=2000)
    name: str = Field(max_length=300)
    language: str = Field(default="en", max_length=16)
    tier: str = Field(default="media", max_length=16)
    interval: int = Field(default=0)
    active: bool = Field(default=True)
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    body_hash: str | None = Field(default=None, max_length=64)
    last_fetch_at: datetime | None = _when()
    last_ok_at: datetime | None = _when()
    last_status: str | None = Field(default=None, max_length=32)
    last_error: str | None = _text()
    failures_in_row: int = Field(default=0)
    failing_since: datetime | None = _when()
    retry_after_until: datetime | None = _when()


class Entry(SQLModel, table=True):
    """One item of one feed, known by ``uid`` (guid → link → hash); its text is the latest."""

    __table_args__ = (UniqueConstraint("feed_id", "uid", name="uq_entry_feed_uid"),)

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feed.id", index=True)
    uid: str = Field(max_length=2000)
    guid: str | None = Field(default=None, max_length=2000)
    link: str | None = Field(default=None, max_length=2000)
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    author: str | None = Field(default=None, max_length=300)
    published_at: datetime | None = _when(index=True)
    updated_at: datetime | None = _when()
    content_hash: str = Field(max_length=64)
    revision: int = Field(default=1)
    first_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    changed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class EntryRevision(SQLModel, table=True):
    """The text of an entry as it was at one revision (1 = as first seen)."""

    __table_args__ = (UniqueConstraint("entry_id", "revision", name="uq_revision_entry_rev"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    revision: int
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    link: str | None = Field(default=None, max_length=2000)
    content_hash: str = Field(max_length=64)
    seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Match(SQLModel, table=True):
    """A topic matched one revision of an entry, with why (terms, field, snippet)."""

    __table_args__ = (
        UniqueConstraint("entry_id", "topic_key", "revision", name="uq_match_entry_topic_rev"),
    )

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    revision: int
    topic_key: str = Field(max_length=100, index=True)
    severity: str = Field(max_length=16)
    kind: str = Field(max_length=16)  # "new" or "updated"
    terms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    field: str = Field(max_length=16)
    snippet: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class OutboxAlert(SQLModel, table=True):
    """One alert for one channel, written with the match; ``idempotency_key`` makes it once-only."""

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=64)
    match_id: int | None = Field(default=None, foreign_key="match.id", index=True)
    channel: str = Field(max_length=200, index=True)
    kind: str = Field(max_length=16)
    topic_key: str = Field(max_length=100)
    severity: str = Field(default="medium", max_length=16)
    title: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=16, index=True)  # pending | sent | dead
    # immediate: sent on its own by `deliver`; digest: gathered into the channel's digest.
    mode: str = Field(
        default="immediate",
        sa_column=Column(String(16), nullable=False, server_default="immediate"),
    )
    attempts: int = Field(default=0)
    last_error: str | None = _text()
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    claimed_until: datetime | None = _when()
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    sent_at: datetime | None = _when()
    # Set when the row goes out in a rate-limit bundle: every row of one message shares it.
    bundle_id: str | None = Field(default=None, max_length=36, index=True)


class DeliveryAttempt(SQLModel, table=True):
    """One try at sending one outbox row, as one apprise service reported it (secrets masked).

    Written in the transaction that marks the row sent or failed; a bundle writes one per row.
    """

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outboxalert.id", index=True)
    attempted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ok: bool
    status: str = Field(max_length=16)  # success | failure | timeout | error
    http_status: int | None = Field(default=None)
    service: str = Field(max_length=200)  # the apprise plugin, e.g. "JSON", "E-Mail"
    target: str = Field(sa_column=Column(Text, nullable=False))  # the channel URL, masked
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    duration_ms: int = Field(default=0)
    bundle_id: str | None = Field(default=None, max_length=36)


class Story(SQLModel, table=True):
    """Items of one topic from many outlets that report the same news."""

    # The topic's stories active around a time: the candidates each matching item is scored on.
    __table_args__ = (Index("ix_story_topic_last_seen", "topic_key", "last_seen_at"),)

    id: int | None = Field(default=None, primary_key=True)
    topic_key: str = Field(max_length=100, index=True)
    headline: str = Field(sa_column=Column(Text, nullable=False))
    opened_by: int = Field(foreign_key="entry.id")
    first_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    official: bool = Field(default=False)
    corroborated: bool = Field(default=False)
    outlets: int = Field(default=1)
    signature: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    facts: dict[str, list[str]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )


class StoryEntry(SQLModel, table=True):
    """An entry's place in a story: opened it, more coverage, a development or an update."""

    __table_args__ = (
        UniqueConstraint("story_id", "entry_id", name="uq_story_entry"),
        # A story's outlets, and whether a feed is one of them, without reading every member.
        Index("ix_storyentry_story_feed", "story_id", "feed_id", "created_at"),
        # Its opener and its latest developments.
        Index("ix_storyentry_story_role", "story_id", "role", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    story_id: int = Field(foreign_key="story.id", index=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    feed_id: int = Field(foreign_key="feed.id")
    role: str = Field(max_length=16)  # opened | coverage | development | update
    added: dict[str, list[str]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class BackfillRun(SQLModel, table=True):
    """How far one backfill got, committed with each batch it stored, so a re-run resumes.

    ``key`` is derived from the source, the date range and the options; ``cursor`` is where to
    go on (the next archive page's URL), ``byte_offset`` how far into a JSON Lines dump.
    """

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=64)
    source: str = Field(sa_column=Column(Text, nullable=False))
    cursor: str | None = _text()
    byte_offset: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    done: int = Field(default=0)  # lines of a dump, pages of an archive
    total: int | None = Field(default=None)
    skipped: int = Field(default=0)  # bad lines, items outside the date range
    stored: int = Field(default=0)  # new or edited items stored
    status: str = Field(default="running", max_length=16)  # running | done
    started_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
