"""Helpers to run parley's monitor flow in tests against real local servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlmodel import Session, select

from parley.flows.ingest.localserver import FeedServer
from parley.flows.pipeline.report import CycleReport
from parley.storage.db import make_engine
from parley.storage.models import Entry, Match, OutboxAlert

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
DEMO = SEEDS / "demo"


@dataclass
class Monitor:
    """A feeds file on a FeedServer, a channels file, a database: run cycles, look inside."""

    tmp: Path
    server: FeedServer
    db_url: str
    channels: list[dict[str, object]]
    feeds: list[dict[str, object]]

    def write(self) -> dict[str, str | None]:
        feeds_file = self.tmp / "feeds.yaml"
        feeds_file.write_text(yaml.safe_dump({"feeds": self.feeds}), encoding="utf-8")
        channels_file = self.tmp / "channels.yaml"
        channels_file.write_text(yaml.safe_dump({"channels": self.channels}), encoding="utf-8")
        return {
            "database_url": self.db_url,
            "channels_file": str(channels_file),
            "feeds_file": str(feeds_file),
        }

    def cycle(self, **kwargs: object) -> CycleReport:
        from parley.flows.monitor import monitor

        overrides = self.write()
        return asyncio.run(
            monitor(base_url=self.server.base_url, force=True, overrides=overrides, **kwargs)
        )  # type: ignore[arg-type]

    @contextmanager
    def session(self) -> Iterator[Session]:
        engine = make_engine(self.db_url)
        try:
            with Session(engine) as session:
                yield session
        finally:
            engine.dispose()

    def outbox(self) -> list[OutboxAlert]:
        with self.session() as s:
            return list(s.exec(select(OutboxAlert).order_by(OutboxAlert.id)))  # type: ignore[arg-type]

    def matches(self) -> list[tuple[str, str, int, str]]:
        """(entry uid, topic, revision, kind) of every stored match."""
        with self.session() as s:
            rows = s.exec(select(Match, Entry).join(Entry, Entry.id == Match.entry_id))  # type: ignore[arg-type]
            return sorted((e.uid, m.topic_key, m.revision, m.kind) for m, e in rows)

    def entries(self) -> int:
        with self.session() as s:
            return len(s.exec(select(Entry)).all())


def publish(server: FeedServer, step: str) -> None:
    for path in sorted((DEMO / "steps" / step).glob("*.xml")):
        body = path.read_bytes()
        kind = "atom" if b"<feed" in body[:500] else "rss"
        server.set(f"/{path.name}", body, content_type=f"application/{kind}+xml")


def demo_feeds() -> list[dict[str, object]]:
    document = yaml.safe_load((DEMO / "feeds.yaml").read_text(encoding="utf-8"))
    return list(document["feeds"])


def jsonl_alerts(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
