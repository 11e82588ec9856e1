"""Quiet hours per channel, with a frozen clock: low severity waits, high severity bypasses."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from flowrun import jsonl_alerts
from sqlalchemy.engine import Engine

from parley.alerts.channel_file import load_channels
from parley.alerts.channels import ChannelError
from parley.alerts.quiet import QuietHours, parse_quiet
from parley.flows.pipeline.deliver import deliver_due
from parley.storage import outbox
from parley.storage.db import session_scope

KYIV = ZoneInfo("Europe/Kyiv")
NIGHT = datetime(2025, 3, 20, 23, 30, tzinfo=KYIV)  # inside 22:00–07:00
MORNING_END = datetime(2025, 3, 21, 7, 0, tzinfo=KYIV)


def test_a_window_across_midnight() -> None:
    quiet = parse_quiet("22:00-07:00", "high")
    assert quiet == QuietHours(time(22), time(7), "high")
    assert quiet.until(NIGHT, KYIV) == MORNING_END
    assert quiet.until(datetime(2025, 3, 21, 6, 59, tzinfo=KYIV), KYIV) == MORNING_END
    assert quiet.until(datetime(2025, 3, 21, 7, 0, tzinfo=KYIV), KYIV) is None
    assert quiet.until(datetime(2025, 3, 21, 12, 0, tzinfo=KYIV), KYIV) is None
    assert quiet.holds("medium") and not quiet.holds("high") and not quiet.holds("critical")


def test_a_daytime_window_and_a_dst_night() -> None:
    lunch = parse_quiet("12:00-13:30")
    assert lunch.until(datetime(2025, 3, 21, 12, 15, tzinfo=KYIV), KYIV) == datetime(
        2025, 3, 21, 13, 30, tzinfo=KYIV
    )
    # Kyiv moves to summer time at 03:00 on 30 March 2025: the window still ends at 07:00 local.
    night = parse_quiet("22:00-07:00")
    end = night.until(datetime(2025, 3, 29, 23, 0, tzinfo=KYIV), KYIV)
    assert end == datetime(2025, 3, 30, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["22-07", "25:00-07:00", "07:00-07:00", "evening"])
def test_bad_windows_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="quiet_hours"):
        parse_quiet(bad)


def test_channel_file_errors_name_the_channel(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    channel = {"name": "night-desk", "url": "console://", "quiet_hours": "late"}
    path.write_text(yaml.safe_dump({"channels": [channel]}), encoding="utf-8")
    with pytest.raises(ChannelError, match=r"night-desk.*quiet_hours"):
        load_channels(path, {})


def test_low_severity_waits_until_morning_high_goes_at_once(tmp_path: Path, engine: Engine) -> None:
    sink = tmp_path / "alerts.jsonl"
    path = tmp_path / "channels.yaml"
    channel = {"name": "desk", "url": f"jsonl://{sink}", "quiet_hours": "22:00-07:00",
               "quiet_bypass": "high"}  # fmt: skip
    path.write_text(yaml.safe_dump({"channels": [channel]}), encoding="utf-8")
    channels = load_channels(path, {})
    with session_scope(engine) as session:
        for key, severity in (("calm", "medium"), ("urgent", "high")):
            outbox.enqueue(session, key=key, channel="desk", kind="new", topic_key="znpp",
                           title=key, body="b", now=NIGHT, severity=severity)  # fmt: skip

    def deliver(at: datetime):  # type: ignore[no-untyped-def]
        return deliver_due(engine, channels, lambda: at, max_attempts=3, timeout=5, zone=KYIV)

    night = deliver(NIGHT)
    assert (night.sent, night.deferred, night.failed) == (1, 1, 0)
    assert [a["title"] for a in jsonl_alerts(sink)] == ["urgent"]
    with session_scope(engine) as session:
        waiting = outbox.list_alerts(session, "pending")
        assert [(r.title, r.attempts, r.next_attempt_at) for r in waiting] == [
            ("calm", 0, MORNING_END)
        ]
    assert deliver(datetime(2025, 3, 21, 6, 0, tzinfo=KYIV)).sent == 0  # not due yet
    morning = deliver(MORNING_END)
    assert (morning.sent, morning.deferred) == (1, 0)
    assert [a["title"] for a in jsonl_alerts(sink)] == ["urgent", "calm"]
