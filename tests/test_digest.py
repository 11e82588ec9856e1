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

from parley.alerts.channel_file import load_channels
from parley.alerts.channels import Channel, ChannelError
from parley.alerts.render import escape_markdown
from parley.flows.pipeline.deliver import deliver_due
from parley.flows.pipeline.digest import (
    DigestReport,
    StoryLine,
    TopicSection,
    build_digests,
    group_rows,
    render_digest,
)
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


def test_an_alert_on_two_topics_is_listed_under_each_with_that_topics_story(
    tmp_path: Path, engine: Engine
) -> None:
    sink = tmp_path / "brief.jsonl"
    channels = write_channels(
        tmp_path, [{"name": "brief", "url": f"jsonl://{sink}", "mode": "digest"}]
    )
    with session_scope(engine) as session:
        feed = Feed(url="https://wire.example/rss", name="Dnipro Wire")
        session.add(feed)
        session.flush()
        assert feed.id is not None
        title = "Grain ships pass the plant's shore"
        entry = Entry(feed_id=feed.id, uid="both", title=title, content_hash="0" * 64)
        session.add(entry)
        session.flush()
        assert entry.id is not None
        story_ids = {}
        for topic in ("grain", "znpp"):
            story = open_story(
                session,
                topic_key=topic,
                entry=entry,
                official=False,
                signature=[],
                facts={},
                when=QUEUED,
            )
            story_ids[topic] = story.id
        lead = Match(
            entry_id=entry.id,
            revision=1,
            topic_key="grain",
            severity="high",
            kind="new",
            field="title",
        )
        session.add(lead)
        session.flush()
        both = outbox.pack_topics(["grain", "znpp"])
        outbox.enqueue(
            session,
            key="both-brief",
            channel="brief",
            kind="new",
            topic_key=both,
            title="[both] t",
            body="b",
            now=QUEUED,
            match_id=lead.id,
            mode="digest",
        )
    with Session(engine) as session:
        sections = group_rows(session, rows(engine, "brief"), TOPICS)
    assert [(s.key, s.name, s.alerts) for s in sections] == [
        ("grain", "Black Sea grain", 1),
        ("znpp", "Zaporizhzhia NPP", 1),
    ]
    assert [list(s.stories) for s in sections] == [
        [f"story:{story_ids['grain']}"],
        [f"story:{story_ids['znpp']}"],
    ]
    report = digest(engine, channels)
    assert (report.sent, report.alerts) == (1, 1)
    (message,) = jsonl_alerts(sink)
    assert str(message["title"]).startswith("parley digest — 1 alert on 2 topics")
    body = str(message["body"])
    assert body.count(f"- {title} — Dnipro Wire") == 2  # one line in each topic


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


# --- markdown for chat channels ------------------------------------------------------------


def test_markdown_channel_gets_one_markdown_digest_by_topic_and_story(
    tmp_path: Path, engine: Engine
) -> None:
    with WebhookReceiver() as hook:
        channels = write_channels(tmp_path, [
            {"name": "chat", "url": hook.url(), "mode": "digest", "format": "markdown"},
            {"name": "plain", "url": hook.url("/plain"), "mode": "digest"},
        ])  # fmt: skip
        assert [c.format for c in channels] == ["markdown", "text"]
        queue_alerts(engine, channels)
        report = digest(engine, channels)
        assert (report.sent, report.alerts, report.failed) == (2, 60, 0), report.errors
        received = {r.path: r.json() for r in hook.wait_for(2)}
    assert len(hook.requests) == 2  # one message per channel
    message = received["/hook"]
    assert message["title"] == "parley digest — 30 alerts on 3 topics (2025-03-21 07:00 EET)"
    body = str(message["message"])
    sections = body.split("\n\n")
    assert [s.splitlines()[0] for s in sections] == [
        "**Zaporizhzhia NPP** (10)", "**Black Sea grain** (10)", "**Prisoner exchange** (10)",
    ]  # fmt: skip
    znpp, grain, _ = (s.splitlines()[1:] for s in sections)
    assert len(znpp) == 10 - STORY_SIZE + 1 and len(grain) == 10  # a story is one bullet
    assert znpp[0] == (
        "- [znpp report 0](https://wire.example/znpp/0?a=1&b=2) — Dnipro Wire · "
        "2025-03-20 18:01 EET, + 4 more reports"
    )
    assert grain[9] == (
        "- [grain report 9](https://wire.example/grain/9?a=1&b=2) — Dnipro Wire · "
        "2025-03-20 18:20 EET"
    )
    assert all(line.startswith("- [") for line in znpp + grain)
    plain = str(received["/plain"]["message"])
    assert "Zaporizhzhia NPP (10)" in plain and "**" not in plain and "](" not in plain
    assert {r.status for r in rows(engine, "chat")} == {"sent"}


