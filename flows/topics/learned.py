"""Learned relevance: per-topic weights over word features, read from a JSON file.

The rules (match.py) explain themselves and users edit them; what they miss on real phrasing,
a linear score per topic catches: logistic-regression weights trained offline by
``parley topics train`` (train.py, scikit-learn) on the tuning part of the labelled items and
stored in ``seeds/relevance/model.json``. Scoring needs only this module and the JSON: no
scikit-learn, no NumPy, so a monitor cycle pays a few dict look-ups per word.

Features of an entry (the same function at training and scoring time, so they cannot drift):
every word of the normalised text but function words and words of one or two letters,
transliterated to Latin letters and cut to its first ``STEM`` letters (a crude stem that joins переговоры, переговори and peregovory), each such
stem once, each pair of neighbouring stems once, and the stems of the title again with a
``t:`` mark. A row is scaled to unit length (1/√n per feature), as the trainer did.

A topic's learned match is added only when the rules did not match it, the score reaches the
topic's threshold (chosen on the tuning part, see train.py), and the entry names this war's
context (``context_terms``: the topics file's sets, see cycle code) — so an item about another
war never rides on words like "ceasefire" alone.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from parley.flows.topics.normalize import normalize
from parley.flows.yamlfile import ConfigError

FORMAT = 3
STEM = 6
MIN_WORD = 3  # shorter words (і, з, в, on, of) carry no topic
TOP_FEATURES = 3  # the words named in a learned match's explanation
_WORD = re.compile(r"\w+")

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "є": "e", "ж": "zh",
    "з": "z", "и": "i", "і": "i", "ї": "i", "к": "k", "л": "l", "м": "m", "н": "n",
    "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
}  # fmt: skip
_TRANSLIT = str.maketrans(_CYRILLIC)
# Function words of 3+ letters in en/uk/ru, as the features see them (transliterated): they
# would weigh by accident of the training items, not by meaning, and explain nothing.
_FUNCTION_WORDS = """
the and for with from that this was are were has have had its his her not but after over
into about than will would said says also been which who their they
що які який яка яке це цей ця ці він вона вони для від про після перед під над між через
також як але або вже ще теж може його її їх був була було були
что это как для от про после перед под над между через также уже еще тоже может его ее их
они она оно был была было были
"""
STOP = frozenset(word.translate(_TRANSLIT) for word in _FUNCTION_WORDS.split())


class ModelError(ConfigError):
    """A model file that cannot be used; the message names the file."""


def words(text: str) -> list[tuple[str, str]]:
    """(stem, word as normalised) for every word (Unicode \\w+) of ``text`` but function words."""
    translit = _TRANSLIT
    return [
        (latin[:STEM], word)
        for word in _WORD.findall(normalize(text))
        if len(latin := word.translate(translit)) >= MIN_WORD and latin not in STOP
    ]


def stems(text: str) -> list[str]:
    """The stems of ``text``'s words, as :func:`words` gives them, without the words (fast)."""
    return [
        word[:STEM]
        for word in _WORD.findall(normalize(text).translate(_TRANSLIT))
        if len(word) >= MIN_WORD and word not in STOP
    ]


def feature_set(title: str, summary: str) -> set[str]:
    """The entry's features: stems, pairs of neighbouring stems, the title's stems marked."""
    head, body = stems(title), stems(summary)
    found = set(head)
    found.update(body)
    found.update(f"{a} {b}" for a, b in pairwise(head))
    found.update(f"{a} {b}" for a, b in pairwise(body))
    found.update("t:" + stem for stem in head)
    return found


def features(title: str, summary: str) -> dict[str, str]:
    """Feature → the word of the entry that gave it first (for explanations); the same keys
    as :func:`feature_set`."""
    head = words(title)
    body = words(summary)
    found: dict[str, str] = {}
    for sequence in (head, body):
        for index, (stem, word) in enumerate(sequence):
            found.setdefault(stem, word)
            if index:
                previous_stem, previous = sequence[index - 1]
                found.setdefault(f"{previous_stem} {stem}", f"{previous} {word}")
    for stem, word in head:
        found.setdefault("t:" + stem, word)
    return found


@dataclass(frozen=True)
class TopicWeights:
    """One topic's trained scorer: bias, weights and the threshold chosen on the tuning part."""

    key: str
    bias: float
    threshold: float
    weights: dict[str, float]


@dataclass(frozen=True)
class Score:
    """A learned score of one topic for one entry, with the words that weighed most."""

    key: str
    score: float
    threshold: float
    top: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.score >= self.threshold


class LearnedScorer:
    """Scores entries for the topics a model file has weights for."""

    def __init__(self, topics: Sequence[TopicWeights], trained_on: str = "") -> None:
        self.topics = tuple(topics)
        self.trained_on = trained_on
        # feature → (topic index, weight) for every topic that weighs it
        self._index: dict[str, list[tuple[int, float]]] = {}
        for number, topic in enumerate(self.topics):
            for feature, weight in topic.weights.items():
                self._index.setdefault(feature, []).append((number, weight))

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(topic.key for topic in self.topics)

    def scores(self, title: str, summary: str, keys: Iterable[str] | None = None) -> list[Score]:
        """Every topic's score (or only ``keys``'), highest first."""
        found = feature_set(title, summary)
        if not found:
            return []
        scale = 1.0 / math.sqrt(len(found))
        totals = [0.0] * len(self.topics)
        index = self._index
        for feature in found:
            for number, weight in index.get(feature, ()):
                totals[number] += weight
        wanted = None if keys is None else set(keys)
        result = []
        explained: dict[str, str] = {}
        for number, topic in enumerate(self.topics):
            if wanted is not None and topic.key not in wanted:
                continue
            value = _sigmoid(topic.bias + totals[number] * scale)
            top: tuple[str, ...] = ()
            if value >= topic.threshold:  # the words are read again only to explain a pass
                explained = explained or features(title, summary)
                top = self._top(number, explained)
            result.append(Score(topic.key, value, topic.threshold, top))
        return sorted(result, key=lambda s: -s.score)

    def _top(self, number: int, found: dict[str, str]) -> tuple[str, ...]:
        """The entry's words that weighed most for topic ``number`` (only for a passing score)."""
        weights = self.topics[number].weights
        weighed = sorted(
            ((weights[feature], word) for feature, word in found.items() if feature in weights),
            reverse=True,
        )
        return tuple(dict.fromkeys(word for weight, word in weighed[:TOP_FEATURES] if weight > 0))

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "stem": STEM,
            "trained_on": self.trained_on,
            "topics": {
                t.key: {"bias": t.bias, "threshold": t.threshold, "weights": t.weights}
                for t in self.topics
            },
        }


def _sigmoid(value: float) -> float:
    if value < -60:
        return 0.0
    return 1.0 / (1.0 + math.exp(-value))


def load_model(path: Path) -> LearnedScorer:
    """Read a model file written by ``parley topics train``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file (run: parley topics train)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the model: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("stem") != STEM:
        raise ModelError(
            f"{path}: not a model of this parley (format {FORMAT}, stem {STEM}); "
            "run: parley topics train"
        )
    topics = []
    raw = data.get("topics")
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: 'topics' must map topic keys to weights")
    for key, value in raw.items():
        try:
            weights = {str(f): float(w) for f, w in value["weights"].items()}
            topics.append(
                TopicWeights(str(key), float(value["bias"]), float(value["threshold"]), weights)
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"{path}: topic {key!r}: bad weights ({exc})") from None
    return LearnedScorer(topics, str(data.get("trained_on") or ""))
