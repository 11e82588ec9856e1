"""`parley serve`: the deployments and their schedules, served from this process.

With PREFECT_API_URL set, the deployments are served against that server. Without it,
parley starts a local Prefect server (``prefect server start``) on loopback, supervises it
and stops it on exit — Prefect's temporary in-process server cannot run schedules.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.types.entrypoint import EntrypointType

from parley.flows.backfill import backfill
from parley.flows.deliver import deliver
from parley.flows.digest import digest
from parley.flows.monitor import monitor
from parley.flows.monitor_shard import monitor_shard
from parley.flows.pipeline.startup import check_start
from parley.flows.settings import load_settings

SERVER_START_TIMEOUT = 120.0
DELIVER_INTERVAL = 60


def deployments(
    interval: int, digest_cron: str = "0 7 * * *", timezone: str = "UTC"
) -> list[RunnerDeployment]:
    """monitor every ``interval`` s (never two at once), deliver every minute, the digest on
    ``digest_cron`` in ``timezone``, backfill by hand, and monitor-shard for the monitor's
    shard runs (PARLEY_SHARDS above 1: each shard in a process of its own, side by side)."""
    one_at_a_time = ConcurrencyLimitConfig(
        limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
    )
    module = EntrypointType.MODULE_PATH
    made = [
        monitor.to_deployment(name="monitor", interval=interval,
                              concurrency_limit=one_at_a_time, entrypoint_type=module),
        deliver.to_deployment(name="deliver", interval=DELIVER_INTERVAL,
                              concurrency_limit=one_at_a_time, entrypoint_type=module),
        digest.to_deployment(name="digest", schedule=Cron(digest_cron, timezone=timezone),
                             concurrency_limit=one_at_a_time, entrypoint_type=module),
        backfill.to_deployment(name="backfill", entrypoint_type=module),
        monitor_shard.to_deployment(name="monitor-shard", entrypoint_type=module),
    ]  # fmt: skip
    return [d for d in made if isinstance(d, RunnerDeployment)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(api_url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited with code {process.returncode}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"prefect server at {api_url} did not become healthy in {timeout:.0f} s")


@contextmanager
def local_server() -> Iterator[str]:
    """Start `prefect server start` on 127.0.0.1 and yield its API URL; stop it afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "prefect", "server", "start",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    # Its own session: a Ctrl-C or SIGTERM sent to our process group must not stop the server
    # before the runner; parley stops it once the runner has finished.
    process = subprocess.Popen(  # noqa: S603
        command, env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(api_url, process, SERVER_START_TIMEOUT)
        yield api_url
    finally:
        stop_server(process)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s; returns once the process has exited."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so the runner and the local server shut down in order."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve_forever(interval: int | None = None) -> None:
    """Serve the deployments until interrupted (Ctrl-C or SIGTERM)."""
    settings = load_settings()
    every = interval or settings.monitor_interval
    made = deployments(every, settings.digest_cron, settings.timezone)
    api_url = os.environ.get("PREFECT_API_URL")
    check_start(settings, os.environ, api_url)  # one health alert per outage
    _stop_on_sigterm()
    if api_url:
        serve(*made)
        return
    with local_server() as api_url:
        print(f"parley: started a local Prefect server at {api_url} (UI on the same port)")
        os.environ["PREFECT_API_URL"] = api_url  # for the flow-run subprocesses
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            serve(*made, pause_on_shutdown=False)
