"""Alert severities, lowest first."""

from __future__ import annotations

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
