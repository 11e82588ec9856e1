"""Alert routes: matching, validation errors, and the monitor flow sending along them."""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from clirun import Cli, clean_environ
from flowrun import SEEDS, Monitor, demo_feeds, jsonl_alerts, publish
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from parley.alerts.channel_file import check_route_topics, load_channels
from parley.alerts.channels import Channel, ChannelError
from parley.alerts.render import RenderedAlert
from parley.alerts.routes import TIERS, Subject, route_kind, targets
from parley.flows.ingest.catalog import TIERS as FEED_TIERS
from parley.flows.ingest.localserver import FeedServer
from parley.flows.pipeline.health import channel_health, queue_health
from parley.storage.db import session_scope
from parley.storage.models import OutboxAlert

NOW = datetime(2025, 3, 21, 9, 0, tzinfo=UTC)
EXAMPLE = SEEDS / "channels.example.yaml"
EXAMPLE_ENV = {
    "PARLEY_WEBHOOK_TOKEN": "dummy-webhook-token",
    "PARLEY_SMTP_PASSWORD": "dummy-smtp-password",
    "PARLEY_SLACK_TOKENS": "T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
    "PARLEY_TELEGRAM_BOT_TOKEN": "123456789:ABCdefGhIJKlmnoPQRsTUVwxyZ",
    "PARLEY_MATRIX_PASSWORD": "dummy-matrix-password",
    "PARLEY_MQTT_PASSWORD": "dummy-mqtt-password",
}
CHANNELS = """\
channels:
  - name: a
    url: jsonl:///tmp/parley-routes/a.jsonl
  - name: b
    url: jsonl:///tmp/parley-routes/b.jsonl
    mode: digest
  - name: c
    url: jsonl:///tmp/parley-routes/c.jsonl
    min_severity: medium
"""


def load(tmp_path: Path, routes: str) -> list[Channel]:
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS + textwrap.dedent(routes), encoding="utf-8")
    return load_channels(path, {})


def sent(channels: list[Channel], kind: str, topic: str = "znpp", severity: str = "high",
         tier: str | None = "media") -> dict[str, str]:  # fmt: skip
    return {c.name: mode for c, mode in targets(channels, Subject(kind, topic, severity, tier))}


# --- matching -------------------------------------------------------------------------------


def test_without_routes_each_channel_is_its_own_route(tmp_path: Path) -> None:
    channels = load(tmp_path, "")
    assert all(c.routes is None for c in channels)
    assert sent(channels, "new") == {"a": "immediate", "b": "digest", "c": "immediate"}
    assert sent(channels, "update", severity="low") == {"a": "immediate", "b": "digest"}
    assert sent(channels, "health", "health", tier=None) == {"a": "immediate", "b": "digest",
                                                             "c": "immediate"}  # fmt: skip
    assert sent(channels, "coverage") == {}  # recorded, never alerted without a route


def test_routes_pick_by_topic_severity_tier_and_kind(tmp_path: Path) -> None:
    channels = load(
        tmp_path,
        """\
        routes:
          - name: znpp-official
            topics: [znpp]
            min_severity: high
            tiers: [primary]
            kinds: [new, development]
            channels: [a]
          - name: black-sea-brief
            topics: [black-sea]
            channels: [a, b]
            mode: digest
          - name: coverage
            kinds: [coverage]
            channels: [b]
          - name: health
            kinds: [health]
            tiers: [wire]
            channels: [c]
        """,
    )
    assert sent(channels, "new", tier="primary") == {"a": "immediate"}
    assert sent(channels, "development", severity="critical", tier="primary") == {"a": "immediate"}
    assert sent(channels, "new", severity="medium", tier="primary") == {}  # below high
    assert sent(channels, "new", tier="media") == {}  # not an official source
    assert sent(channels, "update", tier="primary") == {}  # kind not asked for
    assert sent(channels, "new", "black-sea", "low") == {"a": "digest", "b": "digest"}
    assert sent(channels, "coverage", "talks") == {"b": "digest"}  # b's own mode
    assert sent(channels, "health", "health", tier="wire") == {"c": "immediate"}
    assert sent(channels, "health", "health", tier="media") == {}
    assert sent(channels, "health", "health", tier=None) == {}  # a channel's health: no tier
    assert route_kind("updated") == "update" and route_kind("none") is None


