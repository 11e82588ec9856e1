"""Cross-language name keys: the same name in English, Ukrainian and Russian gets one key.

A key is a consonant skeleton of a Latin spelling, so the English, Ukrainian and Russian
spellings of one name meet: Umerov / Умєров / Умеров → "amrv", Zaporizhzhia / Zaporozhye /
Запоріжжя / Запорожье → "zprj", Medinsky / Мединский / Мединський / Мединского → "mdnsk".

How a word becomes a key:
1. Cyrillic: one common case ending is stripped when at least three letters stay (Умєрова,
   Умєрову, Умєровим → Умєров; Мединського → Мединськ), then the letters are transliterated
   with the table below (є/е/э/ё→e, и/і/ї/ы/й→i, г/ґ→g, х→kh, ю→iu, я→ia, ь/ъ dropped).
2. Latin spellings are unified: w→v, q→k, x→ks, j→dzh, ph→f, ck→k; the digraphs shch, zh, kh,
   ch, sh become one symbol each (so Zaporizhzhia's "zhzh" is one doubled symbol), a final h
   is dropped (Jeddah), then h→g (so Serhiy / Sergei / Сергій meet), and a lone c→k.
3. The skeleton: a leading vowel (a, e, i, o, u, y) becomes "a", every other vowel is dropped,
   doubled letters collapse.
An all-capitals word (an acronym: ZNPP, МАГАТЕ, NATO/НАТО) keeps its vowels: "znpp", "nato".

NAME_ALIASES joins a few names of these topics that the rules cannot: adjectives (Запорізька
АЕС → Zaporizhzhia), abbreviations (МАГАТЕ → IAEA) and translated names (Чорне море → Black Sea).

Known limits: the skeleton is short, so unrelated names can collide (Putin and Patton are both
"ptn"); spellings that differ in consonants meet only through NAME_ALIASES (Riyadh / Ер-Ріяд,
Istanbul / Стамбул are listed, Уиткофф / Witkoff is not); translated names meet only there too; other adjectives made from names keep their suffix (Херсонська ≠ Херсон);
only one case ending is stripped; a Cyrillic nominative that ends like a case ending loses it
while its Latin spelling keeps it (so -ем, as in Рустем/Артем, is not in the list; -ом, -ах are).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


def wordlist(text: str) -> list[str]:
    """The words of a long string literal: word lists stay readable, several to a line."""
    return text.split()


# Ukrainian and Russian letters → Latin. Ukrainian г (h) and Russian г (g) both become "g",
# and the skeleton maps Latin h to g, so Latin g/h and both г's compare equal. (г as "g" also
# keeps зг/сг from looking like the digraphs zh/sh.)
CYRILLIC_TO_LATIN: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "є": "e", "ё": "e",
    "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m",
    "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh",
    "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ь": "", "ы": "i", "э": "e",
    "ю": "iu", "я": "ia", "ў": "u",
}  # fmt: skip

# Case endings stripped from Cyrillic words (longest first); the stem keeps ≥ MIN_STEM letters.
CASE_ENDINGS: tuple[str, ...] = tuple(
    sorted(
        wordlist(
            "ого ому ими ыми ами ями ою ею єю ої ій ий ый ой ей ом єм им ым ах ях "
            "а у ю я е є і и ы ь ї"
        ),
        key=len,
        reverse=True,
    )
)
MIN_STEM = 3

# Names that mean the same but do not transliterate into each other; the first form of a row
# is the canonical one. Ukrainian and Russian write "море", "дім", "кабінет" in lower case, so
# only their capitalised adjective is a name there.
NAME_ALIASES_WRITTEN: tuple[tuple[str, ...], ...] = (
    ("Zaporizhzhia", "Запорізька", "Запорожская"),
    ("ZNPP", "ЗАЕС", "ЗАЭС"),
    ("IAEA", "МАГАТЕ", "МАГАТЭ"),
    ("UAE", "ОАЕ", "ОАЭ", "United Arab Emirates"),
    ("UN", "ООН", "United Nations"),
    ("ICRC", "МКЧХ", "МККК"),
    ("Red Cross", "Червоний Хрест", "Красный Крест"),
    ("Black Sea", "Чорне", "Черное"),
    ("White House", "Білий", "Белый"),
    ("Oval", "Овальний", "Овальный"),
    ("Istanbul", "Стамбул"),
    ("Riyadh", "Ер-Ріяд", "Эр-Рияд"),
)

_VOWELS = frozenset("aeiouy")
WORD = re.compile(r"[^\W\d_]+(?:['’ʼ\-‐‑][^\W\d_]+)*")

_APOSTROPHES_HYPHENS = re.compile(r"['’ʼ`´\-‐‑–]")
POSSESSIVE = re.compile(r"(?<=[a-z])['’ʼ]s$", re.IGNORECASE)
# Symbols for digraphs; upper case never survives lower-casing, so they cannot be confused.
_DIGRAPHS: tuple[tuple[str, str], ...] = (
    ("shch", "Q"),
    ("zh", "J"),
    ("kh", "X"),
    ("ch", "C"),
    ("sh", "W"),
)


def is_cyrillic(word: str) -> bool:
    return any("\u0400" <= char <= "\u04ff" for char in word)


def _fold(word: str) -> str:
    """Lower case, NFC, no combining accents except those that make й/ї/ё (kept by NFC)."""
    text = unicodedata.normalize("NFC", word.casefold())
    return _APOSTROPHES_HYPHENS.sub("", text)


def strip_case_ending(word: str) -> str:
    """Cut one common Ukrainian/Russian case ending from a lower-case Cyrillic word."""
    for ending in CASE_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word


def transliterate(word: str) -> str:
    """Cyrillic letters → Latin with CYRILLIC_TO_LATIN; other characters lower-cased as they are."""
    return "".join(CYRILLIC_TO_LATIN.get(char, char) for char in word.casefold())


def _skeleton(latin: str) -> str:
    text = "".join(char for char in latin if "a" <= char <= "z")
    for old, new in (("ck", "k"), ("ph", "f"), ("w", "v"), ("q", "k"), ("x", "ks"), ("j", "dzh")):
        text = text.replace(old, new)
    for old, new in _DIGRAPHS:
        text = text.replace(old, new)
    text = text.removesuffix("h")  # silent final h: Jeddah / Джидда (г is already g)
    text = text.replace("h", "g").replace("c", "k")
    if not text:
        return ""
    out = ["a" if text[0] in _VOWELS else text[0]]
    out.extend(char for char in text[1:] if char not in _VOWELS)
    collapsed = [char for index, char in enumerate(out) if index == 0 or char != out[index - 1]]
    return "".join(collapsed).lower()


def is_acronym(word: str) -> bool:
    """All capitals (ZNPP, МАГАТЕ), also with a plural s (POWs)."""
    letters = [char for char in word.removesuffix("s") if char.isalpha()]
    return len(letters) >= 2 and all(char.isupper() for char in letters)


@lru_cache(maxsize=65_536)  # names recur across items: each word is keyed once
def word_key(word: str) -> str:
    """The cross-language key of one word ("Умєрова" → "amrv"); "" when nothing is left."""
    word = POSSESSIVE.sub("", word)
    if is_acronym(word):
        return "".join(char for char in transliterate(_fold(word)) if "a" <= char <= "z")
    folded = _fold(word)
    if is_cyrillic(folded):
        folded = strip_case_ending(folded)
    return _skeleton(transliterate(folded))


def _joined_key(name: str) -> str:
    keys = (word_key(word) for word in WORD.findall(name))
    return " ".join(key for key in keys if key)


def name_key(name: str) -> str:
    """The key of a name of one or more words: word keys joined by one space, then aliased."""
    key = _joined_key(name)
    return NAME_ALIASES.get(key, key)


NAME_ALIASES: dict[str, str] = {
    _joined_key(variant): _joined_key(row[0]) for row in NAME_ALIASES_WRITTEN for variant in row
}
