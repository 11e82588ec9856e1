"""The backfill flow: ingest feed files, and re-match stored history after adding a topic.

Real Prefect flow runs against SQLite and PostgreSQL; settings come from the environment
(PARLEY_*), as they do for `parley backfill`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from flowrun import DEMO, Monitor, jsonl_alerts
from sqlmodel import select

from parley.flows.backfill import backfill
from parley.flows.pipeline.backfill import BackfillReport, rematch
from parley.flows.pipeline.cycle import open_runtime
from parley.flows.settings import load_settings
from parley.flows.stories.assign import ALERTING
from parley.storage.models import Feed, Match, OutboxAlert

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_harness")]

FIRST = DEMO / "steps" / "01-first"
TOPICS = DEMO.parent / "topics.yaml"
MARCH = datetime(2025, 3, 1, tzinfo=UTC)
APRIL = datetime(2025, 4, 1, tzinfo=UTC)
# seeds/demo/README.md, step 01: matches per feed file, and per topic over all four files.
FILE_MATCHES = {"dnipro-wire.xml": 7, "atomic-watch.xml": 2}
FIRST_ITEMS = 19  # demo step 01: five outlets (seeds/demo/README.md)
TOPIC_MATCHES = {"black-sea": 3, "znpp": 4, "energy-truce": 3, "ceasefire": 3, "talks": 4}


def _topics_without(tmp_path: Path, *missing: str) -> Path:
    """A copy of seeds/topics.yaml without the topics ``missing``."""
    document = yaml.safe_load(TOPICS.read_text(encoding="utf-8"))
    document["topics"] = [t for t in document["topics"] if t["key"] not in missing]
    path = tmp_path / f"topics-{len(document['topics'])}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Monitor:
    """The environment `parley backfill` reads, and a Monitor to look inside the store."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds: []\n", encoding="utf-8")
    channels: list[dict[str, object]] = [
        {"name": "file", "url": f"jsonl://{tmp_path / 'alerts.jsonl'}"}
    ]
    run = Monitor(tmp_path, None, db_url, channels, [])  # type: ignore[arg-type]  # no server
    settings = run.write()
    monkeypatch.setenv("PARLEY_DATABASE_URL", db_url)
    monkeypatch.setenv("PARLEY_CHANNELS_FILE", str(settings["channels_file"]))
    monkeypatch.setenv("PARLEY_FEEDS_FILE", str(settings["feeds_file"]))
    monkeypatch.setenv("PARLEY_TOPICS_FILE", str(TOPICS))
    return run


def _run(**kwargs: object) -> BackfillReport:
    report = asyncio.run(backfill(**kwargs))  # type: ignore[arg-type]
    assert isinstance(report, BackfillReport)
    return report


def _topic_counts(run: Monitor) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _uid, topic, _revision, _kind in run.matches():
        counts[topic] = counts.get(topic, 0) + 1
    return counts


def test_ingest_records_matches_and_queues_alerts_only_with_send(store: Monitor) -> None:
    dnipro = FIRST / "dnipro-wire.xml"
    report = _run(sources=[str(dnipro)])
    assert report.mode == "ingest" and report.write and not report.send
    (source,) = report.sources
    assert source.status == "ok" and source.error is None
    assert source.new == 4  # the four items of the file
    assert report.examined == 4
    assert len(report.matches) == FILE_MATCHES["dnipro-wire.xml"]
    assert all(m.alerts_queued == 0 for m in report.matches)
    assert "no alerts" in report.render()
    assert store.entries() == 4
    assert len(store.matches()) == FILE_MATCHES["dnipro-wire.xml"]
    assert store.outbox() == []
    with store.session() as s:
        feed = s.exec(select(Feed)).one()
    assert feed.url == dnipro.resolve().as_uri()

    again = _run(sources=[str(dnipro)])
    assert again.matches == [] and again.sources[0].new == 0

    atomic = FIRST / "atomic-watch.xml"
    sent = _run(sources=[str(atomic)], send=True)
    assert sent.send
    assert len(sent.matches) == FILE_MATCHES["atomic-watch.xml"]
    assert all(m.alerts_queued == (m.kind in ALERTING) for m in sent.matches)
    rows = store.outbox()
    assert len(rows) == sum(m.kind in ALERTING for m in sent.matches) > 0
    assert {r.topic_key for r in rows} == {"znpp"}
    assert all(r.status == "pending" and r.channel == "file" for r in rows)
    assert jsonl_alerts(store.tmp / "alerts.jsonl") == []  # queued, not delivered


def test_a_feed_file_is_cut_to_the_date_range(store: Monitor) -> None:
    dnipro = FIRST / "dnipro-wire.xml"  # items of 12, 18, 21 and 22 March 2025
    since, until = datetime(2025, 3, 15, tzinfo=UTC), datetime(2025, 3, 22, tzinfo=UTC)
    report = _run(sources=[str(dnipro)], since=since, until=until)
    (source,) = report.sources
    assert (source.status, source.new, source.error) == ("ok", 2, None)
    assert f"file {dnipro}: 2 new, 0 edited, 2 outside the date range" in report.notes
    assert store.entries() == 2
    assert all(since <= m.published_at < until for m in report.matches if m.published_at)
    again = _run(sources=[str(dnipro)], since=since, until=until)  # idempotent
    assert (again.sources[0].new, store.entries()) == (0, 2)
    everything = _run(sources=[str(dnipro)])  # no range: the whole file, as a fetch would
    assert (everything.sources[0].new, store.entries()) == (2, 4)


