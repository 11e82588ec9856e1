"""Run the real `parley` command in a subprocess, with only the settings a test gives it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

COMMAND_TIMEOUT = 60


def parley_command() -> list[str]:
    """The installed console script next to this Python (or the same entry point via -c)."""
    script = Path(sys.executable).with_name("parley")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from parley.flows.cli import main; main()"]


def clean_environ() -> dict[str, str]:
    """This process's environment without parley's or Prefect's own settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "PREFECT_"))}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


@dataclass
class Cli:
    """Runs `parley …` in ``cwd`` with the environment ``env`` (plus per-call additions)."""

    cwd: Path
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = COMMAND_TIMEOUT, **env: str) -> Result:
        done = subprocess.run(
            [*parley_command(), *args],
            cwd=self.cwd,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)
