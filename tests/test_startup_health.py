"""Start-up health alerts: an unreachable database or Prefect API, from the outside.

`parley run` (and `parley serve`) started while a service is down fail with one `error:`
line, as before; the first such start also sends one health alert (to a jsonl:// channel
here), the next failing starts send nothing more, and the first start that finds the service
again sends one "reachable again" alert. "Down" and "back" are the same URL: a port nothing
listens on, then a TCP relay on that port to the real PostgreSQL server or Prefect test server.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from clirun import Cli, Result, clean_environ
from flowrun import DEMO, jsonl_alerts
from receivers import WebhookReceiver, free_port
from sqlmodel import Session, SQLModel, col, select

from parley.alerts.channels import Channel, build_channel
from parley.alerts.notify import SendOutcome, send
from parley.alerts.quiet import parse_quiet
from parley.flows.pipeline.startup import (
    DATABASE,
    PREFECT,
    Outage,
    OutageLog,
    PrefectUnreachable,
    check_prefect,
    database_unreachable,
    render_outage,
    safe_api_url,
)
from parley.flows.settings import Settings, load_settings
from parley.storage import outbox
from parley.storage.db import init_db, make_engine, session_scope
from parley.storage.models import DeliveryAttempt, OutboxAlert

DB_PASSWORD = "pw-Secret-77a1c9"
RUN_TIMEOUT = 120.0
RELAY_TIMEOUT = 5.0


class Relay:
    """Forwards TCP connections from 127.0.0.1:``port`` to ``target``, until stopped."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(0.1)
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.sockets: list[socket.socket] = []

    def __enter__(self) -> Relay:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for sock in [self.listener, *self.sockets]:
            sock.close()
        for thread in self.threads:
            thread.join(RELAY_TIMEOUT)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=RELAY_TIMEOUT)
            for sock in (client, upstream):
                sock.settimeout(None)
                self.sockets.append(sock)
            self._spawn(self._pipe, client, upstream)
            self._spawn(self._pipe, upstream, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds: []\n", encoding="utf-8")
    channels = tmp_path / "channels.yaml"
    sink = {"name": "file", "url": f"jsonl://{tmp_path / 'alerts.jsonl'}"}
    channels.write_text(yaml.safe_dump({"channels": [sink]}), encoding="utf-8")
    env = {
        **clean_environ(),
        "PARLEY_DATABASE_URL": f"sqlite:///{tmp_path / 'parley.db'}",
        "PARLEY_TOPICS_FILE": str(DEMO.parent / "topics.yaml"),
        "PARLEY_FEEDS_FILE": str(feeds),
        "PARLEY_CHANNELS_FILE": str(channels),
        "PARLEY_STATE_DIR": str(tmp_path / "state"),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
    }
    return Cli(tmp_path, env)


@pytest.fixture(scope="module")
def prefect_api(prefect_harness: None) -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the Prefect test harness set no API URL"
    return str(url)


def _health(tmp_path: Path) -> list[str]:
    return [str(a["title"]) for a in jsonl_alerts(tmp_path / "alerts.jsonl")]


def _fails_with_one_line(result: Result, code: int) -> str:
    assert result.code == code, result
    assert "Traceback" not in result.both
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    return lines[0]


def _pg_target(pg_url: str) -> tuple[str, int, str]:
    """(host, port, database name) of the throwaway PostgreSQL database."""
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    return str(url.host), int(url.port or 5432), str(url.database)


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.postgres
def test_database_outage_alerts_once_and_once_more_when_back(
    cli: Cli, tmp_path: Path, pg_url: str, prefect_api: str
) -> None:
    fresh = make_engine(pg_url)  # the session's throwaway database, emptied for this test
    SQLModel.metadata.drop_all(fresh)
    fresh.dispose()
    host, pg_port, name = _pg_target(pg_url)
    port = free_port()
    url = f"postgresql+psycopg://postgres:{DB_PASSWORD}@127.0.0.1:{port}/{name}"
    shown = f"postgresql+psycopg://postgres:***@127.0.0.1:{port}/{name}"
    env = {"PARLEY_DATABASE_URL": url, "PREFECT_API_URL": prefect_api}

    first = cli("run", timeout=RUN_TIMEOUT, **env)
    line = _fails_with_one_line(first, 2)
    assert f"database {shown} is unreachable" in line
    second = cli("run", timeout=RUN_TIMEOUT, **env)
    _fails_with_one_line(second, 2)
    assert _health(tmp_path) == [f"[parley health] Database unreachable: {shown}"]

    with Relay(port, (host, pg_port)):
        back = cli("run", timeout=RUN_TIMEOUT, **env)
        assert back.code == 0, back
        again = cli("run", timeout=RUN_TIMEOUT, **env)
        assert again.code == 0, again
    assert _health(tmp_path) == [
        f"[parley health] Database unreachable: {shown}",
        f"[parley health] Database reachable again: {shown}",
    ]
    state = (tmp_path / "state" / "outages.json").read_text(encoding="utf-8")
    assert state.strip() == "{}"
    for text in (first.both, second.both, back.both, again.both, state,
                 (tmp_path / "alerts.jsonl").read_text(encoding="utf-8")):  # fmt: skip
        assert DB_PASSWORD not in text


@pytest.mark.slow
@pytest.mark.prefect
def test_prefect_outage_alerts_once_and_once_more_when_back(
    cli: Cli, tmp_path: Path, prefect_api: str
) -> None:
    from urllib.parse import urlsplit

    harness = urlsplit(prefect_api)
    port = free_port()
    api_url = f"http://127.0.0.1:{port}{harness.path}"
    env = {"PREFECT_API_URL": api_url}

    for _ in range(2):
        line = _fails_with_one_line(cli("run", timeout=RUN_TIMEOUT, **env), 3)
        assert f"error: Prefect: Failed to reach API at {api_url}" in line
    assert _health(tmp_path) == [f"[parley health] Prefect API unreachable: {api_url}"]

    with Relay(port, (str(harness.hostname), int(harness.port or 80))):
        back = cli("run", timeout=RUN_TIMEOUT, **env)
        assert back.code == 0, back
    assert _health(tmp_path) == [
        f"[parley health] Prefect API unreachable: {api_url}",
        f"[parley health] Prefect API reachable again: {api_url}",
    ]
    engine = make_engine(cli.env["PARLEY_DATABASE_URL"])
    try:
        with Session(engine) as session:
            rows = session.exec(select(OutboxAlert)).all()
    finally:
        engine.dispose()
    assert sorted((r.kind, r.status, r.attempts) for r in rows) == [("health", "sent", 1)] * 2


def test_serve_with_the_database_down_alerts_once(cli: Cli, tmp_path: Path) -> None:
    url = f"postgresql+psycopg://nobody:{DB_PASSWORD}@127.0.0.1:{free_port()}/x"
    for _ in range(2):
        result = cli("serve", PARLEY_DATABASE_URL=url)
        line = _fails_with_one_line(result, 2)
        assert "is unreachable" in line and DB_PASSWORD not in result.both
    (title,) = _health(tmp_path)
    assert title.startswith(
        "[parley health] Database unreachable: postgresql+psycopg://nobody:***@"
    )


def test_serve_with_the_prefect_api_down_alerts_once(cli: Cli, tmp_path: Path) -> None:
    api_url = f"http://127.0.0.1:{free_port()}/api"
    for _ in range(2):
        line = _fails_with_one_line(cli("serve", PREFECT_API_URL=api_url), 3)
        assert f"Failed to reach API at {api_url}" in line
    assert _health(tmp_path) == [f"[parley health] Prefect API unreachable: {api_url}"]


# --- units ---------------------------------------------------------------------------------


def test_outage_log_remembers_and_forgets(tmp_path: Path) -> None:
    outages = OutageLog(tmp_path / "state")
    assert outages.find(DATABASE, "sqlite:///x.db") is None
    since = datetime(2025, 3, 22, 12, 0, tzinfo=UTC)
    outage = Outage(DATABASE, "sqlite:///x.db", since, "refused")
    outages.record(outage)
    outages.record(Outage(PREFECT, "http://127.0.0.1:1/api", since, "refused"))
    assert outages.find(DATABASE, "sqlite:///x.db") == outage
    outages.forget(outage)
    assert outages.find(DATABASE, "sqlite:///x.db") is None
    assert outages.find(PREFECT, "http://127.0.0.1:1/api") is not None


def test_unreadable_outage_log_counts_as_none(tmp_path: Path) -> None:
    (tmp_path / "outages.json").write_text("{not json", encoding="utf-8")
    assert OutageLog(tmp_path).find(DATABASE, "sqlite:///x.db") is None


def test_api_url_password_is_masked() -> None:
    assert safe_api_url("https://u:pw-1@prefect.internal:4200/api") == (
        "https://u:***@prefect.internal:4200/api"
    )
    assert safe_api_url("http://127.0.0.1:4200/api") == "http://127.0.0.1:4200/api"


def test_outage_alerts_say_what_and_since_when() -> None:
    since = datetime(2025, 3, 22, 12, 0, tzinfo=UTC)
    outage = Outage(PREFECT, "http://127.0.0.1:1/api", since, "ConnectError: refused")
    down = render_outage(outage, ZoneInfo("Europe/Kyiv"))
    assert down.title == "[parley health] Prefect API unreachable: http://127.0.0.1:1/api"
    assert "since 2025-03-22 14:00 EET" in down.body and "ConnectError: refused" in down.body
    later = datetime(2025, 3, 22, 13, 30, tzinfo=UTC)
    back = render_outage(outage, ZoneInfo("UTC"), over=later)
    assert back.title == "[parley health] Prefect API reachable again: http://127.0.0.1:1/api"
    assert "Unreachable from 2025-03-22 12:00 UTC until 2025-03-22 13:30 UTC." in back.body


class Recorder:
    """A sender that records (channel, title) and answers ``ok``."""

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.sent: list[tuple[str, str]] = []

    def __call__(self, channel: Channel, title: str, body: str) -> SendOutcome:
        self.sent.append((channel.name, title))
        return SendOutcome(ok=self.ok, error=None if self.ok else "channel 'desk': refused")


def _settings(tmp_path: Path, db_url: str) -> Settings:
    return load_settings(database_url=db_url, state_dir=str(tmp_path / "state"))


def test_prefect_outage_is_queued_once_sent_at_once_and_closed(tmp_path: Path, db_url: str) -> None:
    settings = _settings(tmp_path, db_url)
    engine = make_engine(db_url)
    init_db(engine)
    channels = [build_channel("desk", "json://127.0.0.1:9/hook", {}),
                build_channel("sports", "json://127.0.0.1:9/other", {}, tags=frozenset({"x"}))]  # fmt: skip
    api = "http://127.0.0.1:9/api"
    sender = Recorder()
    start = datetime(2025, 3, 22, 12, 0, tzinfo=UTC)
    try:
        for minutes in (0, 1, 2):  # three failing starts, one minute apart
            with pytest.raises(PrefectUnreachable, match=r"^Failed to reach API at "):
                check_prefect(engine, channels, settings, api, start + timedelta(minutes=minutes),
                              probe=lambda _: "ConnectError: refused", sender=sender)  # fmt: skip
        assert sender.sent == [("desk", f"[parley health] Prefect API unreachable: {api}")]
        check_prefect(engine, channels, settings, api, start + timedelta(minutes=3),
                      probe=lambda _: None, sender=sender)  # fmt: skip
        check_prefect(engine, channels, settings, api, start + timedelta(minutes=4),
                      probe=lambda _: None, sender=sender)  # fmt: skip
        with Session(engine) as session:
            rows = session.exec(select(OutboxAlert).order_by(col(OutboxAlert.id))).all()
            got = [(r.channel, r.status, r.title.split(":")[0]) for r in rows]
    finally:
        engine.dispose()
    assert got == [
        ("desk", "sent", "[parley health] Prefect API unreachable"),
        ("desk", "pending", "[parley health] Prefect API reachable again"),
    ]
    assert OutageLog(settings.state_dir).find(PREFECT, api) is None


def test_failed_direct_send_stays_queued_for_delivery(tmp_path: Path, db_url: str) -> None:
    settings = _settings(tmp_path, db_url)
    engine = make_engine(db_url)
    init_db(engine)
    channels = [build_channel("desk", "json://127.0.0.1:9/hook", {})]
    now = datetime.now(UTC)
    try:
        with pytest.raises(PrefectUnreachable):
            check_prefect(engine, channels, settings, "http://127.0.0.1:9/api", now,
                          probe=lambda _: "refused", sender=Recorder(ok=False))  # fmt: skip
        with Session(engine) as session:
            (row,) = session.exec(select(OutboxAlert)).all()
    finally:
        engine.dispose()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "channel 'desk': refused")
    assert row.next_attempt_at > now


