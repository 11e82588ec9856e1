"""Feed health alerts: one when a feed fails N cycles in a row, one when it recovers."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowrun import DEMO, Monitor, jsonl_alerts

from parley.flows.ingest.localserver import FeedServer

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_harness")]


def _health(sink: Path) -> list[str]:
    return [str(a["title"]) for a in jsonl_alerts(sink) if "[parley health]" in str(a["title"])]


def test_a_failing_feed_alerts_once_at_the_threshold_and_once_on_recovery(
    tmp_path: Path, server: FeedServer
) -> None:
    sink = tmp_path / "alerts.jsonl"
    feeds: list[dict[str, object]] = [{"name": "Flaky Wire", "url": "/flaky.xml"}]
    run = Monitor(tmp_path, server, f"sqlite:///{tmp_path / 'p.db'}",
                  [{"name": "file", "url": f"jsonl://{sink}"}], feeds)  # fmt: skip
    server.set("/flaky.xml", b"upstream down", status=500, content_type="text/plain")
    for _ in range(2):
        run.cycle()
    assert _health(sink) == []
    run.cycle()
    assert _health(sink) == ["[parley health] Feed failing: Flaky Wire — 3 failures in a row"]
    body = next(a["body"] for a in jsonl_alerts(sink) if "failing" in str(a["title"]))
    assert server.url("/flaky.xml") in str(body)
    assert "HTTP 500" in str(body)
    run.cycle()
    assert len(_health(sink)) == 1  # still failing: no repeat

    server.set("/flaky.xml", (DEMO / "steps" / "01-first" / "dnipro-wire.xml").read_bytes())
    run.cycle()
    assert _health(sink)[1:] == ["[parley health] Feed recovered: Flaky Wire"]
    run.cycle()
    assert len(_health(sink)) == 2
