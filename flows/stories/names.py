"""Cross-language name keys and the capitalised-name extractor behind `Facts.names`.

A key is a consonant skeleton of a Latin spelling, so the English, Ukrainian and Russian
spellings of one name meet: Umerov / Умєров / Умеров → "amrv", Zaporizhzhia / Zaporozhye /
Запоріжжя / Запорожье → "zprj", Medinsky / Мединский / Мединський / Мединского → "mdnsk".

How a word becomes a key:
1. Cyrillic: one common case ending is stripped when at least three letters stay (Умєрова,
   Умєрову, Умєровим → Умєров; Мединського → Мединськ), then the letters are transliterated
   with the table below (є/е/э/ё→e, и/і/ї/ы/й→i, г/ґ→g, х→kh, ю→iu, я→ia, ь/ъ dropped).
2. Latin spellings are unified: w→v, q→k, x→ks, j→dzh, ph→f, ck→k; the digraphs shch, zh, kh,
   ch, sh become one symbol each (so Zaporizhzhia's "zhzh" is one doubled symbol), a final h
   is dropped (Jeddah), then h→g (so Serhiy / Sergei / Сергій meet), and a lone c→k.
3. The skeleton: a leading vowel (a, e, i, o, u, y) becomes "a", every other vowel is dropped,
   doubled letters collapse.
An all-capitals word (an acronym: ZNPP, МАГАТЕ, NATO/НАТО) keeps its vowels: "znpp", "nato".

NAME_ALIASES joins a few names of these topics that the rules cannot: adjectives (Запорізька
АЕС → Zaporizhzhia), abbreviations (МАГАТЕ → IAEA) and translated names (Чорне море → Black Sea).

Known limits: the skeleton is short, so unrelated names can collide (Putin and Patton are both
"ptn"); spellings that differ in consonants meet only through NAME_ALIASES (Riyadh / Ер-Ріяд,
Istanbul / Стамбул are listed, Уиткофф / Witkoff is not); translated names meet only there too; other adjectives made from names keep their suffix (Херсонська ≠ Херсон);
only one case ending is stripped; a Cyrillic nominative that ends like a case ending loses it
while its Latin spelling keeps it (so -ем, as in Рустем/Артем, is not in the list; -ом, -ах are).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass


def wordlist(text: str) -> list[str]:
    """The words of a long string literal: word lists stay readable, several to a line."""
    return text.split()


# Ukrainian and Russian letters → Latin. Ukrainian г (h) and Russian г (g) both become "g",
# and the skeleton maps Latin h to g, so Latin g/h and both г's compare equal. (г as "g" also
# keeps зг/сг from looking like the digraphs zh/sh.)
CYRILLIC_TO_LATIN: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "є": "e", "ё": "e",
    "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m",
    "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh",
    "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ь": "", "ы": "i", "э": "e",
    "ю": "iu", "я": "ia", "ў": "u",
}  # fmt: skip

# Case endings stripped from Cyrillic words (longest first); the stem keeps ≥ MIN_STEM letters.
CASE_ENDINGS: tuple[str, ...] = tuple(
    sorted(
        wordlist(
            "ого ому ими ыми ами ями ою ею єю ої ій ий ый ой ей ом єм им ым ах ях "
            "а у ю я е є і и ы ь ї"
        ),
        key=len,
        reverse=True,
    )
)
MIN_STEM = 3

# Names that mean the same but do not transliterate into each other; the first form of a row
# is the canonical one. Ukrainian and Russian write "море", "дім", "кабінет" in lower case, so
# only their capitalised adjective is a name there.
NAME_ALIASES_WRITTEN: tuple[tuple[str, ...], ...] = (
    ("Zaporizhzhia", "Запорізька", "Запорожская"),
    ("ZNPP", "ЗАЕС", "ЗАЭС"),
    ("IAEA", "МАГАТЕ", "МАГАТЭ"),
    ("UAE", "ОАЕ", "ОАЭ", "United Arab Emirates"),
    ("UN", "ООН", "United Nations"),
    ("ICRC", "МКЧХ", "МККК"),
    ("Red Cross", "Червоний Хрест", "Красный Крест"),
    ("Black Sea", "Чорне", "Черное"),
    ("White House", "Білий", "Белый"),
    ("Oval", "Овальний", "Овальный"),
    ("Istanbul", "Стамбул"),
    ("Riyadh", "Ер-Ріяд", "Эр-Рияд"),
)

_VOWELS = frozenset("aeiouy")
_WORD = re.compile(r"[^\W\d_]+(?:['’ʼ\-‐‑][^\W\d_]+)*")

_APOSTROPHES_HYPHENS = re.compile(r"['’ʼ`´\-‐‑–]")
_POSSESSIVE = re.compile(r"(?<=[a-z])['’ʼ]s$", re.IGNORECASE)
# Symbols for digraphs; upper case never survives lower-casing, so they cannot be confused.
_DIGRAPHS: tuple[tuple[str, str], ...] = (
    ("shch", "Q"),
    ("zh", "J"),
    ("kh", "X"),
    ("ch", "C"),
    ("sh", "W"),
)


def _is_cyrillic(word: str) -> bool:
    return any("\u0400" <= char <= "\u04ff" for char in word)


def _fold(word: str) -> str:
    """Lower case, NFC, no combining accents except those that make й/ї/ё (kept by NFC)."""
    text = unicodedata.normalize("NFC", word.casefold())
    return _APOSTROPHES_HYPHENS.sub("", text)


def strip_case_ending(word: str) -> str:
    """Cut one common Ukrainian/Russian case ending from a lower-case Cyrillic word."""
    for ending in CASE_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word


def transliterate(word: str) -> str:
    """Cyrillic letters → Latin with CYRILLIC_TO_LATIN; other characters lower-cased as they are."""
    return "".join(CYRILLIC_TO_LATIN.get(char, char) for char in word.casefold())


def _skeleton(latin: str) -> str:
    text = "".join(char for char in latin if "a" <= char <= "z")
    for old, new in (("ck", "k"), ("ph", "f"), ("w", "v"), ("q", "k"), ("x", "ks"), ("j", "dzh")):
        text = text.replace(old, new)
    for old, new in _DIGRAPHS:
        text = text.replace(old, new)
    text = text.removesuffix("h")  # silent final h: Jeddah / Джидда (г is already g)
    text = text.replace("h", "g").replace("c", "k")
    if not text:
        return ""
    out = ["a" if text[0] in _VOWELS else text[0]]
    out.extend(char for char in text[1:] if char not in _VOWELS)
    collapsed = [char for index, char in enumerate(out) if index == 0 or char != out[index - 1]]
    return "".join(collapsed).lower()


def is_acronym(word: str) -> bool:
    """All capitals (ZNPP, МАГАТЕ), also with a plural s (POWs)."""
    letters = [char for char in word.removesuffix("s") if char.isalpha()]
    return len(letters) >= 2 and all(char.isupper() for char in letters)


def word_key(word: str) -> str:
    """The cross-language key of one word ("Умєрова" → "amrv"); "" when nothing is left."""
    word = _POSSESSIVE.sub("", word)
    if is_acronym(word):
        return "".join(char for char in transliterate(_fold(word)) if "a" <= char <= "z")
    folded = _fold(word)
    if _is_cyrillic(folded):
        folded = strip_case_ending(folded)
    return _skeleton(transliterate(folded))


def _joined_key(name: str) -> str:
    keys = (word_key(word) for word in _WORD.findall(name))
    return " ".join(key for key in keys if key)


def name_key(name: str) -> str:
    """The key of a name of one or more words: word keys joined by one space, then aliased."""
    key = _joined_key(name)
    return _NAME_ALIASES.get(key, key)


_NAME_ALIASES: dict[str, str] = {
    _joined_key(variant): _joined_key(row[0]) for row in NAME_ALIASES_WRITTEN for variant in row
}


# --- what is not a name ----------------------------------------------------------------------

# Capitalised words that are not names (compared lower case, after a possessive 's is cut):
# function words that start sentences, months and weekdays, titles before a name (they split a
# run: "Defence Minister Rustem Umerov" → "Rustem Umerov"), nationality adjectives.
STOP_WORDS: frozenset[str] = frozenset(
    wordlist(
        # English function words and frequent sentence starters
        "a an the and or but nor so yet if as at by for from in into of off on onto out over "
        "to up upon with within without about above after against along amid among around "
        "before behind below beneath beside besides between beyond despite down during except "
        "inside near since than through throughout till toward towards under until via "
        "i me my we our us you your he him his she her it its they them their this that these "
        "those who whom whose which what when where why how there here "
        "is are was were be been being am do does did done has have had having will would "
        "shall should can could may might must not no yes all any both each every few many "
        "more most much other others some such only own same also just still even again "
        "then once now today tomorrow yesterday tonight meanwhile however according "
        "new first second third last next another one two three four five six seven eight "
        "nine ten breaking live update updated exclusive analysis opinion explainer watch video "
        "photo photos report reports mr mrs ms dr st gen lt col sir "
        # months and weekdays
        "january february march april june july august september october november december "
        "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday "
        "friday saturday sunday "
        # titles written before a name
        "president minister prime deputy foreign defence defense secretary envoy special "
        "chief head spokesman spokeswoman spokesperson adviser advisor ambassador commissioner "
        "chancellor director representative senator general governor mayor chairman pope "
        "king queen prince ministry office "
        # common-noun abbreviations: nuclear power plant, prisoners of war
        "npp аес аэс pow pows uav uavs "
        # nationality adjectives (the country itself is context, see CONTEXT_NAMES)
        "ukrainian ukrainians russian russians american americans european europeans turkish "
        "saudi chinese british french german qatari emirati belarusian polish iranian israeli "
        "western soviet "
        # Ukrainian and Russian sentence starters that are capitalised only there
        "у в на за до від по під над при про після перед через як коли де що це цей ця ці "
        "він вона вони ми ви я також але і й та а чи не ні так вже ще "
        "во от из после перед через как когда где что это этот эта эти он она они мы вы "
        "также но и или да нет уже еще ещё сегодня вчера завтра сьогодні учора вчора "
        "понеділок вівторок середа четвер пятниця п'ятниця субота неділя "
        "понедельник вторник среда четверг пятница суббота воскресенье"
    )
)

# Names present in nearly every story on these topics. They never count as news: a later item
# that merely names the Kremlin must not look like a development. Compared by surface (short
# keys collide too easily) and, for keys of 3+ letters, by key (so inflected forms match).
CONTEXT_NAMES: tuple[str, ...] = tuple(
    wordlist(
        "Ukraine Україна Украина Russia Росія Россия Kyiv Kiev Київ Киев Moscow Москва "
        "Kremlin Кремль US USA США EU ЄС ЕС Europe Європа Европа Washington Вашингтон "
        "Putin Путін Путин Zelensky Zelenskyy Зеленський Зеленский Trump Трамп"
    )
)
_CONTEXT_SURFACES = frozenset(name.casefold() for name in CONTEXT_NAMES) | frozenset(
    ("u.s", "україни", "україні", "україну", "україною", "украины", "украине", "украину",
     "росії", "росію", "россии", "россию", "россией", "києва", "києві", "киева", "киеве",
     "москви", "москві", "москвы", "москве", "москву", "кремля", "кремлі", "кремле")
)  # fmt: skip
_CONTEXT_KEYS = frozenset(
    key for key in (word_key(name) for name in CONTEXT_NAMES) if len(key) >= MIN_STEM
)


# Names of these topics that often open a headline ("Zaporizhzhia plant loses power"): a
# sentence-initial word with one of these keys needs no other confirmation.
WELL_KNOWN_NAMES: tuple[str, ...] = tuple(
    wordlist(
        "Zaporizhzhia Enerhodar Kherson Odesa Mykolaiv Kharkiv Kursk Crimea Sevastopol "
        "Istanbul Стамбул Riyadh Ер-Ріяд Эр-Рияд Jeddah Ankara Geneva Minsk Doha Abu Dhabi "
        "Umerov Medinsky Yermak Witkoff Kellogg Rubio Lavrov Peskov Dmitriev Ushakov Grossi "
        "Erdogan Fidan Budanov Lubinets Moskalkova Sybiha Rosatom Naftogaz Ukrenergo Energoatom "
        "Gazprom"
    )
)
_WELL_KNOWN_KEYS = frozenset(name_key(name) for name in WELL_KNOWN_NAMES)


def is_context_name(word: str) -> bool:
    """True for Ukraine, Russia, Kyiv, Putin … in any of the three languages."""
    surface = _POSSESSIVE.sub("", word).casefold()
    if surface in _CONTEXT_SURFACES:
        return True
    key = word_key(word)
    return len(key) >= MIN_STEM and key in _CONTEXT_KEYS


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


def _words(text: str) -> Iterator[_Word]:
    previous: re.Match[str] | None = None
    for match in _WORD.finditer(text):
        if previous is None:
            initial = True
        else:
            gap = text[previous.end() : match.start()]
            initial = bool(_SENTENCE_BREAK.search(gap)) or (
                "." in gap and len(previous.group()) >= 3  # "U.S." and "Mr." do not end one
            )
        word = match.group()
        compound = _LOWER_COMPOUND.search(word)  # "UAE-mediated", "Russia-backed"
        if compound:
            word = word[: compound.start()]
        yield _Word(word, match.start(), match.start() + len(word), initial)
        previous = match


def _capitalised(word: str) -> bool:
    return word[0].isupper() and len(word) >= 2


def _is_title_case(text: str) -> bool:
    content = [w for w in _WORD.findall(text) if len(w) >= 4 and not _is_cyrillic(w)]
    if len(content) < _TITLE_CASE_MIN_WORDS:
        return False
    return sum(1 for w in content if w[0].isupper()) / len(content) >= _TITLE_CASE_SHARE


def _groups(text: str, title_case: bool) -> list[list[_Word]]:
    """Runs of capitalised words separated by nothing but spaces."""
    groups: list[list[_Word]] = []
    current: list[_Word] = []
    for word in _words(text):
        if not _capitalised(word.text):
            if current:
                groups.append(current)
            current = []
            continue
        if title_case:
            word = _Word(word.text, word.start, word.end, True)
        if current and text[current[-1].end : word.start].strip():
            groups.append(current)
            current = []
        current.append(word)
    if current:
        groups.append(current)
    return groups


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
        if _is_stop(word.text):
            yield from _chunk_name(chunk)
            chunk = []
            continue
        if is_context_name(word.text):
            chunk = []  # "Donald Trump": the first name goes with the context name
            continue
        if word.initial and not _confirmed(text, group, index, confirmed, title_case):
            continue
        chunk.append(word)
        if _POSSESSIVE.search(word.text):  # "IAEA's Grossi": two names
            yield from _chunk_name(chunk)
            chunk = []
    yield from _chunk_name(chunk)


def _is_stop(word: str) -> bool:
    return _POSSESSIVE.sub("", word).casefold() in STOP_WORDS


def _confirmed(
    text: str, group: list[_Word], index: int, confirmed: set[str], title_case: bool
) -> bool:
    """Whether a word that starts a sentence (or sits in a title-case headline) is a name."""
    word = group[index].text
    key = word_key(word)
    if is_acronym(word) or key in confirmed or _NAME_ALIASES.get(key, key) in _WELL_KNOWN_KEYS:
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
        and not _is_cyrillic(word)
        and not _is_stop(group[1].text)
    )


def _chunk_name(chunk: list[_Word]) -> Iterator[Name]:
    if not chunk:
        return
    surface = " ".join(_POSSESSIVE.sub("", word.text) for word in chunk)
    key = name_key(surface)
    if key:
        yield Name(key, surface)
