"""Read-only lookups for reports: one entry with its feed and its topic matches."""

from __future__ import annotations

from sqlmodel import Session, col, select

from .models import Entry, Feed, Match


def entry_with_feed(session: Session, entry_id: int) -> tuple[Entry, Feed] | None:
    query = select(Entry, Feed).join(Feed, col(Feed.id) == Entry.feed_id)
    row = session.exec(query.where(Entry.id == entry_id)).first()
    return (row[0], row[1]) if row is not None else None


def entry_matches(session: Session, entry_id: int) -> list[Match]:
    """The entry's matches, by revision then topic."""
    query = (
        select(Match)
        .where(Match.entry_id == entry_id)
        .order_by(col(Match.revision), col(Match.topic_key))
    )
    return list(session.exec(query))
