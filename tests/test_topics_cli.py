"""`parley topics …` and `parley eval` from the outside: the real console script in a subprocess,
with a clean environment (no PARLEY_* or PREFECT_* settings but those given here)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import Cli, Result
from sqlalchemy import func
from sqlmodel import select

from parley.storage.db import init_db, make_engine, session_scope
from parley.storage.entries import apply_entries
from parley.storage.models import Entry, EntryRevision, Feed, Match, OutboxAlert

ROOT = Path(__file__).resolve().parent.parent
SEED_TOPICS = ROOT / "seeds" / "topics.yaml"
SEED_KEYS = ("black-sea", "znpp", "energy-truce", "ceasefire", "prisoner-exchange")
CORPUS = Path(os.environ.get("PARLEY_CORPUS") or ROOT.parent / "shared" / "corpus")
CORPUS_LABELS = ROOT / "seeds" / "relevance" / "corpus_labels.jsonl"
TIMEOUT = 60


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "PREFECT_"))}
    env = {
        **clean,
        "COLUMNS": "250",
        "PARLEY_DATABASE_URL": f"sqlite:///{tmp_path / 'parley.db'}",
        "PARLEY_TOPICS_FILE": str(SEED_TOPICS),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
    }
    return Cli(tmp_path, env)


def _no_traceback(result: Result) -> None:
    assert "Traceback" not in result.out + result.err, result


# --- topics list / check ------------------------------------------------------------------


def test_list_shows_the_seed_topics(cli: Cli) -> None:
    result = cli("topics", "list")
    assert result.code == 0, result
    for key in SEED_KEYS:
        assert key in result.out
    assert "en " in result.out and "uk " in result.out and "ru " in result.out
    assert " topics in " in result.out


def test_check_explains_a_znpp_match(cli: Cli) -> None:
    result = cli("topics", "check", "IAEA: the Zaporizhzhia nuclear plant lost off-site power")
    assert result.code == 0, result
    assert "znpp" in result.out
    assert "terms: Zaporizhzhia" in result.out
    assert "in title:" in result.out


def test_check_with_title_and_summary(cli: Cli) -> None:
    result = cli("topics", "check", "--title", "Swap on the border",
                 "--summary", "Russia and Ukraine exchanged 175 prisoners of war each.")  # fmt: skip
    assert result.code == 0, result
    assert "prisoner-exchange" in result.out and "in summary:" in result.out


def test_check_beach_news_matches_nothing(cli: Cli) -> None:
    result = cli("topics", "check", "Beach season opens on the Black Sea")
    assert result.code == 0, result
    assert "no topic matched" in result.out


def test_check_with_a_broken_topics_file_is_one_line(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "topics.yaml"
    broken.write_text("topics:\n  - key: znpp\n    name: [x\n", encoding="utf-8")
    result = cli("topics", "check", "--topics", str(broken), "ZNPP")
    assert result.code == 2
    _no_traceback(result)
    assert result.err.strip().startswith(f"error: {broken}:")


# --- topics test: a backtest over stored history ------------------------------------------


@dataclass(frozen=True)
class Draft:
    uid: str
    title: str
    summary: str
    published_at: datetime | None
    guid: str | None = None
    link: str | None = None
    author: str | None = None
    updated_at: datetime | None = None

    @property
    def content_hash(self) -> str:
        return f"h:{self.uid}:{self.title}"


def _day(day: int, month: int = 3) -> datetime:
    return datetime(2025, month, day, 9, 0, tzinfo=UTC)


STORED = [
    Draft(
        "1", "Grossi: Zaporizhzhia nuclear plant on its last power line", "IAEA update.", _day(5)
    ),
    Draft("2", "Zaporizhzhia city hit by guided bombs", "Two killed in the city.", _day(6)),
    Draft("3", "Drone strikes near ZNPP cooling towers", "Inspectors heard blasts.", _day(20)),
    Draft("4", "IAEA mission to Zaporizhzhia NPP rotated", "Before the range.", _day(20, 2)),
    Draft("5", "ZNPP: Enerhodar without water", "After the range.", _day(2, 4)),
]
TABLES = (Feed, Entry, EntryRevision, Match, OutboxAlert)


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return {
                t.__name__: session.exec(select(func.count()).select_from(t)).one() for t in TABLES
            }
    finally:
        engine.dispose()


@pytest.fixture
def history(cli: Cli) -> str:
    url = cli.env["PARLEY_DATABASE_URL"]
    engine = make_engine(url)
    init_db(engine)
    with session_scope(engine) as session:
        feed = Feed(url="http://127.0.0.1:9/wire.xml", name="Wire Service")
        session.add(feed)
        session.flush()
        assert feed.id is not None
        apply_entries(session, feed.id, STORED, datetime(2025, 4, 10, tzinfo=UTC))
    engine.dispose()
    return url


def test_backtest_prints_what_would_have_alerted_and_writes_nothing(cli: Cli, history: str) -> None:
    before = _counts(history)
    result = cli("topics", "test", "znpp", "--since", "2025-03-01", "--until", "2025-04-01")
    assert result.code == 0, result
    _no_traceback(result)
    assert "Grossi: Zaporizhzhia nuclear plant on its last power line" in result.out
    assert "Drone strikes near ZNPP cooling towers" in result.out
    assert "2025-03-05" in result.out and "2025-03-20" in result.out
    assert "Wire Service" in result.out
    for absent in ("city hit by guided bombs", "IAEA mission to", "Enerhodar without water"):
        assert absent not in result.out
    assert "znpp: 2 of 3 stored items would have alerted" in result.out
    assert _counts(history) == before
    assert before["Match"] == 0 and before["OutboxAlert"] == 0


def test_backtest_of_an_unknown_topic_is_one_clear_error(cli: Cli, history: str) -> None:
    result = cli("topics", "test", "talkz", "--since", "2025-03-01")
    assert result.code == 2
    _no_traceback(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown topic 'talkz'"), result.err


def test_backtest_on_an_empty_database_is_one_clear_error(cli: Cli) -> None:
    result = cli("topics", "test", "znpp", "--since", "2025-03-01")
    assert result.code == 2
    _no_traceback(result)
    assert "no stored entries" in result.err


# --- eval ---------------------------------------------------------------------------------


SMALL = [
    {
        "id": "z1",
        "title": "IAEA: Zaporizhzhia NPP lost power",
        "language": "en",
        "topics": ["znpp"],
    },
    {
        "id": "z2",
        "title": "МАГАТЕ: Запорізька АЕС без живлення",
        "language": "uk",
        "topics": ["znpp"],
    },
    {"id": "n1", "title": "Beach season opens on the Black Sea", "language": "en", "topics": []},
    {"id": "m1", "title": "Plant lost power again", "language": "en", "topics": ["znpp"]},
]


def _cases(path: Path, cases: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), "utf-8")
    return path


def test_eval_prints_the_table_the_overall_line_and_the_misses(cli: Cli, tmp_path: Path) -> None:
    result = cli("eval", str(_cases(tmp_path / "cases.jsonl", SMALL)), "--part", "all")
    assert result.code == 0, result
    assert "4 cases from" in result.out
    header = next(line for line in result.out.splitlines() if "P / R" in line)
    for column in ("topic", "language", "all"):
        assert column in header
    assert "znpp" in result.out
    assert "all: 4 cases, 1.00 precision, 0.67 recall" in result.out
    assert (
        "all: false negatives (1):" in result.out
        and "[znpp] m1 (en): Plant lost power again" in result.out
    )
    assert "all: false positives: none" in result.out


def test_eval_min_f1_gates_the_exit_code(cli: Cli, tmp_path: Path) -> None:
    path = str(_cases(tmp_path / "cases.jsonl", SMALL))
    low = cli("eval", path, "--part", "all", "--min-f1", "0.5", "--by", "language")
    assert low.code == 0, low
    high = cli("eval", path, "--part", "all", "--min-f1", "0.9")
    assert high.code == 1, high
    assert "F1 below 0.9 (all part): znpp/en 0.67" in high.err


def test_eval_bad_case_file_is_one_line_naming_file_and_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(SMALL[0]) + "\n{oops\n", encoding="utf-8")
    result = cli("eval", str(path))
    assert result.code == 2
    _no_traceback(result)
    assert result.err.strip().startswith(f"error: {path}:2: invalid JSON"), result.err


def test_eval_over_the_own_cases_runs(cli: Cli) -> None:
    result = cli("eval", str(ROOT / "tests" / "data" / "topic_eval.jsonl"), "--no-misses")
    assert result.code == 0, result
    for key in SEED_KEYS:
        assert key in result.out


@pytest.mark.skipif(
    not (CORPUS / "real" / "items.jsonl").is_file(),
    reason=f"no evaluation corpus at {CORPUS} (set PARLEY_CORPUS to its folder)",
)
def test_corpus_eval_reports_every_labelled_topic(cli: Cli) -> None:
    labelled = {
        key
        for line in CORPUS_LABELS.read_text(encoding="utf-8").splitlines()
        if line.strip()
        for key in json.loads(line)["topics"]
    }
    assert labelled, "the labels file has no positive label"
    result = cli("eval", "--corpus", str(CORPUS), "--labels", str(CORPUS_LABELS))
    assert result.code == 0, result
    _no_traceback(result)
    rows = {line.split("│")[1].strip() for line in result.out.splitlines() if line.count("│") > 2}
    assert labelled <= rows, (labelled - rows, result.out)
    assert "tune:" in result.out and "check:" in result.out
