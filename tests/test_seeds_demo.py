"""Structural checks of the seed feed list and of the demo feeds under seeds/demo/.

Only the standard library, pyyaml and feedparser: these tests do not run parley itself.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import feedparser
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DEMO = SEEDS / "demo"
STEPS_DIR = DEMO / "steps"

TIERS = {"primary", "wire", "media"}
LANG_RE = re.compile(r"^[a-z]{2}$")
IGNORED_FILES = {".gitkeep"}


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _check_feed_list(feeds: Any) -> None:
    assert isinstance(feeds, list)
    assert feeds
    for feed in feeds:
        assert isinstance(feed, dict), feed
        assert set(feed) <= {"name", "url", "language", "tier", "interval"}, feed
        for key in ("name", "url", "language", "tier"):
            assert isinstance(feed.get(key), str), (key, feed)
            assert feed[key].strip(), (key, feed)
        assert feed["tier"] in TIERS, feed
        assert LANG_RE.match(feed["language"]), feed
        if "interval" in feed:
            assert isinstance(feed["interval"], int), feed
            assert feed["interval"] >= 0, feed
    names = [f["name"] for f in feeds]
    urls = [f["url"] for f in feeds]
    assert len(names) == len(set(names)), "feed names must be unique"
    assert len(urls) == len(set(urls)), "feed URLs must be unique"


# --- seeds/feeds.yaml ---------------------------------------------------------------------


@cache
def seed_feeds() -> list[dict[str, Any]]:
    data = _load_yaml(SEEDS / "feeds.yaml")
    assert isinstance(data, dict)
    assert set(data) == {"feeds"}
    feeds: list[dict[str, Any]] = data["feeds"]
    return feeds


def test_seed_feeds_shape() -> None:
    _check_feed_list(seed_feeds())
    assert 15 <= len(seed_feeds()) <= 30


def test_seed_feeds_https() -> None:
    for feed in seed_feeds():
        assert feed["url"].startswith("https://"), feed
        assert " " not in feed["url"], feed


def test_seed_feeds_languages_and_tiers() -> None:
    languages = {f["language"] for f in seed_feeds()}
    assert {"en", "uk", "ru"} <= languages
    tiers = {f["tier"] for f in seed_feeds()}
    assert tiers == TIERS


# --- seeds/demo: feeds and steps ----------------------------------------------------------


@cache
def demo_feeds() -> list[dict[str, Any]]:
    data = _load_yaml(DEMO / "feeds.yaml")
    assert isinstance(data, dict)
    assert set(data) == {"feeds"}
    feeds: list[dict[str, Any]] = data["feeds"]
    return feeds


@cache
def steps() -> list[dict[str, str]]:
    data = _load_yaml(DEMO / "steps.yaml")
    assert isinstance(data, list)
    return data


def _file_name(url: str) -> str:
    return url.lstrip("/")


def _step_files(step_dir: str) -> list[Path]:
    return sorted(
        p for p in (STEPS_DIR / step_dir).iterdir() if p.is_file() and p.name not in IGNORED_FILES
    )


def _all_snapshot_files() -> list[Path]:
    return [path for step in steps() for path in _step_files(step["dir"])]


def _served(step_dir: str, file_name: str) -> Path:
    """The file the demo server answers with at ``step_dir``: carried over if missing."""
    dirs = [s["dir"] for s in steps()]
    for d in reversed(dirs[: dirs.index(step_dir) + 1]):
        path = STEPS_DIR / d / file_name
        if path.is_file():
            return path
    raise AssertionError(f"{file_name} is not served at step {step_dir}")


@cache
def _parse(path: Path) -> Any:
    return feedparser.parse(path.read_bytes())


def _entry_text(entry: Any) -> tuple[str, str, str]:
    return entry.get("title", ""), entry.get("summary", ""), entry.get("link", "")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_demo_feeds_shape() -> None:
    feeds = demo_feeds()
    _check_feed_list(feeds)
    assert len(feeds) >= 4
    assert len({f["language"] for f in feeds}) >= 2
    for feed in feeds:
        assert feed["url"].startswith("/"), feed
        assert "/" not in _file_name(feed["url"]), feed


def test_steps_shape() -> None:
    assert len(steps()) >= 3
    for step in steps():
        assert set(step) == {"dir", "say"}, step
        assert isinstance(step["say"], str)
        assert step["say"].strip()
        assert "\n" not in step["say"].strip(), "say is one line"
        assert (STEPS_DIR / step["dir"]).is_dir(), step
    dirs = [s["dir"] for s in steps()]
    assert len(dirs) == len(set(dirs))
    assert dirs == sorted(dirs), "step directories are named in order"
    on_disk = {p.name for p in STEPS_DIR.iterdir() if p.is_dir()}
    assert on_disk == set(dirs), "every step directory is listed in steps.yaml"


def test_first_step_has_every_feed() -> None:
    first = steps()[0]["dir"]
    for feed in demo_feeds():
        assert (STEPS_DIR / first / _file_name(feed["url"])).is_file(), feed


def test_second_step_is_empty() -> None:
    second = STEPS_DIR / steps()[1]["dir"]
    assert [p.name for p in second.iterdir()] == [".gitkeep"]


def test_no_stray_snapshot_files() -> None:
    known = {_file_name(f["url"]) for f in demo_feeds()}
    for path in _all_snapshot_files():
        assert path.name in known, f"{path} is not a feed of seeds/demo/feeds.yaml"


def test_snapshots_parse_cleanly() -> None:
    files = _all_snapshot_files()
    assert files
    for path in files:
        parsed = _parse(path)
        assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
        assert parsed.version, path
        assert 3 <= len(parsed.entries) <= 6, path


def test_both_rss_and_atom() -> None:
    first = steps()[0]["dir"]
    versions = {_parse(path).version for path in _step_files(first)}
    assert any(v.startswith("rss") for v in versions), versions
    assert any(v.startswith("atom") for v in versions), versions


def test_feed_language_matches_feeds_yaml() -> None:
    first = steps()[0]["dir"]
    for feed in demo_feeds():
        parsed = _parse(STEPS_DIR / first / _file_name(feed["url"]))
        declared = parsed.feed.get("language") or parsed.feed.get("title_detail", {}).get(
            "language"
        )
        assert declared, feed
        assert declared.split("-")[0].lower() == feed["language"], (declared, feed)


def test_entries_complete_and_dated_march_2025() -> None:
    for path in _all_snapshot_files():
        guids = []
        for entry in _parse(path).entries:
            where = (path, entry.get("id"))
            assert entry.get("id"), where
            assert entry.get("title", "").strip(), where
            assert entry.get("link", "").startswith("https://"), where
            assert "<p>" in entry.get("summary", ""), where
            when = entry.get("published_parsed") or entry.get("updated_parsed")
            assert when is not None, where
            assert (when.tm_year, when.tm_mon) == (2025, 3), where
            guids.append(entry.id)
        assert len(guids) == len(set(guids)), f"duplicate guid in {path}"


def test_whitespace_only_change_is_whitespace_only() -> None:
    """The step-03 Atomic Watch file is a re-indented copy of step 01, nothing more."""
    dirs = [s["dir"] for s in steps()]
    before = (STEPS_DIR / dirs[0] / "atomic-watch.xml").read_text(encoding="utf-8")
    after = (STEPS_DIR / dirs[2] / "atomic-watch.xml").read_text(encoding="utf-8")
    assert before != after
    assert _squash(before) == _squash(after)


# --- seeds/demo/README.md table -----------------------------------------------------------


@cache
def readme_rows() -> list[dict[str, str]]:
    """Rows of the expected-outcome table that name a guid."""
    text = (DEMO / "README.md").read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not re.fullmatch(r"\d\d", cells[0]):
            continue
        step, feed_file, guid, topics, role, note = cells
        if not guid.startswith("`"):
            continue
        rows.append(
            {
                "step": step,
                "file": feed_file,
                "guid": guid.strip("`"),
                "topics": topics,
                "role": role,
                "note": note,
            }
        )
    return rows


def _step_dir(step_number: str) -> str:
    matches = [s["dir"] for s in steps() if s["dir"].startswith(step_number + "-")]
    assert len(matches) == 1, step_number
    return matches[0]


def _entries_by_id(path: Path) -> dict[str, Any]:
    return {e.id: e for e in _parse(path).entries}


def test_readme_table_guids_exist() -> None:
    rows = readme_rows()
    assert len(rows) >= 20
    for row in rows:
        path = _served(_step_dir(row["step"]), row["file"])
        assert row["guid"] in _entries_by_id(path), row


def test_readme_lists_every_first_step_item() -> None:
    first = steps()[0]["dir"]
    listed = {(r["file"], r["guid"]) for r in readme_rows() if r["step"] == first[:2]}
    for path in _step_files(first):
        for guid in _entries_by_id(path):
            assert (path.name, guid) in listed, (path.name, guid)


def test_readme_edit_is_an_edit() -> None:
    edited = [r for r in readme_rows() if "EDITED" in r["note"]]
    assert len(edited) == 1
    row = edited[0]
    dirs = [s["dir"] for s in steps()]
    later = _step_dir(row["step"])
    earlier = dirs[dirs.index(later) - 1]
    old = _entries_by_id(_served(earlier, row["file"]))[row["guid"]]
    new = _entries_by_id(_served(later, row["file"]))[row["guid"]]
    assert _squash(old.title + old.summary) != _squash(new.title + new.summary)


@pytest.mark.parametrize(
    "keyword",
    ["hard negative: energy prices", "Zaporizhzhia city", "beach"],
)
def test_readme_has_hard_negatives(keyword: str) -> None:
    rows = [r for r in readme_rows() if keyword in r["note"]]
    assert rows, keyword
    assert all(r["topics"] == "none" for r in rows)


ROLES = {"opens story", "coverage", "development", "updated", "—"}


def test_readme_story_roles_are_known() -> None:
    for row in readme_rows():
        roles = [r.strip() for r in row["role"].split(",")]
        assert set(roles) <= ROLES, row
        if row["topics"] == "none":
            assert roles == ["—"], row
        elif roles != ["—"]:
            assert len(roles) == len(row["topics"].split(",")), row


ALERTING_ROLES = {"opens story", "development", "updated"}  # coverage: no route asks for it


def _expected_counts() -> dict[str, tuple[int, int]]:
    """Step → (matches, alerts) as "What each step shows" states them ("15 matches, 12 alerts")."""
    text = (DEMO / "README.md").read_text(encoding="utf-8")
    sections = re.findall(r"\*\*(\d\d)-[\w-]+\*\*(.*?)(?=\n\*\*\d\d-|\n## )", text, re.DOTALL)
    counts = {}
    for step, section in sections:
        found = re.search(r"(\d+) match(?:es)?, (\d+) alerts?\b", " ".join(section.split()))
        if found is not None:
            counts[step] = (int(found.group(1)), int(found.group(2)))
    return counts


def test_readme_counts_follow_the_table_one_alert_per_item() -> None:
    """Each (item, topic) with a role is a match; an item with an alerting role in any of its
    topics is ONE alert per channel, however many topics it is on."""
    expected = _expected_counts()
    assert set(expected) == {"01", "03", "04"}
    for step, (matches, alerts) in expected.items():
        rows = [r for r in readme_rows() if r["step"] == step and r["role"] != "—"]
        roles = [[role.strip() for role in r["role"].split(",")] for r in rows]
        assert sum(len(item) for item in roles) == matches, step
        assert sum(bool(set(item) & ALERTING_ROLES) for item in roles) == alerts, step
    assert expected["01"] == (17, 11)


def _story_a(step_number: str) -> list[dict[str, str]]:
    return [
        r
        for r in readme_rows()
        if r["step"] == step_number and re.search(r"\bstory (as )?A\b", r["note"])
    ]


def _published(row: dict[str, str]) -> Any:
    entry = _entries_by_id(_served(_step_dir(row["step"]), row["file"]))[row["guid"]]
    return entry.get("published_parsed") or entry.get("updated_parsed")


def _digits(row: dict[str, str]) -> set[str]:
    """Every run of digits in the item's title and summary (a coarse stand-in for facts.py)."""
    entry = _entries_by_id(_served(_step_dir(row["step"]), row["file"]))[row["guid"]]
    return set(re.findall(r"\d+", entry.title + " " + re.sub(r"<[^>]+>", " ", entry.summary)))


