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
- names: cross-language keys from `parley.flows.stories.names` (see its docstring for the rules,
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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from parley.flows.stories.names import Name, extract_names, wordlist
from parley.flows.topics.normalize import normalize

KINDS: tuple[str, ...] = ("numbers", "dates", "names", "statuses", "quotes")
STATUSES: tuple[str, ...] = (
    "agreed",
    "rejected",
    "violated",
    "signed",
    "postponed",
    "suspended",
    "resumed",
    "completed",
    "collapsed",
    "extended",
)
QUOTE_MIN_WORDS = 4
QUOTE_SAME_JACCARD = 0.6  # token Jaccard at or above which two quotes are the same statement
QUOTE_SAME_CONTAINMENT = 0.9  # share of a quote's tokens inside a known quote: a fragment of it
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


# --- dates -----------------------------------------------------------------------------------

_MONTHS: dict[str, int] = {}
for _number, _forms in enumerate(
    (
        "january jan січня января",
        "february feb лютого февраля",
        "march mar березня марта",
        "april apr квітня апреля",
        "may травня мая",
        "june jun червня июня",
        "july jul липня июля",
        "august aug серпня августа",
        "september sept sep вересня сентября",
        "october oct жовтня октября",
        "november nov листопада ноября",
        "december dec грудня декабря",
    ),
    start=1,
):
    for _form in _forms.split():
        _MONTHS[_form] = _number
MONTH_NAMES = wordlist(
    "January February March April May June July August September October November December"
)

_MONTH = "(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?(?:\s*-\s*(?P<day2>[0-3]?\d)(?:st|nd|rd|th)?)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DATE_PATTERNS = (
    re.compile(rf"(?<![\w.,]){_DAY}\s+(?:of\s+)?{_MONTH}(?!\w)(?:,?\s+{_YEAR}(?!\d))?"),
    re.compile(rf"(?<!\w){_MONTH}\s+{_DAY}(?![\d%])(?!\w)(?:,?\s+{_YEAR}(?!\d))?"),
    re.compile(rf"(?<![\w.,]){_YEAR}-(?P<month>[01]\d)-(?P<day>[0-3]\d)(?!\d)"),
    re.compile(
        rf"(?<![\w.,])(?P<day>[0-3]?\d)\.(?P<month>[01]\d)(?:\.{_YEAR})?(?![\d%])(?!\s*(?:млн|млрд|тис|тыс|million|billion|m\b|bn\b))"
    ),
)


def _date_keys(match: re.Match[str]) -> list[str]:
    groups = match.groupdict()
    month_text = groups["month"]
    month = int(month_text) if month_text.isdigit() else _MONTHS[month_text]
    days = [int(groups["day"])]
    if groups.get("day2"):
        days.append(int(groups["day2"]))
    if not 1 <= month <= 12 or not all(1 <= day <= 31 for day in days):
        return []
    year = f"{groups['year']}-" if groups.get("year") else ""
    return [f"{year}{month:02d}-{day:02d}" for day in days]


def _extract_dates(text: str) -> tuple[set[str], str]:
    """Dates in normalised `text`, and the text with every date blanked out for numbers."""
    dates: set[str] = set()
    chars = list(text)
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer("".join(chars)):
            keys = _date_keys(match)
            if keys:
                dates.update(keys)
                chars[match.start() : match.end()] = " " * (match.end() - match.start())
    return dates, "".join(chars)


def month_day(date: str) -> str:
    """ "2025-03-27" → "03-27"; "03-27" stays."""
    return date[-5:]


def date_text(date: str) -> str:
    """ "03-27" → "27 March"; "2025-03-27" → "27 March 2025"."""
    parts = date.split("-")
    if len(parts) not in (2, 3) or not all(part.isdigit() for part in parts):
        return date
    month, day = int(parts[-2]), int(parts[-1])
    if not 1 <= month <= 12:
        return date
    text = f"{day} {MONTH_NAMES[month - 1]}"
    return f"{text} {parts[0]}" if len(parts) == 3 else text


# --- numbers ---------------------------------------------------------------------------------

