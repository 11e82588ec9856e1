"""A SQLite store filled by the real monitor flow over demo steps 01-first, 03-news and
04-development (seeds/demo/README.md), for the report commands' tests."""

from __future__ import annotations

from pathlib import Path

from flowrun import Monitor, demo_feeds, publish
from sqlmodel import col, select

from parley.flows.ingest.localserver import FeedServer
from parley.flows.pipeline.report import CycleReport
from parley.storage.models import Entry

STEPS = ("01-first", "03-news", "04-development")


def run_demo_steps(tmp: Path) -> tuple[Monitor, list[CycleReport]]:
    """Run one monitor cycle per step into ``tmp/parley.db``; the Monitor and the reports."""
    channels: list[dict[str, object]] = [{"name": "file", "url": f"jsonl://{tmp / 'alerts.jsonl'}"}]
    with FeedServer() as server:
        run = Monitor(tmp, server, f"sqlite:///{tmp / 'parley.db'}", channels, demo_feeds())
        reports = []
        for step in STEPS:
            publish(server, step)
            reports.append(run.cycle(deliver=False))
    return run, reports


def entry_id(run: Monitor, guid_suffix: str) -> int:
    with run.session() as session:
        entry = session.exec(select(Entry).where(col(Entry.guid).endswith(guid_suffix))).one()
        assert entry.id is not None
        return entry.id
