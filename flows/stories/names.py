"""The capitalised-name extractor behind `Facts.names`.

Names are runs of capitalised words (see extract_names for which words count); each becomes a
cross-language key (see name_keys.py for the rules, the small alias table and the limits), and
the word lists of name_lists.py say which capitalised words are not names or are mere context.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from parley.flows.stories.name_keys import (
    CASE_ENDINGS,
    CYRILLIC_TO_LATIN,
    MIN_STEM,
    NAME_ALIASES,
    NAME_ALIASES_WRITTEN,
    POSSESSIVE,
    WORD,
    is_acronym,
    is_cyrillic,
    name_key,
    strip_case_ending,
    transliterate,
    word_key,
    wordlist,
)
from parley.flows.stories.name_lists import (
    CONTEXT_NAMES,
    STOP_WORDS,
    WELL_KNOWN_KEYS,
    WELL_KNOWN_NAMES,
    is_context_name,
    is_stop_word,
)

# --- extraction ------------------------------------------------------------------------------

_LOWER_COMPOUND = re.compile(r"[\-‐‑](?=[a-zа-яёєіїґ])")
_SENTENCE_BREAK = re.compile(r"[!?…:;«»“”„\"()\[\]]|[–—]|\s-\s|\n")
_SPEECH_VERBS = frozenset(
    wordlist(
        "said says told tells stated added warned noted confirmed announced "
        "заявив заявила заявили сказав сказала повідомив повідомила наголосив наголосила "
        "зазначив зазначила підтвердив підтвердила пояснив пояснила "
        "заявил заявила сказал сообщил сообщила подчеркнул подчеркнула отметил отметила "
        "подтвердил подтвердила пояснил пояснила"
    )
)
_SURNAME = re.compile(
    r"(?:ov|ev|ova|eva|sky|skyy|skyi|skiy|skaya|enko|chuk|"
    r"ов|ев|єв|ёв|ова|ева|єва|ову|еву|ський|ский|ська|ская|ського|ского|енко|чук)$"
)
# Title-case English headlines capitalise every content word: such words need confirmation.
_TITLE_CASE_SHARE = 0.8
_TITLE_CASE_MIN_WORDS = 3


@dataclass(frozen=True)
class Name:
    """A name found in text: its key and the words as written."""

    key: str
    surface: str


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int
    initial: bool  # first word of a sentence, a quote or a headline segment


def _capitalised(word: str) -> bool:
    return word[0].isupper() and len(word) >= 2


def _is_title_case(text: str) -> bool:
    content = [w for w in WORD.findall(text) if len(w) >= 4 and not is_cyrillic(w)]
    if len(content) < _TITLE_CASE_MIN_WORDS:
        return False
    return sum(1 for w in content if w[0].isupper()) / len(content) >= _TITLE_CASE_SHARE


def _groups(text: str, title_case: bool) -> list[list[_Word]]:
    """Runs of capitalised words separated by nothing but spaces.

    A word is marked initial when it starts a sentence, a quote or a headline segment (every
    word of a title-case headline): only capitalised words need to know.
    """
    groups: list[list[_Word]] = []
    current: list[_Word] = []
    previous: re.Match[str] | None = None
    for match in WORD.finditer(text):
        word = match.group()
        compound = _LOWER_COMPOUND.search(word)  # "UAE-mediated", "Russia-backed"
        if compound:
            word = word[: compound.start()]
        if not _capitalised(word):
            if current:
                groups.append(current)
            current = []
            previous = match
            continue
        start = match.start()
        initial = title_case or _starts_sentence(text, previous, match)
        if current and text[current[-1].end : start].strip():
            groups.append(current)
            current = []
        current.append(_Word(word, start, start + len(word), initial))
        previous = match
    if current:
        groups.append(current)
    return groups


def _starts_sentence(text: str, previous: re.Match[str] | None, match: re.Match[str]) -> bool:
    if previous is None:
        return True
    gap = text[previous.end() : match.start()]
    return bool(_SENTENCE_BREAK.search(gap)) or (
        "." in gap and len(previous.group()) >= 3  # "U.S." and "Mr." do not end one
    )


def _next_word_after(text: str, end: int) -> tuple[str, str]:
    """The punctuation right after `end` and the next word (lower case), for speech checks."""
    match = re.match(r"\s*([:,]?)\s*([^\W\d_]+)?", text[end:])
    if match is None:
        return "", ""
    return match.group(1), (match.group(2) or "").casefold()


def extract_names(title: str, summary: str) -> list[Name]:
    """Names in title and summary, in order of appearance, one per key (first surface wins).

    A word counts when it is capitalised and not in STOP_WORDS (compared lower case). The first
    word of a sentence (or any word of a title-case English headline) counts only when
    confirmed: it also appears capitalised mid-sentence, is in WELL_KNOWN_NAMES, looks like a
    Slavic surname (-ov, -enko, -ський …), its run is followed by ":" or a speech verb ("Umerov
    said", "Умєров: …"), or it opens an English run of two capitalised words ("Steve Witkoff
    arrived"). Otherwise it is dropped: "Kakhovka" after "Grossi:" is lost, a limit.
    CONTEXT_NAMES, found in nearly every story, are dropped together with the first names
    written before them.
    """
    segments = [(title, _is_title_case(title)), (summary, False)]
    grouped = [(text, title_case, _groups(text, title_case)) for text, title_case in segments]
    confirmed = {
        word_key(word.text)
        for _, _, groups in grouped
        for group in groups
        for word in group
        if not word.initial
    }
    found: dict[str, Name] = {}
    for text, title_case, groups in grouped:
        for group in groups:
            for name in _split_group(text, group, confirmed, title_case):
                found.setdefault(name.key, name)
    # "Умєров" after "Рустем Умєров" adds nothing: keep the longest form of a name.
    names = list(found.values())
    return [
        name
        for name in names
        if not any(
            other is not name and set(name.key.split()) < set(other.key.split()) for other in names
        )
    ]


def _split_group(
    text: str, group: list[_Word], confirmed: set[str], title_case: bool
) -> Iterator[Name]:
    chunk: list[_Word] = []
    for index, word in enumerate(group):
        if is_stop_word(word.text):
            yield from _chunk_name(chunk)
            chunk = []
            continue
        if is_context_name(word.text):
            chunk = []  # "Donald Trump": the first name goes with the context name
            continue
        if word.initial and not _confirmed(text, group, index, confirmed, title_case):
            continue
        chunk.append(word)
        if POSSESSIVE.search(word.text):  # "IAEA's Grossi": two names
            yield from _chunk_name(chunk)
            chunk = []
    yield from _chunk_name(chunk)


def _confirmed(
    text: str, group: list[_Word], index: int, confirmed: set[str], title_case: bool
) -> bool:
    """Whether a word that starts a sentence (or sits in a title-case headline) is a name."""
    word = group[index].text
    key = word_key(word)
    if is_acronym(word) or key in confirmed or NAME_ALIASES.get(key, key) in WELL_KNOWN_KEYS:
        return True
    if _SURNAME.search(word.casefold()):
        return True
    punct, following = _next_word_after(text, group[-1].end)
    if punct == ":" or following in _SPEECH_VERBS:
        return True  # "Umerov: …", "Rustem Umerov said", "Умєров заявив"
    # An English sentence opening with two capitalised words opens with a name ("Steve
    # Witkoff arrived", "Black Sea talks"); a Ukrainian or Russian one may open with a common
    # noun before a name in the genitive ("Заява Умєрова").
    return (
        not title_case
        and index == 0
        and len(group) > 1
        and not is_cyrillic(word)
        and not is_stop_word(group[1].text)
    )


def _chunk_name(chunk: list[_Word]) -> Iterator[Name]:
    if not chunk:
        return
    surface = " ".join(POSSESSIVE.sub("", word.text) for word in chunk)
    key = name_key(surface)
    if key:
        yield Name(key, surface)


__all__ = [
    "CASE_ENDINGS",
    "CONTEXT_NAMES",
    "CYRILLIC_TO_LATIN",
    "MIN_STEM",
    "NAME_ALIASES_WRITTEN",
    "STOP_WORDS",
    "WELL_KNOWN_NAMES",
    "Name",
    "extract_names",
    "is_acronym",
    "is_context_name",
    "name_key",
    "strip_case_ending",
    "transliterate",
    "word_key",
    "wordlist",
]
