"""The alert outbox: rows written with their match, claimed with a lease, sent, retried."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import NoResultFound
from sqlmodel import Session, col, func, select

from .models import OutboxAlert
from .upsert import insert_ignore

PENDING, SENT, DEAD = "pending", "sent", "dead"
IMMEDIATE, DIGEST = "immediate", "digest"
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
# An alert on several topics stores their keys lead first, joined (topic keys have no comma),
# as many whole keys as the column holds; the message itself names every topic.
TOPIC_KEY_LENGTH = 100  # OutboxAlert.topic_key
TOPIC_SEPARATOR = ","

# What delivery runs once per row it sends, built once (see storage/upsert.py).
_OUTBOX = OutboxAlert.__table__  # type: ignore[attr-defined]
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"))
    .values(
        status=SENT,
        attempts=_OUTBOX.c.attempts + 1,
        sent_at=bindparam("now", type_=_OUTBOX.c.sent_at.type),
        last_error=None,
        claimed_until=None,
    )
)
_LAST_SENT = core_select(func.max(_OUTBOX.c.sent_at)).where(
    _OUTBOX.c.channel == bindparam("channel"), _OUTBOX.c.status == SENT
)
_HEALTH_ALERTED = core_select(func.count()).where(
    _OUTBOX.c.kind == "health", _OUTBOX.c.title.startswith(bindparam("prefix"))
)
_HEALTH_ALERTED_SINCE = _HEALTH_ALERTED.where(_OUTBOX.c.created_at >= bindparam("since"))


def enqueue(
    session: Session,
    *,
    key: str,
    channel: str,
    kind: str,
    topic_key: str,
    title: str,
    body: str,
    now: datetime,
    match_id: int | None = None,
    severity: str = "medium",
    mode: str = IMMEDIATE,
) -> int | None:
    """Queue one alert for one channel; None if ``key`` was queued before.

    ``mode="digest"`` rows are left out by :func:`claim_due`; only the digest sends them.
    """
    values = {
        "idempotency_key": key,
        "match_id": match_id,
        "channel": channel,
        "kind": kind,
        "topic_key": topic_key,
        "severity": severity,
        "title": title,
        "body": body,
        "status": PENDING,
        "mode": mode,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    return insert_ignore(session, OutboxAlert, values, ["idempotency_key"])


def pack_topics(keys: Sequence[str]) -> str:
    """The ``topic_key`` of an alert naming ``keys`` (lead first): ``black-sea,talks``."""
    packed = keys[0][:TOPIC_KEY_LENGTH]
    for key in keys[1:]:
        if len(packed) + len(TOPIC_SEPARATOR) + len(key) > TOPIC_KEY_LENGTH:
            break
        packed += TOPIC_SEPARATOR + key
    return packed


def row_topics(topic_key: str) -> list[str]:
    """The topic keys an outbox row's ``topic_key`` names, lead first."""
    return [key for key in topic_key.split(TOPIC_SEPARATOR) if key] or [topic_key]


def rename_topic(session: Session, old: str, new: str) -> int:
    """Put ``new`` for the topic key ``old`` in every row naming it, alone or among others
    (see :func:`pack_topics`); the number of rows changed."""
    topic_key = col(OutboxAlert.topic_key)
    # Topic keys are letters, digits and dashes: nothing in them is a LIKE wildcard.
    naming = or_(
        topic_key == old,
        topic_key.startswith(old + TOPIC_SEPARATOR),
        topic_key.endswith(TOPIC_SEPARATOR + old),
        topic_key.contains(TOPIC_SEPARATOR + old + TOPIC_SEPARATOR),
    )
    changed = 0
    for row_id, packed in session.exec(select(OutboxAlert.id, OutboxAlert.topic_key).where(naming)):
        keys = [new if key == old else key for key in row_topics(packed)]
        renamed = pack_topics(list(dict.fromkeys(keys)))
        if renamed != packed:
            statement = update(_OUTBOX).where(_OUTBOX.c.id == row_id).values(topic_key=renamed)
            changed += session.connection().execute(statement).rowcount or 0
    return changed


def _unclaimed(now: datetime) -> list[ColumnElement[bool]]:
    return [
        col(OutboxAlert.status) == PENDING,
        or_(col(OutboxAlert.claimed_until).is_(None), col(OutboxAlert.claimed_until) < now),
    ]


