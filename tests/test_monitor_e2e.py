"""The monitor flow end to end: real Prefect flow, real HTTP feed server, real channels.

The demo snapshots (seeds/demo/README.md lists what each item must do) are served by a
loopback FeedServer; alerts go to a jsonl file sink and to a local JSON webhook receiver.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flowrun import Monitor, demo_feeds, jsonl_alerts, publish
from receivers import SmtpReceiver, WebhookReceiver

from parley.flows.ingest.localserver import FeedServer

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_harness")]

# Step 01: 11 items match, one of them two topics → 12 matches (seeds/demo/README.md).
FIRST_MATCHES = 12
NEGATIVE_UIDS = {
    "kyiv-herald:20590",  # football by the Black Sea
    "kyiv-herald:20661",  # a run in Zaporizhzhia city
}


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as feeds:
        yield feeds


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _monitor(tmp_path: Path, server: FeedServer, db_url: str, hook: WebhookReceiver) -> Monitor:
    channels: list[dict[str, object]] = [
        {"name": "file", "url": f"jsonl://{tmp_path / 'alerts.jsonl'}"},
        {"name": "webhook", "url": hook.url()},
    ]
    return Monitor(tmp_path, server, db_url, channels, demo_feeds())


def test_three_cycles_alert_each_item_once(
    tmp_path: Path, server: FeedServer, hook: WebhookReceiver, db_url: str
) -> None:
    run = _monitor(tmp_path, server, db_url, hook)
    sink = tmp_path / "alerts.jsonl"

    publish(server, "01-first")
    first = run.cycle()
    assert len(first.matches) == FIRST_MATCHES
    assert first.delivery is not None and first.delivery.sent == 2 * FIRST_MATCHES
    assert len(jsonl_alerts(sink)) == FIRST_MATCHES
    assert len(hook.wait_for(FIRST_MATCHES)) == FIRST_MATCHES

    server.clear_requests()
    second = run.cycle()
    assert second.count("not_modified") == 4
    assert all(
        server.conditional_count(f"/{n}") == 1
        for n in ("dnipro-wire.xml", "kyiv-herald.xml", "vestnik-online.xml", "atomic-watch.xml")
    )
    assert second.matches == []
    assert len(jsonl_alerts(sink)) == FIRST_MATCHES

    publish(server, "03-news")
    third = run.cycle()
    kinds = sorted((m.topic_key, m.kind) for m in third.matches)
    assert kinds == [("black-sea", "updated")] + [("prisoner-exchange", "new")] * 3
    alerts = jsonl_alerts(sink)
    assert len(alerts) == FIRST_MATCHES + 4
    updated = [a for a in alerts if "Updated" in str(a["title"])]
    assert len(updated) == 1
    assert "What changed" in str(updated[0]["body"])
    assert re.search(r"\{\+[^}]*\b63\b", str(updated[0]["body"]))  # the edit: 40 → 63 vessels
    atomic = next(o for o in third.feeds if o.url.endswith("/atomic-watch.xml"))
    assert (atomic.new, atomic.changed) == (0, 0)  # re-indented only

    again = run.cycle()
    assert again.matches == [] and again.alerts_queued == 0
    assert len(jsonl_alerts(sink)) == FIRST_MATCHES + 4
    assert len(hook.requests) == FIRST_MATCHES + 4

    stored_uids = {uid for uid, *_ in run.matches()}
    assert not stored_uids & NEGATIVE_UIDS
    assert all(a.status == "sent" for a in run.outbox())


def test_a_failing_channel_keeps_alerts_pending_then_delivers_once(
    tmp_path: Path, server: FeedServer, hook: WebhookReceiver, db_url: str
) -> None:
    run = _monitor(tmp_path, server, db_url, hook)
    hook.status = 500
    publish(server, "01-first")
    first = run.cycle()
    assert first.delivery is not None and first.delivery.failed == FIRST_MATCHES
    rows = run.outbox()
    webhook_rows = [r for r in rows if r.channel == "webhook"]
    assert all(r.status == "pending" and r.attempts == 1 for r in webhook_rows)
    assert all("webhook" in (r.last_error or "") for r in webhook_rows)
    assert len(jsonl_alerts(tmp_path / "alerts.jsonl")) == FIRST_MATCHES  # the other channel

    refused = len(hook.requests)
    assert refused == FIRST_MATCHES
    hook.status = 200
    _make_due(run)
    run.cycle()
    run.cycle()
    _make_due(run)
    run.cycle()
    delivered = hook.requests[refused:]
    assert len(delivered) == FIRST_MATCHES
    assert len({r.json()["title"] for r in delivered}) == FIRST_MATCHES
    assert all(r.status == "sent" for r in run.outbox())


def _make_due(run: Monitor) -> None:
    """Move every pending retry to now (instead of waiting out the backoff)."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from parley.storage.models import OutboxAlert

    with run.session() as s:
        s.execute(update(OutboxAlert).values(next_attempt_at=datetime.now(UTC)))
        s.commit()


def test_email_waits_while_the_smtp_server_is_down_then_arrives_once(
    tmp_path: Path, server: FeedServer, hook: WebhookReceiver
) -> None:
    smtp = SmtpReceiver()  # its port is chosen, but nothing listens yet
    run = _monitor(tmp_path, server, f"sqlite:///{tmp_path / 'mail.db'}", hook)
    run.channels = [
        {"name": "desk-mail", "url": smtp.url("parley@example.org", "desk@example.org")}
    ]
    publish(server, "01-first")
    down = run.cycle()
    assert down.delivery is not None and down.delivery.failed == FIRST_MATCHES
    assert all(r.status == "pending" and "desk-mail" in (r.last_error or "") for r in run.outbox())
    with smtp:
        _make_due(run)
        up = run.cycle()
        assert up.delivery is not None and up.delivery.sent == FIRST_MATCHES
        _make_due(run)
        run.cycle()
        mails = smtp.wait_for(FIRST_MATCHES)
    assert len(mails) == FIRST_MATCHES
    assert len({m.subject for m in mails}) == FIRST_MATCHES
    assert any("Zaporizhzhia" in m.subject for m in mails)
    assert all(m.subject.startswith("[") for m in mails)
