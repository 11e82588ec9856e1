"""`parley serve` from the outside: it starts its own Prefect server, serves the deployments,
runs a monitor run asked for through the API, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from flowrun import jsonl_alerts, publish

from parley.flows.ingest.localserver import FeedServer

pytestmark = pytest.mark.slow
STARTUP_TIMEOUT = 150.0
RUN_TIMEOUT = 120.0
DEMO_FEEDS = ("dnipro-wire.xml", "kyiv-herald.xml", "vestnik-online.xml", "atomic-watch.xml")


class Output:
    """Collects a subprocess's output lines in a thread, so reads never block the test."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    def close(self, process: subprocess.Popen[str]) -> None:
        self._thread.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r}; output:\n{''.join(self.lines)}")


@pytest.fixture
def serve_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], FeedServer]]:
    with FeedServer() as server:
        publish(server, "01-first")
        feeds = [{"name": n, "url": server.url(f"/{n}")} for n in DEMO_FEEDS]
        (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
        channels = [{"name": "file", "url": f"jsonl://{tmp_path / 'alerts.jsonl'}"}]
        (tmp_path / "channels.yaml").write_text(
            yaml.safe_dump({"channels": channels}), encoding="utf-8"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PARLEY_"))}
        env.update(
            PREFECT_HOME=str(tmp_path / "prefect"),
            PARLEY_DATABASE_URL=f"sqlite:///{tmp_path / 'parley.db'}",
            PARLEY_FEEDS_FILE=str(tmp_path / "feeds.yaml"),
            PARLEY_CHANNELS_FILE=str(tmp_path / "channels.yaml"),
        )
        yield env, server


def _run_deployment(api: str, name: str) -> str:
    with httpx.Client(base_url=api, timeout=30) as client:
        deployment = client.get(f"/deployments/name/{name}").raise_for_status().json()
        run = _post(client, f"/deployments/{deployment['id']}/create_flow_run")
        run_id = str(run["id"])
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            state = client.get(f"/flow_runs/{run_id}").raise_for_status().json()["state"]
            if state and state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                return str(state["type"])
            time.sleep(1)
    raise AssertionError(f"flow run {run_id} of {name} did not finish in {RUN_TIMEOUT} s")


def _shard_runs(api: str) -> list[str]:
    with httpx.Client(base_url=api, timeout=30) as client:
        body = {"flows": {"name": {"any_": ["monitor-shard"]}}}
        runs = client.post("/flow_runs/filter", json=body).raise_for_status().json()
    return sorted(str(run["state"]["type"]) for run in runs)


def _post(client: httpx.Client, path: str) -> dict[str, object]:
    """POST, retrying while the server answers 503 (its SQLite is busy right after start)."""
    for _ in range(30):
        response = client.post(path, json={})
        if response.status_code != 503:
            return dict(response.raise_for_status().json())
        time.sleep(1)
    raise AssertionError(f"{path}: still 503 after 30 tries")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_serve_runs_the_monitor_deployment_and_stops_cleanly(
    tmp_path: Path, serve_env: tuple[dict[str, str], FeedServer]
) -> None:
    env, _server = serve_env
    env["PARLEY_SHARDS"] = "2"  # the monitor runs its shards through the served monitor-shard
    parley = shutil.which("parley", path=str(Path(sys.executable).parent))
    assert parley, "the parley command is not installed next to this Python"
    process = subprocess.Popen(
        [parley, "serve", "--interval", "3600"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process)
    try:
        api = output.wait_for(r"local Prefect server at (\S+/api)", STARTUP_TIMEOUT).group(1)
        output.wait_for(r"deployments are being served", STARTUP_TIMEOUT)
        assert _run_deployment(api, "monitor/monitor") == "COMPLETED"
        delivered = len(jsonl_alerts(tmp_path / "alerts.jsonl"))
        assert delivered >= len(DEMO_FEEDS)
        assert _run_deployment(api, "monitor/monitor") == "COMPLETED"
        assert len(jsonl_alerts(tmp_path / "alerts.jsonl")) == delivered  # nothing new
        assert _shard_runs(api) == ["COMPLETED"] * 4  # two per monitor run
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            output.close(process)
    port = int(re.search(r":(\d+)/api", api).group(1))  # type: ignore[union-attr]
    assert not _port_open(port), "the local Prefect server is still running"
    text = "".join(output.lines)
    assert "Traceback" not in text, text
    assert code in (0, 130)
