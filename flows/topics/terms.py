"""Topic terms: parse one term as written in YAML into word patterns over normalised tokens.

A term is one word or a phrase. Words are separated by spaces or hyphens (either matches any
run of spaces and hyphens in the text) or by an apostrophe (matches an apostrophe). `*` at the
end of a word makes it a stem: it matches any word that starts with it. A hyphen may also be
left out in the text: `cease-fire` matches "ceasefire", `30-day` matches "30day".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from itertools import product

from parley.flows.topics.normalize import APOSTROPHE, HYPHEN, normalize

MIN_STEM = 3  # letters before `*`; shorter stems match far too much
MAX_FUSED_HYPHENS = 4  # spelled-together variants are tried for up to this many hyphens

_PIECES = re.compile(r"(\w+)(\*?)|([ \-]+)|(')|(.)")


class TermError(ValueError):
    """A term that cannot be matched (empty, bare `*`, short stem, stray punctuation)."""


class Join(Enum):
    """What may stand between two words of a phrase in the normalised text."""

    SPACE = "space"  # one or more spaces and hyphens
    APOSTROPHE = "apostrophe"  # exactly one apostrophe


@dataclass(frozen=True)
class Word:
    """One word of a term: an exact normalised token, or a stem when `prefix` is set."""

    text: str
    prefix: bool = False

    def matches(self, token: str) -> bool:
        return token.startswith(self.text) if self.prefix else token == self.text


@dataclass(frozen=True)
class Pattern:
    """A sequence of words and the joins between them (one fewer join than words)."""

    words: tuple[Word, ...]
    joins: tuple[Join, ...]


def join_allows(join: Join, separator: str) -> bool:
    """Whether the text between two tokens satisfies a join."""
    if join is Join.APOSTROPHE:
        return separator == APOSTROPHE
    return bool(separator) and not separator.strip(" " + HYPHEN)


def compile_term(raw: str) -> tuple[Pattern, ...]:
    """The patterns a term matches: as written, plus variants with hyphens left out."""
    words, joins, hyphenated = _parse(raw)
    variants: list[Pattern] = []
    choices = [(False, True) if i in hyphenated else (False,) for i in range(len(joins))]
    if len(hyphenated) > MAX_FUSED_HYPHENS:
        choices = [(False,)] * len(joins)
    for fuse in product(*choices):
        variants.append(_fused(words, joins, fuse))
    return tuple(dict.fromkeys(variants))


def _parse(raw: str) -> tuple[list[Word], list[Join], set[int]]:
    text = normalize(raw)
    if not text:
        raise TermError("empty term")
    words: list[Word] = []
    joins: list[Join] = []
    hyphenated: set[int] = set()  # indexes of joins written as hyphens only
    expect_word = True
    for match in _PIECES.finditer(text):
        word, star, spaces, apostrophe, other = match.groups()
        if other == "*":
            raise TermError("'*' must end a word stem (a bare '*' matches everything)")
        if other is not None:
            raise TermError(
                f"unsupported character {other!r} (use words, spaces, hyphens, apostrophes)"
            )
        if word is not None:
            if not expect_word:
                raise TermError("'*' may only end a word, not stand inside one")
            if star:
                _check_stem(word, words, joins)
            words.append(Word(word, prefix=bool(star)))
            expect_word = False
            continue
        if expect_word:
            raise TermError("a term must start and end with a word")
        if spaces is not None and not spaces.strip(HYPHEN) and not words[-1].prefix:
            hyphenated.add(len(joins))
        joins.append(Join.APOSTROPHE if apostrophe else Join.SPACE)
        expect_word = True
    if expect_word:
        raise TermError("a term must start and end with a word")
    return words, joins, hyphenated


def _check_stem(stem: str, words: list[Word], joins: list[Join]) -> None:
    """A stem counts the letters of the word it ends, across apostrophes (пам'ят*)."""
    length = len(stem)
    index = len(joins) - 1
    while index >= 0 and joins[index] is Join.APOSTROPHE:
        length += len(words[index].text)
        index -= 1
    if length < MIN_STEM:
        raise TermError(f"stem {stem + '*'!r} is shorter than {MIN_STEM} letters")


def _fused(words: list[Word], joins: list[Join], fuse: tuple[bool, ...]) -> Pattern:
    out_words = [words[0]]
    out_joins: list[Join] = []
    for join, word, glue in zip(joins, words[1:], fuse, strict=True):
        if glue:
            out_words[-1] = Word(out_words[-1].text + word.text, prefix=word.prefix)
        else:
            out_words.append(word)
            out_joins.append(join)
    return Pattern(tuple(out_words), tuple(out_joins))
