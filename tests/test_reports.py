"""Report rendering without Prefect: hostile feed text stays text, empty periods still draw,
and the story queries behind the reports on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session
from test_timeline import png_size

from parley.flows.artifacts import topic_artifact_key, topic_markdown
from parley.flows.reports import plain
from parley.flows.reports.cycle import StoryMove, TopicMove
from parley.flows.reports.timeline import (
    Development,
    StoryRow,
    Timeline,
    html_page,
    table_lines,
    write_timeline,
)
from parley.storage.db import session_scope
from parley.storage.models import Entry, Feed
from parley.storage.stories import StoryState, add_to_story, open_story
from parley.storage.story_reports import (
    DayCount,
    daily_counts,
    memberships,
    stories_of_entries,
    stories_of_topic,
)

HOSTILE = '<script>alert("x")</script> & [click](javascript:alert(1)) | $\\alpha$ \u202eevil'
WHEN = datetime(2025, 3, 27, 12, 20, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


def _timeline(stories: tuple[StoryRow, ...], days: tuple[DayCount, ...]) -> Timeline:
    return Timeline("x-topic", "Topic <b>", UTC_ZONE, None, None, stories, days)


def _hostile_story() -> StoryRow:
    dev = Development(WHEN + timedelta(days=1), 9, "<img src=x onerror=alert(2)>", HOSTILE,
                      ("new figure: 22", f"quote: «{HOSTILE}»"))  # fmt: skip
    return StoryRow(1, WHEN, WHEN, HOSTILE, "javascript:alert(3)", 5, "Outlet <i>", 4, 5,
                    official=True, corroborated=True, developments=(dev,))  # fmt: skip


def test_feed_text_in_the_page_is_escaped() -> None:
    days = (DayCount(date(2025, 3, 27), 4, 1, 0), DayCount(date(2025, 3, 28), 1, 0, 1))
    page = html_page(_timeline((_hostile_story(),), days), b"\x89PNG")
    assert "<script" not in page and "<img src=x" not in page and "<i>" not in page
    assert "href=" not in page  # "javascript:" is no link: only http(s) becomes one
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;" in page
    assert "\u202e" not in page
    assert "Topic &lt;b&gt;" in page


def test_feed_text_in_the_table_is_one_clean_line() -> None:
    lines = table_lines(_timeline((_hostile_story(),), ()))
    assert not any("\u202e" in line or "\n" in line for line in lines)
    assert any("development: new figure: 22" in line for line in lines)
    assert plain("a\u0000b\u200bc\td\n e", 10) == "abc d e"


def test_an_empty_period_still_draws_and_hostile_text_is_not_math(tmp_path: Path) -> None:
    png, page = write_timeline(_timeline((), ()), tmp_path)
    assert png_size(png.read_bytes())[0] >= 600
    assert "0 stories" in page.read_text("utf-8")
    days = tuple(DayCount(date(2025, 3, 1) + timedelta(days=n), n % 3, n % 2, 0) for n in range(40))
    story = _hostile_story()
    png, _ = write_timeline(Timeline("x", HOSTILE, UTC_ZONE, None, None, (story,), days), tmp_path)
    assert png_size(png.read_bytes())[0] >= 600


def test_topic_artifact_markdown_is_sanitized() -> None:
    story = StoryMove(3, HOSTILE, WHEN, 4, False, True, Counter(opened=1, coverage=3))
    markdown = topic_markdown(TopicMove("x-topic", "Topic *bold*", [story]), UTC_ZONE)
    row = next(line for line in markdown.splitlines() if line.startswith("| 3 |"))
    assert row.endswith("| 4 (corroborated) | 1 | 3 | 0 | 0 |")
    assert row.count(" | ") == 7  # the headline's "|" cannot open a column
    assert "<script>" not in markdown and "](javascript" not in markdown
    assert "Topic \\*bold\\*" in markdown
    assert topic_artifact_key("prisoner-exchange") == "parley-topic-prisoner-exchange"
    assert topic_artifact_key("Bad Key!") == "parley-topic-bad-key"


def test_parley_help_does_not_import_matplotlib() -> None:
    code = "import sys, parley.flows.cli; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _open(session: Session, topic: str, entry: Entry, when: datetime) -> StoryState:
    return open_story(session, topic_key=topic, entry=entry, official=False, signature=[],
                      facts={}, when=when)  # fmt: skip


def test_story_queries(engine: Engine) -> None:
    with session_scope(engine) as session:
        feeds = [Feed(url=f"http://127.0.0.1/{n}.xml", name=f"F{n}") for n in range(3)]
        session.add_all(feeds)
        session.flush()
        entries = []
        for n, feed in enumerate(feeds):
            assert feed.id is not None
            entry = Entry(feed_id=feed.id, uid=f"u{n}", title=f"t{n}", content_hash=f"h{n}")
            session.add(entry)
            entries.append(entry)
        session.flush()
        story = _open(session, "t", entries[0], WHEN)
        add_to_story(session, story, entries[1], role="coverage", added={},
                     when=WHEN + timedelta(hours=13))  # fmt: skip
        add_to_story(session, story, entries[2], role="development", added={"numbers": ["22"]},
                     when=WHEN + timedelta(days=1))  # fmt: skip
        later = _open(session, "t", entries[2], WHEN + timedelta(days=5))
        _open(session, "other", entries[1], WHEN)

    with session_scope(engine) as session:
        split = WHEN + timedelta(days=2)
        assert [s.id for s in stories_of_topic(session, "t", None, None)] == [story.id, later.id]
        assert [s.id for s in stories_of_topic(session, "t", split, None)] == [later.id]
        assert [s.id for s in stories_of_topic(session, "t", None, split)] == [story.id]
        counts = daily_counts(session, "t", None, None, UTC_ZONE)
        assert [(c.day.day, c.items, c.stories, c.developments) for c in counts] == [
            (27, 1, 1, 0), (28, 2, 0, 1), (1, 1, 1, 0)]  # fmt: skip
        kyiv = daily_counts(session, "t", None, WHEN + timedelta(days=2), ZoneInfo("Europe/Kyiv"))
        assert [(c.day.day, c.items) for c in kyiv] == [(27, 1), (28, 2)]  # 01:20 Kyiv next day
        assert {(se.role, s.topic_key) for se, s in memberships(session, entries[1].id or 0)} == {
            ("coverage", "t"), ("opened", "other")}  # fmt: skip
        found = stories_of_entries(session, [entries[2].id or 0, entries[2].id or 0])
        assert sorted(s.id or 0 for _, s in found) == sorted([story.id or 0, later.id or 0])
        assert stories_of_entries(session, []) == []
