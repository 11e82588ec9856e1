"""Write a feed's entries and get back only what is new or changed (with the old text)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Row, bindparam, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from .models import Entry, EntryRevision
from .upsert import insert_ignore, insert_many_ignore

LOOKUP_CHUNK = 500


class EntryDraftLike(Protocol):
    @property
    def uid(self) -> str: ...

    @property
    def guid(self) -> str | None: ...

    @property
    def link(self) -> str | None: ...

    @property
    def title(self) -> str: ...

    @property
    def summary(self) -> str: ...

    @property
    def author(self) -> str | None: ...

    @property
    def published_at(self) -> datetime | None: ...

    @property
    def updated_at(self) -> datetime | None: ...

    @property
    def content_hash(self) -> str: ...


@dataclass(frozen=True)
class Snapshot:
    """An entry's text at one revision."""

    revision: int
    title: str
    summary: str
    link: str | None


@dataclass(frozen=True)
class EntryChange:
    """A new entry (``previous`` is None) or an edited one (``previous`` is its last text).

    ``inserted``: this transaction stored the entry for the first time, so no match or story
    refers to it yet (a new entry handed over by a re-match was stored before).
    """

    entry: Entry
    previous: Snapshot | None
    inserted: bool = False

    @property
    def kind(self) -> str:
        return "new" if self.previous is None else "changed"


def apply_entries(
    session: Session, feed_id: int, drafts: Sequence[EntryDraftLike], now: datetime
) -> list[EntryChange]:
    """Store ``drafts`` for one feed inside the caller's transaction.

    Unchanged entries cost one lookup and no write. When two runs store the same entry at
    once, only the run whose write lands reports it, so downstream work happens once.
    """
    unique: dict[str, EntryDraftLike] = {}
    for draft in drafts:
        unique.setdefault(draft.uid, draft)
    existing = _existing(session, feed_id, list(unique))
    fresh = [draft for uid, draft in unique.items() if uid not in existing]
    changes = _insert_all(session, feed_id, fresh, now)
    for uid, current in existing.items():
        draft = unique[uid]
        if current.content_hash != draft.content_hash:
            change = _update(session, current, draft, now)
            if change is not None:
                changes.append(change)
    return changes


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_ENTRY = Entry.__table__  # type: ignore[attr-defined]
# What storing a feed reads every time, built once and run on the session's connection (no
# ORM objects, no autoflush): the stored entries among the feed's uids, its latest times.
_EXISTING = sa_select(
    *(_ENTRY.c[name] for name in ("id", "feed_id", "uid", "title", "summary", "link",
                                  "content_hash", "revision", "first_seen_at"))
).where(
    _ENTRY.c.feed_id == bindparam("feed_id"),
    _ENTRY.c.uid.in_(bindparam("uids", expanding=True)),
)  # fmt: skip
_WHEN = func.coalesce(_ENTRY.c.published_at, _ENTRY.c.first_seen_at)
_RECENT_TIMES = (
    sa_select(_WHEN)
    .where(_ENTRY.c.feed_id == bindparam("feed_id"))
    .order_by(_WHEN.desc())
    .limit(bindparam("limit"))
)
_WATCHED_SINCE = sa_select(func.min(_ENTRY.c.first_seen_at)).where(
    _ENTRY.c.feed_id == bindparam("feed_id")
)


def _existing(session: Session, feed_id: int, uids: list[str]) -> dict[str, Row[Any]]:
    """The feed's stored entries among ``uids`` (the columns an edit needs), by uid."""
    connection = session.connection()
    found: dict[str, Row[Any]] = {}
    for chunk in _chunks(uids, LOOKUP_CHUNK):
        rows = connection.execute(_EXISTING, {"feed_id": feed_id, "uids": chunk})
        found.update({row.uid: row for row in rows})
    return found


def _draft_values(draft: EntryDraftLike) -> dict[str, Any]:
    return {
        "guid": draft.guid,
        "link": draft.link,
        "title": draft.title,
        "summary": draft.summary,
        "author": draft.author,
        "published_at": draft.published_at,
        "updated_at": draft.updated_at,
        "content_hash": draft.content_hash,
    }


def _revision_values(
    entry_id: int, revision: int, draft: EntryDraftLike, now: datetime
) -> dict[str, Any]:
    return {
        "entry_id": entry_id,
        "revision": revision,
        "title": draft.title,
        "summary": draft.summary,
        "link": draft.link,
        "content_hash": draft.content_hash,
        "seen_at": now,
    }


def _add_revision(
    session: Session, entry_id: int, revision: int, draft: EntryDraftLike, now: datetime
) -> None:
    values = _revision_values(entry_id, revision, draft, now)
    insert_ignore(session, EntryRevision, values, ["entry_id", "revision"])


