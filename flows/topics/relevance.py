"""The monitor's matcher: the topic rules, and learned scores for what the rules missed.

``RelevanceMatcher.match`` returns the rules' matches (match.py) and, for every topic the model
file has weights for and the rules did not match, a learned match when the entry names this
war's context (the topics file's ``context:`` terms) and the topic's score reaches its
threshold. A learned match explains itself like a rule match does: its ``rule`` reads
``learned: 0.83 ≥ 0.61 (truce, easter, kremlin)`` and its terms are the entry's words that
weighed most. A topic's `not` terms veto its learned match as they veto its rules (unless one
of its `unless` terms occurs): "Black Sea Fleet" news stays out however the words score.
Without a model file, or for a topic the model has no weights for, only the rules decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from parley.flows.topics.explain import TopicMatch
from parley.flows.topics.learned import LearnedScorer, Score, load_model
from parley.flows.topics.load import Topic, load_context
from parley.flows.topics.match import TopicMatcher
from parley.flows.topics.terms import Term

CONTEXT_KEY = "context"
SNIPPET = 200  # characters of the title (then the summary) quoted by a learned match


class RelevanceMatcher:
    """Rules first; the learned scorer adds the topics they missed (see module docstring)."""

    def __init__(
        self,
        topics: Sequence[Topic],
        scorer: LearnedScorer | None = None,
        context: Sequence[Term] = (),
    ) -> None:
        self.rules = TopicMatcher(topics)
        self._by_key = {topic.key: topic for topic in topics}
        self._order = {topic.key: index for index, topic in enumerate(topics)}
        learned = [key for key in (scorer.keys if scorer else ()) if key in self._by_key]
        self.scorer = scorer if learned else None
        self._learned = tuple(learned)
        gate = Topic(CONTEXT_KEY, CONTEXT_KEY, "low", tuple(context), (), ()) if context else None
        self._context = TopicMatcher([gate]) if gate is not None else None
        # a topic's `not` terms (lifted by its `unless` terms) veto its learned match too
        vetoes = [Topic(t.key, t.name, t.severity, t.none, (), t.unless) for t in topics if t.none]
        self._vetoes = TopicMatcher(vetoes) if vetoes else None

    @property
    def topics(self) -> tuple[Topic, ...]:
        return self.rules.topics

    @property
    def learned_topics(self) -> tuple[str, ...]:
        """The topics a learned score can add a match to."""
        return self._learned if self.scorer is not None else ()

    def match(self, title: str, summary: str) -> list[TopicMatch]:
        found = self.rules.match(title, summary)
        if self.scorer is None:
            return found
        matched = {m.topic_key for m in found}
        missing = [key for key in self._learned if key not in matched]
        if not missing or not self.in_context(title, summary):
            return found
        passed = [score for score in self.scorer.scores(title, summary, missing) if score.passed]
        if passed:
            vetoed = self.vetoed(title, summary)
            passed = [score for score in passed if score.key not in vetoed]
        if not passed:
            return found
        added = [self._learned_match(score, title, summary) for score in passed]
        return sorted(found + added, key=lambda m: self._order[m.topic_key])

    def in_context(self, title: str, summary: str) -> bool:
        """Whether the entry names this war (always true without ``context:`` terms); the
        matcher's first step alone (TopicMatcher.mentions), as a gate needs no explanation."""
        return self._context is None or self._context.mentions(title, summary)

    def vetoed(self, title: str, summary: str) -> set[str]:
        """The topics whose `not` terms occur in the entry (and no `unless` term lifts them)."""
        if self._vetoes is None:
            return set()
        return {m.topic_key for m in self._vetoes.match(title, summary)}

    def scores(self, title: str, summary: str) -> list[Score]:
        """The learned scores of every learned topic, for explaining (``topics check``)."""
        return self.scorer.scores(title, summary, self._learned) if self.scorer else []

    def _learned_match(self, score: Score, title: str, summary: str) -> TopicMatch:
        topic = self._by_key[score.key]
        words = ", ".join(score.top) or "no single word"
        in_title = any(word in title.casefold() for word in score.top)
        text = " ".join((title if in_title or not summary else summary).split())
        return TopicMatch(
            topic_key=topic.key,
            topic_name=topic.name,
            severity=topic.severity,
            terms=score.top,
            field="title" if in_title else "summary",
            snippet=text[:SNIPPET] + ("…" if len(text) > SNIPPET else ""),
            rule=f"learned: {score.score:.2f} ≥ {score.threshold:.2f} ({words})",
            score=round(score.score, 3),
        )


def build_matcher(
    topics: Sequence[Topic], topics_file: Path | None, model_file: Path | None
) -> RelevanceMatcher:
    """The monitor's matcher for ``topics`` (read from ``topics_file``) and a model file.

    ``model_file`` None: the rules alone. A model file that is named but missing or unreadable
    raises ModelError (its message names the file): a monitor silently running without the
    scores it was set up with would miss what they catch.
    """
    context = load_context(topics_file) if topics_file is not None else ()
    scorer = load_model(model_file) if model_file is not None else None
    return RelevanceMatcher(topics, scorer, context)