def test_one_row_per_channel_and_immediate_wins(tmp_path: Path) -> None:
    channels = load(
        tmp_path,
        """\
        routes:
          - {name: brief, channels: [a, b], mode: digest}
          - {name: urgent, topics: [znpp], min_severity: critical, channels: [a, b],
             mode: immediate}
          - {name: again, channels: [a, a]}
        """,
    )
    assert [(c.name, m) for c, m in targets(channels, Subject("new", "znpp", "critical"))] == [
        ("a", "immediate"),
        ("b", "immediate"),
    ]
    assert sent(channels, "new", severity="high") == {"a": "immediate", "b": "digest"}
    assert sent(channels, "new", severity="high", tier=None) == {"a": "immediate", "b": "digest"}


def test_with_routes_a_channel_without_one_gets_nothing_and_its_own_limits_hold(
    tmp_path: Path,
) -> None:
    channels = load(
        tmp_path,
        """\
        routes:
          - {channels: [c]}
        """,
    )
    assert sent(channels, "new", severity="high") == {"c": "immediate"}
    assert sent(channels, "new", severity="low") == {}  # c's own min_severity: medium
    a, b, c = channels
    assert a.routes == () and b.routes == ()
    assert [r.name for r in c.routes or ()] == ["#1"]


def test_a_channel_sent_digests_by_a_route_is_a_digest_channel(tmp_path: Path) -> None:
    a, b, c = load(
        tmp_path,
        """\
        routes:
          - {channels: [a], mode: digest}
          - {channels: [c]}
        """,
    )
    assert (a.digest, b.digest, c.digest) == (True, True, False)


def test_route_tiers_are_the_feed_tiers() -> None:
    assert TIERS == FEED_TIERS


def test_health_alerts_follow_health_routes_and_tiers(tmp_path: Path, engine: Engine) -> None:
    channels = load(
        tmp_path,
        """\
        routes:
          - {name: all-health, kinds: [health], channels: [a, b]}
          - {name: wire-health, kinds: [health], tiers: [wire], channels: [c]}
          - {name: znpp, topics: [znpp], kinds: [new, health], channels: [c]}
        """,
    )
    rendered = RenderedAlert("[parley health] Feed failing: X", "body")
    with session_scope(engine) as session:
        feed = queue_health(session, channels, rendered, ("feed", "failing", "1"), NOW, tier="wire")
        media = queue_health(
            session, channels, rendered, ("feed", "failing", "2"), NOW, tier="media"
        )
        dead = channel_health(session, channels, ZoneInfo("UTC"), subject=channels[0],
                              state="failing", streak=None, failures=3, error="HTTP 500",
                              now=NOW)  # fmt: skip
    assert (feed, media, dead) == (3, 2, 1)
    with session_scope(engine) as session:
        rows = session.exec(select(OutboxAlert).order_by(col(OutboxAlert.id))).all()
        got = [(r.channel, r.kind, r.topic_key, r.mode) for r in rows]
    assert got == [
        ("a", "health", "health", "immediate"),
        ("b", "health", "health", "digest"),  # b's own mode
        ("c", "health", "health", "immediate"),
        ("a", "health", "health", "immediate"),
        ("b", "health", "health", "digest"),
        ("b", "health", "health", "digest"),  # a's own failure: not to a, and no tier for c
    ]


# --- validation -----------------------------------------------------------------------------

BAD = [
    ("- {name: x, channels: [nope]}", "route 'x': unknown channel(s) nope"),
    ("- {name: x, channels: [a], kinds: [new, rumour]}", "route 'x': unknown kind(s) rumour"),
    ("- {name: x, channels: [a], tiers: [official]}", "route 'x': unknown tier(s) official"),
    ("- {name: x, channels: [a], tiers: 3}", "route 'x': 'tiers' must be a list of names"),
    ("- {name: x, channels: [a], mode: later}", "route 'x': mode must be one of"),
    ("- {name: x, channels: []}", "route 'x': 'channels' must list at least one channel"),
    ("- {name: x}", "route 'x': 'channels' must list at least one channel"),
    ("- {name: x, channels: [a], topic: [znpp]}", "route 'x': unknown key(s) topic;"),
    ("- {name: x, channels: [a], min_severity: urgent}", "route 'x': min_severity must be one"),
    ("- {name: x, channels: [a], kinds: []}", "route 'x': 'kinds' is empty"),
    ("- {channels: [a]}\n  - {channels: [zz]}", "route '#2': unknown channel(s) zz"),
    ("- just-a-name", "route #1 must be a mapping"),
]


@pytest.mark.parametrize(("routes", "message"), BAD)
def test_each_bad_route_is_one_error_naming_file_line_and_route(
    tmp_path: Path, routes: str, message: str
) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS + "routes:\n  " + routes + "\n", encoding="utf-8")
    line = CHANNELS.count("\n") + 1 + routes.count("\n") + 1
    with pytest.raises(ChannelError) as caught:
        load_channels(path, {})
    assert str(caught.value).startswith(f"{path}, line {line}: {message}")


