"""Every send attempt is stored with what each apprise service answered, secrets masked.

A webhook that answers 500 leaves an attempt with the HTTP status and the response text; a
service that echoes the token back has it masked; `parley alerts show ID` prints the row and
its attempts, `parley alerts` the last result — and no token appears anywhere.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from clirun import Cli, clean_environ
from receivers import ReceivedRequest, SmtpReceiver, WebhookReceiver, free_port
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from parley.alerts.channel_file import load_channels
from parley.alerts.channels import Channel
from parley.flows.pipeline.deliver import deliver_due
from parley.flows.pipeline.report import DeliveryReport
from parley.storage import outbox
from parley.storage.db import init_db, make_engine, session_scope
from parley.storage.models import DeliveryAttempt, OutboxAlert

SECRET = "hook-Secret-7d2e91"
NOW = datetime(2025, 3, 25, 12, 0, tzinfo=UTC)
TOPICS_FILE = Path(__file__).resolve().parents[1] / "seeds" / "topics.yaml"


def _quoting_token(request: ReceivedRequest) -> bytes:
    """A refusal that quotes the request's token back, as some services do."""
    token = request.headers.get("X-Token", "")
    return json.dumps({"error": f"token {token} is not allowed"}).encode()


def _echoing_receiver() -> WebhookReceiver:
    """A webhook on 127.0.0.1 that refuses every POST with 500 and quotes its token back."""
    return WebhookReceiver(status=500, reply=_quoting_token)


def write_channels(tmp_path: Path, channels: list[dict[str, object]]) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump({"channels": channels}), encoding="utf-8")
    return path


def token_channel(tmp_path: Path, url: str) -> list[Channel]:
    path = write_channels(tmp_path, [{"name": "desk", "url": url + "?+X-Token=${HOOK_TOKEN}"}])
    return load_channels(path, {"HOOK_TOKEN": SECRET})


def queue(engine: Engine, channel: str = "desk", n: int = 1) -> list[int]:
    ids = []
    with session_scope(engine) as session:
        for i in range(n):
            row_id = outbox.enqueue(session, key=f"k{i}-{channel}", channel=channel, kind="new",
                                    topic_key="znpp", title=f"[ZNPP] alert {i}", body="b",
                                    now=NOW)  # fmt: skip
            assert row_id is not None
            ids.append(row_id)
    return ids


def deliver(engine: Engine, channels: list[Channel], at: datetime = NOW) -> DeliveryReport:
    return deliver_due(engine, channels, lambda: at, max_attempts=3, timeout=10)


def attempts_of(engine: Engine, row_id: int) -> list[DeliveryAttempt]:
    with Session(engine) as session:
        query = select(DeliveryAttempt).where(DeliveryAttempt.outbox_id == row_id)
        return list(session.exec(query.order_by(col(DeliveryAttempt.id))))


def stored_text(engine: Engine) -> str:
    """Every attempt and outbox row as text, to search for leaked secrets."""
    with Session(engine) as session:
        tries = [t.model_dump_json() for t in session.exec(select(DeliveryAttempt))]
        alerts = [r.model_dump_json() for r in session.exec(select(OutboxAlert))]
    return "\n".join(tries + alerts)


@pytest.fixture
def apprise_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="apprise")
    return caplog


def test_a_webhook_500_records_the_http_status_and_the_response(
    tmp_path: Path, engine: Engine, apprise_logs: pytest.LogCaptureFixture
) -> None:
    with WebhookReceiver(status=500) as hook:
        channels = token_channel(tmp_path, hook.url())
        [row_id] = queue(engine)
        report = deliver(engine, channels)
        assert (report.sent, report.failed) == (0, 1)
        assert len(hook.requests) == 1
    [attempt] = attempts_of(engine, row_id)
    assert (attempt.ok, attempt.status, attempt.http_status) == (False, "failure", 500)
    assert attempt.service == "JSON"
    assert attempt.target == channels[0].safe_url
    assert "X-Token=***" in attempt.target
    assert "error=500" in attempt.detail
    assert 'response: b\'{"error": "receiver says no"}\'' in attempt.detail
    assert attempt.duration_ms >= 0
    assert attempt.attempted_at == NOW
    assert SECRET not in stored_text(engine)
    assert "Failed to send JSON" in apprise_logs.text  # apprise's reason still reaches the logs
    assert "receiver says no" not in apprise_logs.text  # response bodies stay out of them
    assert SECRET not in apprise_logs.text
    apprise_logger = logging.getLogger("apprise")
    assert apprise_logger.propagate
    assert apprise_logger.getEffectiveLevel() >= logging.INFO


def test_a_token_echoed_in_the_response_is_masked(
    tmp_path: Path, engine: Engine, apprise_logs: pytest.LogCaptureFixture
) -> None:
    with _echoing_receiver() as echo:
        channels = token_channel(tmp_path, f"json://127.0.0.1:{echo.port}/hook")
        [row_id] = queue(engine)
        deliver(engine, channels)
    [attempt] = attempts_of(engine, row_id)
    assert attempt.http_status == 500
    assert "token *** is not allowed" in attempt.detail
    assert SECRET not in stored_text(engine)
    assert SECRET not in apprise_logs.text


