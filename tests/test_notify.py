"""Delivery through apprise to real receivers on loopback: SMTP, JSON webhook, console, jsonl."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from receivers import SmtpReceiver, WebhookReceiver, free_port

from parley.alerts.channel_file import load_channels
from parley.alerts.channels import Channel, build_channel
from parley.alerts.notify import SendOutcome, send
from parley.alerts.plugins import register_sinks

SECRET = "hook-Secret-4f9a1c"
TITLE = "[Zaporizhzhia NPP] IAEA team rotates at the plant — Reuters"
BODY = "IAEA team rotates at the plant\nReuters — 2025-03-25 14:02 EET"


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def channel(name: str, url: str, env: dict[str, str] | None = None) -> Channel:
    return build_channel(name, url, env or {})


def test_email_reaches_smtp_server(smtp: SmtpReceiver) -> None:
    desk = channel("desk-email", smtp.url("parley@example.org", "desk@example.org"))
    assert send(desk, TITLE, BODY, timeout=20) == SendOutcome(ok=True, error=None)
    [mail] = smtp.wait_for(1)
    assert mail.rcpt_tos == ("desk@example.org",)
    assert mail.mail_from == "parley@example.org"
    assert mail.subject == TITLE
    assert "IAEA team rotates at the plant" in mail.text()
    assert "2025-03-25 14:02 EET" in mail.text()


def test_json_webhook_gets_the_payload(webhook: WebhookReceiver) -> None:
    hook = channel(
        "desk-hook", webhook.url("/parley/alerts") + "?+X-Token=${TOKEN}", {"TOKEN": SECRET}
    )
    outcome = send(hook, TITLE, BODY)
    assert outcome.ok, outcome.error
    [request] = webhook.wait_for(1)
    assert request.path == "/parley/alerts"
    assert request.headers["X-Token"] == SECRET
    payload = request.json()
    assert payload["title"] == TITLE
    assert payload["message"] == BODY
    assert payload["type"] == "info"


def test_webhook_500_is_a_failed_outcome_naming_the_channel(
    webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="apprise")
    webhook.status = 500
    hook = channel("desk-hook", webhook.url() + "?+X-Token=${TOKEN}", {"TOKEN": SECRET})
    outcome = send(hook, TITLE, BODY)
    assert not outcome.ok
    assert outcome.error is not None
    assert "'desk-hook'" in outcome.error
    assert hook.safe_url in outcome.error
    assert "500" in outcome.error
    assert "Failed to send" in caplog.text  # apprise's own log lines do reach the logs
    assert SECRET not in outcome.error
    assert SECRET not in caplog.text
    assert len(webhook.requests) == 1


def test_debug_logging_is_raised_so_headers_stay_out(
    webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="apprise")
    hook = channel("desk-hook", webhook.url() + "?+X-Token=${TOKEN}", {"TOKEN": SECRET})
    assert send(hook, TITLE, BODY).ok
    assert logging.getLogger("apprise").getEffectiveLevel() >= logging.INFO
    assert SECRET not in caplog.text
    assert "Authorization" not in caplog.text


def test_unreachable_receiver_does_not_raise() -> None:
    hook = channel("gone", f"json://127.0.0.1:{free_port()}/hook")
    outcome = send(hook, TITLE, BODY, timeout=10)
    assert not outcome.ok
    assert outcome.error is not None
    assert outcome.error.startswith("channel 'gone' (json://127.0.0.1:")


def test_console_prints_title_then_body(capsys: pytest.CaptureFixture[str]) -> None:
    [console] = load_channels(None, {})
    assert send(console, TITLE, BODY).ok
    out = capsys.readouterr().out
    assert out.startswith(TITLE + "\n" + BODY + "\n")


def test_jsonl_appends_one_object_per_alert(tmp_path: Path) -> None:
    target = tmp_path / "out dir" / "alerts.jsonl"
    sink = channel("file", "jsonl://" + str(target).replace(" ", "%20"))
    assert send(sink, TITLE, BODY).ok
    assert send(sink, "second", "body two").ok
    lines = target.read_text(encoding="utf-8").splitlines()
    first, second = (json.loads(line) for line in lines)
    assert (first["title"], first["body"]) == (TITLE, BODY)
    assert second["title"] == "second"
    assert first["sent_at"].endswith("+00:00")


def test_jsonl_write_failure_is_reported(tmp_path: Path) -> None:
    target = tmp_path / "alerts.jsonl"
    target.mkdir()  # a directory where the file should be
    outcome = send(channel("file", f"jsonl://{target}"), TITLE, BODY)
    assert not outcome.ok
    assert outcome.error is not None
    assert "cannot append" in outcome.error
    assert "'file'" in outcome.error


def test_register_sinks_is_idempotent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="apprise")
    register_sinks()
    register_sinks()
    assert "already defined" not in caplog.text


def test_importing_alerts_has_no_side_effects() -> None:
    code = (
        "import sys, parley.alerts.notify, parley.alerts.channels, parley.alerts.render\n"
        "assert 'prefect' not in sys.modules, 'prefect imported'\n"
        "assert 'parley.flows' not in sys.modules, 'parley.flows imported'\n"
        "assert 'apprise' not in sys.modules, 'apprise imported at import time'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
