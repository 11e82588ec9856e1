"""`parley timeline` and the per-topic artifacts, on a store the real monitor flow filled.

The demo snapshots 01-first, 03-news and 04-development run through the monitor flow once per
module (tests/demorun.py); the timeline is then built in-process and by the real command.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from clirun import Cli, clean_environ
from demorun import run_demo_steps
from flowrun import DEMO, Monitor

from parley.flows.reports.timeline import Timeline, load_timeline, table_lines, write_timeline

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_harness")]

PRISONERS = "prisoner-exchange"
HEADLINE = "Ukraine and Russia swap 175 prisoners each in UAE-brokered deal"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UTC = ZoneInfo("UTC")


@dataclass
class Demo:
    run: Monitor
    artifacts: dict[str, str]


@pytest.fixture(scope="module")
def demo(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    from prefect.artifacts import Artifact

    run, _ = run_demo_steps(tmp_path_factory.mktemp("timeline"))
    artifacts = {}
    for topic in (PRISONERS, "black-sea"):
        found = asyncio.run(Artifact.aget(f"parley-topic-{topic}"))
        assert found is not None, topic
        artifacts[topic] = str(found.data)
    return Demo(run, artifacts)


def _timeline(run: Monitor, topic: str, name: str) -> Timeline:
    with run.session() as session:
        return load_timeline(session, topic, name, None, None, UTC)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first after the signature."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _sensible_png(path: Path) -> None:
    data = path.read_bytes()
    width, height = png_size(data)
    assert 600 <= width <= 2400 and 300 <= height <= 1600, (width, height)
    assert len(data) > 5_000  # something was drawn
    assert data.rstrip().endswith(b"IEND\xaeB`\x82")


@pytest.mark.parametrize(("topic", "name"), [(PRISONERS, "Prisoner exchange"),
                                             ("znpp", "Zaporizhzhia nuclear power plant")])  # fmt: skip
def test_timeline_writes_a_chart_and_a_page(
    demo: Demo, tmp_path: Path, topic: str, name: str
) -> None:
    timeline = _timeline(demo.run, topic, name)
    assert timeline.stories
    png, page = write_timeline(timeline, tmp_path / "out")
    assert (png.name, page.name) == (f"timeline-{topic}.png", f"timeline-{topic}.html")
    _sensible_png(png)
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>")
    assert 'src="data:image/png;base64,' in text  # self-contained
    for story in timeline.stories:
        assert html.escape(story.headline) in text


def test_prisoner_exchange_story_development_and_outlets(demo: Demo, tmp_path: Path) -> None:
    timeline = _timeline(demo.run, PRISONERS, "Prisoner exchange")
    (story,) = timeline.stories
    assert story.headline == HEADLINE
    assert (story.outlets, story.reports, story.corroborated) == (4, 5, True)
    assert [d.lines for d in story.developments] == [("new figure: 22",)]
    assert [(d.day.isoformat(), d.items, d.stories, d.developments) for d in timeline.days] == [
        ("2025-03-27", 4, 1, 0),
        ("2025-03-28", 1, 0, 1),
    ]
    lines = table_lines(timeline)
    assert any("development: new figure: 22" in line for line in lines)
    _, page = write_timeline(timeline, tmp_path)
    text = page.read_text(encoding="utf-8")
    assert '<td class="num">4</td>' in text  # outlets
    assert "new figure: 22" in text


def test_a_date_range_limits_the_stories(demo: Demo) -> None:
    with demo.run.session() as session:
        from datetime import UTC as utc
        from datetime import datetime

        early = load_timeline(session, "znpp", "ZNPP", None, datetime(2025, 3, 16, tzinfo=utc), UTC)
        late = load_timeline(session, "znpp", "ZNPP", datetime(2025, 3, 16, tzinfo=utc), None, UTC)
    assert len(early.stories) == 2 and len(late.stories) == 1
    assert early.days[-1].day.isoformat() == "2025-03-15"


def test_timeline_command_from_the_outside(demo: Demo, tmp_path: Path) -> None:
    cli = Cli(tmp_path, {**clean_environ(), "COLUMNS": "250",
                         "PARLEY_DATABASE_URL": demo.run.db_url,
                         "PARLEY_TOPICS_FILE": str(DEMO.parent / "topics.yaml"),
                         "PREFECT_HOME": str(tmp_path / "prefect")})  # fmt: skip
    result = cli("timeline", PRISONERS)
    assert result.code == 0, result
    assert "new figure: 22" in result.out
    assert HEADLINE in result.out
    folder = tmp_path / "data" / "timeline"  # the default --out, under the working directory
    _sensible_png(folder / f"timeline-{PRISONERS}.png")
    assert html.escape(HEADLINE) in (folder / f"timeline-{PRISONERS}.html").read_text("utf-8")

    other = cli("timeline", "energy-truce", "--since", "2025-03-01", "--out", str(tmp_path / "x"))
    assert other.code == 0, other
    assert "status: violated" in other.out
    _sensible_png(tmp_path / "x" / "timeline-energy-truce.png")

    unknown = cli("timeline", "no-such-topic")
    assert unknown.code == 2 and "Traceback" not in unknown.both
    (line,) = unknown.err.strip().splitlines()
    assert line.startswith("error: unknown topic 'no-such-topic'"), line

    bad_date = cli("timeline", PRISONERS, "--since", "March")
    assert bad_date.code == 2 and "--since" in bad_date.err


def test_each_topic_that_moved_leaves_an_artifact(demo: Demo) -> None:
    prisoners = demo.artifacts[PRISONERS]  # the last cycle: one development
    assert "| opened | coverage | development | updated |" in prisoners
    assert "| 4 (corroborated) | 0 | 0 | 1 | 0 |" in prisoners
    assert "UAE-brokered" in prisoners
    black_sea = demo.artifacts["black-sea"]  # step 03: the edited item
    assert "| 0 | 0 | 0 | 1 |" in black_sea