@pytest.mark.parametrize(
    ("routes", "message"),
    [("routes: {}", "'routes:' must be a list"), ("routes: []", "'routes:' is empty")],
)
def test_routes_must_be_a_non_empty_list(tmp_path: Path, routes: str, message: str) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS + routes + "\n", encoding="utf-8")
    with pytest.raises(ChannelError, match=message) as caught:
        load_channels(path, {})
    assert str(caught.value).startswith(f"{path}, line {CHANNELS.count(chr(10)) + 1}: ")


def test_a_misspelt_routes_key_is_an_error_not_silence(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS + "route:\n  - {channels: [a]}\n", encoding="utf-8")
    with pytest.raises(ChannelError) as caught:
        load_channels(path, {})
    assert str(caught.value) == (
        f"{path}, line 10: unknown top-level key 'route'; allowed: channels, routes"
    )


def test_duplicate_route_names_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS + "routes:\n  - {name: x, channels: [a]}\n  - {name: x, "
                    "channels: [b]}\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(ChannelError, match=r"line 12: route 'x': duplicate name \(first .* 11\)"):
        load_channels(path, {})


def test_a_route_topic_missing_from_the_topics_file_is_an_error(tmp_path: Path) -> None:
    channels = load(
        tmp_path,
        """\
        routes:
          - {name: ok, topics: [znpp], channels: [a]}
          - {name: typo, topics: [zpp, znpp], channels: [b]}
        """,
    )
    path = tmp_path / "channels.yaml"
    check_route_topics(channels, {"znpp", "zpp"}, path)
    with pytest.raises(ChannelError) as caught:
        check_route_topics(channels, {"znpp", "black-sea"}, path)
    assert str(caught.value) == (
        f"{path}, line 12: route 'typo': unknown topic(s) zpp; not in the topics file"
    )


def test_a_bad_route_is_one_clean_error_from_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS + "routes:\n  - {name: x, topics: [nope], channels: [a]}\n",
                    encoding="utf-8")  # fmt: skip
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: One\n    url: http://127.0.0.1:9/one.xml\n", "utf-8")
    topics = SEEDS / "topics.yaml"
    cli = Cli(tmp_path, {**clean_environ(), "PARLEY_CHANNELS_FILE": str(path),
                         "PARLEY_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
                         "PARLEY_TOPICS_FILE": str(topics), "PARLEY_FEEDS_FILE": str(feeds),
                         "PREFECT_HOME": str(tmp_path / "prefect")})  # fmt: skip
    result = cli("init")
    assert result.code != 0
    assert "Traceback" not in result.both
    assert result.err.strip() == (
        f"error: {path}, line 11: route 'x': unknown topic(s) nope; not in {topics}"
    )


