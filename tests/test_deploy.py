"""deploy/: compose.yaml, prefect.yaml, .env.example and the Dockerfile agree with each other
and with parley's settings and flows; a Compose implementation validates compose.yaml when
one is installed."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from parley.flows.settings import Settings
from parley.flows.shard_runs import SHARD_DEPLOYMENT

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
PREFECT: dict[str, Any] = yaml.safe_load((DEPLOY / "prefect.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
WORKERS = sorted(name for name in SERVICES if name.startswith("worker"))
SETTINGS = {f"PARLEY_{name.upper()}" for name in Settings.model_fields}
NOT_SETTINGS = {"PARLEY_WORKDIR"}  # read by prefect.yaml's pull step, not by parley


def _env_example() -> dict[str, str]:
    lines = (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    return {key: value for key, value in pairs}


def _deployment(name: str) -> dict[str, Any]:
    (found,) = [d for d in PREFECT["deployments"] if d["name"] == name]
    return found


def test_the_topology_has_its_services() -> None:
    assert {"postgres", "prefect-server", "register"} <= set(SERVICES)
    assert len(WORKERS) == 2


def test_the_prefect_server_keeps_its_state_in_postgresql() -> None:
    env = SERVICES["prefect-server"]["environment"]
    url = env["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    assert url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in url
    assert env["DO_NOT_TRACK"] == "1" and env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    initdb = (DEPLOY / "initdb" / "01-prefect.sql").read_text(encoding="utf-8")
    assert f"CREATE DATABASE {url.rsplit('/', 1)[1]}" in initdb


def test_workers_poll_the_pool_of_the_deployments_with_distinct_names() -> None:
    pools = {d["work_pool"]["name"] for d in PREFECT["deployments"]}
    assert len(pools) == 1
    names = []
    for worker in WORKERS:
        command = SERVICES[worker]["command"]
        assert command[:3] == ["prefect", "worker", "start"]
        assert command[command.index("--pool") + 1] in pools
        assert command[command.index("--type") + 1] == "process"
        names.append(command[command.index("--name") + 1])
    assert len(set(names)) == len(names)


def test_workers_share_one_results_volume_where_prefect_persists_results() -> None:
    mounts = []
    for worker in WORKERS:
        path = SERVICES[worker]["environment"]["PREFECT_LOCAL_STORAGE_PATH"]
        (volume,) = [v for v in SERVICES[worker]["volumes"] if v.endswith(f":{path}")]
        mounts.append(volume)
    assert len(set(mounts)) == 1 and mounts[0].split(":")[0] in COMPOSE["volumes"]


def test_parley_services_point_at_the_database_and_server_of_the_topology() -> None:
    for name in [*WORKERS, "register"]:
        service = SERVICES[name]
        env = service["environment"]
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert env["PARLEY_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert service["env_file"] == ".env"
        assert {k for k in env if k.startswith("PARLEY_")} <= SETTINGS


def test_register_runs_the_readme_deploy_command() -> None:
    command = " ".join(SERVICES["register"]["command"])
    deploy = "prefect --no-prompt deploy --all --prefect-file deploy/prefect.yaml"
    assert deploy in command
    assert deploy in (ROOT / "README.md").read_text(encoding="utf-8")


def test_env_example_holds_only_parley_settings_and_a_password() -> None:
    keys = set(_env_example())
    parley = {k for k in keys if k.startswith("PARLEY_")}
    assert parley - NOT_SETTINGS <= SETTINGS
    assert keys - parley == {"POSTGRES_PASSWORD"}
    assert int(_env_example()["PARLEY_SHARDS"]) > 1  # the topology shards its cycles


def test_the_shard_deployment_is_the_one_the_monitor_starts() -> None:
    from parley.flows.monitor_shard import monitor_shard

    shard = _deployment("monitor-shard")
    assert shard["entrypoint"] == "flows/monitor_shard.py:monitor_shard"
    assert f"{monitor_shard.name}/{shard['name']}" == SHARD_DEPLOYMENT
    assert not shard.get("schedules"), "shard runs are started by the monitor run only"


def test_the_monitor_schedule_passes_parameters_the_flow_takes() -> None:
    from parley.flows.monitor import monitor

    accepted = set(inspect.signature(monitor.fn).parameters)
    (schedule,) = _deployment("monitor")["schedules"]
    assert schedule["interval"] == Settings.model_fields["monitor_interval"].default
    assert 0 < schedule["parameters"]["jitter"] < schedule["interval"]
    assert set(schedule["parameters"]) <= accepted


def test_the_worker_image_runs_a_process_worker_with_a_results_path() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "PREFECT_LOCAL_STORAGE_PATH=/results" in text
    assert '"prefect", "worker", "start", "--pool", "parley", "--type", "process"' in text


def _compose_command() -> list[str] | None:
    """`docker compose` (the plugin) or `docker-compose` (v1 or v2), when installed."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_compose_validates_the_file(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no Compose implementation installed (docker compose plugin or docker-compose)")
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    shutil.copy(copy / ".env.example", copy / ".env")
    done = subprocess.run(
        [*command, "-p", "parley", "-f", str(copy / "compose.yaml"),
         "--env-file", str(copy / ".env"), "config"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert set(resolved["services"]) == set(SERVICES)
    worker = resolved["services"][WORKERS[0]]
    assert worker["environment"]["PARLEY_SHARDS"] == _env_example()["PARLEY_SHARDS"]
    assert "change-me" in worker["environment"]["PARLEY_DATABASE_URL"]  # the password filled in
