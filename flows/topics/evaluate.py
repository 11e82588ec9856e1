"""Measure topic matching against labelled cases: precision, recall and F1 per topic × language.

Pure functions over plain data (no Prefect, no database). A case file is JSON Lines, one case a
line::

    {"id": "en-znpp-01", "title": "...", "summary": "...", "language": "en",
     "topics": ["znpp"], "why": "optional note for people"}

A case's ``topics`` is the complete list of topics it should match: every other evaluated topic
that matches it is a false positive. Blank lines are skipped.

A corpus is evaluated through a labels file (``{"link": ..., "topics": [...], "note": ...}``
per line, no text) joined by link with ``DIR/real/items.jsonl``, so that the text of real
articles is read at run time and never stored next to the labels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from parley.flows.topics.match import TopicMatch

CORPUS_ITEMS = Path("real") / "items.jsonl"
TOTAL = "all"  # the language or topic of an aggregate row
TUNE, CHECK = "tune", "check"
TUNE_PERCENT = 60  # of the cases, by a fixed hash of their link (or id): the tuning part


def split_part(key: str) -> str:
    """``"tune"`` or ``"check"`` for a case's link (or id), fixed once and for all.

    The first 32 bits of the SHA-256 of the key, modulo 100, below TUNE_PERCENT: tuning part.
    Topics, thresholds and learned weights are tuned on the tuning part only; the check part
    measures what that tuning does on cases it never saw.
    """
    bucket = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 100
    return TUNE if bucket < TUNE_PERCENT else CHECK


class EvalError(ValueError):
    """A case, labels or corpus file that cannot be used; the message names file and line."""


class MatcherLike(Protocol):
    def match(self, title: str, summary: str) -> list[TopicMatch]: ...


@dataclass(frozen=True)
class Case:
    """One labelled text and the topics it should (and only should) match."""

    id: str
    title: str
    summary: str
    language: str
    topics: frozenset[str]
    why: str = ""
    origin: str = ""  # file:line it was read from
    unsure: frozenset[str] = frozenset()  # topics a careful reader could call either way
    key: str = ""  # what the split hashes: the link of a corpus item, else the id

    @property
    def part(self) -> str:
        """The part of the split this case is in (see :func:`split_part`)."""
        return split_part(self.key or self.id)


@dataclass
class Score:
    """Counts for one topic in one language (either may be TOTAL for an aggregate)."""

    topic: str
    language: str
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def support(self) -> int:
        """Cases that should match: true positives plus false negatives."""
        return self.tp + self.fn

    @property
    def precision(self) -> float | None:
        """None when nothing was matched (precision is undefined)."""
        predicted = self.tp + self.fp
        return self.tp / predicted if predicted else None

    @property
    def recall(self) -> float | None:
        """None when no case should match (recall is undefined)."""
        return self.tp / self.support if self.support else None

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall; 0.0 when there was support and no hit."""
        if not self.support and not self.fp:
            return None
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator

    def add(self, other: Score) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn


@dataclass(frozen=True)
class Miss:
    """A false negative (``kind == "fn"``) or false positive (``"fp"``, with the terms that fired)."""

    case: Case
    topic: str
    kind: str
    terms: tuple[str, ...] = ()
    field: str = ""
    snippet: str = ""


@dataclass
class Report:
    """Scores per (topic, language), the misses, and aggregates."""

    topics: tuple[str, ...]  # the evaluated topics, in the matcher's order
    languages: tuple[str, ...]
    cases: int
    scores: dict[tuple[str, str], Score] = field(default_factory=dict)
    misses: list[Miss] = field(default_factory=list)
    undefined: tuple[str, ...] = ()  # labelled topics the topics file does not define
    unlabelled: tuple[str, ...] = ()  # defined topics left out: no case expects them

    def cell(self, topic: str, language: str) -> Score:
        return self.scores.get((topic, language)) or Score(topic, language)

    def by_topic(self, topic: str) -> Score:
        """One topic over every language (micro-averaged)."""
        total = Score(topic, TOTAL)
        for language in self.languages:
            total.add(self.cell(topic, language))
        return total

    def by_language(self, language: str) -> Score:
        """Every topic in one language (micro-averaged)."""
        total = Score(TOTAL, language)
        for topic in self.topics:
            total.add(self.cell(topic, language))
        return total

    def overall(self) -> Score:
        total = Score(TOTAL, TOTAL)
        for score in self.scores.values():
            total.add(score)
        return total

    def macro_f1(self) -> float | None:
        """Mean F1 over the topic × language cells that have support."""
        values = [s.f1 for s in self.scores.values() if s.support and s.f1 is not None]
        return sum(values) / len(values) if values else None

    def below(self, min_f1: float) -> list[Score]:
        """The topic × language cells with support whose F1 is below ``min_f1``."""
        return [
            score for score in self.scores.values() if score.support and (score.f1 or 0.0) < min_f1
        ]

    def false_negatives(self) -> list[Miss]:
        return [m for m in self.misses if m.kind == "fn"]

    def false_positives(self) -> list[Miss]:
        return [m for m in self.misses if m.kind == "fp"]


