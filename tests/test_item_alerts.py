"""One message per item per channel: the topics of one item grouped by the channels their
routes chose, the key that keeps the message once-only, and the outbox rows it makes."""

from __future__ import annotations

import hashlib
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from parley.alerts.channel_file import load_channels
from parley.alerts.channels import Channel
from parley.alerts.grouping import group_by_channel, lead_first
from parley.alerts.render import AlertView
from parley.alerts.routes import Subject, targets
from parley.flows.pipeline.item_alerts import TopicAlert, idempotency_key, queue_item_alerts
from parley.storage import outbox
from parley.storage.db import session_scope
from parley.storage.models import Entry, Feed, Match, OutboxAlert
from parley.storage.renames import rename_topic_keys

NOW = datetime(2025, 3, 21, 9, 0, tzinfo=UTC)
CHANNELS = """\
channels:
  - name: a
    url: jsonl:///tmp/parley-grouping/a.jsonl
  - name: b
    url: jsonl:///tmp/parley-grouping/b.jsonl
    mode: digest
  - name: c
    url: jsonl:///tmp/parley-grouping/c.jsonl
"""


@dataclass(frozen=True)
class Part:
    key: str
    severity: str


def load(tmp_path: Path, routes: str = "") -> list[Channel]:
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS + textwrap.dedent(routes), encoding="utf-8")
    return load_channels(path, {})


def grouped(channels: list[Channel], *parts: Part) -> dict[str, tuple[str, list[str]]]:
    """channel → (mode, topic keys lead first), each topic routed on its own first."""
    chosen = [
        (part, targets(channels, Subject("new", part.key, part.severity, "wire"))) for part in parts
    ]
    return {g.channel.name: (g.mode, [p.key for p in g.parts]) for g in group_by_channel(chosen)}


# --- grouping -------------------------------------------------------------------------------


def test_each_channel_gets_one_group_naming_only_the_topics_routed_to_it(tmp_path: Path) -> None:
    channels = load(
        tmp_path,
        """\
        routes:
          - {name: x-a, topics: [x], channels: [a]}
          - {name: x-b, topics: [x], channels: [b]}
          - {name: y-b-now, topics: [y], channels: [b], mode: immediate}
          - {name: y-c, topics: [y], channels: [c], mode: digest}
        """,
    )
    assert grouped(channels, Part("x", "medium"), Part("y", "high")) == {
        "a": ("immediate", ["x"]),  # y's routes never chose a: a's message does not name it
        "b": ("immediate", ["y", "x"]),  # one group; y chose immediate for b, x its digest
        "c": ("digest", ["y"]),
    }


def test_a_channel_all_of_whose_topics_chose_its_digest_gets_one_digest_row(
    tmp_path: Path,
) -> None:
    channels = load(tmp_path)  # no routes: each channel is its own route, b a digest channel
    assert grouped(channels, Part("x", "low"), Part("y", "critical"), Part("z", "high")) == {
        name: (mode, ["y", "z", "x"])
        for name, mode in (("a", "immediate"), ("b", "digest"), ("c", "immediate"))
    }


def test_a_channels_own_tags_and_severity_still_limit_its_topics(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "channels:\n"
        "  - {name: desk, url: 'jsonl:///tmp/parley-grouping/d.jsonl', tags: [x, y]}\n"
        "  - {name: urgent, url: 'jsonl:///tmp/parley-grouping/u.jsonl', min_severity: high}\n",
        encoding="utf-8",
    )
    channels = load_channels(path, {})
    assert grouped(channels, Part("x", "medium"), Part("y", "high"), Part("z", "critical")) == {
        "desk": ("immediate", ["y", "x"]),
        "urgent": ("immediate", ["z", "y"]),
    }


def test_no_channel_chosen_no_group(tmp_path: Path) -> None:
    channels = load(tmp_path, "routes:\n  - {topics: [x], channels: [a]}\n")
    assert grouped(channels, Part("y", "high")) == {}
    assert group_by_channel([]) == []


def test_the_lead_is_the_highest_severity_and_ties_keep_their_order() -> None:
    parts = [Part("p", "medium"), Part("q", "high"), Part("r", "medium"), Part("s", "high")]
    assert [p.key for p in lead_first(parts)] == ["q", "s", "p", "r"]


# --- the key and the topic_key column ------------------------------------------------------


def _feed_entry(revision: int = 1) -> tuple[Feed, Entry]:
    feed = Feed(url="https://wire.example/rss", name="Dnipro Wire")
    entry = Entry(feed_id=1, uid="wire-1", title="t", content_hash="0" * 64, revision=revision)
    return feed, entry


def test_the_key_does_not_depend_on_the_order_of_the_topics_but_on_all_else() -> None:
    feed, entry = _feed_entry()
    key = idempotency_key(feed, entry, ["talks", "black-sea"], "desk")
    assert key == idempotency_key(feed, entry, ["black-sea", "talks"], "desk")
    assert key == idempotency_key(feed, entry, ("talks", "black-sea", "talks"), "desk")
    others = {
        idempotency_key(feed, entry, ["black-sea"], "desk"),
        idempotency_key(feed, entry, ["black-sea", "talks"], "archive"),
        idempotency_key(feed, _feed_entry(revision=2)[1], ["black-sea", "talks"], "desk"),
    }
    assert key not in others and len(others) == 3


