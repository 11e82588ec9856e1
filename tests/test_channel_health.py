"""A channel whose alert goes dead is reported to the other channels, once; and its recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from flowrun import jsonl_alerts
from receivers import WebhookReceiver
from sqlalchemy.engine import Engine

from parley.alerts.channel_file import load_channels
from parley.flows.pipeline.deliver import deliver_due
from parley.storage import outbox
from parley.storage.db import session_scope

NOW = datetime(2025, 3, 21, 9, 0, tzinfo=UTC)


def test_dead_channel_alerts_once_and_recovers_once(tmp_path: Path, engine: Engine) -> None:
    sink = tmp_path / "alerts.jsonl"
    with WebhookReceiver(status=500) as hook:
        path = tmp_path / "channels.yaml"
        channels_yaml = [
            {"name": "desk-hook", "url": hook.url()},
            {"name": "ops-file", "url": f"jsonl://{sink}", "tags": ["health"]},
        ]
        path.write_text(yaml.safe_dump({"channels": channels_yaml}), encoding="utf-8")
        channels = load_channels(path, {})
        with session_scope(engine) as session:
            for key in ("a1", "a2"):
                outbox.enqueue(session, key=key, channel="desk-hook", kind="new",
                               topic_key="znpp", title=key, body="b", now=NOW)  # fmt: skip

        def deliver(at: datetime):  # type: ignore[no-untyped-def]
            return deliver_due(engine, channels, lambda: at, max_attempts=1, timeout=5)

        first = deliver(NOW)
        assert first.dead == 2
        titles = [str(a["title"]) for a in jsonl_alerts(sink)]
        assert titles == [
            "[parley health] Channel failing: desk-hook — 1 failed tries: an alert is dead"
        ]
        assert "json://127.0.0.1" in str(jsonl_alerts(sink)[0]["body"])  # its safe URL

        hook.status = 200
        later = NOW + timedelta(minutes=5)
        with session_scope(engine) as session:
            for row in outbox.list_alerts(session, outbox.DEAD):
                assert row.id is not None
                outbox.requeue(session, row.id, later)
        second = deliver(later)
        assert second.sent == 3  # the two requeued alerts and the recovery note
        titles = [str(a["title"]) for a in jsonl_alerts(sink)]
        assert titles[1:] == ["[parley health] Channel recovered: desk-hook"]
        deliver(later + timedelta(minutes=1))
        assert len(jsonl_alerts(sink)) == 2
