"""Quiet hours of a channel: a daily window, in the user's zone, when only urgent alerts go out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .severity import RANK

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    """``start``–``end`` each day (may cross midnight); alerts at ``bypass`` or above still go."""

    start: time
    end: time
    bypass: str = "critical"

    def holds(self, severity: str) -> bool:
        """Whether an alert of ``severity`` waits for the window to end."""
        return RANK.get(severity, 0) < RANK[self.bypass]

    def until(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """The end of the quiet window ``now`` falls in (aware UTC), or None outside it."""
        local = now.astimezone(zone)
        today_start = datetime.combine(local.date(), self.start, zone)
        today_end = datetime.combine(local.date(), self.end, zone)
        if self.start <= self.end:
            inside = today_start <= local < today_end
            end = today_end
        elif local >= today_start:  # the window started this evening, ends tomorrow
            inside, end = True, today_end + timedelta(days=1)
        else:  # the window started yesterday evening
            inside, end = local < today_end, today_end
        if not inside:
            return None
        # Recompute the wall-clock end in the zone so a DST change that night is respected.
        wall = datetime.combine(end.date(), self.end, zone)
        return wall.astimezone(UTC)


def parse_quiet(text: str, bypass: str = "critical") -> QuietHours:
    """``"22:00-07:00"`` → QuietHours; ValueError with the reason when it is not that shape."""
    found = _WINDOW.match(text)
    if found is None:
        raise ValueError(f"quiet_hours {text!r}: write it as HH:MM-HH:MM, e.g. 22:00-07:00")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"quiet_hours {text!r}: not a time of day")
    if (h1, m1) == (h2, m2):
        raise ValueError(f"quiet_hours {text!r}: start and end are the same")
    if bypass not in RANK:
        raise ValueError(f"quiet_bypass {bypass!r}: use one of {', '.join(RANK)}")
    return QuietHours(time(h1, m1), time(h2, m2), bypass)
