"""Which story a new matching item belongs to: pure scoring over plain data.

An item joins a story of the same topic seen within the time window when they share a
significant figure, or names and some wording, or much of their wording; otherwise it opens
a new story. Figures and names compare across languages (they come from facts.py as
language-neutral keys); wording compares within a language.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from parley.flows.topics.normalize import normalize

WINDOW = timedelta(hours=72)
JOIN_SCORE = 0.5
LEAD_WORDS = 40
MIN_WORD = 4
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class StoryView:
    """What clustering needs to know of an open story."""

    id: int
    signature: frozenset[str]
    numbers: frozenset[str]
    names: frozenset[str]


def signature(title: str, summary: str) -> frozenset[str]:
    """The distinctive words of the title and the lead, normalised."""
    lead = " ".join(summary.split()[:LEAD_WORDS])
    words = _WORD.findall(normalize(f"{title} {lead}"))
    return frozenset(w for w in words if len(w) >= MIN_WORD and not w.isdigit())


BOILERPLATE_NAMES = frozenset({"rt nvs", "full statement", "breaking", "update", "live"})
MIN_NAME_KEY = 4


def joining_names(names: frozenset[str]) -> frozenset[str]:
    """Names strong enough to join items: not acronyms or bulletin furniture (MSK, MOD, RT News)."""
    return frozenset(
        n for n in names if len(n.replace(" ", "")) >= MIN_NAME_KEY and n not in BOILERPLATE_NAMES
    )


def joining_numbers(numbers: frozenset[str], terms: Sequence[str]) -> frozenset[str]:
    """Figures that can join items: not those in the matched alias itself ("30-day ceasefire")."""
    own = {n for term in terms for n in _NUMBER.findall(term)}
    return frozenset(n for n in numbers if n not in own)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def score(story: StoryView, words: frozenset[str], numbers: frozenset[str],
          names: frozenset[str]) -> float:  # fmt: skip
    """How strongly an item belongs to ``story``: ≥ JOIN_SCORE joins."""
    value = jaccard(story.signature, words)
    if story.numbers & numbers:
        value += 0.5
    if joining_names(story.names) & joining_names(names):
        value += 0.3
    return value


def choose_story(
    stories: Sequence[StoryView],
    words: frozenset[str],
    numbers: frozenset[str],
    names: frozenset[str],
) -> StoryView | None:
    """The best-scoring story at or above JOIN_SCORE, or None (open a new one)."""
    best: tuple[float, StoryView] | None = None
    for story in stories:
        value = score(story, words, numbers, names)
        if value >= JOIN_SCORE and (best is None or value > best[0]):
            best = (value, story)
    return best[1] if best else None
