"""Per-channel rate limits: a burst over K messages in M minutes goes out as ONE bundle.

The bundle is grouped by topic and story like the digest, its rows share a bundle id, health
and critical alerts always go on their own, quiet hours apply first, and a crash between the
bundle's send and its record sends the bundle again once, after the lease has run out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from clirun import Cli, clean_environ
from flowrun import Monitor, demo_feeds, publish
from receivers import SmtpReceiver, WebhookReceiver
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from parley.alerts.channel_file import load_channels
from parley.alerts.channels import Channel, ChannelError
from parley.alerts.notify import SendOutcome, send
from parley.alerts.ratelimit import parse_rate_limit
from parley.flows.ingest.localserver import FeedServer
from parley.flows.pipeline.deliver import deliver_due
from parley.flows.pipeline.report import DeliveryReport
from parley.storage import outbox
from parley.storage.db import session_scope
from parley.storage.models import DeliveryAttempt, Entry, Feed, Match, OutboxAlert, Story
from parley.storage.stories import add_to_story, open_story

KYIV = ZoneInfo("Europe/Kyiv")
NOW = datetime(2025, 3, 21, 10, 0, tzinfo=UTC)
TOPICS = {"znpp": "Zaporizhzhia NPP", "grain": "Black Sea grain"}
TOPICS_FILE = Path(__file__).resolve().parents[1] / "seeds" / "topics.yaml"


def write_channels(tmp_path: Path, channels: list[dict[str, object]]) -> list[Channel]:
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump({"channels": channels}), encoding="utf-8")
    return load_channels(path, {})


class Queue:
    """Queues matched alerts for channels: entries of one feed, every znpp one in one story."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.n = 0
        with session_scope(engine) as session:
            feed = Feed(url="https://wire.example/rss", name="Dnipro Wire")
            session.add(feed)
            session.flush()
            assert feed.id is not None
            self.feed_id = feed.id
        self.story_id: int | None = None

    def add(
        self,
        channels: list[Channel],
        topic: str = "znpp",
        *,
        severity: str = "medium",
        kind: str = "new",
        at: datetime = NOW,
    ) -> None:
        self.n += 1
        with session_scope(self.engine) as session:
            entry = Entry(feed_id=self.feed_id, uid=f"e{self.n}", title=f"{topic} report {self.n}",
                          link=f"https://wire.example/{self.n}", content_hash=f"{self.n:064x}")  # fmt: skip
            session.add(entry)
            session.flush()
            assert entry.id is not None
            if topic == "znpp" and kind != "health":
                if self.story_id is None:
                    story = open_story(session, topic_key=topic, entry=entry, official=False,
                                       signature=[], facts={}, when=at)  # fmt: skip
                    self.story_id = story.id
                else:
                    story = session.get_one(Story, self.story_id)
                    add_to_story(session, story, entry, role="coverage", added={}, when=at)
            match = Match(entry_id=entry.id, revision=1, topic_key=topic, severity=severity,
                          kind="new", field="title", created_at=at)  # fmt: skip
            session.add(match)
            session.flush()
            for channel in channels:
                outbox.enqueue(session, key=f"{self.n}-{channel.name}", channel=channel.name,
                               kind=kind, topic_key=topic, severity=severity,
                               title=f"[{TOPICS.get(topic, topic)}] alert {self.n}",
                               body=f"body {self.n}", now=at,
                               match_id=None if kind == "health" else match.id)  # fmt: skip


def deliver(
    engine: Engine, channels: list[Channel], at: datetime = NOW, **kwargs: object
) -> DeliveryReport:
    return deliver_due(engine, channels, lambda: at, max_attempts=3, timeout=5, zone=KYIV,
                       topic_names=TOPICS, **kwargs)  # fmt: skip


def rows(engine: Engine) -> list[OutboxAlert]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxAlert).order_by(col(OutboxAlert.id))))


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


# --- the rate_limit key -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "window"),
    [
        ("5/10m", 5, timedelta(minutes=10)),
        ("3/h", 3, timedelta(hours=1)),
        (" 20 / 30s ", 20, timedelta(seconds=30)),
    ],
)
def test_rate_limit_forms(text: str, count: int, window: timedelta) -> None:
    limit = parse_rate_limit(text)
    assert (limit.count, limit.window) == (count, window)


@pytest.mark.parametrize("value", ["5 per minute", "0/5m", "5/0m", "5/10d", 5])
def test_a_bad_rate_limit_names_file_line_and_channel(tmp_path: Path, value: object) -> None:
    with pytest.raises(ChannelError, match=r"channels\.yaml, line 4: channel 'desk': rate_limit"):
        write_channels(tmp_path, [
            {"name": "terminal", "url": "console://"},
            {"name": "desk", "url": "console://", "rate_limit": value},
        ])  # fmt: skip


