"""Step 2 of matching for one entry: terms evaluated, topics decided and each match explained.

Every phrase that the tokens of the entry start is found once; structured terms (near,
sentence, re, fields) are evaluated from those occurrences on demand and memoised. A topic
matches when one `any` term, one term of each `all` group and no `none` term hit, and its score
(2 per distinct term in the title, 1 in the summary) reaches its min_score. The explanation
names the terms hit and their fields, the rule that fired and quotes the first hit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise, product

from parley.flows.topics.load import Topic
from parley.flows.topics.scan import FieldText, Hit, phrase_end, spelled_as_written
from parley.flows.topics.snippet import make_snippet
from parley.flows.topics.terms import FIELDS

FIELD_WEIGHTS = (2.0, 1.0)  # a term found in the title counts twice as much as in the summary
MAX_OCCURRENCES = 20  # per term and field, for near/sentence: enough for any news item


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
class Atom:
    """One distinct term of the topics, compiled."""

    label: str
    kind: str  # "words" | "near" | "sentence" | "re"
    fields: tuple[int, ...]
    words: int = -1  # the word-term id, for kind "words"
    parts: tuple[tuple[int, ...], ...] = ()
    within: int = 0
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class CompiledTopic:
    topic: Topic
    any: tuple[int, ...]
    all: tuple[tuple[int, ...], ...]
    none: tuple[int, ...]
    unless: tuple[int, ...] = ()


class Evaluation:
    """Step 2 for one entry: phrases found, terms evaluated (memoised), topics explained."""

    def __init__(
        self,
        atoms: Sequence[Atom],
        topics: Sequence[CompiledTopic],
        triggers: Mapping[int, list[int]],
        texts: tuple[FieldText, FieldText],
    ) -> None:
        self.atoms = atoms
        self.topics = topics
        self.triggers = triggers  # word term id → the topics whose `any` hit it can start
        self.texts = texts
        self.found: dict[int, list[Hit]] = {}  # word term id → occurrences, in text order
        self.memo: dict[int, Hit | None] = {}
        for text in texts:
            for position in text.positions:
                candidates = text.candidates[position]
                assert candidates is not None
                for pattern, term_id in candidates.patterns:
                    last = phrase_end(pattern, text, position)
                    if last is None:
                        continue
                    spans = text.spans()
                    start, end = spans[position][0], spans[last - 1][1]
                    spelled = spelled_as_written(pattern.words[0], text.tokens[position])
                    hit = Hit(text.index, position, last, start, end, spelled)
                    hits = self.found.setdefault(term_id, [])
                    if not hits or hits[-1] != hit:
                        hits.append(hit)

    def hit(self, atom_id: int) -> Hit | None:
        """The first occurrence of a term (title first), or None."""
        if atom_id not in self.memo:
            self.memo[atom_id] = self._evaluate(self.atoms[atom_id])
        return self.memo[atom_id]

    def _evaluate(self, atom: Atom) -> Hit | None:
        if atom.kind == "words":
            return next((h for h in self.found.get(atom.words, ()) if h.field in atom.fields), None)
        if atom.kind == "re":
            assert atom.regex is not None
            for index in atom.fields:
                for found in atom.regex.finditer(self.texts[index].norm):
                    if found.end() > found.start():
                        return Hit(index, -1, -1, found.start(), found.end())
            return None
        for index in atom.fields:
            hit = self._together(atom, self.texts[index])
            if hit is not None:
                return hit
        return None

    def _together(self, atom: Atom, text: FieldText) -> Hit | None:
        """All parts of a near/sentence term in one field: the earliest such group, or None."""
        choices: list[list[Hit]] = []
        for part in atom.parts:
            hits = [h for term in part for h in self.found.get(term, ()) if h.field == text.index]
            if not hits:
                return None
            choices.append(sorted(hits, key=lambda h: h.first)[:MAX_OCCURRENCES])
        best: tuple[Hit, ...] | None = None
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
        return Hit(text.index, first.first, last.last, first.start, last.end)

    def matches(self, also: set[int]) -> list[TopicMatch]:
        """The topics matched, among those an `any` term found here can start (and `also`)."""
        numbers = set(also)
        for term_id in self.found:
            numbers.update(self.triggers.get(term_id, ()))
        results = []
        for number in sorted(numbers):
            match = self._topic(self.topics[number])
            if match is not None:
                results.append(match)
        return results

    def _topic(self, compiled: CompiledTopic) -> TopicMatch | None:
        # decide first, stopping at the first term that hits in each group; only a match
        # evaluates every term of its groups, for the explanation
        if not all(self._some(group) for group in (compiled.any, *compiled.all)):
            return None
        if self._some(compiled.none) and not self._some(compiled.unless):
            return None
        any_hits = self._group_hits(compiled.any)
        groups = [self._group_hits(group) for group in compiled.all]
        distinct = {atom_id: hit for atom_id, hit in any_hits + [h for g in groups for h in g]}
        score = sum(FIELD_WEIGHTS[hit.field] for hit in distinct.values())
        if score < compiled.topic.min_score:
            return None
        return self._explain(compiled, any_hits, groups, score)

    def _some(self, atom_ids: tuple[int, ...]) -> bool:
        return any(self.hit(atom_id) is not None for atom_id in atom_ids)

    def _group_hits(self, atom_ids: tuple[int, ...]) -> list[tuple[int, Hit]]:
        """The terms of a group that hit, the first in the entry first (title before summary)."""
        hits = [(atom_id, hit) for atom_id in atom_ids if (hit := self.hit(atom_id)) is not None]
        # title before summary, then by position; the longer of two hits at one place first,
        # and a term spelled as in the text before a name matched by its skeleton
        hits.sort(key=lambda h: (h[1].field, h[1].start, -h[1].end, not h[1].spelled))
        return hits

    def _explain(
        self,
        compiled: CompiledTopic,
        any_hits: list[tuple[int, Hit]],
        groups: list[list[tuple[int, Hit]]],
        score: float,
    ) -> TopicMatch:
        atoms = self.atoms
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

    def _quote(self, hit: Hit) -> str:
        text = self.texts[hit.field]
        left, right = text.quote(hit)
        return " ".join(text.original[left:right].split())
