"""Deterministic synthetic news feeds for the benchmark: RSS 2.0 and Atom 1.0, in memory.

Every feed has the same shape as a real outlet's: titles of about 80 characters, HTML
summaries of about 600 characters, a guid/id, a link, an author and a date. About 5% of
items carry a story that one of the topics in seeds/topics.yaml is meant to catch (ZNPP and
the IAEA, prisoner exchanges in English, Ukrainian and Russian, the Black Sea, the energy
truce, the 30-day ceasefire); the rest is neutral text that matches no topic.

Nothing here touches the network or the disk; the same seed always gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

BASE_TIME = datetime(2025, 3, 22, 12, 0, tzinfo=UTC)
TOPIC_SHARE = 0.05
TITLE_CHARS = 80
SUMMARY_CHARS = 600

# Topical stories: (topic key, language, title, sentences for the summary).
# Each title + first sentence is enough for its topic on its own (checked by the selftest).
TOPICAL: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "znpp",
        "en",
        "IAEA team reports power line loss at Zaporizhzhia nuclear power plant",
        (
            "Inspectors of the IAEA said the Zaporizhzhia nuclear power plant lost its last "
            "backup line for several hours on {day}.",
            "The plant relied on a single 750 kV line during the outage, and its diesel "
            "generators were kept on standby.",
            "Director General Rafael Grossi said the repeated losses of off-site power showed "
            "how fragile nuclear safety at the site remains.",
        ),
    ),
    (
        "znpp",
        "uk",
        "МАГАТЕ: Запорізька АЕС вчетверте за рік втратила резервну лінію живлення",
        (
            "Експерти МАГАТЕ повідомили, що Запорізька АЕС на кілька годин втратила зв'язок "
            "з останньою резервною лінією.",
            "Станція працювала від однієї лінії 750 кВ, дизель-генератори не знадобилися.",
        ),
    ),
    (
        "prisoner-exchange",
        "en",
        "Russia and Ukraine complete prisoner exchange as {n} POWs return home",
        (
            "Ukraine and Russia carried out a prisoner exchange on {day}, with {n} prisoners "
            "of war returned to each side, officials in Kyiv said.",
            "The swap was mediated by the United Arab Emirates and included wounded soldiers "
            "and several civilians detained since 2022.",
        ),
    ),
    (
        "prisoner-exchange",
        "uk",
        "Обмін полоненими: додому повернулися {n} українських захисників",
        (
            "Україна та Росія провели обмін полоненими, з полону повернулися {n} військових, "
            "повідомив Координаційний штаб.",
            "Серед звільнених є поранені та цивільні, яких утримували з 2022 року.",
        ),
    ),
    (
        "prisoner-exchange",
        "ru",
        "Россия и Украина провели обмен пленными: домой вернулись {n} военнопленных",
        (
            "Россия и Украина провели обмен пленными, домой вернулись {n} военнопленных, "
            "сообщили в Москве.",
            "Посредником выступили Объединённые Арабские Эмираты.",
        ),
    ),
    (
        "black-sea",
        "en",
        "Black Sea shipping talks: insurers say merchant vessels await safe navigation deal",
        (
            "About {n} merchant vessels are waiting for a maritime cease-fire before heading "
            "to Ukrainian ports, marine insurers said.",
            "Technical teams from Kyiv and Moscow are due to meet US mediators on safe "
            "navigation in the Black Sea next week.",
        ),
    ),
    (
        "energy-truce",
        "en",
        "Kyiv accuses Moscow of breaking the moratorium on strikes on energy infrastructure",
        (
            "Ukrainian officials said Russian drones hit energy infrastructure in two regions "
            "despite the 30-day moratorium on strikes agreed in March.",
            "The Kremlin denied the accusation and said Ukraine had attacked a gas "
            "metering station.",
        ),
    ),
    (
        "ceasefire-30-day",
        "en",
        "Ukraine backs US proposal for a 30-day ceasefire; Kremlin says it studies the terms",
        (
            "Kyiv said it was ready to accept an immediate 30-day ceasefire proposed by "
            "Washington, if Russia agrees.",
            "Putin's spokesman said Moscow was studying the proposal and would answer after "
            "further talks.",
        ),
    ),
)

# Neutral vocabulary: none of these words is a topic term (the selftest checks it).
# fmt: off
_SUBJECTS = (
    "City council", "Regional museum", "National library", "University researchers",
    "Local brewery", "Rail operator", "Weekend crafts fair", "Botanical garden",
    "Software startup", "Public hospital", "Chamber orchestra", "Bakery cooperative",
    "Cycling club", "Film festival", "Science academy", "Wine growers", "Publishing house",
    "Schoolteachers", "Architecture studio", "Bus company",
)
_VERBS = (
    "unveils", "postpones", "expands", "celebrates", "reviews", "announces", "opens",
    "restores", "launches", "debates", "funds", "digitises", "renames", "hosts",
)
_OBJECTS = (
    "new reading room", "spring concert season", "plan for wider pavements",
    "archive of historic photographs", "programme for young engineers", "late-night timetable",
    "exhibition of medieval maps", "rooftop vegetable garden", "open data portal",
    "renovated town square", "annual book prize", "pilot for electric minibuses",
    "summer school on astronomy", "guide to local birds", "competition for street murals",
)
_PLACES = (
    "Lviv", "Uzhhorod", "Lyon", "Porto", "Krakow", "Tartu", "Ghent", "Brno", "Bergen",
    "Aarhus", "Valencia", "Graz", "Utrecht", "Turku", "Kaunas", "Ljubljana",
)
_SENTENCES = (
    "{subject} in {place} said the {object} would cost about {n} thousand euros and take "
    "two years to complete.",
    "Residents were invited to comment on the plans at a meeting in the main hall on {day}.",
    "Organisers expect around {n} visitors in the first month and will publish a full "
    "programme in April.",
    "A spokeswoman said volunteers had helped prepare the {object} over the winter.",
    "The project is supported by a grant from a private foundation and by local firms.",
    "Critics asked whether the money could be better spent on repairs to older buildings.",
    "Tickets will be free for students and pensioners on weekdays, the organisers said.",
    "The mayor of {place} called it a modest but welcome step for the neighbourhood.",
    "Similar schemes in {other} drew large crowds last year, according to a recent survey.",
    "Details of the timetable and the opening hours are available on the council website.",
)
_AUTHORS = ("Olena Marchenko", "Jan Novak", "Maria Costa", "Pieter de Vries", "Anna Berg",
            "Tomas Kral", "Ines Duarte", "Mikko Laine")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# fmt: on


@dataclass(frozen=True)
class Item:
    guid: str
    link: str
    title: str
    summary_html: str
    author: str
    published: datetime
    topic: str | None = None  # the topic this item was written for; None = neutral


@dataclass(frozen=True)
class Feed:
    path: str  # on the FeedServer
    name: str
    kind: str  # "rss" | "atom"
    language: str
    items: tuple[Item, ...] = field(default_factory=tuple)

    @property
    def content_type(self) -> str:
        return f"application/{self.kind}+xml; charset=utf-8"

    def render(self) -> bytes:
        return render_rss(self) if self.kind == "rss" else render_atom(self)


def _fit(text: str, target: int) -> str:
    """Cut at a word boundary near `target` characters."""
    if len(text) <= target:
        return text
    cut = text.rfind(" ", 0, target)
    return text[: cut if cut > target // 2 else target].rstrip(" ,;:")


def _neutral_title(rng: random.Random) -> str:
    title = (
        f"{rng.choice(_SUBJECTS)} in {rng.choice(_PLACES)} {rng.choice(_VERBS)} "
        f"{rng.choice(_OBJECTS)}"
    )
    extra = (" after months of planning", " for the coming season", " with help from donors",
             " despite a tight budget", " ahead of the summer holidays")  # fmt: skip
    while len(title) < TITLE_CHARS - 15:
        title += rng.choice(extra)
    return _fit(title, TITLE_CHARS + 10)


def _neutral_sentence(rng: random.Random, template: str) -> str:
    return template.format(
        subject=rng.choice(_SUBJECTS),
        place=rng.choice(_PLACES),
        other=rng.choice(_PLACES),
        object=rng.choice(_OBJECTS),
        n=rng.randint(2, 900),
        day=rng.choice(_DAYS),
    )


def _summary(rng: random.Random, lead: tuple[str, ...] = ()) -> str:
    """About SUMMARY_CHARS of HTML: the lead sentences first, then neutral ones, in <p>s."""
    sentences = list(lead)
    templates = list(_SENTENCES)
    rng.shuffle(templates)
    while sum(len(s) + 1 for s in sentences) < SUMMARY_CHARS - 60 and templates:
        sentences.append(_neutral_sentence(rng, templates.pop()))
    half = max(1, len(sentences) // 2)
    first, second = " ".join(sentences[:half]), " ".join(sentences[half:])
    return f"<p>{escape(first)}</p>\n<p><em>{escape(second)}</em></p>"


def make_item(rng: random.Random, feed_slug: str, host: str, number: int) -> Item:
    published = BASE_TIME - timedelta(minutes=37 * number + rng.randint(0, 30))
    slug = f"{feed_slug}/{published:%Y/%m/%d}/story-{number:05d}"
    topic = None
    if rng.random() < TOPIC_SHARE:
        key, _lang, title, lead = rng.choice(TOPICAL)
        values = {"n": rng.randint(20, 400), "day": rng.choice(_DAYS)}
        title = title.format(**values)
        summary = _summary(rng, tuple(s.format(**values) for s in lead))
        topic = key
    else:
        title = _neutral_title(rng)
        summary = _summary(rng)
    return Item(
        guid=f"urn:parley-bench:{feed_slug}:{number}",
        link=f"https://{host}/{slug}",
        title=title,
        summary_html=summary,
        author=rng.choice(_AUTHORS),
        published=published,
        topic=topic,
    )


def generate(n_feeds: int, n_items: int, seed: int = 20250322) -> list[Feed]:
    """`n_feeds` feeds of `n_items` items each: even-numbered feeds RSS 2.0, odd ones Atom."""
    rng = random.Random(seed)
    feeds = []
    for index in range(n_feeds):
        kind = "rss" if index % 2 == 0 else "atom"
        slug = f"outlet-{index:04d}"
        host = f"{slug}.example"
        items = tuple(make_item(rng, slug, host, n) for n in range(n_items))
        language = rng.choice(("en", "en", "en", "uk", "ru"))
        name = f"Bench Outlet {index:04d}"
        feeds.append(Feed(f"/bench/{slug}.{'xml' if kind == 'rss' else 'atom'}", name, kind,
                          language, items))  # fmt: skip
    return feeds


def mutate(feed: Feed, rng: random.Random) -> Feed:
    """One new item on top and one edited item (a topical one if the feed has any)."""
    slug = feed.path.rsplit("/", 1)[1].split(".")[0]
    host = f"{slug}.example"
    number = max(int(item.guid.rsplit(":", 1)[1]) for item in feed.items) + 1
    new = make_item(rng, slug, host, number)
    new = replace(new, published=BASE_TIME + timedelta(minutes=5))
    topical = [i for i, item in enumerate(feed.items) if item.topic]
    target = topical[0] if topical else rng.randrange(len(feed.items))
    old = feed.items[target]
    correction = "<p>Updated with a correction: an earlier version gave a wrong figure.</p>"
    edited = replace(old, summary_html=old.summary_html + "\n" + correction)
    items = list(feed.items)
    items[target] = edited
    return replace(feed, items=(new, *items))


def render_rss(feed: Feed) -> bytes:
    slug = feed.path.rsplit("/", 1)[1].split(".")[0]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">',
        "  <channel>",
        f"    <title>{escape(feed.name)} — top stories</title>",
        f"    <link>https://{slug}.example/</link>",
        f"    <description>Synthetic feed {escape(slug)} for the parley benchmark.</description>",
        f"    <language>{feed.language}</language>",
        f"    <lastBuildDate>{format_datetime(BASE_TIME)}</lastBuildDate>",
    ]
    for item in feed.items:
        lines += [
            "    <item>",
            f"      <title>{escape(item.title)}</title>",
            f"      <link>{escape(item.link)}</link>",
            f'      <guid isPermaLink="false">{escape(item.guid)}</guid>',
            f"      <pubDate>{format_datetime(item.published)}</pubDate>",
            f"      <dc:creator>{escape(item.author)}</dc:creator>",
            f"      <description><![CDATA[{item.summary_html}]]></description>",
            "    </item>",
        ]
    lines += ["  </channel>", "</rss>", ""]
    return "\n".join(lines).encode("utf-8")


def render_atom(feed: Feed) -> bytes:
    slug = feed.path.rsplit("/", 1)[1].split(".")[0]
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{feed.language}">',
        f"  <id>urn:parley-bench:{escape(slug)}</id>",
        f"  <title>{escape(feed.name)}</title>",
        f'  <link rel="alternate" type="text/html" href="https://{slug}.example/"/>',
        f"  <updated>{BASE_TIME.isoformat()}</updated>",
    ]
    for item in feed.items:
        when = item.published.isoformat()
        lines += [
            "  <entry>",
            f"    <id>{escape(item.guid)}</id>",
            f"    <title>{escape(item.title)}</title>",
            f'    <link rel="alternate" type="text/html" href="{escape(item.link)}"/>',
            f"    <published>{when}</published>",
            f"    <updated>{when}</updated>",
            f"    <author><name>{escape(item.author)}</name></author>",
            f'    <summary type="html">{escape(item.summary_html)}</summary>',
            "  </entry>",
        ]
    lines += ["</feed>", ""]
    return "\n".join(lines).encode("utf-8")


def selftest(n_feeds: int = 20, n_items: int = 50) -> dict[str, int]:
    """Check the generator against parley's own parser and matcher; return counts."""
    from parley.flows.ingest.parse import parse_bytes
    from parley.flows.settings import SEEDS_DIR
    from parley.flows.topics.load import load_topics
    from parley.flows.topics.match import TopicMatcher

    matcher = TopicMatcher(load_topics(SEEDS_DIR / "topics.yaml"))
    counts = {"items": 0, "planted": 0, "caught": 0, "false_positive": 0, "missed": 0}
    titles: list[int] = []
    summaries: list[int] = []
    for feed in generate(n_feeds, n_items):
        parsed = parse_bytes(
            feed.render(), "http://127.0.0.1/x", {"content-type": feed.content_type}
        )
        assert parsed.status.value == "ok", (feed.path, parsed.message)
        assert len(parsed.entries) == len(feed.items), feed.path
        for item, draft in zip(feed.items, parsed.entries, strict=True):
            titles.append(len(item.title))
            summaries.append(len(item.summary_html))
            keys = {m.topic_key for m in matcher.match(draft.title, draft.summary)}
            counts["items"] += 1
            counts["planted"] += item.topic is not None
            if item.topic is None and keys:
                counts["false_positive"] += 1
            elif item.topic is not None:
                counts["caught" if item.topic in keys else "missed"] += 1
    counts["title_chars_avg"] = sum(titles) // len(titles)
    counts["summary_html_chars_avg"] = sum(summaries) // len(summaries)
    return counts


if __name__ == "__main__":
    print(selftest())