def _due(
    now: datetime,
    channel: str | None = None,
    unbundled: bool = False,
    ids: Collection[int] | None = None,
) -> list[ColumnElement[bool]]:
    where = [
        *_unclaimed(now),
        col(OutboxAlert.mode) == IMMEDIATE,
        col(OutboxAlert.next_attempt_at) <= now,
    ]
    if channel is not None:
        where.append(col(OutboxAlert.channel) == channel)
    if unbundled:
        where.append(col(OutboxAlert.bundle_id).is_(None))
    if ids is not None:
        where.append(col(OutboxAlert.id).in_(list(ids)))
    return where


def claim_due(
    session: Session,
    now: datetime,
    lease: timedelta,
    limit: int = 500,
    tries: int = 5,
    *,
    channel: str | None = None,
    unbundled: bool = False,
    ids: Collection[int] | None = None,
) -> list[OutboxAlert]:
    """Claim due rows for ``lease``; a row claimed by another run is skipped.

    The claim is a conditional UPDATE per row, so it holds on SQLite and PostgreSQL alike.
    When another run took every row this one picked, it looks again (up to ``tries`` times),
    so two runs share the work instead of one giving up. Commit before sending.
    ``channel`` keeps to one channel's rows; ``unbundled`` leaves out rows of a bundle;
    ``ids`` keeps to the rows with those ids.
    """
    where = _due(now, channel, unbundled, ids)
    for _ in range(tries):
        candidates = session.exec(
            select(OutboxAlert.id)
            .where(*where)
            .order_by(col(OutboxAlert.created_at), col(OutboxAlert.id))
            .limit(limit)
        ).all()
        if not candidates:
            return []
        claimed = _claim_rows(session, candidates, where, now + lease)
        if claimed:
            return claimed
    return []


def claim_bundle(
    session: Session, bundle_id: str, now: datetime, lease: timedelta
) -> list[OutboxAlert]:
    """Claim the pending rows of one bundle that no run holds (to send them again together)."""
    where = [*_unclaimed(now), col(OutboxAlert.bundle_id) == bundle_id]
    candidates = session.exec(
        select(OutboxAlert.id).where(*where).order_by(col(OutboxAlert.created_at))
    ).all()
    return _claim_rows(session, candidates, where, now + lease)


def set_bundle(session: Session, row_ids: Sequence[int], bundle_id: str) -> None:
    """Mark claimed rows as going out together; committed before the send, so a run that
    takes them over after a crash sends the same bundle again."""
    statement = (
        update(OutboxAlert)
        .where(col(OutboxAlert.id).in_(row_ids))
        .values(bundle_id=bundle_id)
        .execution_options(synchronize_session=False)
    )
    session.execute(statement)


def _sent_since(channel: str, since: datetime) -> list[ColumnElement[bool]]:
    return [
        col(OutboxAlert.channel) == channel,
        col(OutboxAlert.status) == SENT,
        col(OutboxAlert.sent_at) > since,
    ]


def messages_sent_since(session: Session, channel: str, since: datetime) -> int:
    """Messages ``channel`` received after ``since``: a bundle counts once, however many rows."""
    where = _sent_since(channel, since)
    single = session.exec(
        select(func.count()).where(*where, col(OutboxAlert.bundle_id).is_(None))
    ).one()
    bundles = session.exec(
        select(func.count(func.distinct(OutboxAlert.bundle_id))).where(
            *where, col(OutboxAlert.bundle_id).is_not(None)
        )
    ).one()
    return int(single) + int(bundles)


def first_sent_since(session: Session, channel: str, since: datetime) -> datetime | None:
    """The oldest send to ``channel`` after ``since`` (None: nothing sent)."""
    return session.exec(
        select(func.min(OutboxAlert.sent_at)).where(*_sent_since(channel, since))
    ).one()


def claim_digest(
    session: Session, channel: str, now: datetime, lease: timedelta
) -> list[OutboxAlert]:
    """Claim every pending digest row of ``channel`` for ``lease``, oldest first.

    Rows another run holds are skipped, so two digests never send the same row. A failed
    row's retry time does not hold it back: the next digest takes it. Commit before sending.
    """
    where = [*_unclaimed(now), col(OutboxAlert.mode) == DIGEST, col(OutboxAlert.channel) == channel]
    candidates = session.exec(
        select(OutboxAlert.id)
        .where(*where)
        .order_by(col(OutboxAlert.created_at), col(OutboxAlert.id))
    ).all()
    return _claim_rows(session, candidates, where, now + lease)


