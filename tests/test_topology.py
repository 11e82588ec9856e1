"""The scale-out topology on loopback: a Prefect server on PostgreSQL, two process workers,
the deployments of deploy/prefect.yaml, and one monitor run split into shards.

It runs the README's "Run past one machine" commands (with a free port and throwaway
databases): `prefect server start`, `prefect worker start --pool parley --type process` twice
(`--limit 3`: the worker that runs the monitor run takes at most two of the four shards, so
the other one always gets shards too), `prefect --no-prompt deploy --all --prefect-file deploy/prefect.yaml`,
then `prefect deployment run monitor/monitor`. A few hundred generated feeds (bench/feedgen.py) are
served from twelve loopback addresses, so grouping feeds by host means something. Then it
checks, through the Prefect API (the workers' events), that both workers ran shard runs, and in parley's store that
every item was stored once and every alert queued and sent once. Every process is stopped,
workers first, with bounded waits, even when the test fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml
from pg import pg_available, throwaway_database
from sqlalchemy import func
from sqlmodel import Session, select

from parley.flows.ingest.localserver import FeedServer
from parley.flows.pipeline.shard import shard_of
from parley.flows.serve import free_port
from parley.storage.db import make_engine
from parley.storage.models import Entry, Feed, OutboxAlert

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parent.parent
HOSTS = [f"127.0.0.{n}" for n in range(2, 14)]  # every shard of 4 gets a host
FEEDS, ITEMS, SHARDS = 240, 20, 4
WORKERS = ("parley-worker-a", "parley-worker-b")
START_TIMEOUT = 120.0  # s for the server to answer, the pool to appear
COMMAND_TIMEOUT = 120.0  # s for one CLI command (deploy)
RUN_TIMEOUT = 240.0  # s for the monitor run and its shards
STOP_TIMEOUT = 20.0  # s for a process to end after SIGTERM, then SIGKILL
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _feedgen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("feedgen", ROOT / "bench" / "feedgen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["feedgen"] = module
    spec.loader.exec_module(module)
    return module


def _prefect() -> list[str]:
    script = Path(sys.executable).with_name("prefect")
    return [str(script)] if script.exists() else [sys.executable, "-m", "prefect"]


def _asyncpg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql+asyncpg://", 1)


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process in its own group, output to ``log``; SIGTERM, then SIGKILL, on the way out."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait(what: str, check: Any, timeout: float, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if found := check():
                return found
        except httpx.HTTPError:
            pass
        time.sleep(1)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)
    raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tails}")


@pytest.fixture
def feeds_on_loopback(tmp_path: Path) -> Iterator[tuple[Path, list[FeedServer], int]]:
    """FEEDS generated feeds served from twelve loopback hosts; their feeds file."""
    feedgen = _feedgen()
    with ExitStack() as stack:
        servers = [stack.enter_context(FeedServer(host)) for host in HOSTS]
        listed = []
        for index, feed in enumerate(feedgen.generate(FEEDS, ITEMS)):
            server = servers[index % len(servers)]
            server.set(feed.path, feed.render(), content_type=feed.content_type, delay=0.02)
            listed.append({"name": feed.name, "url": server.url(feed.path),
                           "language": feed.language})  # fmt: skip
        path = tmp_path / "feeds.yaml"
        path.write_text(yaml.safe_dump({"feeds": listed}), encoding="utf-8")
        yield path, servers, FEEDS * ITEMS


def test_two_workers_share_the_shards_of_one_monitor_run(
    tmp_path: Path, feeds_on_loopback: tuple[Path, list[FeedServer], int]
) -> None:
    if reason := pg_available():
        pytest.skip(reason)
    feeds_file, servers, items = feeds_on_loopback
    began = time.monotonic()
    marks: dict[str, float] = {}
    sink = tmp_path / "alerts.jsonl"
    channels = tmp_path / "channels.yaml"
    channels.write_text(
        yaml.safe_dump({"channels": [{"name": "file", "url": f"jsonl://{sink}"}]}),
        encoding="utf-8",
    )
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PARLEY_"))}
    base.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    logs = [tmp_path / "server.log", *(tmp_path / f"{w}.log" for w in WORKERS)]
    with ExitStack() as stack:
        prefect_db = stack.enter_context(throwaway_database("parley_prefect"))
        parley_db = stack.enter_context(throwaway_database("parley_store"))
        server_env = {
            **base,
            "PREFECT_HOME": str(tmp_path / "server-home"),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": _asyncpg(prefect_db),
            # Only the runs this test asks for: no scheduled monitor/deliver runs meanwhile.
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
        }
        stack.enter_context(_process(
            [*_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            server_env, logs[0],
        ))  # fmt: skip
        _wait("prefect server health", lambda: httpx.get(f"{api}/health", timeout=5).is_success,
              START_TIMEOUT, logs)  # fmt: skip

        worker_env = {
            **base,
            "PREFECT_API_URL": api,
            "PREFECT_HOME": str(tmp_path / "worker-home"),
            "PREFECT_LOCAL_STORAGE_PATH": str(tmp_path / "results"),  # shared by both workers
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "PARLEY_WORKDIR": str(ROOT),
            "PARLEY_DATABASE_URL": parley_db,
            "PARLEY_FEEDS_FILE": str(feeds_file),
            "PARLEY_CHANNELS_FILE": str(channels),
            "PARLEY_SHARDS": str(SHARDS),
        }
        for name, log in zip(WORKERS, logs[1:], strict=True):
            stack.enter_context(_process(
                [*_prefect(), "worker", "start", "--pool", "parley", "--type", "process",
                 "--name", name, "--limit", "3"],
                worker_env, log,
            ))  # fmt: skip
        marks["server"] = time.monotonic() - began
        _wait("work pool 'parley'",
              lambda: httpx.get(f"{api}/work_pools/parley", timeout=5).is_success,
              START_TIMEOUT, logs)  # fmt: skip

        marks["workers"] = time.monotonic() - began
        deploy = subprocess.run(
            [*_prefect(), "--no-prompt", "deploy", "--all", "--prefect-file",
             "deploy/prefect.yaml"],
            env=worker_env, cwd=ROOT, capture_output=True, text=True,
            timeout=COMMAND_TIMEOUT, check=False,
        )  # fmt: skip
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        marks["deploy"] = time.monotonic() - began
        started = subprocess.run(
            [*_prefect(), "deployment", "run", "monitor/monitor"],
            env=worker_env, cwd=ROOT, capture_output=True, text=True,
            timeout=COMMAND_TIMEOUT, check=False,
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr
        found = re.search(r"UUID: ([0-9a-f-]{36})", started.stdout)
        assert found, started.stdout
        run_id = found.group(1)

        with httpx.Client(base_url=api, timeout=30) as client:
            state = _wait("monitor run to finish", lambda: _final_state(client, run_id),
                          RUN_TIMEOUT, logs)  # fmt: skip
            assert state["type"] == "COMPLETED", (state, _tails(logs))
            shard_runs = _shard_runs(client)
            ids = [r["id"] for r in shard_runs]
            by_worker = _wait("an event naming the worker of each shard run",
                              lambda: _workers_of(client, ids), START_TIMEOUT, logs)  # fmt: skip
        marks["run"] = seconds = time.monotonic() - began
        stored, distinct, queued, sent_rows, keys, unwell = _store_counts(parley_db)

    assert len(shard_runs) == SHARDS
    assert {r["state_type"] for r in shard_runs} == {"COMPLETED"}
    assert set(by_worker.values()) == set(WORKERS), by_worker
    assert stored == distinct == items, (unwell, _tails(logs))
    sent = [json.loads(line) for line in sink.read_text(encoding="utf-8").splitlines()]
    assert queued == keys == sent_rows == len(sent) > 0
    for server in servers:  # every host's feeds were polled by one shard, politely
        assert server.max_in_flight <= 2
    hosts_per_shard = Counter(shard_of(s.base_url, SHARDS) for s in servers)
    print(
        f"\ntopology: {SHARDS} shards over {len(HOSTS)} hosts {dict(sorted(hosts_per_shard.items()))}, "
        f"shard runs per worker {dict(Counter(by_worker.values()))}, "
        f"{FEEDS} feeds, {stored} items stored once, {queued} alerts queued and sent once, "
        f"{seconds:.0f} s from server start to the end of the run "
        f"({', '.join(f'{k} ready at {v:.0f} s' for k, v in marks.items())})"
    )


def _final_state(client: httpx.Client, run_id: str) -> dict[str, Any] | None:
    state = client.get(f"/flow_runs/{run_id}").raise_for_status().json()["state"]
    return state if state and state["type"] in FINAL else None


def _shard_runs(client: httpx.Client) -> list[dict[str, Any]]:
    body = {"deployments": {"name": {"any_": ["monitor-shard"]}}}
    runs: list[dict[str, Any]] = (
        client.post("/flow_runs/filter", json=body).raise_for_status().json()
    )
    return runs


def _workers_of(client: httpx.Client, run_ids: list[str]) -> dict[str, str] | None:
    """flow run id → the worker that ran it, from the server's `submitted-flow-run` events.

    Both workers may try to take the same run ("submitting flow run" in both logs); only the
    one whose Pending state the server accepted emits the event. None until every run has one
    (the server stores events a moment after they arrive).
    """
    body = {"filter": {"event": {"name": ["prefect.worker.submitted-flow-run"]}}, "limit": 50}
    events = client.post("/events/filter", json=body).raise_for_status().json()["events"]
    found: dict[str, str] = {}
    for event in events:
        for related in event["related"]:
            if related.get("prefect.resource.role") == "flow-run":
                run_id = related["prefect.resource.id"].removeprefix("prefect.flow-run.")
                found[run_id] = event["resource"]["prefect.resource.name"]
    wanted = {run_id: found[run_id] for run_id in run_ids if run_id in found}
    return wanted if len(wanted) == len(run_ids) else None


def _store_counts(url: str) -> tuple[int, int, int, int, int, list[str]]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            stored = session.exec(select(func.count()).select_from(Entry)).one()
            pairs = session.exec(select(Entry.feed_id, Entry.uid).distinct()).all()
            alerts = session.exec(select(OutboxAlert)).all()
            feeds = session.exec(select(Feed)).all()
    finally:
        engine.dispose()
    keys = len({a.idempotency_key for a in alerts})
    sent = sum(1 for a in alerts if a.status == "sent")
    # Feeds that did not end their fetch well, for the failure message.
    unwell = [f"{f.url}: {f.last_status} {f.last_error or ''}".strip() for f in feeds
              if f.last_status != "ok"]  # fmt: skip
    return stored, len(pairs), len(alerts), sent, keys, unwell


def _tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)
