"""Topic evaluation: scores on hand-made sets, clear errors for bad case files, and the seed
topics measured against the labelled cases in tests/data/topic_eval.jsonl."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from parley.flows.topics.evaluate import (
    Case,
    EvalError,
    Score,
    evaluate,
    load_cases,
    load_corpus_cases,
)
from parley.flows.topics.load import load_topics
from parley.flows.topics.match import TopicMatch, TopicMatcher

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "data" / "topic_eval.jsonl"
SEED_TOPICS = ROOT / "seeds" / "topics.yaml"
SEED_KEYS = ("black-sea", "znpp", "energy-truce", "ceasefire", "prisoner-exchange", "talks")
LANGUAGES = ("en", "uk", "ru")
BAR = 0.95


class FakeMatcher:
    """Matches a topic when its key appears as a word in the title: scoring without terms."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    def match(self, title: str, summary: str) -> list[TopicMatch]:
        words = title.split()
        return [
            TopicMatch(key, key, "medium", (key,), "title", title)
            for key in self.keys
            if key in words
        ]


def _case(case_id: str, title: str, topics: set[str], language: str = "en") -> Case:
    return Case(case_id, title, "", language, frozenset(topics))


# --- scores -------------------------------------------------------------------------------


def test_counts_per_topic_and_language() -> None:
    cases = [
        _case("1", "a", {"a"}),  # TP a/en
        _case("2", "a b", {"a"}),  # TP a/en, FP b/en
        _case("3", "x", {"a"}),  # FN a/en
        _case("4", "b", {"b"}, "uk"),  # TP b/uk
        _case("5", "x", set(), "uk"),  # nothing
    ]
    report = evaluate(FakeMatcher(["a", "b"]), cases)
    assert report.topics == ("a", "b")
    assert report.languages == ("en", "uk")
    a_en = report.cell("a", "en")
    assert (a_en.tp, a_en.fp, a_en.fn, a_en.support) == (2, 0, 1, 3)
    assert a_en.precision == 1.0
    assert a_en.recall == pytest.approx(2 / 3)
    assert a_en.f1 == pytest.approx(0.8)
    b_en = report.cell("b", "en")
    assert (b_en.tp, b_en.fp, b_en.fn) == (0, 1, 0)
    assert b_en.precision == 0.0 and b_en.recall is None and b_en.f1 == 0.0
    assert report.by_language("en").tp == 2 and report.by_language("en").fp == 1
    assert report.by_topic("b").tp == 1 and report.by_topic("b").fp == 1
    overall = report.overall()
    assert (overall.tp, overall.fp, overall.fn) == (3, 1, 1)
    kinds = [(m.case.id, m.topic, m.kind, m.terms) for m in report.misses]
    assert kinds == [("2", "b", "fp", ("b",)), ("3", "a", "fn", ())]
    # only cells with support are gated: b/en has an F1 of 0 but no support
    assert [(s.topic, s.language) for s in report.below(0.9)] == [("a", "en")]
    assert report.below(0.8) == []


def test_undefined_scores_are_none() -> None:
    empty = Score("a", "en")
    assert empty.precision is None and empty.recall is None and empty.f1 is None
    missed = Score("a", "en", fn=2)
    assert missed.precision is None and missed.recall == 0.0 and missed.f1 == 0.0


def test_labelled_topic_unknown_to_the_matcher_is_all_misses() -> None:
    matcher = TopicMatcher(load_topics(SEED_TOPICS))
    report = evaluate(matcher, [_case("1", "Peace talks resume", {"no-such-topic"})])
    assert report.topics == ("no-such-topic",) and report.undefined == ("no-such-topic",)
    assert report.cell("no-such-topic", "en").fn == 1
    # the defined topics no case expects are left out, not counted as false positives
    assert set(report.unlabelled) == {t.key for t in matcher.topics}


def test_topics_restrict_what_is_evaluated() -> None:
    cases = [_case("1", "a b", {"a"})]
    report = evaluate(FakeMatcher(["a", "b"]), cases, topics=["a"])
    assert report.topics == ("a",) and report.misses == []
    # by default only labelled topics are evaluated: "b" is expected by no case
    assert evaluate(FakeMatcher(["a", "b"]), cases).topics == ("a",)


def test_real_matcher_on_a_tiny_topics_file(tmp_path: Path) -> None:
    topics = tmp_path / "topics.yaml"
    topics.write_text(
        "topics:\n  - key: znpp\n    name: ZNPP\n    any: [ZNPP, Enerhodar]\n", encoding="utf-8"
    )
    cases = [
        _case("hit", "IAEA team rotates at ZNPP", {"znpp"}),
        _case("miss", "Plant loses power again", {"znpp"}),
        _case("fp", "Enerhodar school reopens", set()),
    ]
    report = evaluate(TopicMatcher(load_topics(topics)), cases)
    cell = report.cell("znpp", "en")
    assert (cell.tp, cell.fp, cell.fn) == (1, 1, 1)
    fp = report.false_positives()[0]
    assert fp.case.id == "fp" and fp.terms == ("Enerhodar",) and fp.field == "title"