def _section(headline: str, outlet: str, link: str | None, name: str = "Talks") -> TopicSection:
    section = TopicSection("talks", name, alerts=1)
    section.stories["s"] = StoryLine(headline, outlet, link, first_at=MORNING)
    return section


def test_markdown_digest_escapes_headlines_outlets_and_links() -> None:
    nasty = _section(
        "**Breaking** [click](https://evil.example) _now_ ~gone~ |x| `code` <b>hi</b> \\o/",
        "Evil*Outlet [1]",
        "https://news.example/a(1)?q=[2] x",
        name="# Topic *one*",
    )
    body = render_digest([nasty], 1, MORNING, KYIV, body_format="markdown").body
    heading, line = body.splitlines()
    assert heading == "**\\# Topic \\*one\\*** (1)"
    assert line == (
        "- [\\*\\*Breaking\\*\\* \\[click\\] \\(https://evil.example\\) \\_now\\_ \\~gone\\~ "
        "\\|x\\| ʹcodeʹ ‹b›hi‹/b› \\\\o/](https://news.example/a%281%29?q=%5B2%5D%20x)"
        " — Evil\\*Outlet \\[1\\] · 2025-03-21 07:00 EET"
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("1. Talks resume", "1\\. Talks resume"),
        ("- dash", "\\- dash"),
        ("> quoted", "\\> quoted"),
        ("# heading", "\\# heading"),
        ("Talks at 2.5 km, day 3 - calm", "Talks at 2.5 km, day 3 - calm"),
        ("![img](https://x.example/a.png)", "\\!\\[img\\]\\(https://x.example/a.png\\)"),
    ],
)
def test_escape_markdown(text: str, shown: str) -> None:
    assert escape_markdown(text) == shown


def test_a_markdown_story_without_a_safe_link_has_no_link() -> None:
    section = _section("Plain", "", "javascript:alert(1)")
    body = render_digest([section], 1, MORNING, KYIV, body_format="markdown").body
    assert body.splitlines()[1] == "- Plain — 2025-03-21 07:00 EET"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("slack://T1abcdefg/B1abcdefg/abcdefghijklmnopqrstuvwx/#talks", "markdown"),
        ("discord://123456/abcdefghij", "markdown"),
        ("matrixs://u:p@matrix.example.org/#room:example.org", "markdown"),
        ("rocket://user:pass@chat.example.org/#talks", "markdown"),
        ("tgram://123456789:abcdefghijklmnopqrstuvwxyz12345/-1001234567890", "html"),
        ("mailto://127.0.0.1:2525?from=a@example.org&to=b@example.org", "html"),
        ("json://127.0.0.1:9/hook", "text"),
        ("mmost://chat.example.org/token1234567", "text"),
        ("console://", "text"),
    ],
)
def test_the_format_comes_from_what_the_apprise_service_takes(
    tmp_path: Path, url: str, expected: str
) -> None:
    (channel,) = write_channels(tmp_path, [{"name": "c", "url": url}])
    assert channel.format == expected


def test_the_format_key_overrides_and_reaches_apprise(tmp_path: Path) -> None:
    (mattermost,) = write_channels(tmp_path, [
        {"name": "mm", "url": "mmost://chat.example.org/token1234567", "format": "markdown"},
    ])  # fmt: skip
    assert mattermost.format == "markdown"
    assert "format=markdown" in mattermost.safe_url  # apprise then sends it as it is
    (email,) = write_channels(tmp_path, [
        {"name": "mail", "url": "mailto://127.0.0.1:2525?from=a@example.org&to=b@example.org",
         "format": "text"},
    ])  # fmt: skip
    assert email.format == "text"


@pytest.mark.parametrize("value", ["rich", 3])
def test_a_bad_format_names_file_line_and_channel(tmp_path: Path, value: object) -> None:
    with pytest.raises(
        ChannelError, match=r"channels\.yaml, line 4: channel 'chat': format must be one of"
    ):
        write_channels(tmp_path, [
            {"name": "terminal", "url": "console://"},
            {"name": "chat", "url": "console://", "format": value},
        ])  # fmt: skip


def test_a_format_key_contradicting_the_url_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match=r"line 2: channel 'chat': format 'html' contradicts"):
        write_channels(tmp_path, [
            {"name": "chat", "url": "json://127.0.0.1:9/hook?format=markdown", "format": "html"},
        ])  # fmt: skip


def test_a_bad_format_in_the_url_is_an_error_without_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        yaml.safe_dump(
            {"channels": [{"name": "chat", "url": "json://127.0.0.1:9/h?format=${TOK}"}]}
        ),
        encoding="utf-8",
    )
    with pytest.raises(ChannelError, match=r"channel 'chat': format='\*\*\*' in url") as info:
        load_channels(path, {"TOK": "Secret-Tok-99"})
    assert "Secret-Tok-99" not in str(info.value)