_SCALES: tuple[tuple[str, Decimal], ...] = (
    (r"thousand|тисяч\w*|тис\b\.?|тысяч\w*|тыс\b\.?|k\b", Decimal(1000)),
    (r"million|millions|mln\b|mn\b|m\b|млн\b\.?|міль[йи]он\w*|миллион\w*", Decimal(10**6)),
    (r"billion|billions|bn\b|млрд\b\.?|мільярд\w*|миллиард\w*", Decimal(10**9)),
)
_NUMBER = re.compile(
    r"(?<![^\W\d_])(?<![^\W\d_]-)(?<![\d.,])"
    r"(?P<int>\d{1,3}(?:[, ]\d{3}(?!\d))+|\d+)(?:[.,](?P<frac>\d+))?"
    r"(?P<scale>\s?(?:" + "|".join(pattern for pattern, _ in _SCALES) + r"))?"
    r"(?P<tail>[^\W\d_]*)"
)
_TIME = re.compile(r"(?<!\d)\d{1,2}:\d{2}(?!\d)")
# After a year-like number, these nouns make it a count ("2000 prisoners", "2000 полонених").
_COUNTED = re.compile(
    r"\s*(?:prisoner|pow|people|soldier|servicem|civilian|troop|child|bod|tonne|ton\b|drone|"
    r"missile|полонен|військовополонен|осіб|людей|люди|дітей|військов|бійц|захисник|тіл|"
    r"пленн|военнопленн|человек|детей|военн|солдат|тел\b|тонн|дрон|ракет|беспилотник|"
    r"безпілотник)"
)


def _canonical_number(integer: str, fraction: str | None, scale: Decimal) -> str | None:
    try:
        value = Decimal(integer.replace(",", "").replace(" ", "") + "." + (fraction or "0"))
    except InvalidOperation:
        return None
    value = (value * scale).normalize()
    return format(value, "f")


def _scale_of(text: str) -> Decimal:
    text = text.strip()
    for pattern, scale in _SCALES:
        if re.fullmatch(pattern, text):
            return scale
    return Decimal(1)


def _extract_numbers(text: str) -> set[str]:
    """Figures in normalised `text` whose dates were blanked out."""
    text = _TIME.sub(" ", text)
    numbers: set[str] = set()
    for match in _NUMBER.finditer(text):
        if match.group("tail"):
            continue  # 3rd, 5g, 10km: not a figure of the story
        integer, fraction, scale_text = match.group("int"), match.group("frac"), match["scale"]
        if (
            scale_text is None
            and fraction is None
            and len(integer) == 4
            and 1900 <= int(integer) <= 2100
            and not _COUNTED.match(text, match.end())
        ):
            continue  # a year
        number = _canonical_number(integer, fraction, _scale_of(scale_text or ""))
        if number is not None:
            numbers.add(number)
    return numbers


# --- statuses --------------------------------------------------------------------------------

# Each status: regular expressions over one normalised word (й→и, ї→і, ё→е, as normalize()
# folds them), and phrases over the normalised text. Cyrillic stems are open-ended.
_STATUS_WORDS: dict[str, str] = {
    "agreed": r"agree|agrees|agreed|погодил\w*|погоджен\w*|домовил\w*|договорил\w*|"
    r"согласова\w*|согласил\w*",
    "rejected": r"reject|rejects|rejected|refuse|refuses|refused|відхил\w*|відкину\w*|"
    r"відкинул\w*|відмовил\w*|отклон\w*|отверг\w*|отказал\w*|отказыва\w*",
    "violated": r"violat\w*|breach|breaches|breached|поруш\w*|наруш\w*",
    "signed": r"signed|signs|підписал\w*|підписан(?!н|ю)\w*|подписал\w*|подписан(?!и)\w*",
    "postponed": r"postpon\w*|delayed|відклад\w*|відклал\w*|перенесл\w*|перенесен\w*|"
    r"перенос\w*|отлож\w*",
    "suspended": r"suspend\w*|halted|halts|paused|pauses|призупин\w*|приостанов\w*",
    "resumed": r"resume|resumes|resumed|resumption|restarted|відновил\w*|відновлен\w*|"
    r"поновил\w*|поновлен\w*|возобнов\w*",
    "completed": r"completed|completes|completion|завершил\w*|завершен\w*|завершено",
    "collapsed": r"collapsed|collapses|collapse|зірва\w*|зрив\w*|провал\w*|сорва\w*|срыв\w*",
    "extended": r"extend|extends|extended|extension|prolong\w*|подовж\w*|продовжено|"
    r"продли\w*|продлен\w*|продлева\w*",
}
_STATUS_PHRASES: dict[str, str] = {
    "agreed": r"reach(?:ed|es)? (?:a |an )?(?:deal|agreement|accord|understanding)|"
    r"(?:deal|agreement) (?:was |has been )?reached|struck (?:a )?deal|"
    r"досягл\w* домовленост\w*|домовленост\w* (?:було )?досягнут\w*|"
    r"достигл\w* (?:договоренност\w*|соглашени\w*)|договоренност\w* достигнут\w*",
    "rejected": r"turn(?:ed|s)? down",
    "postponed": r"put off",
    "collapsed": r"broke down|fell (?:apart|through)",
}
_INFINITIVE = re.compile(r"(?:ти|ть|тися|ться|тись)$")
_NEGATIONS = frozenset(
    wordlist("not never no without failed fail fails unable не ни ні без")
)  # plus every English "n't"
_NEGATION_WINDOW = 2
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_STATUS_WORD_RES = {
    status: re.compile(rf"(?:{pattern})", re.IGNORECASE)
    for status, pattern in _STATUS_WORDS.items()
}
_STATUS_PHRASE_RES = {
    status: re.compile(rf"(?<!\w)(?:{pattern})(?!\w)")
    for status, pattern in _STATUS_PHRASES.items()
}