def _insert_all(
    session: Session, feed_id: int, drafts: Sequence[EntryDraftLike], now: datetime
) -> list[EntryChange]:
    """Insert new entries and their first revisions in a few multi-row statements.

    An entry another run inserted first is skipped here: that run reports it.
    """
    rows = {
        draft.uid: {
            "feed_id": feed_id,
            "uid": draft.uid,
            "revision": 1,
            "first_seen_at": now,
            "changed_at": now,
            **_draft_values(draft),
        }
        for draft in drafts
    }
    inserted = dict(
        (uid, entry_id)
        for entry_id, uid in insert_many_ignore(
            session, Entry, list(rows.values()), ["feed_id", "uid"], returning=("id", "uid")
        )
    )
    revisions = [_revision_values(inserted[d.uid], 1, d, now) for d in drafts if d.uid in inserted]
    insert_many_ignore(session, EntryRevision, revisions, ["entry_id", "revision"], returning=())
    return [
        EntryChange(entry=_stored(id=inserted[d.uid], **rows[d.uid]), previous=None, inserted=True)
        for d in drafts
        if d.uid in inserted
    ]


def _stored(**values: Any) -> Entry:
    """An Entry holding values just written, for reading only (never added to a session).

    The values came from the database round trip or from a parsed draft, so they are not
    validated again: ``Entry(...)`` costs ~30 µs a row through pydantic, this ~3 µs.
    """
    return Entry.model_construct(**values)


def _update(
    session: Session, current: Row[Any], draft: EntryDraftLike, now: datetime
) -> EntryChange | None:
    previous = Snapshot(current.revision, current.title, current.summary, current.link)
    revision = current.revision + 1
    values = {**_draft_values(draft), "revision": revision, "changed_at": now}
    statement = (
        update(Entry)
        .where(col(Entry.id) == current.id, col(Entry.content_hash) == current.content_hash)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if session.execute(statement).rowcount != 1:  # type: ignore[attr-defined]
        return None  # edited by a concurrent run, which reports it
    assert current.id is not None
    _add_revision(session, current.id, revision, draft, now)
    entry = _stored(
        id=current.id,
        feed_id=current.feed_id,
        uid=current.uid,
        first_seen_at=current.first_seen_at,
        **values,
    )
    return EntryChange(entry=entry, previous=previous)


def revisions(session: Session, entry_id: int) -> list[EntryRevision]:
    query = (
        select(EntryRevision)
        .where(EntryRevision.entry_id == entry_id)
        .order_by(col(EntryRevision.revision))
    )
    return list(session.exec(query))


def recent_times(session: Session, feed_id: int, limit: int = 20) -> list[datetime]:
    """When the feed's latest entries appeared (published, else first seen), newest first."""
    params = {"feed_id": feed_id, "limit": limit}
    return [
        _aware(value) for value in session.connection().execute(_RECENT_TIMES, params).scalars()
    ]


def _aware(value: datetime) -> datetime:
    """SQLite returns coalesce() results without the column type: mark them UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def watched_since(session: Session, feed_id: int) -> datetime | None:
    """When parley first stored an entry of this feed."""
    params = {"feed_id": feed_id}
    value = session.connection().execute(_WATCHED_SINCE, params).scalar_one()
    return _aware(value) if value is not None else None


def recent_times_of(
    session: Session, feed_ids: Sequence[int], limit: int = 20
) -> dict[int, list[datetime]]:
    """``recent_times`` of many feeds in one query per LOOKUP_CHUNK feeds (a feed without
    entries is left out)."""
    when = func.coalesce(Entry.published_at, Entry.first_seen_at)
    found: dict[int, list[datetime]] = {}
    wanted = sorted(set(feed_ids))
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        rank = func.row_number().over(partition_by=col(Entry.feed_id), order_by=when.desc())
        ranked = (
            select(col(Entry.feed_id).label("feed_id"), when.label("at"), rank.label("rank"))
            .where(col(Entry.feed_id).in_(wanted[start : start + LOOKUP_CHUNK]))
            .subquery()
        )
        query = (
            select(ranked.c.feed_id, ranked.c.at)
            .where(ranked.c.rank <= limit)
            .order_by(ranked.c.feed_id, ranked.c.rank)
        )
        for feed_id, value in session.exec(query):
            found.setdefault(feed_id, []).append(_aware(value))
    return found


def watched_since_of(session: Session, feed_ids: Sequence[int]) -> dict[int, datetime]:
    """``watched_since`` of many feeds (a feed without entries is left out)."""
    found: dict[int, datetime] = {}
    wanted = sorted(set(feed_ids))
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        query = (
            select(Entry.feed_id, func.min(Entry.first_seen_at))
            .where(col(Entry.feed_id).in_(wanted[start : start + LOOKUP_CHUNK]))
            .group_by(col(Entry.feed_id))
        )
        for feed_id, value in session.exec(query):
            found[feed_id] = _aware(value)
    return found
