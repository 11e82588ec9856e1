"""The `parley` command from the outside: the real console script in a subprocess.

Configuration mistakes end with exit code 2 and one line on stderr that names the file and
line, the channel or the database — with secrets masked and never a traceback. The state for
`parley feeds` and `parley alerts` comes from a real monitor cycle run in this process.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml
from clirun import Cli, Result, clean_environ
from flowrun import DEMO, demo_feeds, jsonl_alerts, publish
from receivers import WebhookReceiver

from parley.flows.ingest.localserver import FeedServer
from parley.flows.pipeline.report import CycleReport
from parley.flows.topics.load import load_topics

TOPICS = DEMO.parent / "topics.yaml"
SECRET = "tok-Secret-58c1e7f2"
DB_PASSWORD = "pw-Secret-d41d8c"
COMMAND_TIMEOUT = 60
RUN_TIMEOUT = 180


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: One\n    url: http://127.0.0.1:9/one.xml\n", "utf-8")
    env = {
        **clean_environ(),
        "COLUMNS": "250",  # rich tables at full width
        "PARLEY_DATABASE_URL": f"sqlite:///{tmp_path / 'parley.db'}",
        "PARLEY_TOPICS_FILE": str(TOPICS),
        "PARLEY_FEEDS_FILE": str(feeds),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
    }
    return Cli(tmp_path, env)


def _one_clean_error(result: Result) -> str:
    assert result.code == 2, result
    assert "Traceback" not in result.both
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    return lines[0]


def _write_channels(path: Path, channels: list[dict[str, object]]) -> Path:
    path.write_text(yaml.safe_dump({"channels": channels}), encoding="utf-8")
    return path


# --- configuration mistakes -------------------------------------------------------------


def test_broken_topics_yaml_is_one_line_naming_file_and_line(cli: Cli, tmp_path: Path) -> None:
    topics = tmp_path / "topics.yaml"
    topics.write_text(
        "topics:\n  - key: znpp\n    name: [Zaporizhzhia NPP\n    any: [ZNPP]\n", "utf-8"
    )
    line = _one_clean_error(cli("init", PARLEY_TOPICS_FILE=str(topics)))
    assert re.search(rf"{re.escape(str(topics))}:\d+: invalid YAML", line), line


def test_topic_error_names_file_line_and_topic(cli: Cli, tmp_path: Path) -> None:
    topics = tmp_path / "topics.yaml"
    topics.write_text(
        "topics:\n  - key: ok\n    name: OK\n    any: [truce]\n"
        "  - key: Bad Key\n    name: Bad\n    any: [x]\n",
        "utf-8",
    )
    line = _one_clean_error(cli("init", PARLEY_TOPICS_FILE=str(topics)))
    assert f"{topics}:5" in line, line


@pytest.mark.parametrize(
    "url",
    [
        "nosuch://${DESK_TOKEN}@example.org/",  # unknown scheme
        "tgram://${DESK_TOKEN}/",  # apprise rejects the token
        "json://user:${DESK_TOKEN}@",  # no host
    ],
)
def test_bad_channel_url_names_the_channel_and_hides_its_secret(
    cli: Cli, tmp_path: Path, url: str
) -> None:
    channels = _write_channels(
        tmp_path / "channels.yaml",
        [{"name": "terminal", "url": "console://"}, {"name": "desk-alerts", "url": url}],
    )
    result = cli("init", PARLEY_CHANNELS_FILE=str(channels), DESK_TOKEN=SECRET)
    line = _one_clean_error(result)
    assert "channel 'desk-alerts'" in line and str(channels) in line, line
    assert SECRET not in result.both


def test_a_good_channel_secret_never_appears(cli: Cli, tmp_path: Path) -> None:
    channels = _write_channels(
        tmp_path / "channels.yaml",
        [{"name": "desk-hook", "url": "json://127.0.0.1:9/hook?+X-Token=${DESK_TOKEN}"}],
    )
    result = cli("init", PARLEY_CHANNELS_FILE=str(channels), DESK_TOKEN=SECRET)
    assert result.code == 0, result
    assert "channels: desk-hook" in result.out
    assert SECRET not in result.both


def test_unset_secret_variable_names_the_variable(cli: Cli, tmp_path: Path) -> None:
    channels = _write_channels(
        tmp_path / "channels.yaml",
        [{"name": "desk-hook", "url": "json://127.0.0.1:9/hook?+X-Token=${DESK_TOKEN}"}],
    )
    line = _one_clean_error(cli("init", PARLEY_CHANNELS_FILE=str(channels)))
    assert "channel 'desk-hook'" in line and "DESK_TOKEN is not set" in line, line


@pytest.mark.parametrize("command", [["init"], ["alerts", "--status", "dead"]])
def test_unreachable_database_is_named_with_the_password_masked(
    cli: Cli, command: list[str]
) -> None:
    url = f"postgresql+psycopg://nobody:{DB_PASSWORD}@127.0.0.1:1/x"
    result = cli(*command, PARLEY_DATABASE_URL=url)
    line = _one_clean_error(result)
    assert "database postgresql+psycopg://nobody:***@127.0.0.1:1/x" in line, line
    assert "unreachable" in line
    assert DB_PASSWORD not in result.both


def test_bad_setting_names_the_variable(cli: Cli) -> None:
    line = _one_clean_error(cli("init", PARLEY_FETCH_TIMEOUT="soon"))
    assert "PARLEY_FETCH_TIMEOUT" in line, line


def test_bad_date_option_is_a_usage_error(cli: Cli) -> None:
    result = cli("backfill", "--since", "yesterday")
    assert result.code == 2
    assert "Traceback" not in result.both
    assert "'yesterday' is not a date" in result.err


# --- commands on a working setup --------------------------------------------------------


def test_init_prints_what_it_loaded(cli: Cli, tmp_path: Path) -> None:
    channels = _write_channels(
        tmp_path / "channels.yaml",
        [
            {"name": "terminal", "url": "console://"},
            {"name": "file", "url": f"jsonl://{tmp_path / 'alerts.jsonl'}"},
        ],
    )
    result = cli("init", PARLEY_CHANNELS_FILE=str(channels))
    assert result.code == 0, result
    assert result.err == ""
    lines = result.out.splitlines()
    assert lines[0] == f"database ready: sqlite:///{tmp_path / 'parley.db'}"
    assert lines[1] == f"feeds: 1 in {tmp_path / 'feeds.yaml'}"
    assert lines[2] == f"topics: {len(load_topics(TOPICS))} in {TOPICS}"
    assert lines[3] == f"channels: terminal, file ({channels})"
    assert lines[4:] == []  # no routes: each channel is its own route
    assert (tmp_path / "parley.db").exists()


def test_init_lists_the_routes(cli: Cli, tmp_path: Path) -> None:
    channels = tmp_path / "channels.yaml"
    channels.write_text(
        yaml.safe_dump({
            "channels": [{"name": "terminal", "url": "console://"},
                         {"name": "file", "url": f"jsonl://{tmp_path / 'alerts.jsonl'}"}],
            "routes": [{"name": "everything", "channels": ["terminal"]},
                       {"name": "coverage-file", "kinds": ["coverage", "new"],
                        "channels": ["file", "terminal"], "mode": "digest"}],
        }),
        encoding="utf-8",
    )  # fmt: skip
    result = cli("init", PARLEY_CHANNELS_FILE=str(channels))
    assert result.code == 0, result
    assert result.out.splitlines()[4:] == [
        "route everything: development, health, new, update → terminal",
        "route coverage-file: coverage, new → file, terminal (digest)",
    ]


def test_alerts_on_an_empty_store(cli: Cli) -> None:
    result = cli("alerts")
    assert result.code == 0, result
    assert "the outbox is empty" in result.out


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(status=500) as receiver:
        yield receiver


def _cycle(overrides: Mapping[str, str | None], base_url: str) -> CycleReport:
    from parley.flows.monitor import monitor

    return asyncio.run(monitor(base_url=base_url, force=True, overrides=dict(overrides)))


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_harness")
def test_feeds_and_alerts_show_the_state_after_a_cycle(
    cli: Cli, tmp_path: Path, server: FeedServer, hook: WebhookReceiver
) -> None:
    feeds = [{**f, "url": server.url(str(f["url"]))} for f in demo_feeds()]
    feeds.append({"name": "Gone Gazette", "url": server.url("/gone.xml")})
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": feeds}, allow_unicode=True), "utf-8")
    channels = _write_channels(
        tmp_path / "channels.yaml",
        [
            {"name": "file", "url": f"jsonl://{tmp_path / 'alerts.jsonl'}"},
            {"name": "desk-hook", "url": hook.url()},
        ],
    )
    settings = {
        "database_url": cli.env["PARLEY_DATABASE_URL"],
        "feeds_file": str(feeds_file),
        "channels_file": str(channels),
        "deliver_max_attempts": "1",  # the refused webhook sends go dead at once
    }
    publish(server, "01-first")
    report = _cycle(settings, server.base_url)
    alerts = report.alerts_queued // 2  # the same alerts to each of the two channels
    assert alerts > 0
    assert report.delivery is not None and report.delivery.dead == alerts
    env = {"PARLEY_FEEDS_FILE": str(feeds_file), "PARLEY_CHANNELS_FILE": str(channels)}

    shown = cli("feeds", **env)
    assert shown.code == 0, shown
    assert "Traceback" not in shown.both
    for name in ("Dnipro Wire", "Kyiv Herald", "Vestnik Online", "Atomic Watch Bulletin"):
        row = next(line for line in shown.out.splitlines() if name in line)
        assert " ok " in row and " 0 " in row, row
    gone = next(line for line in shown.out.splitlines() if "Gone Gazette" in line)
    assert "http_status" in gone and " 1 " in gone
    assert f"fetch {server.url('/gone.xml')}: HTTP 404" in gone

    listed = cli("alerts", **env)
    assert listed.code == 0, listed
    # the file channel also got one health note: the webhook channel has dead alerts
    assert f"{alerts} dead, {alerts + 1} sent" in listed.out
    assert sum("│ desk-hook " in line for line in listed.out.splitlines()) == alerts
    assert "channel 'desk-hook'" in listed.out  # the last error, naming the channel

    dead = cli("alerts", "--status", "dead", **env)
    dead_rows = [line for line in dead.out.splitlines() if " dead " in line]
    assert len(dead_rows) == alerts
    assert all(" desk-hook " in line for line in dead_rows)

    retried = cli("alerts", "retry", "--dead", **env)
    assert retried.code == 0, retried
    assert retried.out.strip() == f"requeued {alerts} alert(s)"
    after = cli("alerts", **env)
    assert f"{alerts} pending, {alerts + 1} sent" in after.out
    again = cli("alerts", "retry", "--dead", **env)
    assert again.out.strip() == "requeued 0 alert(s)"

    hook.status = 200  # the next cycle delivers the requeued alerts, once each
    later = _cycle(settings, server.base_url)
    assert later.delivery is not None and later.delivery.sent == alerts + 1  # + "recovered"
    assert len(hook.wait_for(2 * alerts)) == 2 * alerts
    assert f"{2 * alerts + 2} sent" in cli("alerts", **env).out
    health = [a["title"] for a in jsonl_alerts(tmp_path / "alerts.jsonl") if "health" in a["title"]]
    assert [t.split(":")[0] for t in health] == [
        "[parley health] Channel failing",
        "[parley health] Channel recovered",
    ]
    assert len(jsonl_alerts(tmp_path / "alerts.jsonl")) == alerts + 2


@pytest.mark.slow
def test_run_one_cycle_with_its_own_prefect_server(
    cli: Cli, tmp_path: Path, server: FeedServer
) -> None:
    feeds = [{**f, "url": server.url(str(f["url"]))} for f in demo_feeds()]
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": feeds}, allow_unicode=True), "utf-8")
    sink = tmp_path / "alerts.jsonl"
    channels = _write_channels(
        tmp_path / "channels.yaml", [{"name": "file", "url": f"jsonl://{sink}"}]
    )
    publish(server, "01-first")
    result = cli(
        "run",
        timeout=RUN_TIMEOUT,
        PARLEY_FEEDS_FILE=str(feeds_file),
        PARLEY_CHANNELS_FILE=str(channels),
        PREFECT_SERVER_EPHEMERAL_ENABLED="true",
    )
    assert result.code == 0, result
    assert "Traceback" not in result.err
    assert "Warning" not in result.err, result.err
    summary = result.out.strip().splitlines()[-1]
    found = re.fullmatch(
        r"cycle: (\d+) feeds, \1 fetched, 0 unchanged, 0 failed, \d+ new entries, 0 edited, "
        r"\d+ matches, (\d+) alerts queued, \2 sent in \d+\.\d\d s "
        r"\(fetch \d+\.\d\d s, store \d+\.\d\d s, deliver \d+\.\d\d s\)",
        summary,
    )
    assert found, summary
    assert len(jsonl_alerts(sink)) == int(found.group(2)) > 0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"PREFECT_API_URL": "http://127.0.0.1:1/api"},
            "Failed to reach API at http://127.0.0.1:1/api",
        ),
        ({"PREFECT_SERVER_EPHEMERAL_ENABLED": "false"}, "No Prefect API URL provided"),
    ],
)
def test_unreachable_prefect_is_one_clear_line(
    cli: Cli, env: dict[str, str], expected: str
) -> None:
    result = cli("deliver", **env)
    assert result.code == 3
    assert "Traceback" not in result.both
    assert result.err.strip() == result.err.strip().splitlines()[0]
    assert expected in result.err
