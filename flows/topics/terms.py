"""Topic terms: parse one term as written in YAML into word patterns over normalised tokens.

A term is one word or a phrase. Words are separated by spaces or hyphens (either matches any
run of spaces and hyphens in the text) or by an apostrophe (matches an apostrophe). `*` at the
end of a word makes it a stem: it matches any word that starts with it. A hyphen may also be
left out in the text: `cease-fire` matches "ceasefire", `30-day` matches "30day".

A word written with a capital and then small letters is a name (Zaporizhzhia, Запоріжж*,
Witkoff): it also matches any word with the same skeleton (see normalize.skeleton), so other
transliterations and the other script reach it. Only skeletons with four consonants or more
are used; shorter ones (Kyiv, Putin) collide with unrelated words, and all-capital words
(ZNPP, IAEA) are abbreviations, not names.

`TermSpec` is the structured form of a term (YAML mappings): proximity (`near`), same
sentence (`sentence`), a regular expression (`re`) and a restriction to fields (`fields`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from itertools import product
from typing import Literal

from parley.flows.topics.normalize import (
    APOSTROPHE,
    HYPHEN,
    MIN_SKELETON_CONSONANTS,
    normalize,
    skeleton,
    skeleton_consonants,
)

MIN_STEM = 3  # letters before `*`; shorter stems match far too much
MAX_FUSED_HYPHENS = 4  # spelled-together variants are tried for up to this many hyphens
FIELDS = ("title", "summary")

_PIECES = re.compile(r"(\w+)(\*?)|([ \-]+)|(')|(.)")
_RAW_WORD = re.compile(r"\w+")

SpecKind = Literal["term", "near", "sentence", "re"]


class TermError(ValueError):
    """A term that cannot be matched (empty, bare `*`, short stem, stray punctuation)."""


class Join(Enum):
    """What may stand between two words of a phrase in the normalised text."""

    SPACE = "space"  # one or more spaces and hyphens
    APOSTROPHE = "apostrophe"  # exactly one apostrophe


@dataclass(frozen=True)
class Word:
    """One word of a term: an exact normalised token, or a stem when `prefix` is set.

    `skel` is set for names: the word also matches tokens with that skeleton (or, for a stem,
    tokens whose skeleton starts with it).
    """

    text: str
    prefix: bool = False
    skel: str = ""

    def matches(self, token: str) -> bool:
        if token.startswith(self.text) if self.prefix else token == self.text:
            return True
        if not self.skel:
            return False
        key = skeleton(token)
        return key.startswith(self.skel) if self.prefix else key == self.skel


@dataclass(frozen=True)
class Pattern:
    """A sequence of words and the joins between them (one fewer join than words)."""

    words: tuple[Word, ...]
    joins: tuple[Join, ...]


@dataclass(frozen=True)
class TermSpec:
    """A term written as a YAML mapping.

    kind "term": `parts` is ((term,),), optionally limited to `fields`;
    kind "near": every part (a tuple of alternative terms) occurs, at most `within` words apart;
    kind "sentence": every part occurs in one sentence;
    kind "re": `pattern` is a regular expression searched in the normalised text.
    """

    kind: SpecKind
    parts: tuple[tuple[str, ...], ...] = ()
    pattern: str = ""
    within: int = 0
    fields: tuple[str, ...] = FIELDS

    @property
    def label(self) -> str:
        """How the term is shown in explanations: `Odesa[title]`, `near/8(IAEA, Zaporizh*)`."""
        if self.kind == "re":
            core = f"re({self.pattern})"
        elif self.kind == "term":
            core = self.parts[0][0]
        else:
            name = f"near/{self.within}" if self.kind == "near" else "sentence"
            core = f"{name}({', '.join(_shown(part) for part in self.parts)})"
        if self.fields != FIELDS:
            core += f"[{','.join(self.fields)}]"
        return core


Term = str | TermSpec
LABEL_ALTERNATIVES = 4  # alternatives of a part shown in a label; the rest are counted


def _shown(part: tuple[str, ...]) -> str:
    """``a|b|c|d|…+12``: a part of a near/sentence term as explanations show it."""
    if len(part) <= LABEL_ALTERNATIVES + 1:
        return "|".join(part)
    return "|".join(part[:LABEL_ALTERNATIVES]) + f"|…+{len(part) - LABEL_ALTERNATIVES}"


def term_label(term: Term) -> str:
    """The text that names a term in explanations."""
    return term if isinstance(term, str) else term.label


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


def is_name(raw_word: str) -> bool:
    """A word written as a name: a capital first, not all capitals (ZNPP is an abbreviation)."""
    return raw_word[:1].isupper() and not raw_word.isupper()


def name_skeleton(word: str, prefix: bool) -> str:
    """The skeleton a name word also matches by, or "" when it is too weak to use."""
    key = skeleton(word)
    if prefix:
        key = key.rstrip("a")  # a stem ends anywhere: Запоріжж* must also reach Запорізьк…
    return key if skeleton_consonants(key) >= MIN_SKELETON_CONSONANTS else ""


def _parse(raw: str) -> tuple[list[Word], list[Join], set[int]]:
    if "NEAR/" in raw or "SENTENCE" in raw:
        raise TermError("for proximity write a mapping: {near: [a, b], within: 8}")
    text = normalize(raw)
    if not text:
        raise TermError("empty term")
    raw_words = _RAW_WORD.findall(raw)
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
    if len(raw_words) == len(words):  # else normalising merged or split words: no names
        words = [
            Word(w.text, w.prefix, name_skeleton(w.text, w.prefix) if is_name(r) else "")
            for w, r in zip(words, raw_words, strict=True)
        ]
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
            fused = out_words[-1].text + word.text
            out_words[-1] = Word(fused, prefix=word.prefix)  # a fused word is not a name
        else:
            out_words.append(word)
            out_joins.append(join)
    return Pattern(tuple(out_words), tuple(out_joins))
