"""Reports over stored history: one entry in full, a topic's stories over time.

Plain functions over plain data (no Prefect); the ``parley`` command prints them.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

_KEEP_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})  # ZWNJ/ZWJ: needed by some scripts


def plain(text: str, limit: int = 300) -> str:
    """Feed text as one line for a terminal: control, bidi and zero-width characters dropped,
    whitespace collapsed, at most ``limit`` characters."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace()
        or unicodedata.category(ch) not in {"Cc", "Cf", "Cs"}
        or ch in _KEEP_FORMAT_CHARS
    )
    line = " ".join(kept.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def when(moment: datetime | None, zone: ZoneInfo, with_zone: bool = True) -> str:
    """``2025-03-27 12:20 UTC`` in ``zone`` (a naive time is taken as UTC); ``-`` for None."""
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M" + (" %Z" if with_zone else ""))