def evaluate(
    matcher: MatcherLike,
    cases: Iterable[Case],
    topics: Sequence[str] | None = None,
) -> Report:
    """Run ``matcher`` over ``cases`` and count hits and misses per topic and language.

    ``topics`` are the topic keys evaluated. By default, the labelled ones: a topic that no
    case expects cannot be measured (every hit would count as a false positive), so it is
    left out and listed in ``unlabelled``. A labelled key the matcher does not know stays in
    the report — every case that expects it is a false negative — and is listed in
    ``undefined``.
    """
    case_list = list(cases)
    known = _matcher_keys(matcher)
    labelled = {key for case in case_list for key in case.topics}
    if topics is None:
        order = {key: index for index, key in enumerate(known)}
        evaluated = sorted(labelled, key=lambda key: (order.get(key, len(order)), key))
    else:
        evaluated = list(dict.fromkeys(topics))
    languages = tuple(dict.fromkeys(case.language for case in case_list))
    report = Report(
        topics=tuple(evaluated),
        languages=languages,
        cases=len(case_list),
        undefined=tuple(key for key in evaluated if known and key not in known),
        unlabelled=tuple(key for key in known if key not in evaluated),
    )
    for case in case_list:
        found = {m.topic_key: m for m in matcher.match(case.title, case.summary)}
        for topic in evaluated:
            expected, got = topic in case.topics, topic in found
            if (not expected and not got) or topic in case.unsure:
                continue
            score = report.scores.setdefault((topic, case.language), Score(topic, case.language))
            if expected and got:
                score.tp += 1
            elif expected:
                score.fn += 1
                report.misses.append(Miss(case, topic, "fn"))
            else:
                hit = found[topic]
                score.fp += 1
                report.misses.append(Miss(case, topic, "fp", hit.terms, hit.field, hit.snippet))
    return report


def _matcher_keys(matcher: MatcherLike) -> list[str]:
    topics = getattr(matcher, "topics", ())
    return [str(getattr(topic, "key", topic)) for topic in topics]


# --- reading cases ----------------------------------------------------------------------


def _json_lines(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; EvalError names file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(
                f"{path}:{number}: invalid JSON: {exc.msg} (column {exc.colno})"
            ) from None
        if not isinstance(value, dict):
            raise EvalError(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
        yield number, value


def _text(value: dict[str, Any], name: str, where: str, required: bool = True) -> str:
    if name not in value or value[name] is None:
        if required:
            raise EvalError(f"{where}: missing field {name!r}")
        return ""
    item = value[name]
    if isinstance(item, bool) or not isinstance(item, str | int):
        raise EvalError(f"{where}: field {name!r} must be a string")
    return str(item)


def _topics(value: dict[str, Any], where: str, name: str = "topics") -> frozenset[str]:
    if name not in value:
        if name != "topics":
            return frozenset()
        raise EvalError(f"{where}: missing field 'topics' (use [] for a case that matches none)")
    topics = value[name]
    if not isinstance(topics, list) or not all(isinstance(t, str) and t for t in topics):
        raise EvalError(f"{where}: field {name!r} must be a list of topic keys")
    return frozenset(topics)


def load_cases(path: Path) -> list[Case]:
    """Read a JSON Lines case file; a bad line raises EvalError naming file:line and the field."""
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for number, value in _json_lines(path):
        where = f"{path}:{number}"
        case_id = _text(value, "id", where)
        if not case_id.strip():
            raise EvalError(f"{where}: field 'id' must not be empty")
        if case_id in seen:
            raise EvalError(f"{where}: duplicate id {case_id!r} (first on line {seen[case_id]})")
        seen[case_id] = number
        title = _text(value, "title", where)
        summary = _text(value, "summary", where, required=False)
        if not (title.strip() or summary.strip()):
            raise EvalError(f"{where}: case {case_id!r} has neither title nor summary")
        language = _text(value, "language", where).strip().lower()
        if not language:
            raise EvalError(f"{where}: field 'language' must not be empty")
        cases.append(
            Case(
                id=case_id,
                title=title,
                summary=summary,
                language=language,
                topics=_topics(value, where),
                why=_text(value, "why", where, required=False),
                origin=where,
                unsure=_topics(value, where, "unsure"),
            )
        )
    if not cases:
        raise EvalError(f"{path}: no cases")
    return cases


def load_corpus_cases(corpus: Path, labels: Path) -> list[Case]:
    """Cases from a labels file joined by link with ``corpus/real/items.jsonl``."""
    items_path = corpus / CORPUS_ITEMS
    if not items_path.is_file():
        raise EvalError(f"{corpus}: not a corpus folder (no {CORPUS_ITEMS})")
    items: dict[str, dict[str, Any]] = {}
    for number, row in _json_lines(items_path):
        link = row.get("link")
        if isinstance(link, str) and link:
            items.setdefault(link, {**row, "_line": number})
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for number, value in _json_lines(labels):
        where = f"{labels}:{number}"
        link = _text(value, "link", where)
        if link in seen:
            raise EvalError(f"{where}: duplicate link (first on line {seen[link]})")
        seen[link] = number
        item = items.get(link)
        if item is None:
            raise EvalError(f"{where}: link not found in {items_path}: {link}")
        cases.append(
            Case(
                id=link,
                title=str(item.get("title") or ""),
                summary=str(item.get("summary") or ""),
                language=str(item.get("lang") or "?").lower(),
                topics=_topics(value, where),
                why=_text(value, "note", where, required=False),
                origin=where,
                unsure=_topics(value, where, "unsure"),
                key=link,
            )
        )
    if not cases:
        raise EvalError(f"{labels}: no labels")
    return cases