def test_a_digest_channel_takes_no_rate_limit(tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match="channel 'brief': rate_limit applies to immediate"):
        write_channels(tmp_path, [{"name": "brief", "url": "console://", "mode": "digest",
                                   "rate_limit": "5/10m"}])  # fmt: skip


def test_parley_init_reports_a_bad_rate_limit_in_one_line(tmp_path: Path) -> None:
    channels = tmp_path / "channels.yaml"
    channels.write_text(
        "channels:\n  - name: desk\n    url: console://\n    rate_limit: fast\n", "utf-8"
    )
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: One\n    url: http://127.0.0.1:9/one.xml\n", "utf-8")
    cli = Cli(tmp_path, {**clean_environ(), "PARLEY_DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
                         "PARLEY_TOPICS_FILE": str(TOPICS_FILE), "PARLEY_FEEDS_FILE": str(feeds),
                         "PARLEY_CHANNELS_FILE": str(channels),
                         "PREFECT_SERVER_EPHEMERAL_ENABLED": "false"})  # fmt: skip
    result = cli("init")
    assert result.code == 2, result
    assert "Traceback" not in result.both
    [line] = result.err.strip().splitlines()
    assert line.startswith(f"error: {channels}, line 2: channel 'desk': rate_limit 'fast'")


# --- bundling ---------------------------------------------------------------------------


def test_a_burst_goes_as_singles_then_one_bundle_by_topic_and_story(
    tmp_path: Path, engine: Engine, hook: WebhookReceiver
) -> None:
    [desk] = channels = write_channels(tmp_path, [
        {"name": "desk", "url": hook.url(), "rate_limit": "3/10m"},
    ])  # fmt: skip
    queue = Queue(engine)
    for i in range(10):
        queue.add(channels, "znpp" if i < 6 else "grain")

    report = deliver(engine, channels)
    assert (report.sent, report.bundles, report.failed, report.deferred) == (10, 1, 0, 0)
    first, second, bundle = (r.json() for r in hook.wait_for(3))
    assert len(hook.requests) == 3  # 3/10m: two alerts alone, the third message a bundle
    assert (first["title"], second["title"]) == ("[Zaporizhzhia NPP] alert 1",
                                                 "[Zaporizhzhia NPP] alert 2")  # fmt: skip
    assert (
        bundle["title"]
        == "[parley] 8 alerts on Zaporizhzhia NPP, Black Sea grain (rate limit 3/10m)"
    )
    body = bundle["message"]
    assert body.index("Zaporizhzhia NPP (4)") < body.index("Black Sea grain (4)")
    assert "- znpp report 1 — Dnipro Wire, + 3 more reports" in body  # one story, 4 alerts
    assert "- grain report 7 — Dnipro Wire\n" in body

    stored = rows(engine)
    assert {r.status for r in stored} == {"sent"}
    assert [r.bundle_id is None for r in stored] == [True, True] + [False] * 8
    assert len({r.bundle_id for r in stored[2:]}) == 1
    with Session(engine) as session:
        tries = list(session.exec(select(DeliveryAttempt)))
    assert len(tries) == 10  # one per row, the bundle's carrying its id
    assert {t.bundle_id for t in tries if t.bundle_id} == {stored[2].bundle_id}
    assert all(t.ok and t.service == "JSON" and t.target == desk.safe_url for t in tries)


def test_a_spent_limit_holds_alerts_until_the_window_has_room(
    tmp_path: Path, engine: Engine, hook: WebhookReceiver
) -> None:
    channels = write_channels(
        tmp_path, [{"name": "desk", "url": hook.url(), "rate_limit": "2/10m"}]
    )
    queue = Queue(engine)
    queue.add(channels)
    queue.add(channels)
    assert deliver(engine, channels).sent == 2
    later = NOW + timedelta(minutes=4)
    for _ in range(3):
        queue.add(channels, "grain", at=later)

    held = deliver(engine, channels, later)
    assert (held.sent, held.deferred) == (0, 3)
    assert len(hook.requests) == 2
    pending = [r for r in rows(engine) if r.status == "pending"]
    assert {r.next_attempt_at for r in pending} == {NOW + timedelta(minutes=10)}
    assert {r.attempts for r in pending} == {0}  # waiting is not a failed try

    assert deliver(engine, channels, NOW + timedelta(minutes=9)).sent == 0
    room = deliver(engine, channels, NOW + timedelta(minutes=10))
    assert (room.sent, room.bundles) == (3, 1)  # room for 2: one alert, then a bundle of 2
    titles = [r.json()["title"] for r in hook.wait_for(4)]
    assert titles[2:] == ["[Black Sea grain] alert 3",
                          "[parley] 2 alerts on Black Sea grain (rate limit 2/10m)"]  # fmt: skip


