"""Put a matching entry into a story and decide what kind of alert, if any, it deserves.

- the first item of a story opens it: a "new" alert;
- a later item that adds figures, dates, names, statuses or quotes: a "development" alert
  that shows only what it adds;
- a later item that adds nothing: "coverage" — recorded, counted, no immediate alert;
- an edit of an item already in a story: an "updated" alert when the edit adds facts or
  touches the matched terms; otherwise nothing (cosmetic edits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from parley.flows.stories.cluster import (
    WINDOW,
    StoryView,
    choose_story,
    joining_numbers,
    signature,
)
from parley.flows.stories.facts import Facts, extract_facts, new_facts
from parley.storage.entries import Snapshot
from parley.storage.models import Entry, Feed
from parley.storage.stories import (
    StoryState,
    add_to_story,
    open_story,
    recent_stories,
    story_of_entry,
)

NEW, DEVELOPMENT, COVERAGE, UPDATED, QUIET = "new", "development", "coverage", "updated", "none"
ALERTING = frozenset({NEW, DEVELOPMENT, UPDATED})


@dataclass(frozen=True)
class Decision:
    kind: str
    story: StoryState | None  # as stored once the entry is in it
    added: Facts = field(default_factory=Facts)


def assign(
    session: Session,
    *,
    topic_key: str,
    terms: tuple[str, ...],
    feed: Feed,
    entry: Entry,
    previous: Snapshot | None,
    now: datetime,
    inserted: bool = False,
) -> Decision:
    """Record ``entry`` in a story of ``topic_key`` and say what it is to the reader.

    ``inserted``: the entry was first stored by this transaction, so no story holds it yet.
    """
    assert entry.id is not None
    current = None if inserted else story_of_entry(session, entry.id, topic_key)
    if current is not None:
        if previous is None:
            return Decision(QUIET, current)  # seen before (a re-match): nothing new to say
        return _edit(current, terms, entry, previous)
    facts = extract_facts(entry.title, entry.summary)
    when = entry.published_at or now
    words = signature(entry.title, entry.summary)
    candidates = recent_stories(session, topic_key, when - WINDOW, when + WINDOW)
    numbers = joining_numbers(facts.numbers, terms)
    chosen = choose_story([_view(s) for s in candidates], words, numbers, facts.names)
    if chosen is None:
        story = open_story(session, topic_key=topic_key, entry=entry,
                           official=feed.tier == "primary", signature=sorted(words),
                           facts=facts.to_json(), when=when)  # fmt: skip
        return Decision(NEW, story, facts)
    story = next(s for s in candidates if s.id == chosen.id)
    known = Facts.from_json(story.facts)
    added = significant(new_facts(known, facts))
    role = COVERAGE if added.is_empty() else DEVELOPMENT
    # Later items are compared with all that was said.
    story = add_to_story(session, story, entry, role=role, added=added.to_json(), when=when,
                         facts=known.union(facts).to_json())  # fmt: skip
    return Decision(role, story, added)


def significant(added: Facts) -> Facts:
    """The facts that make news on their own: figures, dates and status changes.

    New names and quotes are too common across outlets (each names its own officials and
    quotes its own sources) to raise an alert by themselves; they stay in the story.
    """
    return Facts(numbers=added.numbers, dates=added.dates, statuses=added.statuses)


def _view(story: StoryState) -> StoryView:
    facts = Facts.from_json(story.facts)
    return StoryView(story.id, frozenset(story.signature), facts.numbers, facts.names)


def _edit(story: StoryState, terms: tuple[str, ...], entry: Entry, previous: Snapshot) -> Decision:
    before = extract_facts(previous.title, previous.summary)
    # An outlet editing its own item: a new name counts too (unlike across outlets).
    found = new_facts(before, extract_facts(entry.title, entry.summary))
    added = Facts(numbers=found.numbers, dates=found.dates, statuses=found.statuses,
                  names=found.names, labels=found.labels)  # fmt: skip
    if not added.is_empty() or _touches(terms, previous, entry):
        return Decision(UPDATED, story, added)
    return Decision(QUIET, story)


def _touches(terms: tuple[str, ...], previous: Snapshot, entry: Entry) -> bool:
    """Whether the words around a matched term changed (one appeared or disappeared)."""
    old = signature(previous.title, previous.summary)
    new = signature(entry.title, entry.summary)
    changed = old ^ new
    term_words = signature(" ".join(t.replace("*", "") for t in terms), "")
    return any(c.startswith(w) or w.startswith(c) for c in changed for w in term_words)