def test_a_missing_source_file_is_reported_by_name(store: Monitor, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-feed.xml"
    report = _run(sources=[str(missing)])
    (source,) = report.sources
    assert source.status == "connection"
    assert source.error is not None and str(missing) in source.error
    assert store.entries() == 0


def test_rematch_after_adding_topics(
    store: Monitor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_TOPICS_FILE", str(_topics_without(tmp_path, "znpp", "black-sea")))
    files = sorted(str(p) for p in FIRST.glob("*.xml"))
    ingest = _run(sources=files)
    assert sum(o.new for o in ingest.sources) == FIRST_ITEMS
    known = {k: n for k, n in TOPIC_MATCHES.items() if k not in ("znpp", "black-sea")}
    assert _topic_counts(store) == known
    assert store.outbox() == []

    monkeypatch.setenv("PARLEY_TOPICS_FILE", str(_topics_without(tmp_path, "black-sea")))
    outside = _run(since=APRIL)
    assert outside.examined == 0 and outside.matches == []

    dry = _run(since=MARCH, until=APRIL)
    assert dry.mode == "rematch" and not dry.write
    assert dry.examined == FIRST_ITEMS
    assert sorted(m.topic_key for m in dry.matches) == ["znpp"] * TOPIC_MATCHES["znpp"]
    assert "dry run, nothing written" in dry.render()
    assert _topic_counts(store) == known
    assert store.outbox() == []

    applied = _run(since=MARCH, until=APRIL, apply=True)
    assert applied.write and not applied.send
    assert sorted((m.entry_id, m.topic_key) for m in applied.matches) == sorted(
        (m.entry_id, m.topic_key) for m in dry.matches
    )
    known["znpp"] = TOPIC_MATCHES["znpp"]
    assert _topic_counts(store) == known
    assert store.outbox() == []

    again = _run(since=MARCH, until=APRIL, apply=True)
    assert again.examined == FIRST_ITEMS and again.matches == []
    assert _topic_counts(store) == known

    monkeypatch.setenv("PARLEY_TOPICS_FILE", str(TOPICS))
    sent = _run(since=MARCH, until=APRIL, send=True)
    assert sent.write and sent.send
    assert sorted(m.topic_key for m in sent.matches) == ["black-sea"] * TOPIC_MATCHES["black-sea"]
    assert all(m.alerts_queued == (m.kind in ALERTING) for m in sent.matches)
    assert _topic_counts(store) == TOPIC_MATCHES
    rows = store.outbox()
    alerting = sum(m.kind in ALERTING for m in sent.matches)
    assert [r.topic_key for r in rows] == ["black-sea"] * alerting
    with store.session() as s:
        query = select(Match).where(Match.topic_key == "black-sea")
        match_ids = {m.id for m in s.exec(query) if m.kind in ALERTING}
        assert {r.match_id for r in s.exec(select(OutboxAlert))} == match_ids


def test_an_interrupted_rematch_resumes_after_its_last_batch(
    store: Monitor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_TOPICS_FILE", str(_topics_without(tmp_path, "znpp")))
    _run(sources=sorted(str(p) for p in FIRST.glob("*.xml")))
    monkeypatch.setenv("PARLEY_TOPICS_FILE", str(TOPICS))  # znpp is back: 4 matches to find
    runtime = open_runtime(load_settings(), queue_alerts=False)
    try:
        dry = rematch(runtime, MARCH, APRIL, write=False)
        expected = sorted((m.entry_id, m.topic_key) for m in dry.matches)
        assert len(expected) == TOPIC_MATCHES["znpp"]

        def interrupt(done: int, total: int) -> None:
            raise KeyboardInterrupt  # Ctrl-C once the first batch is committed

        with pytest.raises(KeyboardInterrupt):
            rematch(runtime, MARCH, APRIL, write=True, batch=5, progress=interrupt)
        first = store.matches()
        resumed = rematch(runtime, MARCH, APRIL, write=True, batch=5)
        assert resumed.notes == [f"re-match resumed after entry 5 of {FIRST_ITEMS}"]
        assert resumed.examined == FIRST_ITEMS - 5
        found = sorted(m.entry_id for m in resumed.matches)
        assert len(store.matches()) == len(first) + len(found)
        assert _topic_counts(store)["znpp"] == TOPIC_MATCHES["znpp"]  # each found once
        again = rematch(runtime, MARCH, APRIL, write=True, batch=5)  # finished: starts over
        assert (again.notes, again.examined, again.matches) == ([], FIRST_ITEMS, [])
    finally:
        runtime.engine.dispose()
