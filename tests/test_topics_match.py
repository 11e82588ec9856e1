"""Topic matching: the data-driven cases in tests/data/topic_cases.yaml, and match details."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from parley.flows.topics import match as match_module
from parley.flows.topics.load import Topic, load_topics, parse_topics
from parley.flows.topics.match import TermHit, TopicMatcher

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


def test_phrase_across_chunks_is_checked_on_the_text_after_it() -> None:
    """A first word that may start a phrase only in the next chunks ("long" of "long range
    drone strike") is looked at together with them: the phrase is found however it is spread
    over chunks, with punctuation-only chunks between, and not found when the words after the
    first one differ; the trigger test must never rule out what the full match finds."""
    topics = parse_topics("""
topics:
  - key: strikes
    name: Strikes
    any: [long range drone strike]
""")
    matcher = TopicMatcher(topics)
    for text in ("a long range drone strike", "long - range -- drone — strike", "long-range drone-strike",
                 "the long, long range drone strike"):  # fmt: skip
        assert [m.topic_key for m in matcher.match("", text)] == ["strikes"], text
    for text in ("long and will publish", "long range drone", "long range, drone strike",
                 "drone strike long range"):  # fmt: skip
        assert not matcher.match("", text), text
    assert not matcher._triggered(["a", "long", "summer", "and", "a", "warm", "one"])
    assert matcher._triggered(["so", "long"])  # the run ends where the phrase may go on


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


def test_stem_in_a_phrase_spans_a_word_with_an_apostrophe() -> None:
    # "перемир*" ends at the apostrophe of перемир'я: the phrase goes on after the whole word
    topics = [Topic("t", "T", "low", ("перемир* на 30 днів", "в'язн* звільн*"), (), ())]
    matcher = TopicMatcher(topics)
    for text in ("перемир'я на 30 днів", "Перемир’ю на 30 днів", "перемирʼї на 30 днів"):
        [match] = matcher.match(text, "")
        assert match.hits[0].text == text, text
    assert matcher.match("в'язнів звільнили", "")
    assert not matcher.match("перемир'я, на 30 днів", "")  # a comma is no apostrophe
    assert not matcher.match("перемир'я я на 30 днів", "")
    # an apostrophe written in the term is matched as written, not skipped over
    literal = TopicMatcher([Topic("p", "P", "low", ("пам* ять",), (), ())])
    assert not literal.match("пам'ять", "")


def test_matcher_keeps_its_topics(matcher: TopicMatcher) -> None:
    assert [topic.key for topic in matcher.topics] == ["znpp", "swap"]


def test_no_topics_no_matches() -> None:
    assert TopicMatcher([]).match("anything", "at all") == []


# --- structured terms, explanations, transliteration ---------------------------------------

STRUCTURED = """
topics:
  - key: near
    name: Near
    any: [{near: [IAEA, [Zaporizh*, ZAES]], within: 3}]
  - key: sentence
    name: Sentence
    any: [{sentence: [Witkoff, Putin]}]
  - key: regex
    name: Regex
    any: [{re: '\\bzaes-?\\d\\b'}]
  - key: title-only
    name: Title only
    any: [{term: talks, fields: [title]}]
  - key: scored
    name: Scored
    min_score: 3
    any: [truce]
    all:
      - [Kyiv, Moscow]
"""


@pytest.fixture
def structured() -> TopicMatcher:
    return TopicMatcher(parse_topics(STRUCTURED))


def _keys(matcher: TopicMatcher, title: str, summary: str = "") -> list[str]:
    return [m.topic_key for m in matcher.match(title, summary)]


def test_near_counts_words_between_in_either_order(structured: TopicMatcher) -> None:
    assert _keys(structured, "IAEA team at Zaporizhzhia") == ["near"]  # 2 words between
    assert _keys(structured, "IAEA team arrives at ZAES") == ["near"]  # 3 words between
    assert _keys(structured, "IAEA team arrives today at ZAES") == []  # 4 words between
    assert _keys(structured, "Zaporizhzhia: the IAEA") == ["near"]  # order is free
    assert _keys(structured, "IAEA", "Zaporizhzhia") == []  # one field at a time


def test_near_explains_the_whole_span(structured: TopicMatcher) -> None:
    [match] = structured.match("Report: IAEA team at Zaporizhzhia plant", "")
    assert match.terms == ("near/3(IAEA, Zaporizh*|ZAES)",)
    assert match.snippet == "Report: «IAEA team at Zaporizhzhia» plant"
    assert match.rule == "any: near/3(IAEA, Zaporizh*|ZAES)"


def test_sentence_needs_one_sentence(structured: TopicMatcher) -> None:
    assert _keys(structured, "", "Witkoff will meet Putin on Friday.") == ["sentence"]
    assert _keys(structured, "", "Witkoff flew in. Putin was away.") == []
    assert _keys(structured, "", "Witkoff, the U.S. envoy, met Putin.") == ["sentence"]
    assert _keys(structured, "", "Why did Witkoff go? Putin knows!") == []


def test_regex_runs_on_the_normalised_text(structured: TopicMatcher) -> None:
    assert _keys(structured, "Unit ZAES–5 restarted") == ["regex"]  # en dash folds to -
    assert _keys(structured, "Unit zaes5") == ["regex"]
    assert _keys(structured, "Unit zaes-55") == []
    [match] = structured.match("", "Turbine of ZAES-3 is idle")
    assert match.terms == ("re(\\bzaes-?\\d\\b)",)
    assert match.snippet == "Turbine of «ZAES-3» is idle"


def test_fields_limit_where_a_term_counts(structured: TopicMatcher) -> None:
    assert _keys(structured, "Talks resume", "") == ["title-only"]
    assert _keys(structured, "Strikes overnight", "Days before talks") == []


def test_score_weighs_title_hits_and_min_score(structured: TopicMatcher) -> None:
    [match] = structured.match("Truce in Kyiv", "")
    assert match.score == 4.0  # two terms in the title
    assert match.rule == "any: truce + all[0]: Kyiv"
    assert match.hits == (
        TermHit("truce", "any", "title", "Truce"),
        TermHit("Kyiv", "all[0]", "title", "Kyiv"),
    )
    [match] = structured.match("Truce", "Talks in Moscow")
    assert match.score == 3.0  # title 2 + summary 1
    assert match.hits[1] == TermHit("Moscow", "all[0]", "summary", "Moscow")
    assert _keys(structured, "Update", "Truce in Kyiv") == []  # 1 + 1 < min_score 3


def test_names_match_other_transliterations_and_scripts() -> None:
    topics = [Topic("z", "Z", "high", ("Zaporizhzhia", "Енергодар*", "Witkoff"), (), ())]
    matcher = TopicMatcher(topics)
    for text in ("Zaporozhye", "ZAPORIZHIA", "Zaporozhe", "Запоріжжя", "Запорожье", "Energodar"):
        assert _keys(matcher, text), text
    assert _keys(matcher, "Энергодаре")  # a stem's skeleton is a prefix
    assert not _keys(matcher, "Уиткофф")  # starts with a vowel: list that spelling too
    [match] = matcher.match("Віткофф прибув", "")
    assert match.terms == ("Witkoff",)
    assert match.snippet == "«Віткофф» прибув"


def test_skeleton_safeguards() -> None:
    topics = [Topic("t", "T", "low", ("Peskov", "Putin", "ZNPP", "harbour", "Odes*"), (), ())]
    matcher = TopicMatcher(topics)
    assert _keys(matcher, "Пєсков")  # a name of 4 consonants: Peskov, Песков, Пєсков
    assert not _keys(matcher, "Pskov")  # same consonants, another shape
    assert not _keys(matcher, "Peyton Patan potent")  # Putin: 3 consonants, written only
    assert not _keys(matcher, "ZENPAP")  # an abbreviation matches as written
    assert not _keys(matcher, "harbor")  # a lower-case word is not a name
    assert not _keys(matcher, "ideas odds")  # a short stem has no skeleton


def test_chunk_trigger_follows_apostrophes() -> None:
    matcher = TopicMatcher([Topic("p", "P", "low", ("в'язн*",), (), ())])
    assert not _keys(matcher, "в Києві", "в")
    assert _keys(matcher, "Звільнили в’язня")


def test_token_cache_starts_over_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(match_module, "TOKEN_CACHE_LIMIT", 3)
    matcher = TopicMatcher([Topic("t", "T", "low", ("ZNPP",), (), ())])
    for word in ("one two three four five six seven", "ZNPP eight nine"):
        matcher.match(word, "")
    assert len(matcher._cache) <= 3
    assert _keys(matcher, "more words then ZNPP") == ["t"]


def test_seed_matches_explain_the_rule(seed_matcher: TopicMatcher) -> None:
    [match] = seed_matcher.match("МАГАТЕ: на Запорізькій АЕС знову зникло живлення", "")
    assert match.topic_key == "znpp"
    assert match.rule == "any: Запорізьк* + all[0]: МАГАТЕ"
    assert match.field == "title"
    assert match.score > 0
    assert {hit.field for hit in match.hits} == {"title"}
