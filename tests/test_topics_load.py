"""Loading topics: the seed file, the YAML format, and errors that name file, line and topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.flows.topics.load import SEVERITIES, Topic, TopicError, load_topics, parse_topics
from parley.flows.topics.terms import TermSpec

ROOT = Path(__file__).resolve().parent.parent
SEED_KEYS = ["black-sea", "znpp", "energy-truce", "ceasefire", "prisoner-exchange", "talks"]


def test_seed_topics_load() -> None:
    topics = load_topics(ROOT / "seeds" / "topics.yaml")
    assert [topic.key for topic in topics] == SEED_KEYS
    for topic in topics:
        assert topic.name
        assert topic.description
        assert topic.severity in SEVERITIES
        assert topic.any
        assert all(topic.all)


def test_language_mapping_groups_and_defaults() -> None:
    text = """
topics:
  - key: t-1
    name: "  Test  "
    any:
      en: [ZNPP, ZNPP]
      uk: [ЗАЕС]
    all:
      - [nuclear]
      - {en: [IAEA], ru: [МАГАТЭ]}
    not: {en: [football]}
"""
    assert parse_topics(text) == [
        Topic(
            key="t-1",
            name="Test",
            severity="medium",
            any=("ZNPP", "ЗАЕС"),
            all=(("nuclear",), ("IAEA", "МАГАТЭ")),
            none=("football",),
        )
    ]


def test_anchors_and_merge_keys() -> None:
    text = """
topics:
  - key: a
    name: A
    any: &names {en: [Kyiv], uk: [Київ]}
  - key: b
    name: B
    any: [truce]
    all:
      - <<: *names
        uk: [Україн*]
        extra: [Kyiv talks]
