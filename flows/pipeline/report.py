"""What a cycle did, as plain data: the CLI prints it, flows turn it into artifacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class MatchRecord:
    entry_id: int
    feed_name: str
    topic_key: str
    topic_name: str
    kind: str  # "new" | "updated"
    headline: str
    link: str | None
    terms: tuple[str, ...]
    field: str
    snippet: str
    published_at: datetime | None
    alerts_queued: int = 0


@dataclass
class FeedOutcome:
    feed_id: int
    feed_name: str
    url: str
    status: str  # a FetchStatus value, "skipped", or a parse outcome
    error: str | None = None
    new: int = 0
    changed: int = 0
    matches: list[MatchRecord] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None and self.status not in ("warning",)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0  # held back by a channel's quiet hours or its spent rate limit
    bundles: int = 0  # rate-limit bundles sent (their rows count in ``sent``)
    errors: list[str] = field(default_factory=list)


@dataclass
class CycleReport:
    started_at: datetime
    feeds: list[FeedOutcome] = field(default_factory=list)
    delivery: DeliveryReport | None = None
    finished_at: datetime | None = None
    stages: dict[str, float] = field(default_factory=dict)  # stage name → seconds spent in it

    def timed(self, stage: str, seconds: float) -> None:
        """Add ``seconds`` to ``stage`` (a cycle fetches and stores in several rounds)."""
        self.stages[stage] = self.stages.get(stage, 0.0) + seconds

    @property
    def matches(self) -> list[MatchRecord]:
        return [m for outcome in self.feeds for m in outcome.matches]

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.feeds if outcome.status == status)

    @property
    def failures(self) -> list[FeedOutcome]:
        return [outcome for outcome in self.feeds if outcome.failed]

    @property
    def alerts_queued(self) -> int:
        return sum(m.alerts_queued for m in self.matches)

    def summary_line(self) -> str:
        seconds = (self.finished_at - self.started_at).total_seconds() if self.finished_at else 0.0
        new = sum(o.new for o in self.feeds)
        changed = sum(o.changed for o in self.feeds)
        parts = [
            f"{len(self.feeds)} feeds",
            f"{self.count('ok') + self.count('warning')} fetched",
            f"{self.count('not_modified')} unchanged",
            f"{len(self.failures)} failed",
            f"{new} new entries",
            f"{changed} edited",
            f"{len(self.matches)} matches",
            f"{self.alerts_queued} alerts queued",
        ]
        if self.delivery is not None:
            parts.append(f"{self.delivery.sent} sent")
            if self.delivery.failed:
                parts.append(f"{self.delivery.failed} send failures")
        stages = ", ".join(f"{name} {spent:.2f} s" for name, spent in self.stages.items())
        return f"cycle: {', '.join(parts)} in {seconds:.2f} s" + (f" ({stages})" if stages else "")
