"""Delivery attempts: what each send of an outbox row got back, service by service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session, col, func, select

from .models import DeliveryAttempt

_INSERT = insert(DeliveryAttempt.__table__)  # type: ignore[attr-defined]  # built once


def record(
    session: Session,
    row_id: int,
    *,
    attempted_at: datetime,
    ok: bool,
    status: str,
    service: str,
    target: str,
    detail: str = "",
    http_status: int | None = None,
    duration_ms: int = 0,
    bundle_id: str | None = None,
) -> None:
    """Add one attempt; call it in the transaction that marks the row sent or failed.

    ``target`` and ``detail`` must already have the channel's secrets masked. The row is
    written at once (one INSERT on the session's connection, no ORM object).
    """
    values = {
        "outbox_id": row_id,
        "attempted_at": attempted_at,
        "ok": ok,
        "status": status,
        "http_status": http_status,
        "service": service,
        "target": target,
        "detail": detail,
        "duration_ms": duration_ms,
        "bundle_id": bundle_id,
    }
    session.connection().execute(_INSERT, values)


def of_row(session: Session, row_id: int) -> list[DeliveryAttempt]:
    """Every attempt for one outbox row, oldest first."""
    query = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.outbox_id == row_id)
        .order_by(col(DeliveryAttempt.attempted_at), col(DeliveryAttempt.id))
    )
    return list(session.exec(query))


def latest(session: Session, row_ids: Sequence[int]) -> dict[int, DeliveryAttempt]:
    """The most recent attempt of each of ``row_ids`` that has one."""
    if not row_ids:
        return {}
    newest = (
        select(func.max(DeliveryAttempt.id))
        .where(col(DeliveryAttempt.outbox_id).in_(row_ids))
        .group_by(col(DeliveryAttempt.outbox_id))
    )
    rows = session.exec(select(DeliveryAttempt).where(col(DeliveryAttempt.id).in_(newest)))
    return {attempt.outbox_id: attempt for attempt in rows}