def test_each_retry_adds_an_attempt_and_success_is_recorded(tmp_path: Path, engine: Engine) -> None:
    with WebhookReceiver(status=503) as hook:
        channels = token_channel(tmp_path, hook.url())
        [row_id] = queue(engine)
        deliver(engine, channels)
        hook.status = 200
        assert deliver(engine, channels, NOW + timedelta(minutes=5)).sent == 1
    first, second = attempts_of(engine, row_id)
    assert (first.status, first.http_status) == ("failure", 503)
    assert (second.ok, second.status, second.http_status, second.detail) == (
        True, "success", None, "",
    )  # fmt: skip
    assert second.attempted_at == NOW + timedelta(minutes=5)


def test_email_unreachable_and_unconfigured_channels_leave_attempts(
    tmp_path: Path, engine: Engine
) -> None:
    with SmtpReceiver() as smtp:
        path = write_channels(tmp_path, [
            {"name": "mail", "url": smtp.url("parley@example.org", "desk@example.org")},
            {"name": "gone", "url": f"json://127.0.0.1:{free_port()}/hook"},
        ])  # fmt: skip
        channels = load_channels(path, {})
        [mail_row] = queue(engine, "mail")
        [gone_row] = queue(engine, "gone")
        [lost_row] = queue(engine, "removed")
        deliver(engine, channels)
        smtp.wait_for(1)
    [mail] = attempts_of(engine, mail_row)
    assert (mail.ok, mail.status, mail.http_status) == (True, "success", None)
    assert mail.service and mail.service != "-"
    [gone] = attempts_of(engine, gone_row)
    assert (gone.ok, gone.status, gone.http_status) == (False, "failure", None)
    assert "Connection error" in gone.detail
    [lost] = attempts_of(engine, lost_row)
    assert (lost.ok, lost.status, lost.service) == (False, "error", "-")
    assert "'removed' is not configured" in lost.detail


def test_cli_shows_the_alert_and_its_attempts_without_the_token(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'parley.db'}"
    engine = make_engine(database)
    init_db(engine)
    with _echoing_receiver() as echo:
        channels = token_channel(tmp_path, f"json://127.0.0.1:{echo.port}/hook")
        [row_id] = queue(engine)
        deliver(engine, channels)
    engine.dispose()
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: One\n    url: http://127.0.0.1:9/one.xml\n", "utf-8")
    cli = Cli(tmp_path, {**clean_environ(), "COLUMNS": "400", "PARLEY_DATABASE_URL": database,
                         "PARLEY_TOPICS_FILE": str(TOPICS_FILE), "PARLEY_FEEDS_FILE": str(feeds),
                         "PARLEY_CHANNELS_FILE": str(tmp_path / "channels.yaml"),
                         "HOOK_TOKEN": SECRET,
                         "PREFECT_SERVER_EPHEMERAL_ENABLED": "false"})  # fmt: skip

    shown = cli("alerts", "show", str(row_id))
    assert shown.code == 0, shown
    assert "alert:       [ZNPP] alert 0" in shown.out
    assert "status:      pending" in shown.out
    assert "tries:       1" in shown.out
    assert "failure" in shown.out and "500" in shown.out and "JSON" in shown.out
    assert "X-Token=***" in shown.out
    assert "token *** is not allowed" in shown.out
    assert SECRET not in shown.both

    listed = cli("alerts")
    assert listed.code == 0, listed
    assert "failure · HTTP 500 · JSON: channel 'desk' (json://127.0.0.1:" in listed.out
    assert "Failed to send JSON" in listed.out
    assert SECRET not in listed.both

    missing = cli("alerts", "show", "999")
    assert missing.code == 1
    assert missing.err.strip() == "error: no alert with id 999 in the outbox"


def test_cli_shows_an_alert_never_tried(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'parley.db'}"
    engine = make_engine(database)
    init_db(engine)
    [row_id] = queue(engine)
    engine.dispose()
    cli = Cli(tmp_path, {**clean_environ(), "PARLEY_DATABASE_URL": database})
    shown = cli("alerts", "show", str(row_id))
    assert shown.code == 0, shown
    assert "no send attempts yet" in shown.out


def test_a_token_written_into_the_url_is_masked_in_the_detail(
    tmp_path: Path, engine: Engine
) -> None:
    with _echoing_receiver() as echo:
        url = f"json://127.0.0.1:{echo.port}/hook?+X-Token={SECRET}"
        channels = load_channels(write_channels(tmp_path, [{"name": "desk", "url": url}]), {})
        [row_id] = queue(engine)
        deliver(engine, channels)
    [attempt] = attempts_of(engine, row_id)
    assert "token *** is not allowed" in attempt.detail
    assert SECRET not in stored_text(engine)
