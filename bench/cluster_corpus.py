"""Measure story clustering on the real-news corpus with parley's real code, without Prefect.

Every corpus item (``$PARLEY_CORPUS/real/items.jsonl``) becomes an ``EntryDraft`` of a feed
named after its ``source`` and goes, in published order, one transaction per item, through
``parley.storage.entries.apply_entries`` and ``parley.flows.pipeline.process.match_entry``
with a ``Pipeline`` that has no channels (no alerts are queued). Topics come from
``seeds/topics.yaml`` (or ``--topics``). The markdown report goes to stdout, progress to
stderr.

    .venv/bin/python bench/cluster_corpus.py
    .venv/bin/python bench/cluster_corpus.py --corpus /work/shared/corpus --limit 300
    .venv/bin/python bench/cluster_corpus.py --dump /tmp/stories.json   # every story, for reading
    .venv/bin/python bench/cluster_corpus.py --no-stories               # match only (cost baseline)

Corpus dates: RT, Channel One and Kremlin.ru items carry a date only; they are placed at
``--date-only-hour`` (12:00 UTC) of that day. Ties keep the file order.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

import parley.flows.pipeline.process as process_module
import parley.flows.stories.assign as assign_module
from parley.flows.ingest.model import EntryDraft
from parley.flows.ingest.parse import content_hash
from parley.flows.pipeline.process import Pipeline, match_entry
from parley.flows.stories.assign import Decision
from parley.flows.stories.cluster import JOIN_SCORE, WINDOW, StoryView, jaccard, score
from parley.flows.topics.load import Topic, load_topics
from parley.flows.topics.match import TopicMatch, TopicMatcher
from parley.storage.db import init_db, make_engine, session_scope
from parley.storage.entries import apply_entries
from parley.storage.models import Entry, Feed, Story, StoryEntry

REPO = Path(__file__).resolve().parent.parent
PRIMARY = re.compile(
    r"kremlin|president|\bmfa\b|mid\.ru|iaea|whitehouse|white house|state\.gov|gov\.ua|"
    r"\.gov\b|ministry|министерств|міністерств",
    re.IGNORECASE,
)
SIZE_BUCKETS = (("1", 1, 1), ("2", 2, 2), ("3-5", 3, 5), ("6+", 6, 10**9))


# ---------------------------------------------------------------------------------------------
# Corpus


@dataclass(frozen=True)
class Item:
    source: str
    lang: str
    published: datetime
    title: str
    link: str
    summary: str


def default_corpus() -> Path:
    env = os.environ.get("PARLEY_CORPUS")
    return Path(env) if env else (REPO.parent / "shared" / "corpus")


def parse_published(text: str, date_only_hour: int) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.fromisoformat(text).replace(hour=date_only_hour, tzinfo=UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def load_items(corpus: Path, date_only_hour: int) -> tuple[list[Item], int]:
    """The corpus items in published order (stable), and how many were dropped (no date/link)."""
    path = corpus / "real" / "items.jsonl"
    items: list[Item] = []
    dropped = 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            raw = json.loads(line)
            when = parse_published(raw.get("published") or "", date_only_hour)
            if when is None or not raw.get("link"):
                dropped += 1
                continue
            items.append(
                Item(
                    source=raw["source"],
                    lang=raw.get("lang") or "en",
                    published=when,
                    title=raw.get("title") or "",
                    link=raw["link"],
                    summary=raw.get("summary") or "",
                )
            )
    items.sort(key=lambda item: item.published)
    return items, dropped


def guess_tier(source: str, link: str) -> str:
    host = urlsplit(link).hostname or ""
    return "primary" if PRIMARY.search(source) or PRIMARY.search(host) else "media"


def make_feeds(session: Session, items: Sequence[Item]) -> dict[str, Feed]:
    """One Feed row per source; the URL is a made-up key (two BBC feeds share one host)."""
    by_source: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_source[item.source].append(item)
    feeds: dict[str, Feed] = {}
    for number, (source, members) in enumerate(sorted(by_source.items()), start=1):
        host = urlsplit(members[0].link).hostname or "unknown"
        lang = Counter(m.lang for m in members).most_common(1)[0][0]
        feed = Feed(
            url=f"https://{host}/#corpus-feed-{number}",
            name=source[:300],
            language=lang,
            tier=guess_tier(source, members[0].link),
        )
        session.add(feed)
        feeds[source] = feed
    session.flush()
    return feeds


def draft_of(item: Item) -> EntryDraft:
    return EntryDraft(
        uid=item.link,
        title=item.title,
        summary=item.summary,
        link=item.link,
        published_at=item.published,
        content_hash=content_hash(item.title, item.summary, item.link),
    )


# ---------------------------------------------------------------------------------------------
# Instrumentation: timers around parley's functions and why each item joined its story


@dataclass
class Timers:
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter[str] = field(default_factory=Counter)

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.calls[name] += 1

        return timed


@dataclass(frozen=True)
class JoinWhy:
    """The score parts of the story an item joined (see cluster.score)."""

    score: float
    words: float  # Jaccard of the signatures
    numbers: tuple[str, ...]  # shared figures (+0.5)
    names: tuple[str, ...]  # shared names (+0.3)
    candidates: int  # stories of the topic open in the window

    @property
    def driver(self) -> str:
        parts = []
        if self.numbers:
            parts.append("number")
        if self.names:
            parts.append("names")
        if self.words > 0:
            parts.append("words")
        return "+".join(parts) or "-"


class Recorder:
    """Records, per (entry, topic), the join reasons computed by choose_story."""

    def __init__(self) -> None:
        self.current: tuple[int, str] | None = None
        self.why: dict[tuple[int, str], JoinWhy] = {}

    def assign(self, original: Callable[..., Decision]) -> Callable[..., Decision]:
        def wrapped(session: Session, **kwargs: Any) -> Decision:
            self.current = (kwargs["entry"].id, kwargs["topic_key"])
            try:
                return original(session, **kwargs)
            finally:
                self.current = None

        return wrapped

    def choose(self, original: Callable[..., StoryView | None]) -> Callable[..., Any]:
        def wrapped(
            stories: Sequence[StoryView],
            words: frozenset[str],
            numbers: frozenset[str],
            names: frozenset[str],
        ) -> StoryView | None:
            chosen = original(stories, words, numbers, names)
            if chosen is not None and self.current is not None:
                self.why[self.current] = JoinWhy(
                    score=score(chosen, words, numbers, names),
                    words=jaccard(chosen.signature, words),
                    numbers=tuple(sorted(chosen.numbers & numbers)),
                    names=tuple(sorted(chosen.names & names)),
                    candidates=len(stories),
                )
            return chosen

        return wrapped


class TimedMatcher:
    """A TopicMatcher whose ``match`` is timed; everything else is the real matcher's."""

    def __init__(self, matcher: TopicMatcher, timers: Timers) -> None:
        self._matcher = matcher
        self._timed = timers.wrap("topic match", matcher.match)

    def match(self, title: str, summary: str) -> list[TopicMatch]:
        result: list[TopicMatch] = self._timed(title, summary)
        return result