def _negated(words: Sequence[str], index: int) -> bool:
    before = words[max(0, index - _NEGATION_WINDOW) : index]
    return any(word in _NEGATIONS or word.endswith("n't") for word in before)


def _extract_statuses(text: str) -> set[str]:
    words = _WORD.findall(text)
    statuses: set[str] = set()
    for index, word in enumerate(words):
        if _INFINITIVE.search(word):
            continue
        for status, pattern in _STATUS_WORD_RES.items():
            if pattern.fullmatch(word) and not _negated(words, index):
                statuses.add(status)
    joined = " ".join(words)
    for status, pattern in _STATUS_PHRASE_RES.items():
        for match in pattern.finditer(joined):
            if not _negated(words, joined.count(" ", 0, match.start())):
                statuses.add(status)
    return statuses


# --- quotes ----------------------------------------------------------------------------------

_QUOTE = re.compile(r"“([^”“]+)”|«([^»]+)»|„([^“”]+)[“”]|\"([^\"]+)\"")


def quote_key(text: str) -> str:
    """A quote's normal form: folded words joined by one space."""
    return " ".join(_WORD.findall(normalize(text)))


def _extract_quotes(text: str) -> dict[str, str]:
    """Quotes of QUOTE_MIN_WORDS+ words in original `text`: normal form → text as written."""
    quotes: dict[str, str] = {}
    for match in _QUOTE.finditer(text):
        inner = next(group for group in match.groups() if group is not None).strip()
        key = quote_key(inner)
        if len(key.split()) >= QUOTE_MIN_WORDS:
            quotes.setdefault(key, inner)
    return quotes


def _same_quote(a: str, b: str) -> bool:
    ta, tb = set(a.split()), set(b.split())
    if not ta or not tb:
        return False
    common = len(ta & tb)
    if common / len(ta | tb) >= QUOTE_SAME_JACCARD:
        return True
    return common / min(len(ta), len(tb)) >= QUOTE_SAME_CONTAINMENT


# --- the API ---------------------------------------------------------------------------------


def extract_facts(title: str, summary: str) -> Facts:
    """The facts of one item (pure: the same text always gives the same facts)."""
    text = normalize(f"{title}\n{summary}")
    dates, undated = _extract_dates(text)
    names: list[Name] = extract_names(title, summary)
    quotes = _extract_quotes(title) | _extract_quotes(summary)
    labels = [(f"name:{name.key}", name.surface) for name in names]
    labels += [(f"quote:{key}", original) for key, original in quotes.items()]
    return Facts(
        numbers=frozenset(_extract_numbers(undated)),
        dates=frozenset(dates),
        names=frozenset(name.key for name in names),
        statuses=frozenset(_extract_statuses(text)),
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
        if not any(_same_quote(quote, other) for other in known.quotes)
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
