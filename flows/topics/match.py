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
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress, pairwise, product

from parley.flows.topics.load import Topic
from parley.flows.topics.normalize import (
    APOSTROPHE,
    HYPHEN,
    Normalized,
    normal_chunks,
    normalize_map,
    skeleton,
)
from parley.flows.topics.snippet import make_snippet, original_span
from parley.flows.topics.terms import (
    FIELDS,
    MIN_STEM,
    Join,
    Pattern,
    Term,
    TermSpec,
    Word,
    compile_term,
    join_allows,
    term_label,
)

FIELD_WEIGHTS = (2.0, 1.0)  # a term found in the title counts twice as much as in the summary
TOKEN_CACHE_LIMIT = 200_000  # distinct tokens remembered; the cache starts over beyond this
MAX_OCCURRENCES = 20  # per term and field, for near/sentence: enough for any news item
_TOKEN = re.compile(r"\w+")
# ., ! or ? (then closing quotes or brackets) before a space or the end; not after a lone
# letter, so "U.S. envoy" stays one sentence
_SENTENCE_END = re.compile(r"(?<!\b\w)[.!?]+[\"')\]]*(?= |$)")


@dataclass(frozen=True)
class TermHit:
    """One term that hit: its label, the topic group it counts for, where, and what it quoted."""

    term: str
    group: str  # "any", "all[0]", …
    field: str  # "title" or "summary"
    text: str  # the original text that matched


@dataclass(frozen=True)
class TopicMatch:
    """Why an entry matched: the `any` terms that hit (first hit first) and a quote of the first.

    `hits` lists every term that hit in `any` and in the `all` groups, `rule` says which fired
    ("any: ZNPP + all[0]: IAEA"), and `score` adds 2 per term hit in the title, 1 in the summary.
    """

    topic_key: str
    topic_name: str
    severity: str
    terms: tuple[str, ...]
    field: str
    snippet: str
    hits: tuple[TermHit, ...] = ()
    rule: str = ""
    score: float = 0.0


@dataclass(frozen=True)
class _Hit:
    """An occurrence: field index, token span [first, last) and character span in the norm."""

    field: int
    first: int
    last: int
    start: int
    end: int
    spelled: bool = True  # False when a name matched by its skeleton only


@dataclass(frozen=True)
class _Candidates:
    """The patterns a token can start, and whether one belongs to a topic's `any` list."""

    patterns: tuple[tuple[Pattern, int], ...]
    trigger: bool


@dataclass(frozen=True)
class _Atom:
    """One distinct term of the topics, compiled."""

    label: str
    kind: str  # "words" | "near" | "sentence" | "re"
    fields: tuple[int, ...]
    words: int = -1  # the word-term id, for kind "words"
    parts: tuple[tuple[int, ...], ...] = ()
    within: int = 0
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class _CompiledTopic:
    topic: Topic
    any: tuple[int, ...]
    all: tuple[tuple[int, ...], ...]
    none: tuple[int, ...]


@dataclass
class _Text:
    """One field of an entry: the original, its normal form and its tokens' candidates."""

    index: int
    original: str
    norm: str
    tokens: list[str]
    candidates: list[_Candidates | None]
    positions: list[int]
    _spans: list[tuple[int, int]] | None = None
    _sentence_ends: list[int] | None = None
    _map: Normalized | None = field(default=None, repr=False)

    def spans(self) -> list[tuple[int, int]]:
        if self._spans is None:
            self._spans = [m.span() for m in _TOKEN.finditer(self.norm)]
        return self._spans

    def sentence(self, token: int) -> int:
        if self._sentence_ends is None:
            self._sentence_ends = [m.end() for m in _SENTENCE_END.finditer(self.norm)]
        return bisect_right(self._sentence_ends, self.spans()[token][0])

    def mapped(self) -> Normalized:
        if self._map is None:
            self._map = normalize_map(self.original)
        return self._map

    def quote(self, hit: _Hit) -> tuple[int, int]:
        """The span of the original text that produced the hit."""
        return original_span(self.original, self.mapped(), hit.start, hit.end)


