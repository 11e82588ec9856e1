"""parley's own apprise sinks: ``console://`` (stdout) and ``jsonl://`` (append to a file).

Nothing is registered on import; call :func:`register_sinks` before using apprise.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

CONSOLE_SCHEMA = "console"
JSONL_SCHEMA = "jsonl"
OWN_SCHEMAS = frozenset({CONSOLE_SCHEMA, JSONL_SCHEMA})

_APPRISE_LOGGER = logging.getLogger("apprise")
_LOCK = threading.Lock()


def register_sinks() -> None:
    """Register the console and jsonl schemas with apprise (safe to call many times)."""
    with _LOCK:
        manager = load_apprise_plugins()
        from apprise.decorators import notify

        if CONSOLE_SCHEMA not in manager:
            notify(on=CONSOLE_SCHEMA, name="parley console")(_console_sink)  # type: ignore[no-untyped-call]
        if JSONL_SCHEMA not in manager:
            notify(on=JSONL_SCHEMA, name="parley jsonl file")(_jsonl_sink)  # type: ignore[no-untyped-call]


def load_apprise_plugins() -> Any:
    """Return apprise's plugin manager with every built-in plugin loaded.

    apprise 2.0 loads its plugins lazily; its e-mail plugin imports the stdlib ``imghdr``,
    which warns with DeprecationWarning on Python 3.11/3.12. That warning is not ours to fix
    and would fail runs with warnings-as-errors, so the first load happens with it ignored.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*'imghdr' is deprecated", category=DeprecationWarning
        )
        from apprise.manager_plugins import NotificationManager

        manager = NotificationManager()  # type: ignore[no-untyped-call]
        manager.load_modules()  # type: ignore[no-untyped-call]
    return manager


def jsonl_path(meta: Mapping[str, Any]) -> Path:
    """The absolute file path of a ``jsonl:///abs/path`` URL as apprise parsed it."""
    # apprise folds the first path segment of ``jsonl:///a/b`` into ``host``.
    host = str(meta.get("host") or "")
    rest = str(meta.get("fullpath") or "")
    return Path("/" + unquote(host + rest))


def _console_sink(body: str, title: str, *args: Any, **kwargs: Any) -> bool:
    """Print the alert: its title line, then its body."""
    out = sys.stdout
    if title:
        out.write(title + "\n")
    out.write(body.rstrip("\n") + "\n\n")
    out.flush()
    return True


def _jsonl_sink(
    body: str, title: str, notify_type: str, meta: Mapping[str, Any], *args: Any, **kwargs: Any
) -> bool:
    """Append one JSON object for the alert to the file named in the URL."""
    path = jsonl_path(meta)
    record = {
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "type": notify_type,
        "title": title,
        "body": body,
    }
    line = json.dumps(record, ensure_ascii=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line)
    except OSError as exc:
        # Logged on apprise's logger so the failure reason reaches the notify() result.
        _APPRISE_LOGGER.warning("jsonl sink: cannot append to %s: %s", path, exc.strerror)
        return False
    return True