class LabelMatcher:
    """Topics from a labels file (``{"link", "topics"}`` per line) instead of the matcher.

    Clustering is then measured on the items a reader put in each topic, whatever the matcher
    catches. ``current`` is the link of the item being processed (set by the pass).
    """

    def __init__(self, path: Path, topics: Sequence[Topic], timers: Timers) -> None:
        self.labels: dict[str, tuple[str, ...]] = {}
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    raw = json.loads(line)
                    self.labels[raw["link"]] = tuple(raw.get("topics") or ())
        self.topics = {topic.key: topic for topic in topics}
        self.current: str | None = None
        self._timed = timers.wrap("topic match", self._match)

    def match(self, title: str, summary: str) -> list[TopicMatch]:
        result: list[TopicMatch] = self._timed(title, summary)
        return result

    def _match(self, title: str, _summary: str) -> list[TopicMatch]:
        matches = []
        for key in self.labels.get(self.current or "", ()):
            topic = self.topics.get(key)
            name, severity = (topic.name, topic.severity) if topic else (key, "medium")
            matches.append(TopicMatch(key, name, severity, (), "title", title[:80]))
        return matches


def _no_story(*_args: Any, **_kwargs: Any) -> Decision:
    return Decision("new", None)


# ---------------------------------------------------------------------------------------------
# The pass


@dataclass
class Result:
    items: int
    dropped: int
    feeds: dict[str, Feed]
    total_seconds: float
    timers: Timers
    why: dict[tuple[int, str], JoinWhy]
    matched_items: int
    matches_per_topic: Counter[str]
    stories: bool