def test_the_example_routes_load(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    head, marker, tail = text.partition("# routes:\n")
    assert marker, "the example has a commented routes: section"
    block = [line.removeprefix("#").removeprefix(" ") for line in tail.splitlines()]
    path = tmp_path / "channels.yaml"
    path.write_text(head + "routes:\n" + "\n".join(block) + "\n", encoding="utf-8")
    channels = load_channels(path, EXAMPLE_ENV)
    check_route_topics(channels, _topic_keys(), path)
    assert any(c.routes for c in channels)


def test_the_readme_routes_load_with_its_channels(tmp_path: Path) -> None:
    readme = (SEEDS.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL)
    [channels] = [b for b in blocks if b.startswith("channels:")]
    [routes] = [b for b in blocks if b.startswith("routes:")]
    path = tmp_path / "channels.yaml"
    path.write_text(channels + routes, encoding="utf-8")
    loaded = load_channels(path, {"PARLEY_SMTP_PASSWORD": "dummy-smtp-password"})
    check_route_topics(loaded, _topic_keys(), path)
    mail, archive = loaded
    assert [r.name for r in mail.routes or ()] == ["znpp-now"]
    assert [r.name for r in archive.routes or ()] == ["znpp-now", "prisoner-coverage", "health"]
    assert sent(loaded, "coverage", "prisoner-exchange", "low") == {"archive": "digest"}


def _topic_keys() -> set[str]:
    document = yaml.safe_load((SEEDS / "topics.yaml").read_text(encoding="utf-8"))
    return {str(topic["key"]) for topic in document["topics"]}


# --- end to end -----------------------------------------------------------------------------

ROUTES = [
    {"name": "znpp-now", "topics": ["znpp"], "channels": ["a"]},
    {
        "name": "znpp-new-brief",
        "topics": ["znpp"],
        "kinds": ["new"],
        "channels": ["a"],
        "mode": "digest",
    },
    {"name": "black-sea-brief", "topics": ["black-sea"], "channels": ["b"], "mode": "digest"},
    {
        "name": "prisoners-coverage",
        "topics": ["prisoner-exchange"],
        "kinds": ["coverage"],
        "channels": ["c"],
    },
    {"name": "wire-health", "kinds": ["health"], "tiers": ["wire"], "channels": ["c"]},
]


class RoutedMonitor(Monitor):
    """The Monitor helper with a ``routes:`` section and a failure threshold of 2."""

    def write(self) -> dict[str, str | None]:
        overrides = super().write()
        path = Path(str(overrides["channels_file"]))
        path.write_text(yaml.safe_dump({"channels": self.channels, "routes": ROUTES}), "utf-8")
        return {**overrides, "feed_failure_threshold": "2"}


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_harness")
def test_monitor_sends_each_channel_what_its_routes_say_once(
    tmp_path: Path, server: FeedServer, db_url: str
) -> None:
    sinks = {name: tmp_path / f"{name}.jsonl" for name in "abc"}
    channels: list[dict[str, object]] = [
        {"name": name, "url": f"jsonl://{sink}"} for name, sink in sinks.items()
    ]
    feeds = [*demo_feeds(), {"name": "Broken Wire", "url": "/broken.xml", "tier": "wire"}]
    run = RoutedMonitor(tmp_path, server, db_url, channels, feeds)
    server.set("/broken.xml", b"upstream down", status=500, content_type="text/plain")
    for step in ("01-first", "02-unchanged", "03-news", "04-development"):
        publish(server, step)
        run.cycle()
        run.cycle()  # a re-run adds nothing

    rows = run.outbox()
    by_channel = Counter((r.channel, r.topic_key, r.kind, r.mode) for r in rows)
    assert by_channel == {
        # znpp in step 01: three stories opened, one development; immediate beats digest
        ("a", "znpp", "new", "immediate"): 3,
        ("a", "znpp", "development", "immediate"): 1,
        # black-sea: three stories opened in step 01, the Dnipro Wire edit in step 03
        ("b", "black-sea", "new", "digest"): 3,
        ("b", "black-sea", "updated", "digest"): 1,
        # story A's three later reports in step 03; not its opener nor its development
        ("c", "prisoner-exchange", "coverage", "immediate"): 3,
        ("c", "health", "health", "immediate"): 1,
    }
    assert len({r.idempotency_key for r in rows}) == len(rows)

    a = jsonl_alerts(sinks["a"])
    assert len(a) == 4 and all(str(x["title"]).startswith("[Zaporizhzhia") for x in a)
    assert jsonl_alerts(sinks["b"]) == []  # waiting for the digest
    c = jsonl_alerts(sinks["c"])
    health = [str(x["title"]) for x in c if str(x["title"]).startswith("[parley health]")]
    assert health == ["[parley health] Feed failing: Broken Wire — 2 failures in a row"]
    coverage = [x for x in c if "More coverage: " in str(x["title"])]
    assert len(coverage) == 3
    for alert in coverage:
        assert "More coverage of a known story" in str(alert["body"])
        assert "Story: first seen" in str(alert["body"])
        assert "Opened by:" in str(alert["body"])

    overrides = run.write()
    absolute = tmp_path / "feeds-absolute.yaml"  # the CLI has no base URL for the demo paths
    listed = [{**feed, "url": server.url(str(feed["url"]))} for feed in feeds]
    absolute.write_text(yaml.safe_dump({"feeds": listed}), encoding="utf-8")
    cli = Cli(tmp_path, {**clean_environ(), "PREFECT_HOME": str(tmp_path / "prefect"),
                         "PARLEY_DATABASE_URL": db_url,
                         "PARLEY_TOPICS_FILE": str(SEEDS / "topics.yaml"),
                         "PARLEY_CHANNELS_FILE": str(overrides["channels_file"]),
                         "PARLEY_FEEDS_FILE": str(absolute)})  # fmt: skip
    result = cli("digest", timeout=120)
    assert result.code == 0, result.both
    assert "digest: 1 sent (4 alerts)" in result.out
    [brief] = jsonl_alerts(sinks["b"])
    assert str(brief["title"]).startswith("parley digest — 4 alerts on 1 topic")
    assert len(jsonl_alerts(sinks["a"])) == 4 and len(jsonl_alerts(sinks["c"])) == 4
    assert cli("digest", timeout=120).out.count("digest: 0 sent") == 1
