"""Word lists for the name extractor: words that are not names, context names, well-known names."""

from __future__ import annotations

from parley.flows.stories.name_keys import MIN_STEM, POSSESSIVE, name_key, word_key, wordlist

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
WELL_KNOWN_KEYS = frozenset(name_key(name) for name in WELL_KNOWN_NAMES)


def is_context_name(word: str) -> bool:
    """True for Ukraine, Russia, Kyiv, Putin … in any of the three languages."""
    surface = POSSESSIVE.sub("", word).casefold()
    if surface in _CONTEXT_SURFACES:
        return True
    key = word_key(word)
    return len(key) >= MIN_STEM and key in _CONTEXT_KEYS


def is_stop_word(word: str) -> bool:
    """A capitalised word that is not a name (STOP_WORDS, compared lower case)."""
    return POSSESSIVE.sub("", word).casefold() in STOP_WORDS
