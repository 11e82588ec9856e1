"""Text folding for topic matching: one normal form for YAML terms and feed text alike.

Each original character is folded on its own (NFKC, casefold, combining marks dropped,
apostrophe/dash/quote variants unified, whitespace collapsed), so every character of the
normal form remembers the index of the original character it came from. That index map lets
a snippet quote the original text around a hit found in the normal form.

`normalize` computes the same text as `normalize_map(...).text` without the map, fast: the
characters whose fold is not plain `str.casefold` are found with one regular expression and
folded one by one; the rest is casefolded in C. The matcher calls it on every entry and builds
the map only for the entries that match.

Diacritic folding also folds Cyrillic letters built with combining marks (й→и, ё→е, ї→і);
that is harmless because terms and text go through the same function.

`skeleton` is a spelling-blind key of one normalised word, for names written in Latin or
Cyrillic letters and in several transliterations (see its docstring).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

APOSTROPHE = "'"
HYPHEN = "-"
QUOTE = '"'

# Mapped before NFKC: NFKC turns the acute accent ´ into a space plus a combining mark.
_APOSTROPHES = frozenset("'\u2019\u2018\u201b\u201a\u02bc\u02b9\u0060\u00b4\u2032\uff07")
_HYPHENS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
_QUOTES = frozenset('"\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a\u2033\uff02')
_SPACE_LIKE = frozenset("\u200b")  # zero-width space separates words; other Cf are dropped


@dataclass(frozen=True)
class Normalized:
    """A normal form and, for each of its characters, the index of the original character."""

    text: str
    origin: tuple[int, ...]


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    """The normal form of one character: "" (dropped), " " (whitespace) or folded text."""
    if char in _APOSTROPHES:
        return APOSTROPHE
    if char in _HYPHENS:
        return HYPHEN
    if char in _QUOTES:
        return QUOTE
    if char.isspace() or char in _SPACE_LIKE:
        return " "
    if unicodedata.category(char) in ("Cf", "Cc"):
        return ""  # soft hyphen, zero-width joiners, direction marks, control characters
    folded = unicodedata.normalize("NFKC", char).casefold()
    decomposed = unicodedata.normalize("NFD", folded)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    result = unicodedata.normalize("NFC", stripped)
    if result.isspace():
        return " "
    return "".join(" " if c.isspace() else c for c in result)


def normalize_map(text: str) -> Normalized:
    """Fold `text` and keep, per output character, the index of its original character."""
    out: list[str] = []
    origin: list[int] = []
    pending_space = -1  # index of the first whitespace of a run not yet written
    for index, char in enumerate(text):
        for piece in _fold_char(char):
            if piece == " ":
                if pending_space < 0:
                    pending_space = index
                continue
            if pending_space >= 0 and out:
                out.append(" ")
                origin.append(pending_space)
            pending_space = -1
            out.append(piece)
            origin.append(index)
    return Normalized("".join(out), tuple(origin))


def _special_class() -> re.Pattern[str]:
    """Characters whose fold differs from `str.casefold` (all above U+052F count as such)."""
    special = [chr(code) for code in range(0x530) if _fold_char(chr(code)) != chr(code).casefold()]
    escaped = "".join(re.escape(char) for char in special)
    return re.compile(f"[{escaped}\u0530-\U0010ffff]")


_SPECIAL = _special_class()


def _fold_match(match: re.Match[str]) -> str:
    return _fold_char(match.group())


def normalize(text: str) -> str:
    """Fold `text` for matching: NFKC, casefold, no diacritics, unified punctuation, one space."""
    return " ".join(normal_chunks(text))


def normal_chunks(text: str) -> list[str]:
    """The normal form of `text` split at spaces: `normalize(text) == " ".join(chunks)`."""
    return _SPECIAL.sub(_fold_match, text).casefold().split()


# --- skeleton: one key for the spellings of a name -----------------------------------------

VOWEL = "a"
MIN_SKELETON_CONSONANTS = 4  # shorter skeletons collide across unrelated words

# Latin letter groups and single letters, Cyrillic letters (already folded: й→и, ё→е, ї→і)
_SKELETON_CODES = {
    "shch": "s", "tsch": "x", "sch": "s", "zh": "z", "kh": "k", "ch": "x", "sh": "s",
    "ts": "c", "tz": "c", "ph": "f", "th": "t", "ck": "k", "gh": "g", "dh": "d",
    "c": "k", "q": "k", "w": "v", "x": "ks", "h": "g", "j": VOWEL, "y": VOWEL,
    "а": VOWEL, "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": VOWEL, "є": VOWEL,
    "ж": "z", "з": "z", "и": VOWEL, "і": VOWEL, "к": "k", "л": "l", "м": "m", "н": "n",
    "о": VOWEL, "п": "p", "р": "r", "с": "s", "т": "t", "у": VOWEL, "ф": "f", "х": "k",
    "ц": "c", "ч": "x", "ш": "s", "щ": "s", "ъ": "", "ы": VOWEL, "ь": "", "э": VOWEL,
    "ю": VOWEL, "я": VOWEL,
}  # fmt: skip
for _vowel in "eiou":
    _SKELETON_CODES[_vowel] = VOWEL
_SKELETON_UNIT = re.compile(
    "|".join(sorted((re.escape(k) for k in _SKELETON_CODES), key=len, reverse=True)) + "|."
)
_REPEAT = re.compile(r"(.)\1+")


@lru_cache(maxsize=65536)
def skeleton(word: str) -> str:
    """A spelling-blind key of one normalised word: Запоріжжя, Zaporizhzhia → "zaparaza".

    Cyrillic and Latin spellings meet in one alphabet: letter groups are read as one sound
    (zh, kh, ch, sh, shch, ts), Ukrainian г and Latin h count as g, every vowel (and y, j, й,
    the soft sign dropped) as "a", and doubled symbols as one. Keeping a vowel placeholder
    keeps the shape of the word, so Peskov ("paskav") and Pskov ("pskav") stay apart.
    """
    units = [_SKELETON_CODES.get(unit, unit) for unit in _SKELETON_UNIT.findall(word)]
    return _REPEAT.sub(r"\1", "".join(units))


def skeleton_consonants(key: str) -> int:
    """How many consonant symbols a skeleton has (its strength as a key)."""
    return sum(1 for char in key if char != VOWEL and char.isalpha())