class _TokenCache(dict[str, _Candidates | None]):
    """token → its candidates, computed on first sight by the matcher."""

    def __init__(self, matcher: TopicMatcher) -> None:
        super().__init__()
        self._matcher = matcher

    def __missing__(self, token: str) -> _Candidates | None:
        if len(self) >= TOKEN_CACHE_LIMIT:
            self.clear()
        value = self._matcher._lookup(token)
        self[token] = value
        return value


class _ChunkCache(dict[str, bool]):
    """A run of text between spaces ("sea,", "в'язня") → whether an `any` term may start in it.

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
        self._atoms: list[_Atom] = []
        self._atom_ids: dict[Term, int] = {}
        self._by_word: dict[str, list[tuple[Pattern, int]]] = {}
        self._by_stem: dict[str, list[tuple[Pattern, int]]] = {}
        self._by_skeleton: dict[str, list[tuple[Pattern, int]]] = {}
        self._by_skeleton_stem: dict[str, list[tuple[Pattern, int]]] = {}
        self._topics = [self._compile(topic) for topic in topics]
        # word term → the topics it can start an `any` hit of; `any` regexes are searched in
        # every entry, so their topics are always evaluated when one finds something
        self._triggers: dict[int, list[int]] = {}
        self._regex_triggers: list[tuple[_Atom, int]] = []
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

        triggered = any(map(self._chunks.__getitem__, chunks[0])) or any(
            map(self._chunks.__getitem__, chunks[1])
        )
        if not triggered and not regex_topics:
            return []
        texts = (self._prepare(0, title, chunks[0]), self._prepare(1, summary, chunks[1]))
        return _Evaluation(self, texts).matches(regex_topics)

    # --- compiling ------------------------------------------------------------------------

    def _compile(self, topic: Topic) -> _CompiledTopic:
        return _CompiledTopic(
            topic=topic,
            any=tuple(self._atom(term) for term in topic.any),
            all=tuple(tuple(self._atom(term) for term in group) for group in topic.all),
            none=tuple(self._atom(term) for term in topic.none),
        )

    def _atom(self, term: Term) -> int:
        if term in self._atom_ids:
            return self._atom_ids[term]
        if isinstance(term, str):
            atom = _Atom(term, "words", (0, 1), words=self._word_term(term))
        else:
            atom = self._spec_atom(term)
        self._atom_ids[term] = len(self._atoms)
        self._atoms.append(atom)
        return len(self._atoms) - 1

    def _spec_atom(self, spec: TermSpec) -> _Atom:
        fields = tuple(FIELDS.index(name) for name in spec.fields)
        if spec.kind == "re":
            regex = re.compile(spec.pattern)
            return _Atom(spec.label, "re", fields, regex=regex)
        parts = tuple(tuple(self._word_term(term) for term in part) for part in spec.parts)
        if spec.kind == "term":
            return _Atom(spec.label, "words", fields, words=parts[0][0])
        return _Atom(spec.label, spec.kind, fields, parts=parts, within=spec.within)

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

    def _lookup(self, token: str) -> _Candidates | None:
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
        return _Candidates(patterns, trigger)

    # --- step 1: tokens and triggers -----------------------------------------------------

    def _chunk_triggers(self, chunk: str) -> bool:
        """Whether an `any` term may start in `chunk` (cached per chunk by _ChunkCache)."""
        spans = [m.span() for m in _TOKEN.finditer(chunk)]
        tokens = [chunk[start:end] for start, end in spans]
        for index, token in enumerate(tokens):
            candidates = self._cache[token]
            if candidates is None or not candidates.trigger:
                continue
            for pattern, term_id in candidates.patterns:
                if term_id in self._triggers and _may_start(pattern, chunk, spans, tokens, index):
                    return True
        return False

    def _prepare(self, index: int, text: str, chunks: list[str]) -> _Text:
        norm = " ".join(chunks)
        tokens = _TOKEN.findall(norm)
        candidates = list(map(self._cache.__getitem__, tokens))
        positions = list(compress(range(len(tokens)), candidates))
        return _Text(index, text, norm, tokens, candidates, positions)

    def _regex_topics(self, chunks: tuple[list[str], list[str]]) -> set[int]:
        """The topics with an `any` regex found in the entry."""
        norms = (" ".join(chunks[0]), " ".join(chunks[1]))
        return {
            number
            for atom, number in self._regex_triggers
            if any(atom.regex is not None and atom.regex.search(norms[i]) for i in atom.fields)
        }


class _Evaluation:
    """Step 2 for one entry: phrases found, terms evaluated (memoised), topics explained."""

    def __init__(self, matcher: TopicMatcher, texts: tuple[_Text, _Text]) -> None:
        self.matcher = matcher
        self.texts = texts
        self.found: dict[int, list[_Hit]] = {}  # word term id → occurrences, in text order
        self.memo: dict[int, _Hit | None] = {}
        for text in texts:
            for position in text.positions:
                candidates = text.candidates[position]
                assert candidates is not None
                for pattern, term_id in candidates.patterns:
                    last = _phrase_end(pattern, text, position)
                    if last is None:
                        continue
                    spans = text.spans()
                    start, end = spans[position][0], spans[last - 1][1]
                    spelled = _spelled(pattern.words[0], text.tokens[position])
                    hit = _Hit(text.index, position, last, start, end, spelled)
                    hits = self.found.setdefault(term_id, [])
                    if not hits or hits[-1] != hit:
                        hits.append(hit)

    def hit(self, atom_id: int) -> _Hit | None:
        """The first occurrence of a term (title first), or None."""
        if atom_id not in self.memo:
            self.memo[atom_id] = self._evaluate(self.matcher._atoms[atom_id])
        return self.memo[atom_id]

    def _evaluate(self, atom: _Atom) -> _Hit | None:
        if atom.kind == "words":
            return next((h for h in self.found.get(atom.words, ()) if h.field in atom.fields), None)
        if atom.kind == "re":
            assert atom.regex is not None
            for index in atom.fields:
                for found in atom.regex.finditer(self.texts[index].norm):
                    if found.end() > found.start():
                        return _Hit(index, -1, -1, found.start(), found.end())
            return None
        for index in atom.fields:
            hit = self._together(atom, self.texts[index])
            if hit is not None:
                return hit
        return None

    def _together(self, atom: _Atom, text: _Text) -> _Hit | None:
        """All parts of a near/sentence term in one field: the earliest such group, or None."""
        choices: list[list[_Hit]] = []
        for part in atom.parts:
            hits = [h for term in part for h in self.found.get(term, ()) if h.field == text.index]
            if not hits:
                return None
            choices.append(sorted(hits, key=lambda h: h.first)[:MAX_OCCURRENCES])
        best: tuple[_Hit, ...] | None = None
        for combination in product(*choices):
            ordered = sorted(combination, key=lambda h: (h.first, h.last))
            if any(b.first < a.last for a, b in pairwise(ordered)):
                continue  # parts overlap: one word cannot stand for two parts
            if atom.kind == "near":
                if ordered[-1].first - ordered[0].last > atom.within:
                    continue
            elif len({text.sentence(h.first) for h in ordered}) > 1:
                continue
            if best is None or (ordered[0].first, ordered[-1].last) < (
                best[0].first,
                best[-1].last,
            ):
                best = tuple(ordered)
        if best is None:
            return None
        first, last = best[0], max(best, key=lambda h: h.last)
        return _Hit(text.index, first.first, last.last, first.start, last.end)

    def matches(self, also: set[int]) -> list[TopicMatch]:
        """The topics matched, among those an `any` term found here can start (and `also`)."""
        numbers = set(also)
        triggers = self.matcher._triggers
        for term_id in self.found:
            numbers.update(triggers.get(term_id, ()))
        results = []
        for number in sorted(numbers):
            match = self._topic(self.matcher._topics[number])
            if match is not None:
                results.append(match)
        return results

    def _topic(self, compiled: _CompiledTopic) -> TopicMatch | None:
        any_hits = self._group_hits(compiled.any)
        if not any_hits:
            return None
        groups = []
        for group in compiled.all:
            hits = self._group_hits(group)
            if not hits:
                return None
            groups.append(hits)
        if any(self.hit(atom_id) is not None for atom_id in compiled.none):
            return None
        distinct = {atom_id: hit for atom_id, hit in any_hits + [h for g in groups for h in g]}
        score = sum(FIELD_WEIGHTS[hit.field] for hit in distinct.values())
        if score < compiled.topic.min_score:
            return None
        return self._explain(compiled, any_hits, groups, score)

    def _group_hits(self, atom_ids: tuple[int, ...]) -> list[tuple[int, _Hit]]:
        """The terms of a group that hit, the first in the entry first (title before summary)."""
        hits = [(atom_id, hit) for atom_id in atom_ids if (hit := self.hit(atom_id)) is not None]
        # title before summary, then by position; the longer of two hits at one place first,
        # and a term spelled as in the text before a name matched by its skeleton
        hits.sort(key=lambda h: (h[1].field, h[1].start, -h[1].end, not h[1].spelled))
        return hits

    def _explain(
        self,
        compiled: _CompiledTopic,
        any_hits: list[tuple[int, _Hit]],
        groups: list[list[tuple[int, _Hit]]],
        score: float,
    ) -> TopicMatch:
        atoms = self.matcher._atoms
        topic = compiled.topic
        first = any_hits[0][1]
        text = self.texts[first.field]
        left, right = text.quote(first)
        rule = " + ".join(
            [f"any: {atoms[any_hits[0][0]].label}"]
            + [f"all[{index}]: {atoms[hits[0][0]].label}" for index, hits in enumerate(groups)]
        )
        named = [("any", any_hits)] + [(f"all[{i}]", hits) for i, hits in enumerate(groups)]
        return TopicMatch(
            topic_key=topic.key,
            topic_name=topic.name,
            severity=topic.severity,
            terms=tuple(dict.fromkeys(atoms[atom_id].label for atom_id, _ in any_hits)),
            field=FIELDS[first.field],
            snippet=make_snippet(text.original, left, right),
            hits=tuple(
                TermHit(atoms[atom_id].label, group, FIELDS[hit.field], self._quote(hit))
                for group, hits in named
                for atom_id, hit in hits
            ),
            rule=rule,
            score=score,
        )

    def _quote(self, hit: _Hit) -> str:
        text = self.texts[hit.field]
        left, right = text.quote(hit)
        return " ".join(text.original[left:right].split())


def _spelled(word: Word, token: str) -> bool:
    """Whether `token` matches `word` as written (not only by its skeleton)."""
    return token.startswith(word.text) if word.prefix else token == word.text


def _may_start(
    pattern: Pattern, chunk: str, spans: list[tuple[int, int]], tokens: list[str], index: int
) -> bool:
    """Whether `pattern` matches from token `index` of a chunk, or may go on past its end."""
    position = index
    steps = zip(pattern.words[:-1], pattern.joins, pattern.words[1:], strict=True)
    for word, join, following in steps:
        if word.prefix and join is Join.SPACE:
            position = _word_end(chunk, spans, position)
        if position + 1 == len(tokens):  # the chunk ends: only spaces and hyphens join onwards
            return join is Join.SPACE and not chunk[spans[position][1] :].strip(HYPHEN)
        separator = chunk[spans[position][1] : spans[position + 1][0]]
        if not join_allows(join, separator) or not following.matches(tokens[position + 1]):
            return False
        position += 1
    return True


def _word_end(norm: str, spans: Sequence[tuple[int, int]], position: int) -> int:
    """The last token of the word that token `position` begins, across apostrophes.

    A stem matches a whole word, and an apostrophe stands inside words: "перемир*" followed
    by more words of a phrase must step over the "я" of "перемир'я".
    """
    while position + 1 < len(spans):
        if norm[spans[position][1] : spans[position + 1][0]] != APOSTROPHE:
            break
        position += 1
    return position


def _phrase_end(pattern: Pattern, text: _Text, index: int) -> int | None:
    """The token after `pattern` matched from token `index` on, or None.

    The first word is known to match: the token index was looked up by it. A stem followed by
    a space (not by an apostrophe) in the term matches a whole word of the text, apostrophes
    included (see _word_end).
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
            position = _word_end(text.norm, spans, position)
        if position + 1 >= len(tokens):
            return None
        if not join_allows(join, text.norm[spans[position][1] : spans[position + 1][0]]):
            return None
        if not following.matches(tokens[position + 1]):
            return None
        position += 1
    return position + 1


__all__ = ["FIELDS", "TermHit", "TopicMatch", "TopicMatcher", "term_label"]
