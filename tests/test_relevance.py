"""Relevance: shared term sets, vetoes with exceptions, renamed topics, learned scores, the
tuning/check split and its floor, `parley topics check --jsonl` and `parley topics train`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from clirun import Cli, clean_environ, parley_command
from sqlmodel import select

from parley.alerts.channel_file import rename_topics
from parley.alerts.channels import Channel
from parley.alerts.routes import Route
from parley.flows.topics.evaluate import CHECK, TUNE, evaluate, split_part
from parley.flows.topics.labelled import relevance_cases
from parley.flows.topics.learned import (
    LearnedScorer,
    ModelError,
    TopicWeights,
    feature_set,
    features,
    load_model,
)
from parley.flows.topics.load import TopicError, load_topics, parse_topics
from parley.flows.topics.relevance import RelevanceMatcher, build_matcher
from parley.storage.db import init_db, make_engine, session_scope
from parley.storage.models import OutboxAlert
from parley.storage.renames import rename_topic_keys

ROOT = Path(__file__).resolve().parent.parent
SEED_TOPICS = ROOT / "seeds" / "topics.yaml"
SEED_MODEL = ROOT / "seeds" / "relevance" / "model.json"
RELEVANCE = ROOT / "seeds" / "relevance"
FLOOR = ROOT / "tests" / "data" / "relevance_floor.yaml"
CORPUS = Path(os.environ.get("PARLEY_CORPUS") or ROOT.parent / "shared" / "corpus")
HAS_CORPUS = (CORPUS / "real" / "items.jsonl").is_file()

SETS = """
sets:
  parties: [Ukrain*, Russia, Росі*]
  truce: [cease-fire, truce, перемир*]
context: [{set: parties}]
topics:
  - key: truce
    name: Truce
    replaces: [old-truce]
    any: [{set: truce}]
    all: [[{set: parties}]]
    not: [{near: [energy, {set: truce}], within: 2}]
    unless: [full cease-fire]
  - key: pair
    name: Pair
    any: [{sentence: [{set: parties}, [talks]]}]