def test_critical_and_health_alerts_are_never_bundled(
    tmp_path: Path, engine: Engine, hook: WebhookReceiver
) -> None:
    channels = write_channels(tmp_path, [{"name": "desk", "url": hook.url(), "rate_limit": "3/h"}])
    queue = Queue(engine)
    for _ in range(4):
        queue.add(channels)
    queue.add(channels, severity="critical")
    queue.add(channels, "health", kind="health", severity="high")

    report = deliver(engine, channels)
    assert (report.sent, report.bundles) == (6, 1)
    titles = [r.json()["title"] for r in hook.wait_for(3)]
    assert titles == ["[Zaporizhzhia NPP] alert 5", "[health] alert 6",
                      "[parley] 4 alerts on Zaporizhzhia NPP (rate limit 3/h)"]  # fmt: skip
    stored = rows(engine)
    assert [r.bundle_id is not None for r in stored] == [True] * 4 + [False, False]


def test_quiet_hours_hold_alerts_before_the_rate_limit_counts(
    tmp_path: Path, engine: Engine, hook: WebhookReceiver
) -> None:
    channels = write_channels(tmp_path, [
        {"name": "desk", "url": hook.url(), "rate_limit": "1/h", "quiet_hours": "11:00-13:00"},
    ])  # fmt: skip
    queue = Queue(engine)
    for _ in range(3):
        queue.add(channels)
    queue.add(channels, severity="critical")

    night = deliver(engine, channels)  # 12:00 in Kyiv: quiet
    assert (night.sent, night.deferred, night.bundles) == (1, 3, 0)
    assert [r.json()["title"] for r in hook.wait_for(1)] == ["[Zaporizhzhia NPP] alert 4"]

    # Quiet hours end at 13:00 Kyiv (11:00 UTC); the critical alert spent the hour's one send.
    morning = deliver(engine, channels, NOW + timedelta(hours=1))
    assert (morning.sent, morning.bundles) == (3, 1)
    assert hook.wait_for(2)[-1].json()["title"].startswith("[parley] 3 alerts on")


def test_an_email_bundle_is_html_grouped_like_the_digest(tmp_path: Path, engine: Engine) -> None:
    with SmtpReceiver() as smtp:
        channels = write_channels(tmp_path, [
            {"name": "chief", "url": smtp.url("parley@example.org", "chief@example.org"),
             "rate_limit": "1/h"},
        ])  # fmt: skip
        queue = Queue(engine)
        for topic in ("znpp", "znpp", "grain"):
            queue.add(channels, topic)
        report = deliver(engine, channels)
        assert (report.sent, report.bundles, report.failed) == (3, 1, 0), report.errors
        (mail,) = smtp.wait_for(1)
    assert mail.subject == "[parley] 3 alerts on Zaporizhzhia NPP, Black Sea grain (rate limit 1/h)"
    html_part = mail.message.get_body(preferencelist=("html",))
    assert html_part is not None
    page = str(html_part.get_content())
    assert "<h2>Zaporizhzhia NPP (2)</h2>" in page
    assert '<a href="https://wire.example/1">znpp report 1</a>' in page


def test_a_bundle_to_a_markdown_channel_is_markdown(
    tmp_path: Path, engine: Engine, hook: WebhookReceiver
) -> None:
    channels = write_channels(tmp_path, [
        {"name": "chat", "url": hook.url(), "rate_limit": "1/h", "format": "markdown"},
    ])  # fmt: skip
    queue = Queue(engine)
    for topic in ("znpp", "znpp", "grain"):
        queue.add(channels, topic)
    report = deliver(engine, channels)
    assert (report.sent, report.bundles, report.failed) == (3, 1, 0), report.errors
    (bundle,) = (r.json() for r in hook.wait_for(1))
    assert (
        bundle["title"] == "[parley] 3 alerts on Zaporizhzhia NPP, Black Sea grain (rate limit 1/h)"
    )
    assert bundle["message"].split("\n") == [
        "**Zaporizhzhia NPP** (2)",
        "- [znpp report 1](https://wire.example/1) — Dnipro Wire · 2025-03-21 12:00 EET, "
        "+ 1 more report",
        "",
        "**Black Sea grain** (1)",
        "- [grain report 3](https://wire.example/3) — Dnipro Wire · 2025-03-21 12:00 EET",
    ]


class Crash(BaseException):
    """Stands for the process dying right after a send went out."""


