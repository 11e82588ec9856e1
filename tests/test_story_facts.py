"""What's new in a story: the cases in tests/data/fact_cases.yaml, name keys, JSON, describe()."""

from __future__ import annotations

from functools import reduce
from pathlib import Path
from typing import Any

import pytest
import yaml

from parley.flows.stories.facts import Facts, describe, extract_facts, new_facts, quote_key
from parley.flows.stories.names import name_key, word_key

ROOT = Path(__file__).resolve().parent.parent
DATA: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (ROOT / "tests" / "data" / "fact_cases.yaml").read_text(encoding="utf-8")
)
CASES = DATA["cases"]
PAIRS = DATA["pairs"]
EXPECT_KEYS = {
    "numbers",
    "dates",
    "statuses",
    "names",
    "names_include",
    "names_exclude",
    "quotes_include",
    "quotes_count",
    "empty",
}


def _holds(names: frozenset[str], raw: str) -> bool:
    """Some extracted name holds every word of `raw`'s key."""
    wanted = set(name_key(raw).split())
    assert wanted, f"{raw!r} has no key"
    return any(wanted <= set(name.split()) for name in names)


def check(facts: Facts, expect: dict[str, Any], why: str) -> None:
    assert set(expect) <= EXPECT_KEYS, f"unknown expectation keys {set(expect) - EXPECT_KEYS}"
    shown = f"{why}: {facts}"
    if expect.get("empty"):
        assert facts.is_empty(), shown
    for kind in ("numbers", "dates", "statuses"):
        if kind in expect:
            assert getattr(facts, kind) == frozenset(expect[kind]), shown
    if "names" in expect:
        assert facts.names == {name_key(raw) for raw in expect["names"]}, shown
    for raw in expect.get("names_include", []):
        assert _holds(facts.names, raw), f"{raw} missing — {shown}"
    for raw in expect.get("names_exclude", []):
        assert not _holds(facts.names, raw), f"{raw} unexpected — {shown}"
    for raw in expect.get("quotes_include", []):
        assert quote_key(raw) in facts.quotes, shown
    if "quotes_count" in expect:
        assert len(facts.quotes) == expect["quotes_count"], shown


def test_cases_are_well_formed() -> None:
    ids = [case["id"] for case in CASES + PAIRS]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 40
    assert {case["lang"] for case in CASES} >= {"en", "uk", "ru"}
    for case in CASES:
        assert set(case) == {"id", "lang", "title", "summary", "expect", "why"}, case["id"]
    for pair in PAIRS:
        assert set(pair) == {"id", "known", "later", "expect_new", "why"}, pair["id"]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_extract_case(case: dict[str, Any]) -> None:
    check(extract_facts(case["title"], case["summary"]), case["expect"], case["why"])


@pytest.mark.parametrize("pair", PAIRS, ids=[pair["id"] for pair in PAIRS])
def test_new_facts_pair(pair: dict[str, Any]) -> None:
    items = [extract_facts(item["title"], item["summary"]) for item in pair["known"]]
    known = reduce(Facts.union, items, Facts())
    later = extract_facts(pair["later"]["title"], pair["later"]["summary"])
    check(new_facts(known, later), pair["expect_new"], pair["why"])


# --- name keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spellings",
    [
        ["Zaporizhzhia", "Zaporozhye", "Zaporizhia", "Запоріжжя", "Запорожье", "Запоріжжі"],
        ["Umerov", "Умєров", "Умеров", "Умєрова", "Умерову", "Умєровим", "Умеровым"],
        ["Medinsky", "Мединский", "Мединський", "Мединского", "Мединському", "Мединским"],
        ["Kyiv", "Kiev", "Київ", "Києві", "Киева"],
        ["Grossi", "Гроссі", "Гросси"],
        ["Witkoff", "Віткофф"],
        ["Yermak", "Єрмак", "Ермак", "Єрмака"],
        ["Dmitriev", "Дмитрієв", "Дмитриев"],
        ["Rustem", "Рустем"],
        ["Sergei", "Serhiy", "Сергій", "Сергей"],
        ["Oleksandr", "Alexander", "Олександр"],
        ["Erdogan", "Ердоган", "Эрдоган", "Ердоганом"],
        ["Jeddah", "Джидда", "Джидді"],
        ["Istanbul's", "Istanbul"],
        ["NATO", "НАТО"],
    ],
)
def test_spellings_share_a_key(spellings: list[str]) -> None:
    keys = {spelling: word_key(spelling) for spelling in spellings}
    assert len(set(keys.values())) == 1, keys
    assert next(iter(keys.values()))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Umerov", "Medinsky"),
        ("Умєров", "Мединський"),
        ("Lavrov", "Lviv"),
        ("Peskov", "Putin"),
        ("Kyiv", "Kursk"),
        ("Kherson", "Kharkiv"),
        ("Зеленський", "Залужний"),
        ("Sumy", "Sochi"),
        ("Dmitriev", "Dmitry"),
        ("Grossi", "Gref"),
        ("IAEA", "EU"),
    ],
)
def test_different_names_have_different_keys(a: str, b: str) -> None:
    assert word_key(a) != word_key(b)
    assert word_key(b) != word_key(a)


