"""bench/cycle.py still runs end to end: 5 feeds × 5 items on 2 loopback hosts (a smoke test).

It checks that the report has its tables, not what the numbers are: speed figures belong to
the bench's own output, never to a test assertion.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from clirun import clean_environ

ROOT = Path(__file__).resolve().parent.parent
BENCH_TIMEOUT = 240  # seconds: the run starts its own temporary Prefect server


def test_cycle_bench_runs_at_5_by_5(tmp_path: Path) -> None:
    env = {**clean_environ(), "PREFECT_HOME": str(tmp_path / "prefect")}
    command = [sys.executable, str(ROOT / "bench" / "cycle.py"), "--feeds", "5", "--items", "5",
               "--hosts", "2", "--warm-latency", "0.01"]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=BENCH_TIMEOUT, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = done.stdout
    for heading in ("### Targets", "### Memory over time", "### Where the cold cycle's time goes"):
        assert heading in report
    assert "| cold | " in report
    assert "| warm, 10 ms per request |" in report
    assert "5×304" in report  # the warm cycles were all conditional hits