def test_one_topic_keeps_the_key_of_per_topic_alerts() -> None:
    """Rows queued before alerts were grouped are found again: one topic, the same key."""
    feed, entry = _feed_entry()
    before = "\x1f".join((feed.url, entry.uid, "1", "znpp", "desk"))
    assert (
        idempotency_key(feed, entry, ["znpp"], "desk")
        == hashlib.sha256(before.encode()).hexdigest()
    )


def test_topic_key_column_holds_the_topics_lead_first_as_many_as_fit() -> None:
    assert outbox.pack_topics(["black-sea", "talks"]) == "black-sea,talks"
    assert outbox.row_topics("black-sea,talks") == ["black-sea", "talks"]
    assert outbox.row_topics("znpp") == ["znpp"]
    many = [f"topic-{n:02}-{'x' * 20}" for n in range(10)]
    packed = outbox.pack_topics(many)
    assert len(packed) <= outbox.TOPIC_KEY_LENGTH
    assert outbox.row_topics(packed) == many[: len(outbox.row_topics(packed))]
    assert outbox.row_topics(packed)[0] == many[0]


# --- the rows ------------------------------------------------------------------------------


def _view(key: str, name: str, severity: str, kind: str = "new") -> AlertView:
    return AlertView(
        kind=kind,
        topic_name=name,
        topic_key=key,
        severity=severity,
        headline="Insurers count 63 vessels waiting",
        outlet="Dnipro Wire",
        published_at=NOW,
        link="https://wire.example/1",
        terms=(name,),
        field="title",
        snippet=f"«{name}» …",
    )


def test_one_row_per_channel_naming_its_topics_queued_once(tmp_path: Path, engine: Engine) -> None:
    channels = load(
        tmp_path,
        """\
        routes:
          - {name: talks-a, topics: [talks], channels: [a]}
          - {name: all-b, channels: [b]}
        """,
    )
    with session_scope(engine) as session:
        feed = Feed(url="https://wire.example/rss", name="Dnipro Wire", tier="wire")
        session.add(feed)
        session.flush()
        assert feed.id is not None
        entry = Entry(feed_id=feed.id, uid="wire-1", title="t", content_hash="0" * 64)
        session.add(entry)
        session.flush()
        assert entry.id is not None
        parts = []
        topics = (("talks", "Peace talks", "medium"), ("black-sea", "Black Sea", "high"))
        for key, name, severity in topics:
            match = Match(
                entry_id=entry.id,
                revision=1,
                topic_key=key,
                severity=severity,
                kind="new",
                field="title",
            )
            session.add(match)
            session.flush()
            assert match.id is not None
            chosen = targets(channels, Subject("new", key, severity, "wire"))
            parts.append(TopicAlert(_view(key, name, severity), match.id, chosen))
        lead_match = parts[1].match_id
        queued = queue_item_alerts(session, feed, entry, parts, ZoneInfo("UTC"), NOW)
        assert queued == {"talks": 1, "black-sea": 1}  # a's row leads with talks, b's black-sea
        again = queue_item_alerts(session, feed, entry, parts[::-1], ZoneInfo("UTC"), NOW)
        assert sum(again.values()) == 0  # a re-run (in any topic order) finds the keys
        rows = {row.channel: row for row in session.exec(select(OutboxAlert))}
    assert set(rows) == {"a", "b"}
    a = rows["a"]
    assert (a.topic_key, a.severity, a.mode) == ("talks", "medium", "immediate")
    assert a.title == "[Peace talks] Insurers count 63 vessels waiting — Dnipro Wire"
    b = rows["b"]
    assert (b.topic_key, b.severity, b.mode) == ("black-sea,talks", "high", "digest")
    assert b.match_id == lead_match  # the lead topic's match
    assert b.title == "[Black Sea · Peace talks] Insurers count 63 vessels waiting — Dnipro Wire"
    assert "Severity: high · Topics: Black Sea, Peace talks" in b.body


def test_a_renamed_topic_is_renamed_among_the_others_of_a_row(engine: Engine) -> None:
    """A topics file's ``replaces:`` moves outbox rows of the old key, alone or not."""
    packed = ["old-key", "old-key,talks", "black-sea,old-key", "a,old-key,b", "old-keyx,old-keys"]
    with session_scope(engine) as session:
        for n, topics in enumerate(packed):
            outbox.enqueue(
                session,
                key=f"k{n}",
                channel="desk",
                kind="new",
                topic_key=topics,
                title="t",
                body="b",
                now=NOW,
            )
    with session_scope(engine) as session:
        assert rename_topic_keys(session, {"old-key": "new-key"}) == 4
    with session_scope(engine) as session:
        assert rename_topic_keys(session, {"old-key": "new-key"}) == 0
        rows = session.exec(select(OutboxAlert).order_by(col(OutboxAlert.id)))
        stored = [row.topic_key for row in rows]
    assert stored == [
        "new-key",
        "new-key,talks",
        "black-sea,new-key",
        "a,new-key,b",
        "old-keyx,old-keys",
    ]
