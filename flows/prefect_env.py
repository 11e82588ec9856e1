"""Environment defaults that keep Prefect offline and quiet; applied before Prefect loads."""

from __future__ import annotations

import os
from collections.abc import MutableMapping

QUIET_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "WARNING",
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "WARNING",
}


def apply_quiet_defaults(environ: MutableMapping[str, str] | None = None) -> None:
    """Set each default unless the user set the variable already."""
    target = os.environ if environ is None else environ
    for name, value in QUIET_DEFAULTS.items():
        target.setdefault(name, value)
