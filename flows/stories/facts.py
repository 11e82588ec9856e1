"""What an item says, as comparable facts, and what a later item in a story adds.

`extract_facts(title, summary)` reduces an English, Ukrainian or Russian item to sets of
canonical strings, so two items in different languages can be compared set by set:

- numbers: "175", "1.5", "1500000" ("1.5 million", "1,5 млн"), "30" ("30-day", "30%"). Thousand
  separators (1,500 / 1 500) and decimal commas (1,5) are read; a number glued to letters (F-16,
  Су-34, 3rd) is not a figure. A plain 1900-2100 is a year and skipped unless a counted noun
  follows ("2000 prisoners"). Day and year numbers inside a date are not figures. Numbers written
  as words ("thirty", "тридцять") are not read.
- dates: "03-27", or "2025-03-27" with a year, from "March 27", "27 March", "27th of March",
  "27 березня", "27 марта", "27.03", "27.03.2025", "2025-03-27"; "27-28 March" gives both days.
  Weekdays and relative words ("on Thursday", "tomorrow") are not read.
- names: cross-language keys from `parley.flows.stories.name_keys` (see its docstring for the rules,
  the small alias table and the limits). Ukraine, Russia, Kyiv, Moscow, the Kremlin, the US, the EU, Washington, Putin,
  Zelensky and Trump are context present in almost every story and are dropped.
- statuses: agreed, rejected, violated, signed, postponed, suspended, resumed, completed,
  collapsed, extended; found by word stems in the three languages. A stem right after a negation
  ("not", "did not", "failed to", "не", "ні") is skipped rather than inverted; Ukrainian/Russian
  infinitives ("підписати", "подписать": plans, not events) are skipped; English future and
  modal forms ("will sign") are not told apart from events when their stem counts ("agree").
- quotes: text between “ ”, « », „ “ or " " of at least four words, normalised (lower case, no
  punctuation). A quote and its translation are different quotes.

`new_facts(known, candidate)` is the part of `candidate` that `known` does not already hold;
`describe()` turns facts into short lines for an alert. Everything here is pure: no I/O.
Numbers and dates are read in figures.py, statuses and quotes in statements.py, names in
names.py; this module holds the Facts type and puts them together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from parley.flows.stories.figures import (
    MONTH_NAMES,
    date_text,
    extract_dates,
    extract_numbers,
    month_day,
)
from parley.flows.stories.names import Name, extract_names
from parley.flows.stories.statements import (
    QUOTE_MIN_WORDS,
    QUOTE_SAME_CONTAINMENT,
    QUOTE_SAME_JACCARD,
    STATUSES,
    extract_quotes,
    extract_statuses,
    quote_key,
    same_quote,
)
from parley.flows.topics.normalize import normalize

KINDS: tuple[str, ...] = ("numbers", "dates", "names", "statuses", "quotes")
DESCRIBE_QUOTE_CHARS = 160


@dataclass(frozen=True)
class Facts:
    """Facts of one item or of a whole story; every field is a set of canonical strings.

    `labels` keeps, for display only, how a name or quote was written ("name:amrv" →
    "Умєров", "quote:we are ready" → "We are ready…"); it takes no part in equality.
    """

    numbers: frozenset[str] = frozenset()
    dates: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    quotes: frozenset[str] = frozenset()
    labels: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

    def is_empty(self) -> bool:
        return not (self.numbers or self.dates or self.names or self.statuses or self.quotes)

    def label(self, kind: str, key: str) -> str:
        """How `key` of `kind` ("name" or "quote") was written; the key itself if unknown."""
        return dict(self.labels).get(f"{kind}:{key}", key)

    def to_json(self) -> dict[str, list[str]]:
        data = {kind: sorted(getattr(self, kind)) for kind in KINDS}
        data["labels"] = [f"{key}={text}" for key, text in self.labels]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Sequence[str]]) -> Facts:
        unknown = set(data) - {*KINDS, "labels"}
        if unknown:
            raise ValueError(f"facts: unknown keys {sorted(unknown)}")
        labels = tuple(
            (key, text) for key, _, text in (item.partition("=") for item in data.get("labels", ()))
        )
        return cls(
            numbers=frozenset(data.get("numbers", ())),
            dates=frozenset(data.get("dates", ())),
            names=frozenset(data.get("names", ())),
            statuses=frozenset(data.get("statuses", ())),
            quotes=frozenset(data.get("quotes", ())),
            labels=_merge_labels(labels),
        )

    def union(self, other: Facts) -> Facts:
        return Facts(
            numbers=self.numbers | other.numbers,
            dates=self.dates | other.dates,
            names=self.names | other.names,
            statuses=self.statuses | other.statuses,
            quotes=self.quotes | other.quotes,
            labels=_merge_labels((*self.labels, *other.labels)),
        )


def _merge_labels(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """One label per key, the first one seen, in key order."""
    merged: dict[str, str] = {}
    for key, text in pairs:
        merged.setdefault(key, text)
    return tuple(sorted(merged.items()))


# --- the API ---------------------------------------------------------------------------------


def extract_facts(title: str, summary: str) -> Facts:
    """The facts of one item (pure: the same text always gives the same facts)."""
    text = normalize(f"{title}\n{summary}")
    dates, undated = extract_dates(text)
    names: list[Name] = extract_names(title, summary)
    quotes = extract_quotes(title) | extract_quotes(summary)
    labels = [(f"name:{name.key}", name.surface) for name in names]
    labels += [(f"quote:{key}", original) for key, original in quotes.items()]
    return Facts(
        numbers=frozenset(extract_numbers(undated)),
        dates=frozenset(dates),
        names=frozenset(name.key for name in names),
        statuses=frozenset(extract_statuses(text)),
        quotes=frozenset(quotes),
        labels=_merge_labels(labels),
    )


def _known_name(name: str, known: frozenset[str]) -> bool:
    """A name is known when all its words are (Rustem Umerov after Умєров and Rustem), or when
    its last word is the last word of a known name (Rustem Umerov after Умєров)."""
    words = name.split()
    known_words = {word for other in known for word in other.split()}
    known_last = {other.split()[-1] for other in known if other}
    return set(words) <= known_words or (bool(words) and words[-1] in known_last)


def new_facts(known: Facts, candidate: Facts) -> Facts:
    """What `candidate` adds over `known`.

    Numbers and statuses: set difference. Dates: by month and day, so "2025-03-27" adds nothing
    to "03-27" and the reverse. Names: see _known_name. Quotes: new unless a known quote has
    token Jaccard ≥ QUOTE_SAME_JACCARD with it, or holds QUOTE_SAME_CONTAINMENT of its words.
    """
    known_days = {month_day(date) for date in known.dates}
    names = frozenset(name for name in candidate.names if not _known_name(name, known.names))
    quotes = frozenset(
        quote
        for quote in candidate.quotes
        if not any(same_quote(quote, other) for other in known.quotes)
    )
    wanted = {f"name:{name}" for name in names} | {f"quote:{quote}" for quote in quotes}
    return Facts(
        numbers=candidate.numbers - known.numbers,
        dates=frozenset(date for date in candidate.dates if month_day(date) not in known_days),
        names=names,
        statuses=candidate.statuses - known.statuses,
        quotes=quotes,
        labels=tuple(pair for pair in candidate.labels if pair[0] in wanted),
    )


def _short(text: str) -> str:
    return text if len(text) <= DESCRIBE_QUOTE_CHARS else text[: DESCRIBE_QUOTE_CHARS - 1] + "…"


def _number_order(number: str) -> tuple[Decimal, str]:
    try:
        return Decimal(number), number
    except InvalidOperation:
        return Decimal(0), number


def describe(facts: Facts) -> list[str]:
    """Short lines for an alert, in a fixed order: statuses, figures, dates, names, quotes."""
    lines = [f"status: {status}" for status in STATUSES if status in facts.statuses]
    lines += [f"status: {status}" for status in sorted(facts.statuses - set(STATUSES))]
    lines += [f"new figure: {number}" for number in sorted(facts.numbers, key=_number_order)]
    lines += [f"new date: {date_text(date)}" for date in sorted(facts.dates, key=month_day)]
    names = sorted(facts.label("name", name) for name in facts.names)
    lines += [f"new name: {name}" for name in names]
    quotes = sorted(facts.label("quote", quote) for quote in facts.quotes)
    lines += [f"quote: «{_short(quote)}»" for quote in quotes]
    return lines


__all__ = [
    "DESCRIBE_QUOTE_CHARS",
    "KINDS",
    "MONTH_NAMES",
    "QUOTE_MIN_WORDS",
    "QUOTE_SAME_CONTAINMENT",
    "QUOTE_SAME_JACCARD",
    "STATUSES",
    "Facts",
    "date_text",
    "describe",
    "extract_facts",
    "month_day",
    "new_facts",
    "quote_key",
]