def test_one_story_in_four_outlets_and_two_languages() -> None:
    """Step 03: story A in four outlets, ≥ 2 languages; the earliest opens it, the rest cover."""
    language = {_file_name(f["url"]): f["language"] for f in demo_feeds()}
    story = _story_a("03")
    assert len({r["file"] for r in story}) >= 4
    assert len({language[r["file"]] for r in story}) >= 2
    assert len({r["topics"] for r in story}) == 1
    openers = [r for r in story if r["role"] == "opens story"]
    assert len(openers) == 1, openers
    assert all(r["role"] == "coverage" for r in story if r not in openers)
    assert _published(openers[0]) < min(_published(r) for r in story if r not in openers)


def test_story_coverage_adds_no_figure() -> None:
    """The step-03 reports of story A carry the same figure and date, and nothing else."""
    for row in _story_a("03"):
        assert _digits(row) == {"175", "27"}, row


def test_development_step_changes_one_feed() -> None:
    """Step 04: one feed changes, with one new story-A item that adds one figure."""
    dirs = [s["dir"] for s in steps()]
    later = _step_dir("04")
    earlier = dirs[dirs.index(later) - 1]
    files = _step_files(later)
    assert len(files) == 1, files
    changed = files[0].name
    new_guids = set(_entries_by_id(files[0])) - set(_entries_by_id(_served(earlier, changed)))
    assert len(new_guids) == 1, new_guids
    rows = _story_a("04")
    assert [(r["file"], r["guid"], r["role"]) for r in rows] == [
        (changed, new_guids.pop(), "development")
    ]
    assert rows[0]["topics"] == _story_a("03")[0]["topics"]
    assert _digits(rows[0]) - {"175", "27"} == {"22"}
