"""Baseline: the schema as parley made it before it had migrations.

Revision ID: baseline
Revises: (none)
Created: 2026-11-25

Written from autogenerate's output against an empty database, then made to adopt databases
that older parley made with ``create_all``: a table that already exists is left as it is (rows
included), and ``outboxalert.mode``, which older code added by hand, is added when missing, with
the same type and default. On an empty database this is a plain create of every table.

There is no downgrade: it would drop every table and its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from parley.storage.types import UTCDateTime

revision: str = "baseline"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in TABLES:
        if name not in existing:
            create()
    if "outboxalert" in existing:
        _add_outbox_mode_if_missing()


def downgrade() -> None:
    raise NotImplementedError("the baseline has no downgrade: it would drop every table")


def _add_outbox_mode_if_missing() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("outboxalert")}
    if "mode" not in columns:
        with op.batch_alter_table("outboxalert") as batch:
            batch.add_column(_outbox_mode())


def _outbox_mode() -> sa.Column[str]:
    return sa.Column("mode", sa.String(length=16), server_default="immediate", nullable=False)


def _feed() -> None:
    op.create_table(
        "feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("etag", sa.String(length=500), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("body_hash", sa.String(length=64), nullable=True),
        sa.Column("last_fetch_at", UTCDateTime(), nullable=True),
        sa.Column("last_ok_at", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failures_in_row", sa.Integer(), nullable=False),
        sa.Column("failing_since", UTCDateTime(), nullable=True),
        sa.Column("retry_after_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )


def _entry() -> None:
    op.create_table(
        "entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=2000), nullable=False),
        sa.Column("guid", sa.String(length=2000), nullable=True),
        sa.Column("link", sa.String(length=2000), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=300), nullable=True),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feed.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feed_id", "uid", name="uq_entry_feed_uid"),
    )
    op.create_index(op.f("ix_entry_feed_id"), "entry", ["feed_id"])
    op.create_index(op.f("ix_entry_published_at"), "entry", ["published_at"])


def _entryrevision() -> None:
    op.create_table(
        "entryrevision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=2000), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entry.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "revision", name="uq_revision_entry_rev"),
    )
    op.create_index(op.f("ix_entryrevision_entry_id"), "entryrevision", ["entry_id"])


def _match() -> None:
    op.create_table(
        "match",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("topic_key", sa.String(length=100), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("snippet", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entry.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "topic_key", "revision", name="uq_match_entry_topic_rev"),
    )
    op.create_index(op.f("ix_match_entry_id"), "match", ["entry_id"])
    op.create_index(op.f("ix_match_topic_key"), "match", ["topic_key"])


def _story() -> None:
    op.create_table(
        "story",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_key", sa.String(length=100), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("opened_by", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("official", sa.Boolean(), nullable=False),
        sa.Column("corroborated", sa.Boolean(), nullable=False),
        sa.Column("outlets", sa.Integer(), nullable=False),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["opened_by"], ["entry.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_story_last_seen_at"), "story", ["last_seen_at"])
    op.create_index(op.f("ix_story_topic_key"), "story", ["topic_key"])


def _outboxalert() -> None:
    op.create_table(
        "outboxalert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("match_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("topic_key", sa.String(length=100), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _outbox_mode(),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["match_id"], ["match.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index(op.f("ix_outboxalert_channel"), "outboxalert", ["channel"])
    op.create_index(op.f("ix_outboxalert_match_id"), "outboxalert", ["match_id"])
    op.create_index(op.f("ix_outboxalert_status"), "outboxalert", ["status"])


def _storyentry() -> None:
    op.create_table(
        "storyentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("added", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entry.id"]),
        sa.ForeignKeyConstraint(["feed_id"], ["feed.id"]),
        sa.ForeignKeyConstraint(["story_id"], ["story.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("story_id", "entry_id", name="uq_story_entry"),
    )
    op.create_index(op.f("ix_storyentry_entry_id"), "storyentry", ["entry_id"])
    op.create_index(op.f("ix_storyentry_story_id"), "storyentry", ["story_id"])


# In foreign-key order: a table comes after the tables it refers to.
TABLES: tuple[tuple[str, Callable[[], None]], ...] = (
    ("feed", _feed),
    ("entry", _entry),
    ("entryrevision", _entryrevision),
    ("match", _match),
    ("story", _story),
    ("outboxalert", _outboxalert),
    ("storyentry", _storyentry),
)
