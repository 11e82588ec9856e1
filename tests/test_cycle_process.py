"""A cycle's store step: answers with content one transaction each, unchanged ones together.

Real feed server, real stores; the plain functions of flows/pipeline/cycle.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from parley.flows.ingest.localserver import FeedServer
from parley.flows.pipeline import cycle as cycle_module
from parley.flows.pipeline.cycle import Runtime, due_requests, fetch, open_runtime, process, utcnow
from parley.flows.settings import load_settings
from parley.storage.db import session_scope
from parley.storage.models import Entry, Feed

NAMES = ("alpha", "beta", "gamma", "delta")


def _rss(name: str, count: int) -> bytes:
    items = "".join(
        f"<item><title>{name} note {i}</title><guid>{name}-{i}</guid>"
        f"<description>Routine note {i}.</description></item>"
        for i in range(count)
    )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>{items}'
            "</channel></rss>").encode()  # fmt: skip


def _runtime(tmp_path: Path, server: FeedServer, db_url: str) -> Runtime:
    feeds = [{"name": name, "url": server.url(f"/{name}.xml")} for name in NAMES]
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
    channels_file = tmp_path / "channels.yaml"
    channels_file.write_text(yaml.safe_dump({"channels": [
        {"name": "file", "url": f"jsonl://{tmp_path / 'alerts.jsonl'}"}]}), encoding="utf-8")  # fmt: skip
    settings = load_settings(database_url=db_url, feeds_file=str(feeds_file),
                             channels_file=str(channels_file), parse_workers="1")  # fmt: skip
    return open_runtime(settings)


def _cycle(runtime: Runtime) -> list[tuple[str, str, int]]:
    requests, _ = due_requests(runtime, utcnow(), force=True)
    outcomes = process(runtime, fetch(requests, runtime.settings))
    return [(o.feed_name, o.status, o.new) for o in outcomes]


def test_unchanged_feeds_are_stored_together_and_outcomes_keep_their_order(
    tmp_path: Path, server: FeedServer, db_url: str
) -> None:
    for count, name in enumerate(NAMES, start=1):
        server.set(f"/{name}.xml", _rss(name, count), content_type="application/rss+xml")
    runtime = _runtime(tmp_path, server, db_url)
    try:
        assert _cycle(runtime) == [(name, "ok", n) for n, name in enumerate(NAMES, start=1)]
        with session_scope(runtime.engine) as session:
            fetched = {f.name: f.last_fetch_at for f in session.exec(select(Feed))}

        server.set("/beta.xml", _rss("beta", 5), content_type="application/rss+xml")
        server.set("/delta.xml", _rss("delta", 6), content_type="application/rss+xml")
        assert _cycle(runtime) == [("alpha", "not_modified", 0), ("beta", "ok", 3),
                                   ("gamma", "not_modified", 0), ("delta", "ok", 2)]  # fmt: skip
        with session_scope(runtime.engine) as session:
            feeds = {f.name: f for f in session.exec(select(Feed))}
            entries = len(session.exec(select(Entry)).all())
        assert entries == 5 + 1 + 3 + 6
        for name in NAMES:  # every 304 recorded, the content ones too
            assert feeds[name].last_fetch_at > fetched[name]  # type: ignore[operator]
            assert feeds[name].last_ok_at == feeds[name].last_fetch_at
        assert feeds["alpha"].last_status == "not_modified"
    finally:
        runtime.engine.dispose()


def test_when_storing_the_unchanged_feeds_together_fails_each_is_stored_alone(
    tmp_path: Path, server: FeedServer, db_url: str
) -> None:
    for name in NAMES:  # no items: a feed row with nothing pointing at it
        server.set(f"/{name}.xml", _rss(name, 0), content_type="application/rss+xml")
    runtime = _runtime(tmp_path, server, db_url)
    try:
        _cycle(runtime)
        requests, _ = due_requests(runtime, utcnow(), force=True)
        results = fetch(requests, runtime.settings)
        with session_scope(runtime.engine) as session:  # removed meanwhile, e.g. by `feeds sync`
            session.delete(session.exec(select(Feed).where(Feed.name == "gamma")).one())
        outcomes = process(runtime, results)
        assert [(o.status, o.feed_name) for o in outcomes][:2] == [("not_modified", "alpha"),
                                                             ("not_modified", "beta")]  # fmt: skip
        assert outcomes[2].status == "store_error"
        assert outcomes[2].error is not None and "gamma" in outcomes[2].error
        assert outcomes[3].status == "not_modified"
        with session_scope(runtime.engine) as session:
            statuses = {f.name: f.last_status for f in session.exec(select(Feed))}
        assert statuses == {"alpha": "not_modified", "beta": "not_modified",
                            "delta": "not_modified"}  # fmt: skip
    finally:
        runtime.engine.dispose()


def test_a_feed_whose_transaction_meets_a_deadlock_is_stored_on_the_next_attempt(
    tmp_path: Path, server: FeedServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two shards storing reports of one story at the same moment can deadlock on PostgreSQL;
    # the database rolls one transaction back. That cannot be timed from a test, so the first
    # attempt for "beta" is made to fail the way psycopg reports it.
    for count, name in enumerate(NAMES, start=1):
        server.set(f"/{name}.xml", _rss(name, count), content_type="application/rss+xml")
    runtime = _runtime(tmp_path, server, db_url)
    real = cycle_module.process_fetch
    failed: list[str] = []

    def deadlocking(pipeline: Any, result: Any, now: Any, parsed: Any = None) -> Any:
        if result.url.endswith("/beta.xml") and not failed:
            failed.append(result.url)
            raise OperationalError("INSERT …", {}, Exception("deadlock detected"))
        return real(pipeline, result, now, parsed)

    monkeypatch.setattr(cycle_module, "process_fetch", deadlocking)
    try:
        assert _cycle(runtime) == [(name, "ok", n) for n, name in enumerate(NAMES, start=1)]
        assert failed == [server.url("/beta.xml")]
        with session_scope(runtime.engine) as session:
            assert len(session.exec(select(Entry)).all()) == 1 + 2 + 3 + 4
    finally:
        runtime.engine.dispose()
