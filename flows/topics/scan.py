"""The text side of matching: tokens, sentences and phrases of one field of an entry.

An entry's field is normalised and split into word tokens (Unicode \\w+); a term pattern is
followed token by token from a token its first word matches (see match.py for the index that
finds those tokens). A stem followed by a space stands for a whole word, apostrophes included.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from parley.flows.topics.normalize import APOSTROPHE, HYPHEN, Normalized, normalize_map
from parley.flows.topics.snippet import original_span
from parley.flows.topics.terms import Join, Pattern, Word, join_allows

TOKEN = re.compile(r"\w+")
# ., ! or ? (then closing quotes or brackets) before a space or the end; not after a lone
# letter, so "U.S. envoy" stays one sentence
SENTENCE_END = re.compile(r"(?<!\b\w)[.!?]+[\"')\]]*(?= |$)")


@dataclass(frozen=True)
class Hit:
    """An occurrence: field index, token span [first, last) and character span in the norm."""

    field: int
    first: int
    last: int
    start: int
    end: int
    spelled: bool = True  # False when a name matched by its skeleton only


@dataclass(frozen=True)
class Candidates:
    """The patterns a token can start, and whether one belongs to a topic's `any` list."""

    patterns: tuple[tuple[Pattern, int], ...]
    trigger: bool


@dataclass
class FieldText:
    """One field of an entry: the original, its normal form and its tokens' candidates."""

    index: int
    original: str
    norm: str
    tokens: list[str]
    candidates: list[Candidates | None]
    positions: list[int]
    _spans: list[tuple[int, int]] | None = None
    _sentence_ends: list[int] | None = None
    _map: Normalized | None = field(default=None, repr=False)

    def spans(self) -> list[tuple[int, int]]:
        if self._spans is None:
            self._spans = [m.span() for m in TOKEN.finditer(self.norm)]
        return self._spans

    def sentence(self, token: int) -> int:
        if self._sentence_ends is None:
            self._sentence_ends = [m.end() for m in SENTENCE_END.finditer(self.norm)]
        return bisect_right(self._sentence_ends, self.spans()[token][0])

    def mapped(self) -> Normalized:
        if self._map is None:
            self._map = normalize_map(self.original)
        return self._map

    def quote(self, hit: Hit) -> tuple[int, int]:
        """The span of the original text that produced the hit."""
        return original_span(self.original, self.mapped(), hit.start, hit.end)


def spelled_as_written(word: Word, token: str) -> bool:
    """Whether `token` matches `word` as written (not only by its skeleton)."""
    return token.startswith(word.text) if word.prefix else token == word.text


def may_start(
    pattern: Pattern, chunk: str, spans: list[tuple[int, int]], tokens: list[str], index: int
) -> bool:
    """Whether `pattern` matches from token `index` of a chunk, or may go on past its end."""
    position = index
    steps = zip(pattern.words[:-1], pattern.joins, pattern.words[1:], strict=True)
    for word, join, following in steps:
        if word.prefix and join is Join.SPACE:
            position = word_end(chunk, spans, position)
        if position + 1 == len(tokens):  # the chunk ends: only spaces and hyphens join onwards
            return join is Join.SPACE and not chunk[spans[position][1] :].strip(HYPHEN)
        separator = chunk[spans[position][1] : spans[position + 1][0]]
        if not join_allows(join, separator) or not following.matches(tokens[position + 1]):
            return False
        position += 1
    return True


def word_end(norm: str, spans: Sequence[tuple[int, int]], position: int) -> int:
    """The last token of the word that token `position` begins, across apostrophes.

    A stem matches a whole word, and an apostrophe stands inside words: "перемир*" followed
    by more words of a phrase must step over the "я" of "перемир'я".
    """
    while position + 1 < len(spans):
        if norm[spans[position][1] : spans[position + 1][0]] != APOSTROPHE:
            break
        position += 1
    return position


def phrase_end(pattern: Pattern, text: FieldText, index: int) -> int | None:
    """The token after `pattern` matched from token `index` on, or None.

    The first word is known to match: the token index was looked up by it. A stem followed by
    a space (not by an apostrophe) in the term matches a whole word of the text, apostrophes
    included (see word_end).
    """
    count = len(pattern.words)
    if count == 1:
        return index + 1
    tokens = text.tokens
    if index + count > len(tokens):
        return None
    spans = text.spans()
    position = index
    steps = zip(pattern.words[:-1], pattern.joins, pattern.words[1:], strict=True)
    for word, join, following in steps:
        if word.prefix and join is Join.SPACE:
            position = word_end(text.norm, spans, position)
        if position + 1 >= len(tokens):
            return None
        if not join_allows(join, text.norm[spans[position][1] : spans[position + 1][0]]):
            return None
        if not following.matches(tokens[position + 1]):
            return None
        position += 1
    return position + 1
