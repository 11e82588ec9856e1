"""Text folding for topic matching: one normal form for YAML terms and feed text alike.

Each original character is folded on its own (NFKC, casefold, combining marks dropped,
apostrophe/dash/quote variants unified, whitespace collapsed), so every character of the
normal form remembers the index of the original character it came from. That index map lets
a snippet quote the original text around a hit found in the normal form.

Diacritic folding also folds Cyrillic letters built with combining marks (й→и, ё→е, ї→і);
that is harmless because terms and text go through the same function.
"""

from __future__ import annotations

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
    return result


def normalize_map(text: str) -> Normalized:
    """Fold `text` and keep, per output character, the index of its original character."""
    out: list[str] = []
    origin: list[int] = []
    pending_space = -1  # index of the first whitespace of a run not yet written
    for index, char in enumerate(text):
        folded = _fold_char(char)
        if not folded:
            continue
        if folded == " ":
            if pending_space < 0:
                pending_space = index
            continue
        if pending_space >= 0 and out:
            out.append(" ")
            origin.append(pending_space)
        pending_space = -1
        for piece in folded:
            out.append(piece)
            origin.append(index)
    return Normalized("".join(out), tuple(origin))


def normalize(text: str) -> str:
    """Fold `text` for matching: NFKC, casefold, no diacritics, unified punctuation, one space."""
    return normalize_map(text).text
