"""Match entries against topics: terms compiled once into a token index, one pass per field.

Text is normalised (see normalize.py) and split into word tokens (Unicode \\w+). Each term's
first word is looked up in a dict (exact words) or by the token's prefixes (stems), then the
rest of the phrase is checked token by token. This finds every term, overlapping ones too,
in time linear in the text length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from parley.flows.topics.load import Topic
from parley.flows.topics.normalize import Normalized, normalize_map
from parley.flows.topics.snippet import make_snippet, original_span
from parley.flows.topics.terms import MIN_STEM, Pattern, compile_term, join_allows

FIELDS = ("title", "summary")
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class TopicMatch:
    """Why an entry matched: the `any` terms that hit (first hit first) and a quote of the first."""

    topic_key: str
    topic_name: str
    severity: str
    terms: tuple[str, ...]
    field: str
    snippet: str


@dataclass(frozen=True)
class _Hit:
    """The first occurrence of a term: field index, then span in the normalised field."""

    field: int
    start: int
    end: int


@dataclass(frozen=True)
class _CompiledTopic:
    topic: Topic
    any: tuple[int, ...]
    all: tuple[tuple[int, ...], ...]
    none: tuple[int, ...]


class TopicMatcher:
    """Compiles topics once; `match` returns the topics an entry's title and summary hit."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self._terms: dict[str, int] = {}  # term as written → term id
        self._by_word: dict[str, list[tuple[Pattern, int]]] = {}
        self._by_stem: dict[str, list[tuple[Pattern, int]]] = {}
        self._topics = [self._compile(topic) for topic in topics]
        # the longest stem: longer prefixes of a token need no lookup
        self._max_stem = max((len(stem) for stem in self._by_stem), default=0)

    @property
    def topics(self) -> tuple[Topic, ...]:
        """The topics this matcher was built from, in their order."""
        return tuple(compiled.topic for compiled in self._topics)

    def match(self, title: str, summary: str) -> list[TopicMatch]:
        """The matching topics, in the order they were given."""
        texts = (title, summary)
        norms = (normalize_map(title), normalize_map(summary))
        hits: dict[int, _Hit] = {}
        for field, norm in enumerate(norms):
            for term, (start, end) in self._scan(norm.text).items():
                hits.setdefault(term, _Hit(field, start, end))
        results = []
        for compiled in self._topics:
            if self._accepts(compiled, hits):
                results.append(self._explain(compiled, hits, texts, norms))
        return results

    def _compile(self, topic: Topic) -> _CompiledTopic:
        return _CompiledTopic(
            topic=topic,
            any=tuple(self._term_id(term) for term in topic.any),
            all=tuple(tuple(self._term_id(term) for term in group) for group in topic.all),
            none=tuple(self._term_id(term) for term in topic.none),
        )

    def _term_id(self, term: str) -> int:
        if term in self._terms:
            return self._terms[term]
        term_id = len(self._terms)
        self._terms[term] = term_id
        for pattern in compile_term(term):
            first = pattern.words[0]
            index = self._by_stem if first.prefix else self._by_word
            index.setdefault(first.text, []).append((pattern, term_id))
        return term_id

    def _scan(self, text: str) -> dict[int, tuple[int, int]]:
        """Every term found in normalised `text` → the span of its first occurrence."""
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
        found: dict[int, tuple[int, int]] = {}
        for index, (start, _, token) in enumerate(tokens):
            candidates = list(self._by_word.get(token, ()))
            for length in range(MIN_STEM, min(len(token), self._max_stem) + 1):
                candidates.extend(self._by_stem.get(token[:length], ()))
            for pattern, term_id in candidates:
                if term_id in found:
                    continue
                end = _phrase_end(pattern, text, tokens, index)
                if end is not None:
                    found[term_id] = (start, end)
        return found

    @staticmethod
    def _accepts(compiled: _CompiledTopic, hits: dict[int, _Hit]) -> bool:
        return (
            any(term in hits for term in compiled.any)
            and all(any(term in hits for term in group) for group in compiled.all)
            and not any(term in hits for term in compiled.none)
        )

    def _explain(
        self,
        compiled: _CompiledTopic,
        hits: dict[int, _Hit],
        texts: tuple[str, str],
        norms: tuple[Normalized, Normalized],
    ) -> TopicMatch:
        topic = compiled.topic
        evidence = [
            (hits[self._terms[term]], term) for term in topic.any if self._terms[term] in hits
        ]
        # title before summary, then by position; the longer of two hits at one place first
        evidence.sort(key=lambda item: (item[0].field, item[0].start, -item[0].end))
        first = evidence[0][0]
        original = texts[first.field]
        left, right = original_span(original, norms[first.field], first.start, first.end)
        return TopicMatch(
            topic_key=topic.key,
            topic_name=topic.name,
            severity=topic.severity,
            terms=tuple(dict.fromkeys(term for _, term in evidence)),
            field=FIELDS[first.field],
            snippet=make_snippet(original, left, right),
        )


def _phrase_end(
    pattern: Pattern, text: str, tokens: list[tuple[int, int, str]], index: int
) -> int | None:
    """The end of `pattern` matched from token `index` on, or None."""
    if index + len(pattern.words) > len(tokens):
        return None
    if not pattern.words[0].matches(tokens[index][2]):
        return None
    for offset, (word, join) in enumerate(zip(pattern.words[1:], pattern.joins, strict=True)):
        previous, current = tokens[index + offset], tokens[index + offset + 1]
        if not join_allows(join, text[previous[1] : current[0]]):
            return None
        if not word.matches(current[2]):
            return None
    return tokens[index + len(pattern.words) - 1][1]