def test_a_crash_between_bundle_send_and_record_resends_it_once_after_the_lease(
    tmp_path: Path, engine: Engine, hook: WebhookReceiver
) -> None:
    channels = write_channels(tmp_path, [{"name": "desk", "url": hook.url(), "rate_limit": "1/h"}])
    queue = Queue(engine)
    for _ in range(4):
        queue.add(channels)
    crashed = False

    def crash_after_bundle(channel: Channel, title: str, body: str) -> SendOutcome:
        nonlocal crashed
        outcome = send(channel, title, body, timeout=5)
        if title.startswith("[parley]") and not crashed:
            crashed = True
            raise Crash
        return outcome

    with pytest.raises(Crash):
        deliver(engine, channels, sender=crash_after_bundle)
    assert len(hook.wait_for(1)) == 1  # the bundle went out, but nothing recorded it
    claimed = rows(engine)
    assert {r.status for r in claimed} == {"pending"}
    assert len({r.bundle_id for r in claimed}) == 1 and claimed[0].bundle_id

    # While the lease runs, another run leaves the rows alone.
    assert deliver(engine, channels, NOW + timedelta(minutes=1)).sent == 0
    after_lease = NOW + timedelta(hours=1)
    report = deliver(engine, channels, after_lease, sender=crash_after_bundle)
    assert (report.sent, report.bundles) == (4, 1)
    requests = hook.wait_for(2)
    assert requests[0].json() == requests[1].json()  # the same bundle, once more
    assert {(r.status, r.bundle_id) for r in rows(engine)} == {("sent", claimed[0].bundle_id)}
    assert deliver(engine, channels, after_lease + timedelta(hours=2)).sent == 0
    assert len(hook.requests) == 2


def test_a_failed_bundle_is_retried_as_the_same_bundle(
    tmp_path: Path, engine: Engine, hook: WebhookReceiver
) -> None:
    channels = write_channels(tmp_path, [{"name": "desk", "url": hook.url(), "rate_limit": "1/h"}])
    queue = Queue(engine)
    for _ in range(3):
        queue.add(channels)
    hook.status = 500
    failed = deliver(engine, channels)
    assert (failed.sent, failed.failed) == (0, 3)
    first = rows(engine)
    assert {(r.status, r.attempts) for r in first} == {("pending", 1)}
    hook.status = 200
    retry = deliver(engine, channels, NOW + timedelta(minutes=2))
    assert (retry.sent, retry.bundles) == (3, 1)
    assert {r.bundle_id for r in rows(engine)} == {first[0].bundle_id}
    titles = [r.json()["title"] for r in hook.wait_for(2)]
    assert titles[0] == titles[1]


def test_the_rate_limits_in_the_examples_load() -> None:
    root = Path(__file__).resolve().parents[1]
    seed = yaml.safe_load((root / "seeds" / "channels.example.yaml").read_text("utf-8"))
    readme = (root / "README.md").read_text("utf-8")
    block = readme.split("```yaml\nchannels:", 1)[1].split("```", 1)[0]
    shown = yaml.safe_load("channels:" + block)
    limits = [c["rate_limit"] for c in seed["channels"] + shown["channels"] if "rate_limit" in c]
    assert limits == ["5/10m", "5/10m"]
    assert all(parse_rate_limit(text).window == timedelta(minutes=10) for text in limits)


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_harness")
def test_the_monitor_flow_bundles_a_first_poll_over_the_limit(
    tmp_path: Path, server: FeedServer, hook: WebhookReceiver
) -> None:
    channels: list[dict[str, object]] = [
        {"name": "webhook", "url": hook.url(), "rate_limit": "6/10m"},
    ]
    run = Monitor(tmp_path, server, f"sqlite:///{tmp_path / 'parley.db'}", channels, demo_feeds())
    publish(server, "01-first")
    report = run.cycle()
    assert report.delivery is not None
    alerts = report.alerts_queued  # one per matching item (seeds/demo/README.md)
    assert (report.delivery.sent, report.delivery.bundles) == (alerts, 1)
    titles = [str(r.json()["title"]) for r in hook.requests]
    [bundle] = [t for t in titles if t.startswith("[parley] ")]
    bundled = int(bundle.split()[1])
    assert bundled + len(titles) - 1 == alerts
    assert "Zaporizhzhia nuclear power plant" in bundle  # topic names, not keys
    assert bundle.endswith("(rate limit 6/10m)")
    assert len(titles) == 6  # the critical ones alone, then single ones up to the limit, the bundle
    stored = run.outbox()
    assert {r.status for r in stored} == {"sent"}
    assert sum(r.bundle_id is not None for r in stored) == bundled
    assert all(r.severity != "critical" for r in stored if r.bundle_id)
