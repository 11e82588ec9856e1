"""Benchmark the topic matcher alone: entries per second on one core.

Generates 50 synthetic topics × 30 aliases (words, stems, phrases and names in Latin and
Cyrillic, plus an `all` context group and vetoes) and realistic ~700-character entries in an
en/uk/ru mix, about 5% of which hit a topic. Everything is generated here from word lists
written for this file; nothing is read from the network or a corpus.

    .venv/bin/python bench/match_bench.py
    .venv/bin/python bench/match_bench.py --entries 5000 --topics 50 --aliases 30

Each figure is the best of 3 runs over the same entries (time.perf_counter). "warm" reuses
one matcher, so its token cache already knows the vocabulary (as in a long-running monitor);
"cold" builds a new matcher for every run, so every distinct token is looked up once.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from parley.flows.topics.load import Topic, load_topics
from parley.flows.topics.match import TopicMatcher
from parley.flows.topics.relevance import RelevanceMatcher, build_matcher

ROOT = Path(__file__).resolve().parent.parent


def _words(text: str) -> list[str]:
    return text.split()


# Filler vocabulary by language: function words and ordinary news words.
FILLER = {
    "en": _words(
        "the a of to in and on for with at by from that this was is are were has have said "
        "officials government minister report week city region people after before during "
        "new year market prices budget plan meeting statement local police court school "
        "company workers company's figures data growth rise fall yesterday today morning "
        "evening according sources spokesperson capital election parliament vote council "
        "committee hospital road bridge water supply heating season farmers harvest trade "
        "investment bank loan project construction repairs weather storm rain snow"
    ),
    "uk": _words(
        "і в на з до що це був була було були про для після перед під час новий рік місто "
        "область люди уряд міністр звіт тиждень ринок ціни бюджет план зустріч заява суд "
        "школа компанія працівники дані зростання вчора сьогодні вранці ввечері за словами "
        "джерела столиця вибори парламент голосування рада комітет лікарня дорога міст "
        "вода постачання опалення сезон фермери врожай торгівля інвестиції банк кредит"
    ),
    "ru": _words(
        "и в на с до что это был была было были про для после перед под время новый год "
        "город область люди правительство министр отчет неделя рынок цены бюджет план "
        "встреча заявление суд школа компания работники данные рост вчера сегодня утром "
        "вечером по словам источники столица выборы парламент голосование совет комитет "
        "больница дорога мост вода снабжение отопление сезон фермеры урожай торговля"
    ),
}
# Sentences on the seed topics (written for this file), put into entries for the seed run.
SEED_HITS = (
    "IAEA experts rotate at the Zaporozhye nuclear plant",
    "Grain corridor ships leave Odesa ports under the Black Sea deal",
    "Kyiv and Moscow swap 150 prisoners of war",
    "Ukraine and Russia to hold talks in Istanbul",
    "Ротацію експертів МАГАТЕ на Запорізькій АЕС перенесли",
    "Переговори у Стамбулі: делегація України прибула",
    "Энергетическое перемирие: Россия и Украина обменялись обвинениями",
    "Кремль: Россия готова к 30-дневному прекращению огня",
)
LATIN = "bcdfghklmnprstvz"
CYRILLIC = "бвгдзклмнпрстфхцчшж"
VOWELS_LATIN = "aeiou"
VOWELS_CYRILLIC = "аеиоуяюі"


def made_up_word(rng: random.Random, cyrillic: bool, syllables: int) -> str:
    consonants, vowels = (CYRILLIC, VOWELS_CYRILLIC) if cyrillic else (LATIN, VOWELS_LATIN)
    return "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables))


def synthetic_topics(rng: random.Random, count: int, aliases: int) -> list[Topic]:
    """Topics whose aliases are made-up words: words, stems, phrases and capitalised names."""
    topics = []
    for number in range(count):
        terms: list[str] = []
        while len(terms) < aliases:
            cyrillic = rng.random() < 0.5
            word = made_up_word(rng, cyrillic, rng.randint(3, 5))
            shape = rng.random()
            if shape < 0.3:
                terms.append(word)
            elif shape < 0.55:
                terms.append(word[: rng.randint(4, len(word))] + "*")
            elif shape < 0.8:
                terms.append(f"{word} {made_up_word(rng, cyrillic, 2)}")
            else:
                terms.append(word.capitalize())  # a name: also matched by its skeleton
        context = [made_up_word(rng, rng.random() < 0.5, 3) for _ in range(10)]
        vetoes = [made_up_word(rng, rng.random() < 0.5, 4) for _ in range(3)]
        topics.append(
            Topic(
                key=f"t{number:02d}",
                name=f"Topic {number}",
                severity="medium",
                any=tuple(dict.fromkeys(terms)),
                all=((*context, *terms[:5]),),
                none=tuple(vetoes),
            )
        )
    return topics


def entries(
    rng: random.Random,
    topics: list[Topic],
    count: int,
    hit_rate: float,
    seed_hits: bool = False,
) -> list[tuple[str, str]]:
    """~700-character entries in en/uk/ru; `hit_rate` of them carry an alias and a context."""
    out = []
    for _ in range(count):
        lang = rng.choice(("en", "uk", "ru"))
        words = FILLER[lang]
        title = " ".join(rng.choice(words) for _ in range(9)).capitalize()
        summary_words = [rng.choice(words) for _ in range(100)]
        if rng.random() < hit_rate and seed_hits:
            title = rng.choice(SEED_HITS)
        elif rng.random() < hit_rate:
            topic = rng.choice(topics)
            alias = str(rng.choice(topic.any)).replace("*", "ами")
            context = str(rng.choice(topic.all[0]))
            summary_words[rng.randrange(100)] = alias
            summary_words[rng.randrange(100)] = context.replace("*", "")
        summary = ""
        for index, word in enumerate(summary_words):
            summary += word + (". " if index % 14 == 13 else ", " if index % 5 == 4 else " ")
        out.append((title, summary[:700].capitalize()))
    return out


def best_of(runs: int, work: Callable[[], int]) -> tuple[float, int]:
    """The shortest of `runs` timings, and what the work returned."""
    best, result = float("inf"), 0
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=50)
    parser.add_argument("--aliases", type=int, default=30)
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--hit-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    topics = synthetic_topics(rng, args.topics, args.aliases)
    items = entries(rng, topics, args.entries, args.hit_rate)
    seeds = load_topics(ROOT / "seeds" / "topics.yaml")
    chars = sum(len(t) + len(s) for t, s in items) / len(items)

    seed_items = entries(rng, topics, args.entries, args.hit_rate, seed_hits=True)

    def run(
        matcher_for: Callable[[], TopicMatcher | RelevanceMatcher],
        texts: list[tuple[str, str]] = items,
    ) -> Callable[[], int]:
        def work() -> int:
            matcher = matcher_for()
            return sum(1 for title, summary in texts if matcher.match(title, summary))

        return work

    synthetic = TopicMatcher(topics)
    seeded = TopicMatcher(seeds)
    seed_file = ROOT / "seeds" / "topics.yaml"
    tracemalloc.start()
    whole = build_matcher(seeds, seed_file, ROOT / "seeds" / "relevance" / "model.json")
    model_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # Every entry names this war (a "Kyiv" in its summary), so the learned scores are computed
    # for every one of them: the whole matcher's worst case.
    in_context = [(title, "Kyiv. " + summary) for title, summary in seed_items]
    rows = [
        ("synthetic, warm", len(topics), run(lambda: synthetic)),
        ("synthetic, cold", len(topics), run(lambda: TopicMatcher(topics))),
        ("seed topics (rules), warm", len(seeds), run(lambda: seeded, seed_items)),
        ("seed topics (rules + learned), warm", len(seeds), run(lambda: whole, seed_items)),
        ("seed topics (rules + learned), every entry in context", len(seeds),
         run(lambda: whole, in_context)),
    ]  # fmt: skip
    aliases = sum(len(t.any) for t in topics)
    print(
        f"{len(items)} entries, {chars:.0f} characters on average, "
        f"{aliases} synthetic aliases; Python {sys.version.split()[0]}, one core\n"
    )
    learned = ", ".join(whole.learned_topics) or "none"
    print(
        f"learned scores for: {learned}; matcher and model built in {model_bytes / 2**20:.1f} MiB\n"
    )
    print("| run | topics | entries matched | entries/s | µs/entry |")
    print("|---|---:|---:|---:|---:|")
    for name, topic_count, work in rows:
        seconds, matched = best_of(3, work)
        rate = len(items) / seconds
        print(
            f"| {name} | {topic_count} | {matched} | {rate:,.0f} | "
            f"{1e6 * seconds / len(items):.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
