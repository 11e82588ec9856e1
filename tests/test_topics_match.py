"""Topic matching: the data-driven cases in tests/data/topic_cases.yaml, and match details."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from parley.flows.topics.load import Topic, load_topics, parse_topics
from parley.flows.topics.match import TopicMatcher

ROOT = Path(__file__).resolve().parent.parent
CASES: list[dict[str, Any]] = yaml.safe_load(
    (ROOT / "tests" / "data" / "topic_cases.yaml").read_text(encoding="utf-8")
)["cases"]


@pytest.fixture(scope="module")
def seed_matcher() -> TopicMatcher:
    return TopicMatcher(load_topics(ROOT / "seeds" / "topics.yaml"))


def test_cases_are_well_formed() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 60
    for case in CASES:
        assert set(case) == {"id", "lang", "title", "summary", "expect", "why"}, case["id"]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_seed_topic_case(seed_matcher: TopicMatcher, case: dict[str, Any]) -> None:
    matches = seed_matcher.match(case["title"], case["summary"])
    got = [match.topic_key for match in matches]
    assert got == case["expect"], f"{case['why']}: {[m.terms for m in matches]}"


TOPICS = """
topics:
  - key: znpp
    name: Zaporizhzhia NPP
    severity: high
    any: [Zaporizhzhia, ZNPP, Запорізьк* АЕС]
    all:
      - [nuclear, ZNPP, Запорізьк* АЕС]
  - key: swap
    name: Swaps
    any: [prisoner swap, cease-fire]
    not: [football]
"""


@pytest.fixture
def matcher() -> TopicMatcher:
    return TopicMatcher(parse_topics(TOPICS))


def test_match_explains_with_original_text(matcher: TopicMatcher) -> None:
    [match] = matcher.match("Drone near ZAPORIZHZHIA’s Nuclear plant", "ZNPP says")
    assert match.topic_key == "znpp"
    assert match.topic_name == "Zaporizhzhia NPP"
    assert match.severity == "high"
    assert match.terms == ("Zaporizhzhia", "ZNPP")
    assert match.field == "title"
    assert match.snippet == "Drone near «ZAPORIZHZHIA»’s Nuclear plant"


def test_title_hit_preferred_over_earlier_summary(matcher: TopicMatcher) -> None:
    [match] = matcher.match("Report: ZNPP", "Zaporizhzhia nuclear")
    assert match.field == "title"
    assert match.terms == ("ZNPP", "Zaporizhzhia")


def test_summary_hit_and_cut_snippet(matcher: TopicMatcher) -> None:
    summary = "word " * 60 + "Обстріл біля\nЗапорізької  АЕС вночі. " + "more " * 60
    [match] = matcher.match("Night report", summary)
    assert match.field == "summary"
    assert match.terms == ("Запорізьк* АЕС",)
    assert "«Запорізької АЕС»" in match.snippet
    assert match.snippet.startswith("…word")
    assert match.snippet.endswith("more…")
    assert 140 <= len(match.snippet) <= 170


def test_veto_and_all_groups(matcher: TopicMatcher) -> None:
    assert matcher.match("Zaporizhzhia football club wins", "") == []
    assert [m.topic_key for m in matcher.match("Prisoner swap agreed", "")] == ["swap"]
    assert matcher.match("Prisoner swap of football players", "") == []


def test_hyphen_optional_and_phrase_across_hyphen(matcher: TopicMatcher) -> None:
    for text in ("ceasefire", "cease-fire", "cease fire", "Cease–Fire", "cease - fire"):
        assert [m.topic_key for m in matcher.match(text, "")] == ["swap"], text
    assert matcher.match("prisoner-swap", "")
    assert not matcher.match("prisoners swap", "")  # a word without * is matched whole


def test_words_match_whole_words_only(matcher: TopicMatcher) -> None:
    assert not matcher.match("XZNPP nuclear", "")
    assert not matcher.match("ZNPPs nuclear", "")
    assert matcher.match("(ZNPP)", "")


def test_overlapping_terms_are_all_found() -> None:
    topics = [
        Topic("a", "A", "low", ("black sea",), (), ()),
        Topic("b", "B", "low", ("sea grain",), (), ()),
        Topic("c", "C", "low", ("black sea grain initiative",), (), ()),
    ]
    got = TopicMatcher(topics).match("The Black Sea grain initiative", "")
    assert [m.topic_key for m in got] == ["a", "b", "c"]


def test_stem_and_apostrophe_terms() -> None:
    topics = [Topic("t", "T", "low", ("перемир'я", "обмін* полонен*"), (), ())]
    matcher = TopicMatcher(topics)
    for text in ("перемир'я", "ПЕРЕМИР’Я", "перемирʼя", "Перемир`я"):
        assert matcher.match(text, ""), text
    assert matcher.match("обмінялися полоненими", "")
    assert not matcher.match("перемиря", "")


def test_matcher_keeps_its_topics(matcher: TopicMatcher) -> None:
    assert [topic.key for topic in matcher.topics] == ["znpp", "swap"]


def test_no_topics_no_matches() -> None:
    assert TopicMatcher([]).match("anything", "at all") == []
