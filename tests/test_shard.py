"""Shards: feeds split by a stable hash of their host (flows/pipeline/shard.py), and the due
feeds of one shard read from real feed rows (flows/pipeline/cycle.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from parley.flows.pipeline.cycle import due_requests, open_runtime, sync_feed_rows
from parley.flows.pipeline.shard import Shard, feed_host, host_slot, shard_of, split
from parley.flows.settings import load_settings
from parley.storage.models import Feed

HOSTS = [f"outlet-{n:04d}.example" for n in range(2000)]
NOW = datetime(2025, 3, 22, 12, 0, tzinfo=UTC)


def test_feeds_of_one_host_share_a_shard_whatever_the_path_scheme_port_or_case() -> None:
    urls = [
        "https://news.example.org/feed.xml",
        "http://news.example.org:8080/other/rss",
        "https://NEWS.Example.org/atom?lang=uk",
        "https://user@news.example.org/private.xml",
    ]
    for count in (2, 3, 4, 7, 16):
        assert len({shard_of(url, count) for url in urls}) == 1
    assert {feed_host(url) for url in urls} == {"news.example.org"}


def test_one_shard_holds_everything() -> None:
    assert {shard_of(f"https://{host}/feed", 1) for host in HOSTS} == {0}


def test_the_assignment_is_pinned() -> None:
    """A change here moves feeds between shards: do it on purpose, never by accident."""
    assert [host_slot(f"outlet-{n:04d}.example", 4) for n in range(12)] == PINNED
    assert host_slot("", 4) == 0  # a URL without a host (a file) still has a shard


PINNED = [2, 0, 0, 2, 3, 0, 0, 1, 3, 2, 3, 3]  # BLAKE2b-64 of the host, modulo 4


@pytest.mark.parametrize("seed", ["0", "1", "4242"])
def test_the_same_in_another_process_with_another_hash_seed(seed: str) -> None:
    code = (
        "from parley.flows.pipeline.shard import host_slot\n"
        f"print(','.join(str(host_slot(h, 7)) for h in {HOSTS[:200]!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == ",".join(str(host_slot(h, 7)) for h in HOSTS[:200])


@pytest.mark.parametrize("count", [2, 4, 8])
def test_many_hosts_spread_evenly(count: int) -> None:
    sizes = [len(shard) for shard in split((f"https://{h}/rss" for h in HOSTS), count)]
    mean = len(HOSTS) / count
    assert sum(sizes) == len(HOSTS)
    assert max(sizes) <= 1.15 * mean and min(sizes) >= 0.85 * mean, sizes


def test_split_keeps_every_url_once_and_in_order() -> None:
    urls = [f"https://{HOSTS[n % 30]}/feed-{n}" for n in range(300)]
    shards = split(urls, 4)
    assert sorted(u for shard in shards for u in shard) == sorted(urls)
    for shard in shards:
        assert shard == [u for u in urls if u in set(shard)]
        others = {feed_host(u) for s in shards if s is not shard for u in s}
        assert not {feed_host(u) for u in shard} & others


@pytest.mark.parametrize(("index", "count"), [(0, 0), (-1, 2), (2, 2), (5, 3)])
def test_a_shard_outside_its_count_is_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="shard"):
        Shard(index, count)


def test_a_shard_is_shown_counting_from_one() -> None:
    assert str(Shard(0, 4)) == "1/4"


def _feeds_file(tmp_path: Path, urls: list[str]) -> Path:
    path = tmp_path / "feeds.yaml"
    feeds = [{"name": f"Feed {n}", "url": url} for n, url in enumerate(urls)]
    path.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
    return path


def test_the_shards_of_a_cycle_poll_every_feed_once(tmp_path: Path, db_url: str) -> None:
    urls = [f"https://{HOSTS[n % 9]}/feed-{n}.xml" for n in range(40)]
    settings = load_settings(database_url=db_url, feeds_file=_feeds_file(tmp_path, urls))
    runtime = open_runtime(settings)
    try:
        sync_feed_rows(runtime)
        polled: list[str] = []
        for index in range(3):
            requests, skipped = due_requests(runtime, NOW, shard=Shard(index, 3))
            assert skipped == []
            assert all(shard_of(r.url, 3) == index for r in requests)
            polled += [r.url for r in requests]
        assert Counter(polled) == Counter(urls)
        with Session(runtime.engine) as session:
            assert all(feed.active for feed in session.exec(select(Feed)))
    finally:
        runtime.engine.dispose()


def test_a_shard_run_alone_adds_its_missing_feed_rows_and_deactivates_none(
    tmp_path: Path, db_url: str
) -> None:
    urls = [f"https://{HOSTS[n % 5]}/feed-{n}.xml" for n in range(10)]
    settings = load_settings(database_url=db_url, feeds_file=_feeds_file(tmp_path, urls))
    runtime = open_runtime(settings)
    try:
        shard = Shard(shard_of(urls[0], 2), 2)
        requests, _ = due_requests(runtime, NOW, shard=shard)
        assert sorted(r.url for r in requests) == sorted(u for u in urls if shard.holds(u))
        with Session(runtime.engine) as session:
            rows = session.exec(select(Feed)).all()
            assert sorted(f.url for f in rows) == sorted(urls)
            assert all(f.active for f in rows)
    finally:
        runtime.engine.dispose()


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_harness")
def test_shard_runs_store_every_demo_item_once_and_send_nothing(tmp_path: Path) -> None:
    import asyncio

    from flowrun import Monitor, demo_feeds, jsonl_alerts, publish

    from parley.flows.ingest.localserver import FeedServer
    from parley.flows.monitor_shard import monitor_shard

    sink = tmp_path / "alerts.jsonl"
    with FeedServer() as server:
        publish(server, "01-first")
        run = Monitor(tmp_path, server, f"sqlite:///{tmp_path / 'p.db'}",
                      [{"name": "file", "url": f"jsonl://{sink}"}], demo_feeds())  # fmt: skip
        overrides = run.write()
        reports = [
            asyncio.run(monitor_shard(index, 2, base_url=server.base_url, overrides=overrides))  # type: ignore[arg-type]
            for index in range(2)
        ]
        polled = [o.url for r in reports for o in r.feeds]
        assert sorted(polled) == sorted(server.url(str(f["url"])) for f in demo_feeds())
        stored = run.entries()
        assert stored == sum(o.new for r in reports for o in r.feeds) > 0
        assert len(run.outbox()) == sum(r.alerts_queued for r in reports) > 0
        assert jsonl_alerts(sink) == []  # a shard run queues; the monitor run delivers
        # One host (127.0.0.1): one shard polled every feed, the other none.
        assert sorted(len(r.feeds) for r in reports) == [0, len(demo_feeds())]

        # Without a monitor-shard deployment, PARLEY_SHARDS=2 polls here as one cycle.
        from parley.flows.monitor import monitor

        whole = asyncio.run(
            monitor(base_url=server.base_url, force=True, overrides={**overrides, "shards": "2"})
        )  # type: ignore[arg-type]
        assert whole.delivery is not None and whole.delivery.sent == len(run.outbox())
        assert run.entries() == stored


def _run_in(state: object) -> object:
    import uuid

    from prefect.client.schemas.objects import FlowRun

    return FlowRun(flow_id=uuid.uuid4(), name="calm-otter", state=state)  # type: ignore[arg-type]


def test_a_monitor_run_gathers_completed_shards_and_names_the_failed_ones() -> None:
    import asyncio

    from prefect.states import Completed, Failed

    from parley.flows.pipeline.report import CycleReport, FeedOutcome
    from parley.flows.pipeline.shard import ShardRunsFailed
    from parley.flows.shard_runs import ShardedCycle, _collect

    cycle = ShardedCycle(CycleReport(started_at=NOW))
    done = CycleReport(started_at=NOW, feeds=[FeedOutcome(1, "A", "https://a.example/", "ok")])
    assert asyncio.run(_collect(_run_in(Completed(data=done)), cycle.report, 60)) is None  # type: ignore[arg-type]
    assert [o.feed_name for o in cycle.report.feeds] == ["A"]
    problem = asyncio.run(_collect(_run_in(Failed(message="boom")), cycle.report, 60))  # type: ignore[arg-type]
    assert problem == "ended Failed: boom"
    cycle.problems.append(f"shard 2/2: flow run calm-otter: {problem}")
    with pytest.raises(ShardRunsFailed, match="shard 2/2: flow run calm-otter: ended Failed"):
        cycle.raise_problems()


def test_a_shard_report_out_of_reach_is_one_clear_problem() -> None:
    import asyncio

    from prefect._internal.result_records import (
        ResultRecordMetadata,
    )  # what a persisted result holds
    from prefect.serializers import PickleSerializer
    from prefect.states import Completed

    from parley.flows.pipeline.report import CycleReport
    from parley.flows.shard_runs import _collect

    elsewhere = ResultRecordMetadata(
        storage_key="/nonexistent/parley", serializer=PickleSerializer()
    )
    problem = asyncio.run(
        _collect(_run_in(Completed(data=elsewhere)), CycleReport(started_at=NOW), 60)
    )  # type: ignore[arg-type]
    assert problem is not None and "PREFECT_LOCAL_STORAGE_PATH" in problem
