"""`parley entries show ID` from the outside, on a store the real monitor flow filled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clirun import Cli, clean_environ
from demorun import entry_id, run_demo_steps
from flowrun import DEMO, Monitor

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture(scope="module")
def demo(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Monitor:
    run, _ = run_demo_steps(tmp_path_factory.mktemp("entries"))
    return run


@pytest.fixture
def cli(demo: Monitor, tmp_path: Path) -> Cli:
    return Cli(tmp_path, {**clean_environ(), "COLUMNS": "250",
                          "PARLEY_DATABASE_URL": demo.db_url,
                          "PARLEY_TOPICS_FILE": str(DEMO.parent / "topics.yaml"),
                          "PREFECT_HOME": str(tmp_path / "prefect")})  # fmt: skip


def test_an_edited_item_shows_both_revisions_and_the_word_diff(demo: Monitor, cli: Cli) -> None:
    result = cli("entries", "show", str(entry_id(demo, "black-sea-shipping-insurers")))
    assert result.code == 0, result
    out = result.out
    assert "feed:       Dnipro Wire" in out
    assert (
        "link:       https://dnipro-wire.example/world/2025/03/21/black-sea-shipping-insurers"
        in out
    )
    assert "published:  2025-03-21 14:05 UTC" in out
    assert "revisions (2)" in out
    assert re.search(r"^\s+1\s+\S+ \S+ UTC\s+Black Sea shipping talks: insurers say 40", out, re.M)
    assert re.search(
        r"^\s+2\s+\S+ \S+ UTC\s+Black Sea shipping talks: insurers now count 63", out, re.M
    )
    diff = out.split("changes 1 → 2", 1)[1].split("matches (", 1)[0]
    assert "{+" in diff and "63" in diff
    assert re.search(r"\[-say 40-\] \{\+now count 63\+\}", diff)
    matches = out.split("matches (4)", 1)[1].split("stories (", 1)[0]
    assert re.search(r"^\s+2\s+black-sea\s+updated\b", matches, re.M)
    stories = out.split("stories (2)", 1)[1]
    assert re.search(r"^\s+black-sea\s+\d+\s+opened\b", stories, re.M)
    assert re.search(r"^\s+talks\s+\d+\s+opened\b", stories, re.M)


def test_a_coverage_item_shows_its_story_role(demo: Monitor, cli: Cli) -> None:
    result = cli("entries", "show", str(entry_id(demo, "news/88412")))  # story A, Vestnik
    assert result.code == 0, result
    assert "revisions (1)" in result.out and "changes" not in result.out
    assert re.search(r"^\s+prisoner-exchange\s+\d+\s+coverage\s+Ukraine and Russia swap 175",
                     result.out, re.M)  # fmt: skip


def test_an_unknown_id_is_one_clean_error(cli: Cli) -> None:
    result = cli("entries", "show", "999999")
    assert result.code == 2
    assert "Traceback" not in result.both
    assert result.err.strip().splitlines() == ["error: no entry with id 999999"]