def _swap(module: ModuleType, name: str, value: Any) -> None:
    setattr(module, name, value)


def run(args: argparse.Namespace, database_url: str) -> Result:
    items, dropped = load_items(args.corpus, args.date_only_hour)
    if args.limit:
        items = items[: args.limit]
    engine = make_engine(database_url)
    init_db(engine)
    timers = Timers()
    recorder = Recorder()
    topics = load_topics(args.topics)
    matcher: TimedMatcher | LabelMatcher
    if args.labels:
        matcher = LabelMatcher(args.labels, topics, timers)
    else:
        matcher = TimedMatcher(TopicMatcher(topics), timers)
    pipeline = Pipeline(engine, matcher, [], ZoneInfo("UTC"))  # type: ignore[arg-type]

    # Timers and the join recorder go around parley's functions for this process only:
    # match_entry calls process.assign, and assign calls assign.choose_story.
    original_assign: Callable[..., Decision] = vars(process_module)["assign"]
    original_choose: Callable[..., StoryView | None] = vars(assign_module)["choose_story"]
    story_step = _no_story if args.no_stories else recorder.assign(original_assign)
    _swap(process_module, "assign", timers.wrap("story assign", story_step))
    _swap(assign_module, "choose_story", recorder.choose(original_choose))
    timed_apply = timers.wrap("apply_entries", apply_entries)
    timed_match_entry = timers.wrap("match_entry", match_entry)
    matches: Counter[str] = Counter()
    matched_items = 0
    try:
        with session_scope(engine) as session:
            feeds = make_feeds(session, items)
        start = time.perf_counter()
        for number, item in enumerate(items, start=1):
            now = item.published
            if isinstance(matcher, LabelMatcher):
                matcher.current = item.link
            with session_scope(engine) as session:
                feed = session.get_one(Feed, feeds[item.source].id)
                for change in timed_apply(session, feed.id, [draft_of(item)], now):
                    records = timed_match_entry(session, pipeline, feed, change, now)
                    matches.update(r.topic_key for r in records)
                    matched_items += bool(records)
            if number % 250 == 0:
                print(f"  {number}/{len(items)} items", file=sys.stderr)
        total = time.perf_counter() - start
    finally:
        _swap(process_module, "assign", original_assign)
        _swap(assign_module, "choose_story", original_choose)
    return Result(
        items=len(items),
        dropped=dropped,
        feeds=feeds,
        total_seconds=total,
        timers=timers,
        why=recorder.why,
        matched_items=matched_items,
        matches_per_topic=matches,
        stories=not args.no_stories,
    )


# ---------------------------------------------------------------------------------------------
# Reading the stories back


@dataclass
class Member:
    entry_id: int
    role: str
    source: str
    title: str
    link: str
    published: datetime
    added: dict[str, list[str]]
    why: JoinWhy | None


@dataclass
class StoryRow:
    id: int
    topic: str
    headline: str
    first_seen: datetime
    last_seen: datetime
    outlets: int
    official: bool
    facts: dict[str, list[str]]
    members: list[Member]


def read_stories(engine_url: str, why: dict[tuple[int, str], JoinWhy]) -> list[StoryRow]:
    engine = make_engine(engine_url)
    with Session(engine) as session:
        stories = {s.id: s for s in session.exec(select(Story))}
        rows: dict[int, StoryRow] = {
            sid: StoryRow(
                id=sid or 0,
                topic=s.topic_key,
                headline=s.headline,
                first_seen=s.first_seen_at,
                last_seen=s.last_seen_at,
                outlets=s.outlets,
                official=s.official,
                facts={k: v for k, v in s.facts.items() if k != "labels"},
                members=[],
            )
            for sid, s in stories.items()
            if sid is not None
        }
        query = (
            select(StoryEntry, Entry, Feed)
            .join(Entry, col(Entry.id) == StoryEntry.entry_id)
            .join(Feed, col(Feed.id) == StoryEntry.feed_id)
            .order_by(col(StoryEntry.created_at), col(StoryEntry.id))
        )
        for se, entry, feed in session.exec(query):
            row = rows[se.story_id]
            row.members.append(
                Member(
                    entry_id=entry.id or 0,
                    role=se.role,
                    source=feed.name,
                    title=entry.title,
                    link=entry.link or entry.uid,
                    published=entry.published_at or se.created_at,
                    added=se.added,
                    why=why.get((entry.id or 0, row.topic)),
                )
            )
    engine.dispose()
    return sorted(rows.values(), key=lambda r: (r.topic, r.first_seen, r.id))


