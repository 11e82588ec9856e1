"""Text folding for topic matching, and the map back to original positions."""

from __future__ import annotations

import random

import pytest

from parley.flows.topics.normalize import (
    normal_chunks,
    normalize,
    normalize_map,
    skeleton,
    skeleton_consonants,
)
from parley.flows.topics.snippet import make_snippet, original_span


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Café  Déjà-vu", "cafe deja-vu"),
        ("ZAPORIZHZHIA", "zaporizhzhia"),
        ("Запорізької АЕС", "запорізькоі аес"),
        ("Чёрное море", "черное море"),
        ("Київ і Їжак", "киів і іжак"),
        ("мораторій", "мораторіи"),
        ("перемир’я перемирʼя перемир`я перемир´я перемир′я", "перемир'я " * 4 + "перемир'я"),
        ("30‐day 30‑day 30‒day 30–day 30—day 30−day", "30-day " * 5 + "30-day"),
        ("«Да» “yes” „ja“", '"да" "yes" "ja"'),
        ("  a \t\n b\u00a0c  ", "a b c"),
        ("Zapor\u00adizh\u200dzhia", "zaporizhzhia"),
        ("zero\u200bwidth", "zero width"),
        ("ＺＮＰＰ ﬁnal Straße", "znpp final strasse"),
        ("e\u0301tat", "etat"),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_is_idempotent() -> None:
    text = "Запорізька АЕС – перемирʼя «30‑денне» ÉTÉ"
    assert normalize(normalize(text)) == normalize(text)


def test_origin_maps_each_character_back() -> None:
    text = "  Straße\t\tЗапорізької"
    norm = normalize_map(text)
    assert norm.text == "strasse запорізькоі"
    assert len(norm.origin) == len(norm.text)
    assert [text[i] for i in norm.origin[:7]] == list("StraßßE".replace("E", "e"))
    assert norm.origin[7] == text.index("\t")
    assert text[norm.origin[8]] == "З"


def test_original_span_covers_marks_after_the_hit() -> None:
    text = "Cafe\u0301 open"
    norm = normalize_map(text)
    assert norm.text == "cafe open"
    assert original_span(text, norm, 0, 4) == (0, 5)


def test_snippet_short_text_is_whole() -> None:
    assert make_snippet("Fire at ZNPP today", 8, 12) == "Fire at «ZNPP» today"


def test_snippet_cuts_at_spaces_with_ellipses() -> None:
    text = " ".join(f"w{i:03d}" for i in range(100))
    left = text.index("w050")
    snippet = make_snippet(text, left, left + 4)
    assert snippet.startswith("…w0")
    assert snippet.endswith("…")
    assert "«w050»" in snippet
    assert 150 <= len(snippet) <= 165
    assert "w0 " not in snippet  # no word cut in half


def test_snippet_near_the_start_uses_room_on_the_right() -> None:
    text = "ZNPP " + "word " * 100
    snippet = make_snippet(text, 0, 4)
    assert snippet.startswith("«ZNPP» word")
    assert len(snippet) >= 150


def test_snippet_squashes_whitespace() -> None:
    assert make_snippet("a\n\nZNPP\t b", 3, 7) == "a «ZNPP» b"


def _random_text(rng: random.Random) -> str:
    pools = [
        "abcXYZ Zaporizhzhia 30-day",
        "Запоріжжя Чёрное їжак йод ЗАЕС",
        " \t\n\u00a0\u2009\u200b\u00ad\u200d",
        "'’ʼ`´‐‑–—−«»“”„\".,!?()",
        "éÉçÇßẞﬁİıſ\u0301\u0308Ⅻ①ＡＢ",
        "ΣσςΑ漢字한국어\U0001f600\ufdfa",
    ]
    return "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(0, 40)))


def test_fast_normalize_equals_the_mapped_form() -> None:
    rng = random.Random(1)
    for _ in range(3000):
        text = _random_text(rng)
        assert normalize(text) == normalize_map(text).text, repr(text)
        assert " ".join(normal_chunks(text)) == normalize(text)


@pytest.mark.parametrize(
    ("words", "key"),
    [
        (["Zaporizhzhia", "Zaporozhye", "Zaporizhia", "Zaporozhe", "Запоріжжя", "Запорожье"],
         "zaparaza"),
        (["Energodar", "Enerhodar", "Энергодар", "Енергодар"], "anargadar"),
        (["Witkoff", "Віткофф", "Vitkof"], "vatkaf"),
        (["Medinsky", "Мединский", "Мединський"], "madanska"),
        (["Dmitriev", "Дмитриев", "Дмитрієв"], "dmatrav"),
        (["Rosselkhozbank", "Россельхозбанк"], "rasalkazbank"),
        (["Peskov", "Песков", "Пєсков"], "paskav"),
        (["Pskov", "Псков"], "pskav"),
    ],
)  # fmt: skip
def test_skeleton_joins_spellings_and_scripts(words: list[str], key: str) -> None:
    assert {skeleton(normalize(word)) for word in words} == {key}


def test_skeleton_strength() -> None:
    assert skeleton_consonants(skeleton("zaporizhzhia")) == 4
    assert skeleton_consonants(skeleton("putin")) == 3
    assert skeleton_consonants(skeleton("kyiv")) == 2
