"""Carry stored rows over when a topic's key changes (the topics file's ``replaces:``).

A topic renamed from ``ceasefire-30-day`` to ``ceasefire`` keeps its history: its matches and
stories are moved to the new key, so a new report joins a story opened under the old one and
a backtest or timeline of the new key shows the old rows. Idempotent: once moved, the UPDATEs
find nothing; they run on indexed columns, so a cycle can run them every time.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import update
from sqlmodel import Session

from . import outbox
from .models import Match, Story


def rename_topic_keys(session: Session, renamed: Mapping[str, str]) -> int:
    """Move rows of each old key to its new key; the number of rows moved. An outbox row on
    several topics (``black-sea,old-key``) has the old key replaced among the others."""
    moved = 0
    for old, new in renamed.items():
        if old == new:
            continue
        for model in (Match, Story):
            table = model.__table__  # type: ignore[union-attr]
            statement = update(table).where(table.c.topic_key == old).values(topic_key=new)
            moved += session.connection().execute(statement).rowcount or 0
        moved += outbox.rename_topic(session, old, new)
    return moved
