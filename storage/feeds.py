"""Feed rows: sync from the feeds file, record each fetch, report status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from sqlmodel import Session, col, select

from .models import Feed


class FeedSpecLike(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def language(self) -> str: ...

    @property
    def tier(self) -> str: ...

    @property
    def interval(self) -> int: ...


def sync_feeds(session: Session, specs: Iterable[FeedSpecLike]) -> list[Feed]:
    """Make the feed rows match ``specs``: add new ones, update names, deactivate the rest.

    Deactivated feeds keep their entries; they are just no longer fetched.
    """
    wanted = {spec.url: spec for spec in specs}
    existing = {feed.url: feed for feed in session.exec(select(Feed)).all()}
    for url, spec in wanted.items():
        feed = existing.get(url) or Feed(url=url, name=spec.name)
        feed.name = spec.name
        feed.language = spec.language
        feed.tier = spec.tier
        feed.interval = spec.interval
        feed.active = True
        session.add(feed)
    for url, feed in existing.items():
        if url not in wanted and feed.active:
            feed.active = False
            session.add(feed)
    session.flush()
    return list(session.exec(select(Feed).where(col(Feed.active)).order_by(col(Feed.id))).all())


def all_feeds(session: Session) -> list[Feed]:
    return list(session.exec(select(Feed).order_by(col(Feed.active).desc(), col(Feed.id))).all())


def feed_rows(session: Session, ids: Sequence[int]) -> list[Feed]:
    """The feeds of ``ids`` in one query (any order); ``session.get`` then finds them loaded."""
    rows: list[Feed] = []
    for start in range(0, len(ids), 500):  # bounded IN lists
        chunk = sorted(set(ids[start : start + 500]))
        rows += session.exec(select(Feed).where(col(Feed.id).in_(chunk))).all()
    return rows


def record_fetch(
    session: Session,
    feed: Feed,
    *,
    status: str,
    failed: bool,
    now: datetime,
    error: str | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    body_hash: str | None = None,
    retry_after_until: datetime | None = None,
) -> Feed:
    """Store how a fetch ended. A failure keeps the old validators and counts failures in a row."""
    feed.last_fetch_at = now
    feed.last_status = status
    feed.retry_after_until = retry_after_until
    if failed:
        if feed.failures_in_row == 0:
            feed.failing_since = now
        feed.failures_in_row += 1
        feed.last_error = error
    else:
        feed.failures_in_row = 0
        feed.failing_since = None
        feed.last_error = None
        feed.last_ok_at = now
        feed.etag = etag
        feed.last_modified = last_modified
        feed.body_hash = body_hash
    session.add(feed)
    return feed


def ensure_feed(session: Session, spec: FeedSpecLike) -> Feed:
    """The row for ``spec.url``, created if missing; other feeds are left as they are."""
    feed = session.exec(select(Feed).where(Feed.url == spec.url)).first()
    if feed is None:
        feed = Feed(url=spec.url, name=spec.name, language=spec.language, tier=spec.tier,
                    interval=spec.interval, active=False)  # fmt: skip
        session.add(feed)
        session.flush()
    return feed
