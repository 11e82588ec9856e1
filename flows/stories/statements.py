"""What an item says was done or said: statuses by word stems, and quotes (see facts.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from parley.flows.stories.name_keys import wordlist
from parley.flows.topics.normalize import normalize

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


WORD_CACHE = 65_536  # distinct words whose statuses are remembered


@lru_cache(maxsize=WORD_CACHE)
def _word_statuses(word: str) -> tuple[str, ...]:
    """The statuses one word states by its stem (none for an infinitive); words recur across
    items, so each is tried against the status patterns once."""
    if _INFINITIVE.search(word):
        return ()
    return tuple(status for status, pattern in _STATUS_WORD_RES.items() if pattern.fullmatch(word))


def extract_statuses(text: str) -> set[str]:
    words = _WORD.findall(text)
    statuses: set[str] = set()
    for index, word in enumerate(words):
        found = _word_statuses(word)
        if found and not _negated(words, index):
            statuses.update(found)
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


def extract_quotes(text: str) -> dict[str, str]:
    """Quotes of QUOTE_MIN_WORDS+ words in original `text`: normal form → text as written."""
    quotes: dict[str, str] = {}
    for match in _QUOTE.finditer(text):
        inner = next(group for group in match.groups() if group is not None).strip()
        key = quote_key(inner)
        if len(key.split()) >= QUOTE_MIN_WORDS:
            quotes.setdefault(key, inner)
    return quotes


def same_quote(a: str, b: str) -> bool:
    ta, tb = set(a.split()), set(b.split())
    if not ta or not tb:
        return False
    common = len(ta & tb)
    if common / len(ta | tb) >= QUOTE_SAME_JACCARD:
        return True
    return common / min(len(ta), len(tb)) >= QUOTE_SAME_CONTAINMENT
