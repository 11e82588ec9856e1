"""Cycle artifacts stay small enough for Prefect's server however many items a cycle matched."""

from __future__ import annotations

from datetime import UTC, datetime

from parley.flows.artifacts import MAX_ROWS, summary_markdown
from parley.flows.pipeline.report import CycleReport, FeedOutcome, MatchRecord


def _match(number: int) -> MatchRecord:
    return MatchRecord(
        entry_id=number,
        feed_name=f"Outlet {number % 7}",
        topic_key="znpp",
        topic_name="Zaporizhzhia NPP",
        kind="new",
        headline=f"IAEA team rotation number {number} at the plant",
        link=f"https://outlet.example/{number}",
        terms=("ZNPP",),
        field="title",
        snippet="…",
        published_at=datetime(2025, 3, 20, 9, 0, tzinfo=UTC),
    )


def test_a_large_cycle_lists_the_first_rows_and_counts_the_rest() -> None:
    outcome = FeedOutcome(1, "Outlet 1", "https://outlet.example/feed", "ok")
    outcome.matches = [_match(n) for n in range(MAX_ROWS + 25)]
    report = CycleReport(started_at=datetime(2025, 3, 20, 9, 5, tzinfo=UTC), feeds=[outcome])

    markdown = summary_markdown(report)

    assert markdown.count("IAEA team rotation") == MAX_ROWS
    assert f"… and 25 more (the first {MAX_ROWS:,} are shown)" in markdown


def test_a_small_cycle_lists_every_match() -> None:
    outcome = FeedOutcome(1, "Outlet 1", "https://outlet.example/feed", "ok")
    outcome.matches = [_match(n) for n in range(3)]
    report = CycleReport(started_at=datetime(2025, 3, 20, 9, 5, tzinfo=UTC), feeds=[outcome])

    markdown = summary_markdown(report)

    assert markdown.count("IAEA team rotation") == 3
    assert "more (the first" not in markdown