def dump(path: Path, stories: Sequence[StoryRow]) -> None:
    """Every story with its members, for reading (stays outside the repository: corpus text)."""

    def member(m: Member) -> dict[str, Any]:
        return {
            "role": m.role,
            "source": m.source,
            "published": m.published.isoformat(),
            "title": m.title,
            "link": m.link,
            "added": m.added,
            "why": None
            if m.why is None
            else {
                "score": round(m.why.score, 3),
                "words": round(m.why.words, 3),
                "numbers": m.why.numbers,
                "names": m.why.names,
                "candidates": m.why.candidates,
            },
        }

    data = [
        {
            "id": s.id,
            "topic": s.topic,
            "size": len(s.members),
            "outlets": s.outlets,
            "first_seen": s.first_seen.isoformat(),
            "last_seen": s.last_seen.isoformat(),
            "facts": s.facts,
            "members": [member(m) for m in s.members],
        }
        for s in stories
    ]
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Report


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(seconds: float, count: int) -> str:
    return f"{seconds / count * 1000:.2f}" if count else "-"


def _day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def report(args: argparse.Namespace, result: Result, stories: Sequence[StoryRow]) -> str:
    out: list[str] = ["# Story clustering on the real corpus", ""]
    primary = sorted(f.name for f in result.feeds.values() if f.tier == "primary")
    out += [
        f"- corpus: `{args.corpus}` — {result.items} items in published order"
        + (f" ({result.dropped} dropped: no date or link)" if result.dropped else ""),
        f"- feeds: {len(result.feeds)} (one per source); primary tier: {', '.join(primary)}",
        (
            f"- topics: from labels `{args.labels}` (not the matcher)"
            if args.labels
            else f"- topics: matched with `{args.topics}`"
        )
        + f"; window ±{WINDOW.total_seconds() / 3600:.0f} h, JOIN_SCORE {JOIN_SCORE}",
        f"- items matched by at least one topic: {result.matched_items}; "
        f"item-topic matches: {sum(result.matches_per_topic.values())}",
        "",
    ]
    if not result.stories:
        out += ["Stories off (`--no-stories`): timings only.", ""]
    by_topic: dict[str, list[StoryRow]] = defaultdict(list)
    for story in stories:
        by_topic[story.topic].append(story)
    topics = sorted(set(result.matches_per_topic) | set(by_topic))

    out += ["## Matches → stories per topic", ""]
    rows = []
    for topic in topics:
        group = by_topic.get(topic, [])
        sizes = [len(s.members) for s in group]
        buckets = [sum(lo <= n <= hi for n in sizes) for _, lo, hi in SIZE_BUCKETS]
        members = sum(sizes)
        in_multi = sum(n for n in sizes if n > 1)
        rows.append(
            [
                topic,
                result.matches_per_topic.get(topic, 0),
                len(group),
                *buckets,
                in_multi,
                f"{members / len(group):.2f}" if group else "-",
            ]
        )
    all_sizes = [len(s.members) for s in stories]
    rows.append(
        [
            "**all**",
            sum(result.matches_per_topic.values()),
            len(stories),
            *[sum(lo <= n <= hi for n in all_sizes) for _, lo, hi in SIZE_BUCKETS],
            sum(n for n in all_sizes if n > 1),
            f"{sum(all_sizes) / len(stories):.2f}" if stories else "-",
        ]
    )
    header = ["topic", "matched items", "stories"]
    header += [f"size {name}" for name, _, _ in SIZE_BUCKETS]
    header += ["items in multi-item stories", "items/story"]
    out += [_table(header, rows), ""]

    roles = Counter(m.role for s in stories for m in s.members)
    out += ["## Roles", "", _table(["role", "count"], sorted(roles.items())), ""]

    joins = [m for s in stories for m in s.members if m.role != "opened"]
    drivers = Counter(m.why.driver if m.why else "?" for m in joins)
    numbers = Counter(n for m in joins if m.why for n in m.why.numbers)
    names = Counter(n for m in joins if m.why for n in m.why.names)
    out += [
        "## Why items joined a story",
        "",
        "Score parts of the story each joining item chose: `number` = a shared figure (+0.5, "
        "enough alone), `names` = a shared name (+0.3), `words` = signature Jaccard > 0.",
        "",
        _table(["parts present", "joins"], drivers.most_common()),
        "",
        "Shared figures behind joins: "
        + (", ".join(f"{n} ×{c}" for n, c in numbers.most_common(12)) or "none"),
        "",
        "Shared names behind joins: "
        + (", ".join(f"{n} ×{c}" for n, c in names.most_common(12)) or "none"),
        "",
    ]

    biggest = sorted(stories, key=lambda s: (-len(s.members), s.first_seen))[: args.top]
    out += ["## Biggest stories", ""]
    rows = []
    for story in biggest:
        picks = _spread(story.members, 3)
        rows.append(
            [
                story.topic,
                len(story.members),
                story.outlets,
                _day(story.first_seen),
                _day(story.last_seen),
                "<br>".join(m.link for m in picks),
            ]
        )
    out += [
        _table(
            ["topic", "size", "outlets", "first seen", "last seen", "members (first, mid, last)"],
            rows,
        ),
        "",
    ]

    t = result.timers
    n = result.items
    cost: list[tuple[str, int, float]] = [
        ("whole pass (1 transaction per item)", n, result.total_seconds)
    ]
    for label, key in (
        ("apply_entries", "apply_entries"),
        ("match_entry (all of it)", "match_entry"),
        ("— topic match", "topic match"),
        ("— story assign", "story assign"),
    ):
        cost.append((label, t.calls[key], t.seconds[key]))
    out += [
        "## Cost",
        "",
        _table(
            ["step", "calls", "total s", "ms per call", "ms per corpus item"],
            [
                [label, calls, f"{secs:.2f}", _ms(secs, calls), _ms(secs, n)]
                for label, calls, secs in cost
            ],
        ),
        "",
        f"Peak RSS: {peak_rss_mib():.0f} MiB. Database: {_safe(args)}. "
        "The rest of the whole pass is the commit per item and the feed lookup.",
        "",
    ]
    return "\n".join(out)


