"""A channel's rate limit: at most ``count`` messages in any ``window``; the rest go bundled."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from .severity import RANK

_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smh])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}
NEVER_BUNDLED_KINDS = frozenset({"health"})
NEVER_BUNDLED_SEVERITY = "critical"


@dataclass(frozen=True)
class RateLimit:
    """``count`` messages per ``window``, written ``"5/10m"`` (``s``, ``m`` or ``h``)."""

    count: int
    window: timedelta
    text: str

    def bundles(self, kind: str, severity: str) -> bool:
        """Whether an alert of this kind and severity may go into a bundle.

        Health alerts and critical alerts always go on their own.
        """
        if kind in NEVER_BUNDLED_KINDS:
            return False
        return RANK.get(severity, 0) < RANK[NEVER_BUNDLED_SEVERITY]


def parse_rate_limit(raw: str) -> RateLimit:
    """``"5/10m"`` → 5 messages per 10 minutes; a ValueError says what is wrong."""
    found = _LIMIT.match(raw)
    if found is None:
        raise ValueError(f'rate_limit {raw[:40]!r}: write K/M followed by s, m or h, e.g. "5/10m"')
    count = int(found.group(1))
    amount = int(found.group(2) or 1)
    if count < 1 or amount < 1:
        raise ValueError(f"rate_limit {raw[:40]!r}: both numbers must be at least 1")
    window = timedelta(**{_UNITS[found.group(3)]: amount})
    return RateLimit(count, window, text=f"{count}/{found.group(2)}{found.group(3)}")