# --- reading case files -------------------------------------------------------------------


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"id": "a", "title": "T", "summary": "S", "language": "EN", "topics": ["x"]})


def test_load_cases_reads_fields_and_skips_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jsonl", GOOD, "", json.dumps(
        {"id": 7, "title": "T2", "language": "uk", "topics": [], "why": "because"}
    ))  # fmt: skip
    cases = load_cases(path)
    assert [c.id for c in cases] == ["a", "7"]
    assert cases[0].language == "en" and cases[0].topics == frozenset({"x"})
    assert cases[1].summary == "" and cases[1].why == "because"
    assert cases[1].origin == f"{path}:3"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "b", "title": ', "invalid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"id": "b", "title": "T", "language": "en"}', "missing field 'topics'"),
        ('{"title": "T", "language": "en", "topics": []}', "missing field 'id'"),
        ('{"id": "b", "title": "T", "topics": []}', "missing field 'language'"),
        ('{"id": "b", "language": "en", "topics": []}', "missing field 'title'"),
        ('{"id": "b", "title": "T", "language": "en", "topics": "znpp"}', "field 'topics'"),
        ('{"id": "a", "title": "T", "language": "en", "topics": []}', "duplicate id 'a'"),
        ('{"id": "b", "title": ["T"], "language": "en", "topics": []}', "field 'title'"),
    ],
)
def test_load_cases_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path / "cases.jsonl", GOOD, line)
    with pytest.raises(EvalError) as caught:
        load_cases(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:2: "), text
    assert message in text, text


def test_load_cases_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="no such file"):
        load_cases(tmp_path / "absent.jsonl")
    with pytest.raises(EvalError, match="no cases"):
        load_cases(_write(tmp_path / "empty.jsonl", ""))


def test_corpus_cases_join_labels_by_link(tmp_path: Path) -> None:
    items = tmp_path / "corpus" / "real" / "items.jsonl"
    items.parent.mkdir(parents=True)
    item = {
        "source": "S",
        "lang": "ru",
        "title": "Заголовок",
        "link": "https://x/1",
        "summary": "Текст",
    }
    _write(items, json.dumps(item, ensure_ascii=False))
    labels = _write(
        tmp_path / "labels.jsonl", json.dumps({"link": "https://x/1", "topics": ["znpp"]})
    )
    (case,) = load_corpus_cases(tmp_path / "corpus", labels)
    assert (case.id, case.language, case.title, case.summary) == (
        "https://x/1",
        "ru",
        "Заголовок",
        "Текст",
    )
    assert case.topics == frozenset({"znpp"})
    bad = _write(tmp_path / "bad.jsonl", json.dumps({"link": "https://x/2", "topics": []}))
    with pytest.raises(EvalError, match=rf"{bad}:1: link not found"):
        load_corpus_cases(tmp_path / "corpus", bad)
    with pytest.raises(EvalError, match="not a corpus folder"):
        load_corpus_cases(tmp_path, labels)


# --- the seed topics against the labelled cases -------------------------------------------


def test_case_file_is_balanced_and_covers_the_seed_topics() -> None:
    cases = load_cases(CASES)
    languages = Counter(case.language for case in cases)
    assert len(cases) >= 150
    assert all(languages[lang] >= 45 for lang in LANGUAGES), languages
    for lang in LANGUAGES:
        mine = [c for c in cases if c.language == lang]
        for key in SEED_KEYS:
            assert sum(key in c.topics for c in mine) >= 5, (lang, key)
        assert sum(not c.topics for c in mine) >= 15, lang  # negatives


# Guards the bar: every seed topic, in every language, over the labelled cases.
def test_seed_topics_meet_the_bar_in_every_language() -> None:
    report = evaluate(TopicMatcher(load_topics(SEED_TOPICS)), load_cases(CASES))
    failures = []
    for key in SEED_KEYS:
        for lang in LANGUAGES:
            cell = report.cell(key, lang)
            if not cell.support:
                continue
            precision, recall = cell.precision or 0.0, cell.recall or 0.0
            if precision < BAR or recall < BAR:
                misses = [
                    m.case.id for m in report.misses if m.topic == key and m.case.language == lang
                ]
                failures.append(f"{key}/{lang}: P {precision:.2f} R {recall:.2f} {misses}")
    assert not failures, "\n".join(failures)