"""
    topics = parse_topics(text)
    assert topics[1].all == (("Kyiv", "Україн*", "Kyiv talks"),)


def _topic(body: str) -> str:
    return "topics:\n  - key: good\n    name: Good\n    any: [fine]\n" + body


BAD = [
    # (id, text, line, topic, words in the problem)
    (
        "unknown-key",
        _topic("  - key: znpp\n    name: Z\n    any: [x]\n    none: [y]\n"),
        8,
        "znpp",
        "unknown key 'none' (did you mean 'not'?)",
    ),
    ("missing-name", _topic("  - key: znpp\n    any: [ZNPP]\n"), 5, "znpp", "missing 'name'"),
    ("missing-any", _topic("  - key: znpp\n    name: Z\n"), 5, "znpp", "missing 'any'"),
    ("missing-key", _topic("  - name: Z\n    any: [x]\n"), 5, "#2", "missing 'key'"),
    (
        "bad-key",
        _topic("  - key: Black Sea\n    name: B\n    any: [x]\n"),
        5,
        "Black Sea",
        "lowercase letters, digits and dashes",
    ),
    (
        "bad-severity",
        _topic("  - key: z\n    name: Z\n    severity: urgent\n    any: [x]\n"),
        7,
        "z",
        "severity 'urgent'",
    ),
    (
        "duplicate-topic",
        _topic("  - key: good\n    name: Again\n    any: [x]\n"),
        5,
        "good",
        "duplicate topic key (first defined on line 2)",
    ),
    (
        "field-twice",
        _topic("  - key: z\n    name: Z\n    name: Y\n    any: [x]\n"),
        7,
        "z",
        "'name' is given twice",
    ),
    (
        "empty-term",
        _topic('  - key: z\n    name: Z\n    any:\n      - ok\n      - ""\n'),
        9,
        "z",
        "empty term",
    ),
    (
        "null-term",
        _topic("  - key: z\n    name: Z\n    any:\n      - ok\n      -\n"),
        9,
        "z",
        "empty term",
    ),
    (
        "bare-star",
        _topic("  - key: z\n    name: Z\n    any: [ok]\n    not: ['*']\n"),
        8,
        "z",
        "bare '*'",
    ),
    (
        "short-stem",
        _topic("  - key: z\n    name: Z\n    any:\n      uk: [Запорізьк*, За*]\n"),
        8,
        "z",
        "stem 'за*' is shorter than 3 letters",
    ),
    (
        "star-inside",
        _topic("  - key: z\n    name: Z\n    any: [abc*def]\n"),
        7,
        "z",
        "'*' may only end a word",
    ),
    (
        "punctuation",
        _topic("  - key: z\n    name: Z\n    any: [U.S. envoy]\n"),
        7,
        "z",
        "unsupported character '.'",
    ),
    ("empty-any", _topic("  - key: z\n    name: Z\n    any: []\n"), 7, "z", "at least one term"),
    (
        "empty-group",
        _topic("  - key: z\n    name: Z\n    any: [x]\n    all:\n      - []\n"),
        9,
        "z",
        "all[0]: needs at least one term",
    ),
    (
        "all-not-list",
        _topic("  - key: z\n    name: Z\n    any: [x]\n    all: nuclear\n"),
        8,
        "z",
        "all: must be a non-empty list",
    ),
    (
        "bad-language",
        _topic("  - key: z\n    name: Z\n    any:\n      EN: [x]\n"),
        8,
        "z",
        "'EN' is not a language code",
    ),
    (
        "language-not-list",
        _topic("  - key: z\n    name: Z\n    any:\n      en: ZNPP\n"),
        8,
        "z",
        "any.en: must be a list",
    ),
    (
        "any-and-not",
        _topic("  - key: z\n    name: Z\n    any: [ZNPP]\n    not: [znpp]\n"),
        7,
        "z",
        "'ZNPP' is in both 'any' and 'not'",
    ),
    (
        "name-list",
        _topic("  - key: z\n    name: [a, b]\n    any: [x]\n"),
        6,
        "z",
        "name must be a single value",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "topic", "problem"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_errors_name_file_line_and_topic(text: str, line: int, topic: str, problem: str) -> None:
    with pytest.raises(TopicError) as caught:
        parse_topics(text, source="bad.yaml")
    error = caught.value
    assert (error.source, error.line, error.topic) == ("bad.yaml", line, topic)
    assert str(error).startswith(f"bad.yaml:{line}: topic {topic!r}: ")
    assert problem in str(error)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("topics:\n  - key: z\n    name: [unclosed\n    any: [x]\n", 4, "invalid YAML"),
        ("topics:\n  - key: z\n\tname: tab\n", 3, "invalid YAML"),
        ("topics: [a]\n---\ntopics: [b]\n", 2, "invalid YAML"),
        ("", 1, "empty file"),
        ("topics: []\n", 1, "non-empty list"),
        ("- key: z\n", 1, "the file must be a mapping"),
        ("topics:\n  - key: z\n    name: Z\n    any: [x]\nfeeds: []\n", 5, "unknown key 'feeds'"),
    ],
    ids=["unclosed-flow", "tab-indent", "two-documents", "empty", "no-topics", "list", "extra"],
)
def test_file_errors_name_file_and_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(TopicError) as caught:
        parse_topics(text, source="bad.yaml")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"bad.yaml:{line}: ")
    assert problem in str(caught.value)


def test_load_topics_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(_topic("  - key: z\n    name: Z\n    severity: huge\n    any: [x]\n"), "utf-8")
    with pytest.raises(TopicError, match=rf"^{path}:7: topic 'z': severity 'huge'"):
        load_topics(path)


def test_load_topics_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TopicError, match="cannot read topics file"):
        load_topics(tmp_path / "absent.yaml")


# --- structured terms: near, sentence, re, fields, min_score -------------------------------


def test_structured_terms_parse() -> None:
    text = """
topics:
  - key: t
    name: T
    min_score: 2.5
    any:
      en:
        - ZNPP
        - {near: [IAEA, [Zaporizh*, ZAES]], within: 8}
        - {sentence: [Witkoff, Putin]}
        - {re: 'zaes-?\\d\\D', fields: [title]}
        - {term: talks, fields: summary}