"""


# --- the rule language ---------------------------------------------------------------------


def test_a_set_stands_for_its_terms_in_lists_and_in_parts() -> None:
    truce, pair = parse_topics(SETS)
    assert "cease-fire" in truce.any and "перемир*" in truce.any
    assert truce.replaces == ("old-truce",)
    matcher = RelevanceMatcher([truce, pair])
    assert [m.topic_key for m in matcher.match("Russia offers a truce", "")] == ["truce"]
    assert [m.topic_key for m in matcher.match("Ukraine ready for talks", "")] == ["pair"]
    assert matcher.match("Truce in the league", "") == []  # no party named


def test_unless_lifts_a_veto() -> None:
    matcher = RelevanceMatcher(parse_topics(SETS))
    assert matcher.match("Russia agrees an energy truce", "") == []
    found = matcher.match("Russia agrees an energy truce but no full ceasefire", "")
    assert [m.topic_key for m in found] == ["truce"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (SETS.replace("{set: truce}]\n    all", "{set: nope}]\n    all"), "unknown set 'nope'"),
        (SETS.replace("  truce: [cease-fire", "  Truce: [cease-fire"), "set 'Truce'"),
        (SETS.replace("replaces: [old-truce]", "replaces: [Old Truce]"), "replaces"),
    ],
)
def test_set_mistakes_name_the_line(text: str, problem: str) -> None:
    with pytest.raises(TopicError) as caught:
        parse_topics(text, "t.yaml")
    assert problem in str(caught.value) and str(caught.value).startswith("t.yaml:")


# --- learned scores ------------------------------------------------------------------------


def _scorer(threshold: float = 0.5) -> LearnedScorer:
    weights = {"kremli": 3.0, "t:kremli": 1.0, "silenc": 4.0, "rugby": -6.0}
    return LearnedScorer([TopicWeights("pair", -1.0, threshold, weights)])


def test_a_learned_score_adds_what_the_rules_missed_and_explains_it() -> None:
    matcher = RelevanceMatcher(parse_topics(SETS), _scorer(), parse_topics(SETS)[0].all[0])
    found = matcher.match("Kremlin keeps silence on Russia offer", "")
    learned = [m for m in found if m.topic_key == "pair"]
    assert learned, found
    assert learned[0].rule.startswith("learned: ") and "≥ 0.50" in learned[0].rule
    assert "kremlin" in learned[0].terms and learned[0].field == "title"


def test_a_learned_score_needs_the_context_and_a_passing_score() -> None:
    topics = parse_topics(SETS)
    context = topics[0].all[0]
    matcher = RelevanceMatcher(topics, _scorer(), context)
    assert matcher.match("Kremlin keeps silence", "") == []  # no party named: no context
    strict = RelevanceMatcher(topics, _scorer(0.99), context)
    assert strict.match("Kremlin keeps silence on Russia offer", "") == []
    assert matcher.match("Russia rugby team keeps silence", "") == []  # weighs against


def test_a_topics_vetoes_hold_for_its_learned_score_too() -> None:
    topics = parse_topics(SETS)
    scorer = LearnedScorer([TopicWeights("truce", 0.0, 0.5, {"energy": 5.0, "russia": 2.0})])
    matcher = RelevanceMatcher(topics, scorer, topics[0].all[0])
    assert matcher.scores("Russia: energy truce holds", "")[0].passed
    assert matcher.match("Russia: energy truce holds", "") == []  # vetoed: energy truce
    found = matcher.match("Russia energy exports rise", "")  # no veto: the score decides
    assert [m.topic_key for m in found] == ["truce"] and found[0].rule.startswith("learned")


def test_features_join_spellings_across_scripts_and_mark_the_title() -> None:
    ru = features("Переговоры в Стамбуле", "")
    uk = features("Переговори в Стамбулі", "")
    assert ru["perego"] == "переговоры" and uk["perego"] == "переговори"  # 6-letter stems
    assert "t:perego" in ru and "perego stambu" in ru and "stambu" in uk  # "в" is left out


def test_the_fast_features_are_the_explained_ones() -> None:
    cases, _ = relevance_cases(RELEVANCE, None)
    for case in cases:
        assert set(features(case.title, case.summary)) == feature_set(case.title, case.summary)


def test_the_seed_model_loads_and_a_missing_one_is_named(tmp_path: Path) -> None:
    scorer = load_model(SEED_MODEL)
    assert set(scorer.keys) <= {t.key for t in load_topics(SEED_TOPICS)}
    with pytest.raises(ModelError, match=str(tmp_path / "none.json")):
        load_model(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 0}', encoding="utf-8")
    with pytest.raises(ModelError, match="run: parley topics train"):
        load_model(bad)


# --- the split and the floor ---------------------------------------------------------------


def test_the_split_is_fixed_by_the_link() -> None:
    # a change here would silently move cases between the parts
    assert split_part("https://www.rt.com/russia/612238-russia-ukraine-pow-swap-uae/") == CHECK
    assert split_part("uk-a-001") == TUNE and split_part("uk-b-001") == TUNE
    cases, _ = relevance_cases(RELEVANCE, None)
    share = sum(c.part == TUNE for c in cases) / len(cases)
    assert 0.5 < share < 0.7, share


@pytest.mark.parametrize(("language", "size"), [("uk", 150), ("ru", 100)])
def test_the_written_sets_are_large_and_balanced(language: str, size: int) -> None:
    cases, notes = relevance_cases(RELEVANCE, None)
    assert notes and "corpus_labels.jsonl skipped" in notes[0]
    assert {c.language for c in cases} == {"uk", "ru"}
    mine = [c for c in cases if c.language == language]
    assert len(mine) >= size
    for topic in ("ceasefire", "energy-truce", "black-sea", "znpp", "prisoner-exchange", "talks"):
        assert sum(topic in c.topics for c in mine) >= 10, topic
    assert sum(not c.topics for c in mine) >= 40


def _floor_failures(corpus: Path | None) -> list[str]:
    spec = yaml.safe_load(FLOOR.read_text(encoding="utf-8"))
    floors = spec["with corpus" if corpus is not None else "written sets"]
    cases, _ = relevance_cases(RELEVANCE, corpus)
    matcher = build_matcher(load_topics(SEED_TOPICS), SEED_TOPICS, SEED_MODEL)
    report = evaluate(matcher, [c for c in cases if c.part == CHECK])
    failures = []
    for topic, cells in floors.items():
        for language, (precision, recall) in cells.items():
            cell = report.cell(topic, language)
            got_p, got_r = cell.precision or 0.0, cell.recall or 0.0
            if got_p + 1e-9 < precision or got_r + 1e-9 < recall:
                failures.append(f"{topic}/{language}: P {got_p:.2f} R {got_r:.2f}")
    return failures


def test_the_check_part_stays_above_its_floor_on_the_written_sets() -> None:
    assert not _floor_failures(None)


@pytest.mark.skipif(not HAS_CORPUS, reason=f"no evaluation corpus at {CORPUS} (PARLEY_CORPUS)")
def test_the_check_part_stays_above_its_floor_with_the_corpus() -> None:
    assert not _floor_failures(CORPUS)


# --- the command line ----------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    env = {
        **clean_environ(),
        "COLUMNS": "250",
        "PARLEY_TOPICS_FILE": str(SEED_TOPICS),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
    }
    return Cli(tmp_path, env)


ITEMS = [
    {"id": "a", "title": "Україна і Росія провели обмін полоненими: 175 на 175", "language": "uk"},
    {"id": 2, "title": "Storm warning for the Odesa beaches", "summary": "", "language": "en"},
    {"id": "c", "title": "Kremlin says the 30-day ceasefire needs monitoring", "language": "en"},
]


def test_check_jsonl_classifies_as_the_monitor_does(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in ITEMS), "utf-8")
    result = cli("topics", "check", "--jsonl", str(path))
    assert result.code == 0, result
    lines = [json.loads(line) for line in result.out.splitlines()]
    matcher = build_matcher(load_topics(SEED_TOPICS), SEED_TOPICS, SEED_MODEL)
    expected = [
        {"id": i["id"], "topics": [m.topic_key for m in matcher.match(i["title"], "")]}
        for i in ITEMS
    ]
    assert lines == expected
    assert lines[0]["topics"] == ["prisoner-exchange"] and lines[1]["topics"] == []
    assert "ceasefire" in lines[2]["topics"]


def test_check_jsonl_reads_standard_input_and_names_a_bad_line(tmp_path: Path) -> None:
    env = {**clean_environ(), "PARLEY_TOPICS_FILE": str(SEED_TOPICS)}
    good = json.dumps(ITEMS[0], ensure_ascii=False) + "\n"
    done = subprocess.run([*parley_command(), "topics", "check", "--jsonl", "-"], input=good,
                          capture_output=True, text=True, env=env, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and json.loads(done.stdout)["id"] == "a", done
    bad = subprocess.run([*parley_command(), "topics", "check", "--jsonl", "-"],
                         input=good + "{oops\n", capture_output=True, text=True, env=env,
                         timeout=60, check=False)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: -:2: invalid JSON"), bad


def test_check_names_a_missing_model_file(cli: Cli, tmp_path: Path) -> None:
    result = cli("topics", "check", "ceasefire", PARLEY_MODEL_FILE=str(tmp_path / "m.json"))
    assert result.code == 2 and str(tmp_path / "m.json") in result.err, result
    rules_only = cli("topics", "check", "Kyiv accepts a ceasefire", PARLEY_MODEL_FILE="")
    assert rules_only.code == 0 and "ceasefire" in rules_only.out, rules_only


def test_train_writes_a_model_from_the_tuning_part(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    result = cli("topics", "train", "--out", str(out), timeout=300)
    assert result.code == 0, result
    assert "corpus_labels.jsonl skipped" in result.err  # no corpus given: the written sets alone
    assert "check part unread" in result.out
    scorer = load_model(out)
    assert scorer.trained_on == "ru_items.jsonl, uk_items.jsonl"
    for key in scorer.keys:
        assert key in result.out


def test_eval_shows_both_parts_of_the_relevance_set(cli: Cli) -> None:
    result = cli("eval", "--no-misses")
    assert result.code == 0, result
    assert "tune" in result.out and "check" in result.out and "P / R" in result.out
    assert "learned scores:" in result.out


# --- renamed topics ------------------------------------------------------------------------


def test_a_renamed_topic_keeps_its_routes_and_stored_rows(tmp_path: Path) -> None:
    route = Route(name="r", topics=frozenset({"old-truce"}), channels=("desk",), line=3)
    channel = Channel(name="desk", url="json://127.0.0.1", safe_url="json://127.0.0.1",
                      tags=frozenset({"old-truce", "znpp"}), routes=(route,))  # fmt: skip
    (renamed,) = rename_topics([channel], {"old-truce": "truce"})
    assert renamed.tags == {"truce", "znpp"}
    assert renamed.routes is not None and renamed.routes[0].topics == {"truce"}

    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    init_db(engine)
    with session_scope(engine) as session:
        session.add(OutboxAlert(idempotency_key="k", channel="desk", kind="new",
                                topic_key="old-truce", title="t", body="b"))  # fmt: skip
    with session_scope(engine) as session:
        assert rename_topic_keys(session, {"old-truce": "truce"}) == 1
    with session_scope(engine) as session:
        assert session.exec(select(OutboxAlert.topic_key)).all() == ["truce"]
        assert rename_topic_keys(session, {"old-truce": "truce"}) == 0
    engine.dispose()


def test_the_monitor_scores_without_scikit_learn() -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from parley.flows.pipeline.cycle import open_runtime\n"
        "from parley.flows.topics.load import load_topics\n"
        "from parley.flows.topics.relevance import build_matcher\n"
        f"t = Path({str(SEED_TOPICS)!r}); m = build_matcher(load_topics(t), t, Path({str(SEED_MODEL)!r}))\n"
        "m.match('Kyiv and Moscow: talks in Istanbul', 'Delegations met.')\n"
        "print(sorted(k for k in ('sklearn', 'numpy', 'scipy') if k in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=clean_environ(), timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
