"""Digest channels: their alerts wait in the outbox and go out as ONE message, by topic and story."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from flowrun import jsonl_alerts
from receivers import SmtpReceiver, WebhookReceiver
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from parley.alerts.channels import Channel, ChannelError, load_channels
from parley.flows.pipeline.deliver import deliver_due
from parley.flows.pipeline.digest import DigestReport, build_digests
from parley.storage import outbox
from parley.storage.db import session_scope
from parley.storage.models import Entry, Feed, Match, OutboxAlert
from parley.storage.stories import add_to_story, open_story

KYIV = ZoneInfo("Europe/Kyiv")
QUEUED = datetime(2025, 3, 20, 18, 0, tzinfo=KYIV)
MORNING = datetime(2025, 3, 21, 7, 0, tzinfo=KYIV)
TOPICS = {"znpp": "Zaporizhzhia NPP", "grain": "Black Sea grain", "pows": "Prisoner exchange"}
STORY_SIZE = 5  # the first five znpp reports are one story


def write_channels(tmp_path: Path, channels: list[dict[str, object]]) -> list[Channel]:
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump({"channels": channels}), encoding="utf-8")
    return load_channels(path, {})


def queue_alerts(engine: Engine, channels: list[Channel], per_topic: int = 10) -> None:
    """``per_topic`` matched entries on each topic, one outbox row per entry × channel."""
    with session_scope(engine) as session:
        feed = Feed(url="https://wire.example/rss", name="Dnipro Wire")
        session.add(feed)
        session.flush()
        assert feed.id is not None
        story = None
        n = 0
        for topic in TOPICS:
            for i in range(per_topic):
                n += 1
                when = QUEUED + timedelta(minutes=n)
                entry = Entry(feed_id=feed.id, uid=f"{topic}-{i}", title=f"{topic} report {i}",
                              link=f"https://wire.example/{topic}/{i}?a=1&b=2",
                              content_hash=f"{n:064x}")  # fmt: skip
                session.add(entry)
                session.flush()
                assert entry.id is not None
                if topic == "znpp" and i < STORY_SIZE:
                    if story is None:
                        story = open_story(session, topic_key=topic, entry=entry, official=False,
                                           signature=[], facts={}, when=when)  # fmt: skip
                    else:
                        add_to_story(session, story, entry, role="coverage", added={}, when=when)
                match = Match(entry_id=entry.id, revision=1, topic_key=topic, severity="medium",
                              kind="new", field="title", created_at=when)  # fmt: skip
                session.add(match)
                session.flush()
                for channel in channels:
                    outbox.enqueue(session, key=f"{n}-{channel.name}", channel=channel.name,
                                   kind="new", topic_key=topic, title=f"[{TOPICS[topic]}] {i}",
                                   body="b", now=when, match_id=match.id,
                                   mode=channel.mode)  # fmt: skip


def digest(engine: Engine, channels: list[Channel], now: datetime = MORNING) -> DigestReport:
    with Session(engine, expire_on_commit=False) as session:
        return build_digests(session, channels, now, KYIV, topic_names=TOPICS, max_attempts=3,
                             timeout=10)  # fmt: skip


def rows(engine: Engine, channel: str) -> list[OutboxAlert]:
    with Session(engine) as session:
        query = select(OutboxAlert).where(OutboxAlert.channel == channel)
        return list(session.exec(query))


def test_one_digest_by_topic_and_story_immediate_alerts_unchanged(
    tmp_path: Path, engine: Engine
) -> None:
    brief, wire = tmp_path / "brief.jsonl", tmp_path / "wire.jsonl"
    channels = write_channels(tmp_path, [
        {"name": "brief", "url": f"jsonl://{brief}", "mode": "digest"},
        {"name": "wire", "url": f"jsonl://{wire}"},
    ])  # fmt: skip
    assert [c.mode for c in channels] == ["digest", "immediate"]
    queue_alerts(engine, channels)
    assert {r.mode for r in rows(engine, "brief")} == {"digest"}

    delivered = deliver_due(engine, channels, lambda: MORNING, max_attempts=3, timeout=10)
    assert (delivered.sent, delivered.failed) == (30, 0)
    assert len(jsonl_alerts(wire)) == 30
    assert jsonl_alerts(brief) == []

    report = digest(engine, channels)
    assert (report.sent, report.alerts, report.failed) == (1, 30, 0)
    (message,) = jsonl_alerts(brief)
    assert message["title"] == "parley digest — 30 alerts on 3 topics (2025-03-21 07:00 EET)"
    body = str(message["body"])
    positions = [body.index(f"{name} (10)") for name in TOPICS.values()]
    assert positions == sorted(positions)
    assert "- znpp report 0 — Dnipro Wire, + 4 more reports" in body
    assert "- znpp report 5 — Dnipro Wire\n" in body
    assert body.count("\n- ") + body.startswith("- ") == 10 - STORY_SIZE + 1 + 20
    assert {(r.status, r.attempts) for r in rows(engine, "brief")} == {("sent", 1)}

    again = digest(engine, channels, MORNING + timedelta(days=1))
    assert (again.sent, again.alerts) == (0, 0)
    assert len(jsonl_alerts(brief)) == 1
    assert len(jsonl_alerts(wire)) == 30


def test_a_failed_digest_keeps_its_alerts_and_the_next_sends_once(
    tmp_path: Path, engine: Engine
) -> None:
    with WebhookReceiver(status=500) as hook:
        channels = write_channels(tmp_path, [
            {"name": "hook", "url": hook.url(), "mode": "digest"},
        ])  # fmt: skip
        queue_alerts(engine, channels, per_topic=2)
        assert deliver_due(engine, channels, lambda: MORNING, max_attempts=3, timeout=10).sent == 0
        assert hook.requests == []

        failed = digest(engine, channels)
        assert (failed.sent, failed.failed) == (0, 1)
        assert "hook" in failed.errors[0]
        pending = rows(engine, "hook")
        assert {(r.status, r.attempts) for r in pending} == {("pending", 1)}
        assert all(r.last_error for r in pending)

        hook.status = 200
        report = digest(engine, channels, MORNING + timedelta(days=1))
        assert (report.sent, report.alerts) == (1, 6)
        assert len(hook.wait_for(2)) == 2
        assert "6 alerts on 3 topics" in str(hook.requests[-1].json()["title"])
        assert {r.status for r in rows(engine, "hook")} == {"sent"}
        assert digest(engine, channels, MORNING + timedelta(days=2)).sent == 0
        assert len(hook.requests) == 2


def test_a_channel_no_longer_in_digest_mode_gets_its_waiting_alerts(
    tmp_path: Path, engine: Engine
) -> None:
    sink = tmp_path / "brief.jsonl"
    as_digest = write_channels(tmp_path, [{"name": "brief", "url": f"jsonl://{sink}",
                                           "mode": "digest"}])  # fmt: skip
    queue_alerts(engine, as_digest, per_topic=1)
    immediate = write_channels(tmp_path, [{"name": "brief", "url": f"jsonl://{sink}"}])
    assert deliver_due(engine, immediate, lambda: MORNING, max_attempts=3, timeout=10).sent == 3


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as server:
        yield server


def test_email_digest_is_html_with_links(
    tmp_path: Path, engine: Engine, smtp: SmtpReceiver
) -> None:
    channels = write_channels(tmp_path, [
        {"name": "chief", "url": smtp.url("parley@example.org", "chief@example.org"),
         "mode": "digest"},
    ])  # fmt: skip
    queue_alerts(engine, channels, per_topic=2)
    report = digest(engine, channels)
    assert (report.sent, report.alerts, report.failed) == (1, 6, 0), report.errors
    (mail,) = smtp.wait_for(1)
    assert mail.subject == "parley digest — 6 alerts on 3 topics (2025-03-21 07:00 EET)"
    types = [part.get_content_type() for part in mail.message.walk()]
    assert "text/html" in types
    html_part = mail.message.get_body(preferencelist=("html",))
    assert html_part is not None
    page = str(html_part.get_content())
    assert '<a href="https://wire.example/znpp/0?a=1&amp;b=2">znpp report 0</a>' in page
    positions = [page.index(f"<h2>{name} (2)</h2>") for name in TOPICS.values()]
    assert positions == sorted(positions)
    assert {r.status for r in rows(engine, "chief")} == {"sent"}


@pytest.mark.parametrize("mode", ["weekly", 3])
def test_an_unknown_mode_names_file_line_and_channel(tmp_path: Path, mode: object) -> None:
    with pytest.raises(ChannelError, match=r"channels\.yaml, line \d+: channel 'brief': mode"):
        write_channels(tmp_path, [{"name": "brief", "url": "console://", "mode": mode}])