def _claim_rows(
    session: Session,
    candidates: Sequence[int | None],
    where: Sequence[ColumnElement[bool]],
    until: datetime,
) -> list[OutboxAlert]:
    """Claim each candidate still matching ``where`` (a conditional UPDATE), then load them."""
    # One statement for every candidate, built once, run on the connection once per row.
    statement = (
        update(_OUTBOX)
        .where(_OUTBOX.c.id == bindparam("row_id"), *where)
        .values(claimed_until=until)
    )
    connection = session.connection()
    claimed = []
    for row_id in candidates:
        if row_id is not None and connection.execute(statement, {"row_id": row_id}).rowcount == 1:
            claimed.append(row_id)
    if not claimed:
        return []
    rows = session.exec(
        select(OutboxAlert)
        .where(col(OutboxAlert.id).in_(claimed))
        .order_by(col(OutboxAlert.created_at), col(OutboxAlert.id))
        .execution_options(populate_existing=True)
    )
    return list(rows)


def release_digest_rows(session: Session, digest_channels: set[str]) -> int:
    """Turn pending digest rows of channels no longer in digest mode into immediate ones."""
    statement = (
        update(OutboxAlert)
        .where(
            col(OutboxAlert.status) == PENDING,
            col(OutboxAlert.mode) == DIGEST,
            col(OutboxAlert.channel).not_in(digest_channels),
        )
        .values(mode=IMMEDIATE)
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def mark_sent(session: Session, row_id: int, now: datetime) -> None:
    """Mark the row sent (one more attempt, no error, no claim) with one UPDATE; an
    OutboxAlert of the row already loaded in ``session`` keeps its old values."""
    result = session.connection().execute(_MARK_SENT, {"row_id": row_id, "now": now})
    if result.rowcount != 1:
        raise NoResultFound(f"outbox row {row_id} does not exist")


def defer(session: Session, row_id: int, until: datetime) -> None:
    """Hold a claimed row back until ``until`` (quiet hours); it is not a failed attempt."""
    row = session.get_one(OutboxAlert, row_id, populate_existing=True)
    row.next_attempt_at = until
    row.claimed_until = None
    session.add(row)


def backoff(attempts: int, jitter: float = 0.0) -> timedelta:
    """Delay before the next try after ``attempts`` failures: doubling, capped, then spread
    by ``jitter`` (e.g. 0.1 = 10 % later) so that many failed rows do not retry in step."""
    delay: timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, BACKOFF_CAP) * (1 + jitter)


def mark_failed(
    session: Session,
    row_id: int,
    error: str,
    now: datetime,
    max_attempts: int,
    jitter: float = 0.0,
) -> OutboxAlert:
    row = session.get_one(OutboxAlert, row_id, populate_existing=True)
    row.attempts += 1
    row.last_error = error
    row.claimed_until = None
    if row.attempts >= max_attempts:
        row.status = DEAD
    else:
        row.next_attempt_at = now + backoff(row.attempts, jitter)
    session.add(row)
    return row


def list_alerts(session: Session, status: str | None = None, limit: int = 50) -> list[OutboxAlert]:
    query = select(OutboxAlert)
    if status is not None:
        query = query.where(OutboxAlert.status == status)
    query = query.order_by(col(OutboxAlert.created_at).desc(), col(OutboxAlert.id).desc())
    return list(session.exec(query.limit(limit)))


def requeue(session: Session, row_id: int, now: datetime) -> bool:
    """Put a dead or pending row back to be sent now; False if there is no such row."""
    row = session.get(OutboxAlert, row_id)
    if row is None or row.status == SENT:
        return False
    row.status = PENDING
    row.next_attempt_at = now
    row.claimed_until = None
    session.add(row)
    return True


def counts(session: Session) -> dict[str, int]:
    query = select(OutboxAlert.status, func.count()).group_by(OutboxAlert.status)
    return {status: int(n) for status, n in session.exec(query)}


def last_sent_at(session: Session, channel: str) -> datetime | None:
    """When ``channel`` last delivered an alert (None: never)."""
    when: datetime | None = (
        session.connection().execute(_LAST_SENT, {"channel": channel}).scalar_one()
    )
    return when


def health_alerted_since(session: Session, title_prefix: str, since: datetime | None) -> bool:
    """Whether a health alert whose title starts with ``title_prefix`` was queued after
    ``since`` (None: ever) — so a "recovered" follows only a "failing" of the same streak."""
    params: dict[str, Any] = {"prefix": title_prefix}
    statement = _HEALTH_ALERTED
    if since is not None:
        params["since"], statement = since, _HEALTH_ALERTED_SINCE
    return int(session.connection().execute(statement, params).scalar_one()) > 0
