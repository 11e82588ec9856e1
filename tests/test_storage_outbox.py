"""The outbox: idempotent enqueue, leases, retries with backoff, dead rows, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from parley.storage import outbox
from parley.storage.db import session_scope

NOW = datetime(2025, 3, 25, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def _enqueue(engine: Engine, key: str) -> int | None:
    with session_scope(engine) as session:
        return outbox.enqueue(
            session, key=key, channel="ops", kind="new", topic_key="znpp",
            title=f"t {key}", body="b", now=NOW,
        )  # fmt: skip


def test_enqueue_is_idempotent(engine: Engine) -> None:
    assert _enqueue(engine, "k1") is not None
    assert _enqueue(engine, "k1") is None
    with session_scope(engine) as session:
        assert outbox.counts(session) == {"pending": 1}


def test_a_claimed_row_is_not_claimed_again_until_its_lease_ends(engine: Engine) -> None:
    _enqueue(engine, "k1")
    with session_scope(engine) as session:
        assert len(outbox.claim_due(session, NOW, LEASE)) == 1
    with session_scope(engine) as session:
        assert outbox.claim_due(session, NOW + timedelta(minutes=1), LEASE) == []
    with session_scope(engine) as session:
        assert len(outbox.claim_due(session, NOW + LEASE + timedelta(seconds=1), LEASE)) == 1


def test_failures_back_off_then_die(engine: Engine) -> None:
    row_id = _enqueue(engine, "k1")
    assert row_id is not None
    when = NOW
    for attempt in range(1, 4):
        with session_scope(engine) as session:
            claimed = outbox.claim_due(session, when, LEASE)
            assert [r.id for r in claimed] == [row_id]
        with session_scope(engine) as session:
            row = outbox.mark_failed(session, row_id, "HTTP 500", when, max_attempts=3)
        assert row.attempts == attempt
        if attempt < 3:
            assert row.status == "pending"
            assert row.next_attempt_at == when + outbox.backoff(attempt)
            with session_scope(engine) as session:
                assert outbox.claim_due(session, when, LEASE) == []  # not due yet
            when = row.next_attempt_at
    assert row.status == "dead"
    with session_scope(engine) as session:
        assert [r.id for r in outbox.list_alerts(session, "dead")] == [row_id]
        assert outbox.requeue(session, row_id, when)
    with session_scope(engine) as session:
        assert [r.id for r in outbox.claim_due(session, when, LEASE)] == [row_id]
        outbox.mark_sent(session, row_id, when)
    with session_scope(engine) as session:
        assert outbox.counts(session) == {"sent": 1}
        assert not outbox.requeue(session, row_id, when)


def test_backoff_doubles_and_is_capped() -> None:
    assert outbox.backoff(1) == timedelta(seconds=30)
    assert outbox.backoff(2) == timedelta(seconds=60)
    assert outbox.backoff(30) == outbox.BACKOFF_CAP


def test_jitter_spreads_the_retry_later_never_earlier() -> None:
    assert outbox.backoff(2, 0.2) == timedelta(seconds=72)
    assert outbox.backoff(30, 0.1) == outbox.BACKOFF_CAP * 1.1