@pytest.mark.parametrize(
    "forms",
    [
        ["Zaporizhzhia", "Запорізька", "Запорізької", "Запорожской"],
        ["ZNPP", "ЗАЕС", "ЗАЭС"],
        ["IAEA", "МАГАТЕ", "МАГАТЭ"],
        ["UAE", "ОАЕ", "ОАЭ", "United Arab Emirates"],
        ["Black Sea", "Чорне", "Чорному", "Черного"],
        ["White House", "Білий", "Білому", "Белом"],
        ["Riyadh", "Ер-Ріяд", "Ер-Ріяді", "Эр-Рияде"],
        ["Istanbul", "Стамбул", "Стамбулі", "Стамбуле"],
    ],
)
def test_aliases_join_names_the_rules_cannot(forms: list[str]) -> None:
    keys = {form: name_key(form) for form in forms}
    assert len(set(keys.values())) == 1, keys


def test_name_key_joins_words() -> None:
    assert name_key("Rustem Umerov") == name_key("Рустем Умєров") == "rstm amrv"
    assert name_key("") == ""
    assert word_key("123") == ""


# --- the Facts value -------------------------------------------------------------------------


def test_json_round_trip_keeps_labels() -> None:
    facts = extract_facts(
        "Умєров: обмін 175 на 175 завершено 27 березня",
        "«Ми повернемо кожного, хто в полоні», — сказав Рустем Умєров.",
    )
    assert not facts.is_empty()
    data = facts.to_json()
    assert data["numbers"] == ["175"]
    assert data["dates"] == ["03-27"]
    assert data["statuses"] == ["completed"]
    back = Facts.from_json(data)
    assert back == facts
    assert back.labels == facts.labels
    assert Facts.from_json(yaml.safe_load(yaml.safe_dump(data))) == facts


def test_from_json_accepts_missing_keys_and_rejects_unknown() -> None:
    assert Facts.from_json({}) == Facts()
    assert Facts.from_json({"numbers": ["22"]}).numbers == {"22"}
    with pytest.raises(ValueError, match="unknown keys"):
        Facts.from_json({"figures": ["22"]})


def test_union_and_empty() -> None:
    a = Facts(numbers=frozenset({"175"}), labels=(("name:amrv", "Umerov"),))
    b = Facts(
        numbers=frozenset({"22"}), names=frozenset({"amrv"}), labels=(("name:amrv", "Умєров"),)
    )
    both = a.union(b)
    assert both.numbers == {"175", "22"}
    assert both.label("name", "amrv") == "Umerov"  # the first label seen wins
    assert Facts().is_empty()
    assert new_facts(both, a).is_empty()
    assert new_facts(Facts(), b) == b


def test_new_facts_keeps_labels_of_new_facts_only() -> None:
    known = extract_facts("Umerov leads delegation", "")
    later = extract_facts("Умєров і Гроссі обговорили ЗАЕС", "")
    added = new_facts(known, later)
    assert {added.label("name", key) for key in added.names} == {"Гроссі", "ЗАЕС"}
    assert all(key[len("name:") :] in added.names for key, _ in added.labels)


def test_describe_lines() -> None:
    facts = extract_facts(
        "Umerov: exchange of 175 signed on 27 March",
        '"We will bring every one of our people home," Rustem Umerov said. 22 were wounded.',
    )
    assert describe(facts) == [
        "status: signed",
        "new figure: 22",
        "new figure: 175",
        "new date: 27 March",
        "new name: Rustem Umerov",
        "quote: «We will bring every one of our people home,»",
    ]


def test_describe_without_labels_and_long_quote() -> None:
    facts = Facts(
        dates=frozenset({"2025-03-27"}),
        names=frozenset({"amrv"}),
        quotes=frozenset({"word " * 60}),
    )
    lines = describe(facts)
    assert lines[0] == "new date: 27 March 2025"
    assert lines[1] == "new name: amrv"
    assert lines[2].startswith("quote: «word") and lines[2].endswith("…»")
    assert describe(Facts()) == []
