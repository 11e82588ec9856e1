"""Figures and dates in normalised text, as canonical strings (see facts.py for the rules).

Dates are read first and blanked out, so the day and year numbers of a date are not figures.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from parley.flows.stories.name_keys import wordlist

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


def extract_dates(text: str) -> tuple[set[str], str]:
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


def extract_numbers(text: str) -> set[str]:
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