"""
    (topic,) = parse_topics(text)
    assert topic.min_score == 2.5
    assert topic.any[0] == "ZNPP"
    assert topic.any[1] == TermSpec("near", (("IAEA",), ("Zaporizh*", "ZAES")), within=8)
    assert topic.any[2] == TermSpec("sentence", (("Witkoff",), ("Putin",)))
    assert topic.any[3] == TermSpec("re", pattern="zaes-?\\d\\D", fields=("title",))
    assert topic.any[4] == TermSpec("term", (("talks",),), fields=("summary",))
    labels = [term if isinstance(term, str) else term.label for term in topic.any]
    assert labels == [
        "ZNPP",
        "near/8(IAEA, Zaporizh*|ZAES)",
        "sentence(Witkoff, Putin)",
        "re(zaes-?\\d\\D)[title]",
        "talks[summary]",
    ]


def _spec(item: str) -> str:
    return _topic(f"  - key: z\n    name: Z\n    any:\n      - ok\n      - {item}\n")


SPEC_BAD = [
    ("spec-unknown-key", _spec("{term: x, weight: 2}"), 9, "unknown key 'weight' in a term"),
    ("spec-no-kind", _spec("{fields: [title]}"), 9, "needs one of term, near, sentence, re"),
    ("spec-two-kinds", _spec("{term: x, re: y}"), 9, "(got term, re)"),
    ("near-no-within", _spec("{near: [a, b]}"), 9, "'near' needs 'within'"),
    ("near-bad-within", _spec("{near: [a, b], within: eight}"), 9, "within 'eight'"),
    ("near-within-zero", _spec("{near: [a, b], within: 0}"), 9, "1 to 50"),
    ("near-within-large", _spec("{near: [a, b], within: 51}"), 9, "1 to 50"),
    ("near-one-part", _spec("{near: [a], within: 3}"), 9, "two or more parts"),
    ("near-empty-alt", _spec("{near: [a, []], within: 3}"), 9, "empty list of alternatives"),
    ("near-bad-term", _spec("{near: [a, 'abc*def'], within: 3}"), 9, "'*' may only end a word"),
    ("sentence-within", _spec("{sentence: [a, b], within: 3}"), 9, "'within' goes with 'near'"),
    ("bad-field", _spec("{term: x, fields: [body]}"), 9, "'body' is not one of title, summary"),
    ("bad-regex", _spec("{re: 'zaes(['}"), 9, "re 'zaes([':"),
    ("empty-regex", _spec("{re: 'x*'}"), 9, "matches empty text"),
    ("upper-regex", _spec("{re: 'ZNPP\\d'}"), 9, "write it in lower case"),
    ("near-in-string", _spec("IAEA NEAR/8 ZNPP"), 9, "write a mapping: {near"),
    ("bad-min-score", _topic("  - key: z\n    name: Z\n    min_score: lots\n    any: [x]\n"), 7,
     "min_score 'lots'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "line", "problem"), [b[1:] for b in SPEC_BAD], ids=[b[0] for b in SPEC_BAD]
)
def test_structured_term_errors_name_file_line_and_topic(
    text: str, line: int, problem: str
) -> None:
    with pytest.raises(TopicError) as caught:
        parse_topics(text, source="bad.yaml")
    assert str(caught.value).startswith(f"bad.yaml:{line}: topic 'z': ")
    assert problem in str(caught.value)


def test_bad_regex_in_a_block_names_its_own_line() -> None:
    text = _topic(
        "  - key: z\n    name: Z\n    any:\n      - ok\n      - re: '(?<=a+)b'\n        fields: [title]\n"
    )
    with pytest.raises(TopicError, match=r"^bad\.yaml:9: topic 'z': any: re '\(\?<=a\+\)b': "):
        parse_topics(text, source="bad.yaml")