def test_database_outage_sends_once_per_outage(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://nobody:{DB_PASSWORD}@127.0.0.1:{free_port()}/x"
    channels = tmp_path / "channels.yaml"
    channels.write_text(yaml.safe_dump({"channels": [
        {"name": "desk", "url": "json://127.0.0.1:9/hook"},
        {"name": "sports", "url": "json://127.0.0.1:9/other", "tags": ["football"]},
    ]}), encoding="utf-8")  # fmt: skip
    settings = load_settings(database_url=url, state_dir=str(tmp_path / "state"),
                             channels_file=str(channels))  # fmt: skip
    sender = Recorder()
    now = datetime.now(UTC)
    assert database_unreachable(settings, {}, now, sender=sender)
    assert database_unreachable(settings, {}, now + timedelta(minutes=1), sender=sender)
    assert [name for name, _ in sender.sent] == ["desk"]
    state = (tmp_path / "state" / "outages.json").read_text(encoding="utf-8")
    assert DB_PASSWORD not in state and "nobody:***@" in state


def test_an_invalid_database_url_is_no_outage(tmp_path: Path) -> None:
    settings = load_settings(database_url="nosuchdb://x", state_dir=str(tmp_path / "state"))
    sender = Recorder()
    assert not database_unreachable(settings, {}, datetime.now(UTC), sender=sender)
    assert sender.sent == []
    assert not (tmp_path / "state").exists()


def test_prefect_outage_alert_is_committed_then_delivered_like_any_row(
    tmp_path: Path, db_url: str
) -> None:
    settings = _settings(tmp_path, db_url)
    engine = make_engine(db_url)
    init_db(engine)
    api = "http://127.0.0.1:9/api"
    start = datetime(2025, 3, 22, 12, 0, tzinfo=UTC)
    seen: list[tuple[str, int, bool]] = []
    try:
        with WebhookReceiver() as hook:
            channels = [build_channel("desk", hook.url(), {})]
            with session_scope(engine) as session:  # an alert already due: not this run's
                outbox.enqueue(session, key="earlier", channel="desk", kind="new",
                               topic_key="talks", title="[Talks] earlier", body="b",
                               now=start - timedelta(minutes=5))  # fmt: skip

            def send_and_look(channel: Channel, title: str, body: str) -> SendOutcome:
                # The row is committed and leased before the send, and the database takes
                # writes meanwhile: no transaction is held open while the channel answers.
                with Session(engine) as other:
                    row = other.exec(select(OutboxAlert).where(OutboxAlert.title == title)).one()
                    seen.append((row.status, row.attempts, row.claimed_until is not None))
                with session_scope(engine) as other:
                    outbox.enqueue(other, key="during", channel="desk", kind="new",
                                   topic_key="talks", title="[Talks] during", body="b",
                                   now=start)  # fmt: skip
                return send(channel, title, body, timeout=10)

            with pytest.raises(PrefectUnreachable):
                check_prefect(engine, channels, settings, api, start,
                              probe=lambda _: "ConnectError: refused",
                              sender=send_and_look)  # fmt: skip
            (request,) = hook.wait_for(1)
        with Session(engine) as session:
            rows = {r.title: r for r in session.exec(select(OutboxAlert)).all()}
            tries = session.exec(select(DeliveryAttempt)).all()
    finally:
        engine.dispose()
    title = f"[parley health] Prefect API unreachable: {api}"
    assert request.json()["title"] == title
    assert seen == [("pending", 0, True)]
    assert (rows[title].status, rows[title].attempts, rows[title].sent_at) == ("sent", 1, start)
    assert [(t.outbox_id, t.ok, t.service) for t in tries] == [(rows[title].id, True, "JSON")]
    for other in ("[Talks] earlier", "[Talks] during"):  # the run kept to its own rows
        assert (rows[other].status, rows[other].attempts) == ("pending", 0)


def test_prefect_outage_alert_waits_for_the_end_of_quiet_hours(tmp_path: Path, db_url: str) -> None:
    settings = _settings(tmp_path, db_url)
    engine = make_engine(db_url)
    init_db(engine)
    channels = [build_channel("desk", "json://127.0.0.1:9/hook", {},
                              quiet=parse_quiet("11:00-13:00"))]  # fmt: skip
    sender = Recorder()
    start = datetime(2025, 3, 22, 12, 0, tzinfo=UTC)
    try:
        with pytest.raises(PrefectUnreachable):
            check_prefect(engine, channels, settings, "http://127.0.0.1:9/api", start,
                          probe=lambda _: "refused", sender=sender)  # fmt: skip
        with Session(engine) as session:
            (row,) = session.exec(select(OutboxAlert)).all()
    finally:
        engine.dispose()
    assert sender.sent == []
    assert (row.status, row.attempts, row.claimed_until) == ("pending", 0, None)
    assert row.next_attempt_at == datetime(2025, 3, 22, 13, 0, tzinfo=UTC)  # deferred, not failed