def _safe(args: argparse.Namespace) -> str:
    return "temporary SQLite file" if args.database_url is None else "given URL"


def _spread(members: Sequence[Member], count: int) -> list[Member]:
    if len(members) <= count:
        return list(members)
    return [members[0], members[len(members) // 2], members[-1]]


# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus(),
                        help="corpus folder (default $PARLEY_CORPUS or ../shared/corpus)")  # fmt: skip
    parser.add_argument("--database-url", default=None,
                        help="throwaway database (default: a temporary SQLite file)")  # fmt: skip
    parser.add_argument("--limit", type=int, default=0, help="only the first N items by date")
    parser.add_argument("--topics", type=Path, default=REPO / "seeds" / "topics.yaml")
    parser.add_argument("--labels", type=Path, default=None,
                        help="take each item's topics from this labels file (link → topics, e.g. "
                             "seeds/relevance/corpus_labels.jsonl) instead of the topic matcher")  # fmt: skip
    parser.add_argument("--top", type=int, default=10, help="biggest stories to list")
    parser.add_argument("--dump", type=Path, default=None,
                        help="write every story with its members as JSON (keep it outside "
                             "the repository: it holds corpus text)")  # fmt: skip
    parser.add_argument("--no-stories", action="store_true",
                        help="skip the story step (assign) to measure match_entry without it")  # fmt: skip
    parser.add_argument("--date-only-hour", type=int, default=12,
                        help="UTC hour given to items that carry a date only (default 12)")  # fmt: skip
    return parser.parse_args(argv)


@dataclass
class _Database:
    url: str
    folder: str | None

    @classmethod
    def open(cls, url: str | None) -> _Database:
        if url:
            return cls(url, None)
        folder = tempfile.mkdtemp(prefix="parley-cluster-")
        return cls(f"sqlite:///{folder}/bench.db", folder)

    def close(self) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    items_file = args.corpus / "real" / "items.jsonl"
    if not items_file.is_file():
        print(f"corpus not found: {items_file} (set PARLEY_CORPUS or --corpus)", file=sys.stderr)
        return 2
    database = _Database.open(args.database_url)
    try:
        print(f"clustering {items_file} into {database.url}", file=sys.stderr)
        result = run(args, database.url)
        stories = read_stories(database.url, result.why)
        if args.dump:
            dump(args.dump, stories)
            print(f"stories written to {args.dump}", file=sys.stderr)
        print(report(args, result, stories))
    finally:
        database.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
