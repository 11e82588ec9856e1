"""Match entries against topics: every term compiled once into a token index.

Text is normalised (see normalize.py) and split into word tokens (Unicode \\w+). The index maps
a token to the term patterns whose first word it is: by the exact word, by a stem (its
prefixes), and for names by its skeleton (see terms.py). The answer for each distinct token is
computed once and kept (a bounded cache), so matching an entry costs a few dict look-ups per
token: it grows with the length of the text, not with the number of terms.

Matching runs in two steps. The first looks tokens up and stops when no token can start a term
of any topic's `any` list, which is the case for most entries. The second checks whole phrases
and the structured terms (near, sentence, re, fields), evaluates the topics and explains each
match: the terms hit and their fields, the rule that fired, a score and a quote of the first hit.

This module holds the index and the TopicMatcher facade; scan.py reads the text of a field
(tokens, sentences, phrases) and explain.py evaluates and explains the topics of one entry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import compress

from parley.flows.topics.explain import (
    FIELD_WEIGHTS,
    MAX_OCCURRENCES,
    Atom,
    CompiledTopic,
    Evaluation,
    TermHit,
    TopicMatch,
)
from parley.flows.topics.load import Topic
from parley.flows.topics.normalize import normal_chunks, skeleton
from parley.flows.topics.scan import TOKEN, Candidates, FieldText, may_start
from parley.flows.topics.terms import (
    FIELDS,
    MIN_STEM,
    Pattern,
    Term,
    TermSpec,
    compile_term,
    term_label,
)

TOKEN_CACHE_LIMIT = 200_000  # distinct tokens remembered; the cache starts over beyond this


class _TokenCache(dict[str, Candidates | None]):
    """token → its candidates, computed on first sight by the matcher."""

    def __init__(self, matcher: TopicMatcher) -> None:
        super().__init__()
        self._matcher = matcher

    def __missing__(self, token: str) -> Candidates | None:
        if len(self) >= TOKEN_CACHE_LIMIT:
            self.clear()
        value = self._matcher._lookup(token)
        self[token] = value
        return value


class _ChunkCache(dict[str, bool]):
    """A run of text between spaces ("sea,", "в'язня"), or a few such runs with the spaces
    between them → whether an `any` term may start in it.

    A phrase is followed inside the chunk as far as the chunk goes: "в" alone cannot start
    "в'язн*" (an apostrophe never stands at a space), while "energy" may start
    "energy infrastructure" in the next chunk.
    """

    def __init__(self, matcher: TopicMatcher) -> None:
        super().__init__()
        self._matcher = matcher

    def __missing__(self, chunk: str) -> bool:
        if len(self) >= TOKEN_CACHE_LIMIT:
            self.clear()
        value = self._matcher._chunk_triggers(chunk)
        self[chunk] = value
        return value


class TopicMatcher:
    """Compiles topics once; `match` returns the topics an entry's title and summary hit."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self._word_terms: dict[str, int] = {}  # word term as written → term id
        self._atoms: list[Atom] = []
        self._atom_ids: dict[Term, int] = {}
        self._by_word: dict[str, list[tuple[Pattern, int]]] = {}
        self._by_stem: dict[str, list[tuple[Pattern, int]]] = {}
        self._by_skeleton: dict[str, list[tuple[Pattern, int]]] = {}
        self._by_skeleton_stem: dict[str, list[tuple[Pattern, int]]] = {}
        self._topics = [self._compile(topic) for topic in topics]
        # word term → the topics it can start an `any` hit of; `any` regexes are searched in
        # every entry, so their topics are always evaluated when one finds something
        self._triggers: dict[int, list[int]] = {}
        self._regex_triggers: list[tuple[Atom, int]] = []
        for number, compiled in enumerate(self._topics):
            for atom_id in compiled.any:
                atom = self._atoms[atom_id]
                if atom.kind == "re":
                    self._regex_triggers.append((atom, number))
                    continue
                # near/sentence need every part: the first part's terms suffice
                terms = (atom.words,) if atom.kind == "words" else atom.parts[0]
                for term_id in terms:
                    numbers = self._triggers.setdefault(term_id, [])
                    if number not in numbers:
                        numbers.append(number)
        # the most words of an `any` phrase: how many chunks one can span
        self._window = max(
            (len(pattern.words) for index in (self._by_word, self._by_stem, self._by_skeleton,
                                             self._by_skeleton_stem)
             for entries in index.values() for pattern, term_id in entries
             if term_id in self._triggers),
            default=1,
        )  # fmt: skip
        # the longest stem: longer prefixes of a token need no lookup
        self._max_stem = max((len(stem) for stem in self._by_stem), default=0)
        self._max_skeleton_stem = max((len(key) for key in self._by_skeleton_stem), default=0)
        self._cache = _TokenCache(self)
        self._chunks = _ChunkCache(self)

    @property
    def topics(self) -> tuple[Topic, ...]:
        """The topics this matcher was built from, in their order."""
        return tuple(compiled.topic for compiled in self._topics)

    def match(self, title: str, summary: str) -> list[TopicMatch]:
        """The matching topics, in the order they were given."""
        chunks = (normal_chunks(title), normal_chunks(summary))
        regex_topics = self._regex_topics(chunks) if self._regex_triggers else set()

        triggered = self._triggered(chunks[0]) or self._triggered(chunks[1])
        if not triggered and not regex_topics:
            return []
        texts = (self._prepare(0, title, chunks[0]), self._prepare(1, summary, chunks[1]))
        evaluation = Evaluation(self._atoms, self._topics, self._triggers, texts)
        return evaluation.matches(regex_topics)

    def mentions(self, title: str, summary: str) -> bool:
        """Whether an `any` term of some topic may occur: the first step of matching alone.

        Exact for words and stems; for a phrase, its words are followed across the chunks of
        the text, so "the US" needs "us" after "the". Structured terms count by their first
        part. Cheap: no phrase positions, no explanation.
        """
        chunks = (normal_chunks(title), normal_chunks(summary))
        return bool(self._triggered(chunks[0]) or self._triggered(chunks[1]))

    # --- compiling ------------------------------------------------------------------------

    def _compile(self, topic: Topic) -> CompiledTopic:
        return CompiledTopic(
            topic=topic,
            any=tuple(self._atom(term) for term in topic.any),
            all=tuple(tuple(self._atom(term) for term in group) for group in topic.all),
            none=tuple(self._atom(term) for term in topic.none),
            unless=tuple(self._atom(term) for term in topic.unless),
        )

    def _atom(self, term: Term) -> int:
        if term in self._atom_ids:
            return self._atom_ids[term]
        if isinstance(term, str):
            atom = Atom(term, "words", (0, 1), words=self._word_term(term))
        else:
            atom = self._spec_atom(term)
        self._atom_ids[term] = len(self._atoms)
        self._atoms.append(atom)
        return len(self._atoms) - 1

    def _spec_atom(self, spec: TermSpec) -> Atom:
        fields = tuple(FIELDS.index(name) for name in spec.fields)
        if spec.kind == "re":
            regex = re.compile(spec.pattern)
            return Atom(spec.label, "re", fields, regex=regex)
        parts = tuple(tuple(self._word_term(term) for term in part) for part in spec.parts)
        if spec.kind == "term":
            return Atom(spec.label, "words", fields, words=parts[0][0])
        return Atom(spec.label, spec.kind, fields, parts=parts, within=spec.within)

    def _word_term(self, term: str) -> int:
        if term in self._word_terms:
            return self._word_terms[term]
        term_id = len(self._word_terms)
        self._word_terms[term] = term_id
        for pattern in compile_term(term):
            first = pattern.words[0]
            index = self._by_stem if first.prefix else self._by_word
            index.setdefault(first.text, []).append((pattern, term_id))
            if first.skel:
                index = self._by_skeleton_stem if first.prefix else self._by_skeleton
                index.setdefault(first.skel, []).append((pattern, term_id))
        return term_id

    def _lookup(self, token: str) -> Candidates | None:
        """The patterns whose first word matches `token` (cached per token by _TokenCache)."""
        found = list(self._by_word.get(token, ()))
        for length in range(MIN_STEM, min(len(token), self._max_stem) + 1):
            found.extend(self._by_stem.get(token[:length], ()))
        if self._by_skeleton or self._by_skeleton_stem:
            key = skeleton(token)
            found.extend(self._by_skeleton.get(key, ()))
            for length in range(1, min(len(key), self._max_skeleton_stem) + 1):
                found.extend(self._by_skeleton_stem.get(key[:length], ()))
        if not found:
            return None
        patterns = tuple(dict.fromkeys(found))
        trigger = any(term_id in self._triggers for _, term_id in patterns)
        return Candidates(patterns, trigger)

    # --- step 1: tokens and triggers -----------------------------------------------------

    def _chunk_triggers(self, chunk: str) -> bool:
        """Whether an `any` term may start in `chunk` (cached per chunk by _ChunkCache)."""
        spans = [m.span() for m in TOKEN.finditer(chunk)]
        tokens = [chunk[start:end] for start, end in spans]
        for index, token in enumerate(tokens):
            candidates = self._cache[token]
            if candidates is None or not candidates.trigger:
                continue
            for pattern, term_id in candidates.patterns:
                if term_id in self._triggers and may_start(pattern, chunk, spans, tokens, index):
                    return True
        return False

    def _triggered(self, chunks: list[str]) -> bool:
        """Whether an `any` term may start in one of a field's chunks.

        A chunk that may start one only if the phrase goes on past the chunk's end ("month",
        for "month-long cease-fire") is checked again together with the chunks after it (see
        _run): the same test on a longer run of the text, so a phrase that could still match
        is never ruled out, while "month and will publish" is.
        """
        for index, chunk in enumerate(chunks):
            if self._chunks[chunk] and self._chunks[self._run(chunks, index)]:
                return True
        return False

    def _run(self, chunks: list[str], index: int) -> str:
        """Chunk ``index`` and those after it, up to the one holding the last word a phrase
        started in it can reach (one word per chunk at most: "cease - fire" is three chunks,
        two words). The run ends inside a chunk, as a chunk does, so may_start treats its end
        as it treats a chunk's: a phrase that may go on is kept."""
        end, words = index, 0
        while end < len(chunks) and words < self._window:
            words += TOKEN.search(chunks[end]) is not None
            end += 1
        return " ".join(chunks[index:end])

    def _prepare(self, index: int, text: str, chunks: list[str]) -> FieldText:
        norm = " ".join(chunks)
        tokens = TOKEN.findall(norm)
        candidates = list(map(self._cache.__getitem__, tokens))
        positions = list(compress(range(len(tokens)), candidates))
        return FieldText(index, text, norm, tokens, candidates, positions)

    def _regex_topics(self, chunks: tuple[list[str], list[str]]) -> set[int]:
        """The topics with an `any` regex found in the entry."""
        norms = (" ".join(chunks[0]), " ".join(chunks[1]))
        return {
            number
            for atom, number in self._regex_triggers
            if any(atom.regex is not None and atom.regex.search(norms[i]) for i in atom.fields)
        }


__all__ = [
    "FIELDS",
    "FIELD_WEIGHTS",
    "MAX_OCCURRENCES",
    "TermHit",
    "TopicMatch",
    "TopicMatcher",
    "term_label",
]
