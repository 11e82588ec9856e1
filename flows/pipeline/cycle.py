"""One monitor cycle as plain functions: load the config, pick due feeds, fetch, process.

flows/monitor.py runs these as Prefect tasks; tests and benchmarks can call them directly.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session

from parley.alerts.channel_file import check_route_topics, load_channels, rename_topics
from parley.alerts.channels import Channel
from parley.flows.ingest.catalog import FeedSpec, load_feeds
from parley.flows.ingest.fetch import FetchConfig, fetch_all
from parley.flows.ingest.model import (
    FeedRequest,
    FetchResult,
    FetchStatus,
    ParseResult,
    Validators,
)
from parley.flows.ingest.parsepool import parse_results, parse_workers
from parley.flows.pipeline.process import Pipeline, process_fetch, process_unchanged
from parley.flows.pipeline.report import FeedOutcome
from parley.flows.pipeline.shard import Shard
from parley.flows.settings import Settings
from parley.flows.topics.load import Topic, load_topics
from parley.flows.topics.relevance import RelevanceMatcher, build_matcher
from parley.storage.db import init_db, make_engine, session_scope
from parley.storage.feeds import all_feeds, sync_feeds
from parley.storage.models import Feed
from parley.storage.renames import rename_topic_keys

log = logging.getLogger(__name__)
STORE_ATTEMPTS = 3  # a feed's transaction is run again after a deadlock or a lock timeout


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    """Everything a cycle needs, loaded and checked once at its start."""

    settings: Settings
    engine: Engine
    pipeline: Pipeline
    feeds: Sequence[FeedSpec]

    @property
    def channels(self) -> Sequence[Channel]:
        return self.pipeline.channels


def open_runtime(
    settings: Settings,
    *,
    feeds_file: Path | None = None,
    base_url: str | None = None,
    queue_alerts: bool = True,
) -> Runtime:
    """Load feeds, topics and channels and open the store.

    Raises ConfigError, TopicError, ChannelError or StorageError with a message that names
    the file, line, channel or database at fault.
    """
    feeds = _feeds(feeds_file or settings.feeds_file, base_url)
    topics = load_topics(settings.topics_file)
    matcher = _matcher(tuple(topics), settings.topics_file, _stamped(settings.model_file))
    renamed = {old: topic.key for topic in topics for old in topic.replaces}
    channels = rename_topics(load_channels(settings.channels_file, os.environ), renamed)
    keys = {topic.key for topic in topics}
    check_route_topics(channels, keys, settings.channels_file, settings.topics_file)
    engine = make_engine(settings.database_url)
    init_db(engine)
    if renamed:
        with session_scope(engine) as session:
            rename_topic_keys(session, renamed)
    pipeline = Pipeline(
        engine,
        matcher,
        channels,
        settings.zone,
        queue_alerts=queue_alerts,
        failure_threshold=settings.feed_failure_threshold,
        corroboration=settings.corroboration,
    )
    return Runtime(settings, engine, pipeline, feeds)


@functools.lru_cache(maxsize=4)
def _matcher(
    topics: tuple[Topic, ...], topics_file: Path, model: tuple[Path, float] | None
) -> RelevanceMatcher:
    """Topics are immutable and the matcher only caches what it has seen: a running service
    compiles them once, not every cycle (~25 ms on the seed topics), and reads the model file
    again only when it changed (``model`` is its path and modification time)."""
    return build_matcher(topics, topics_file, model[0] if model else None)


def _stamped(path: Path | None) -> tuple[Path, float] | None:
    if path is None:
        return None
    try:
        return path, path.stat().st_mtime
    except OSError:
        return path, 0.0  # missing: build_matcher says so, naming the file


def _feeds(path: Path, base_url: str | None) -> list[FeedSpec]:
    """The feeds file, parsed again only when its bytes changed (200 feeds take ~30 ms to
    parse, a few µs to hash)."""
    try:
        digest = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except OSError:
        return load_feeds(path, base_url=base_url)  # says what is wrong with the path
    return list(_feeds_of(str(path), digest, base_url))


@functools.lru_cache(maxsize=4)
def _feeds_of(path: str, digest: str, base_url: str | None) -> tuple[FeedSpec, ...]:
    return tuple(load_feeds(Path(path), base_url=base_url))


def fetch_config(settings: Settings) -> FetchConfig:
    return FetchConfig(
        timeout=settings.fetch_timeout,
        max_bytes=settings.fetch_max_bytes,
        max_redirects=settings.fetch_max_redirects,
        concurrency=settings.fetch_concurrency,
        per_host=settings.fetch_per_host,
        user_agent=settings.user_agent,
    )


def due_requests(
    runtime: Runtime, now: datetime, *, force: bool = False, shard: Shard | None = None
) -> tuple[list[FeedRequest], list[FeedOutcome]]:
    """Sync the feed rows with the feeds file; return the requests due now and the skipped.

    A feed is not due before its own interval has passed since its last fetch, nor while a
    server's Retry-After holds; ``force`` ignores both. With ``shard``, only the feeds whose
    host falls in it, and the rows are synced only if one of them is missing (the monitor run
    syncs them once before it starts its shards, which run side by side).
    """
    requests: list[FeedRequest] = []
    skipped: list[FeedOutcome] = []
    with session_scope(runtime.engine) as session:
        for feed in _feed_rows(session, runtime.feeds, shard):
            assert feed.id is not None
            if not force and not _is_due(feed, now):
                skipped.append(FeedOutcome(feed.id, feed.name, feed.url, "skipped"))
                continue
            validators = Validators(feed.etag, feed.last_modified, feed.body_hash)
            requests.append(FeedRequest(feed.id, feed.url, validators))
    return requests, skipped


def sync_feed_rows(runtime: Runtime) -> None:
    """Make the feed rows match the feeds file (add, update, deactivate) in one transaction."""
    with session_scope(runtime.engine) as session:
        sync_feeds(session, runtime.feeds)


def _feed_rows(session: Session, specs: Sequence[FeedSpec], shard: Shard | None) -> list[Feed]:
    if shard is None:
        return sync_feeds(session, specs)
    wanted = {spec.url for spec in specs if shard.holds(spec.url)}
    rows = [feed for feed in all_feeds(session) if feed.active and feed.url in wanted]
    if len(rows) < len(wanted):
        rows = [feed for feed in sync_feeds(session, specs) if feed.url in wanted]
    return rows


def _is_due(feed: Feed, now: datetime) -> bool:
    if feed.retry_after_until is not None and feed.retry_after_until > now:
        return False
    if feed.interval and feed.last_fetch_at is not None:
        return feed.last_fetch_at + timedelta(seconds=feed.interval) <= now
    return True


def fetch(requests: Sequence[FeedRequest], settings: Settings) -> list[FetchResult]:
    """Fetch every request concurrently with one HTTP client (blocking helper)."""
    return asyncio.run(fetch_all(requests, fetch_config(settings)))


def process(runtime: Runtime, results: Sequence[FetchResult]) -> list[FeedOutcome]:
    """Store each feed's result in its own transaction; one feed's failure stops no other.

    The answers that brought nothing new (304s) are stored together in one transaction, and
    one by one if that fails. Outcomes come in the order of ``results``.
    """
    unchanged = [i for i, r in enumerate(results) if r.status is FetchStatus.NOT_MODIFIED]
    changed = [i for i, r in enumerate(results) if r.status is not FetchStatus.NOT_MODIFIED]
    outcomes: dict[int, FeedOutcome] = dict(
        zip(unchanged, _process_unchanged(runtime, [results[i] for i in unchanged]), strict=True)
    )
    parsed = parse_results(
        [results[i] for i in changed], parse_workers(runtime.settings.parse_workers)
    )
    for i, p in zip(changed, parsed, strict=True):
        outcomes[i] = _process_one(runtime, results[i], p)
    return [outcomes[i] for i in range(len(results))]


def _process_unchanged(runtime: Runtime, results: Sequence[FetchResult]) -> list[FeedOutcome]:
    if not results:
        return []
    try:
        return process_unchanged(runtime.pipeline, results, utcnow())
    except SQLAlchemyError as exc:
        log.warning("storing the unchanged feeds together failed (%s): one by one",
                    type(exc).__name__)  # fmt: skip
        return [_process_one(runtime, result, None) for result in results]


def _process_one(runtime: Runtime, result: FetchResult, parsed: ParseResult | None) -> FeedOutcome:
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            return process_fetch(runtime.pipeline, result, utcnow(), parsed)
        except OperationalError as exc:
            # A deadlock or lock timeout with another shard storing the same story at the same
            # moment (or SQLite busy): the transaction was rolled back whole, so run it again.
            if attempt == STORE_ATTEMPTS:
                return _store_error(result, exc)
            log.warning("store of feed_url=%s met %s (attempt %s of %s): again",
                        result.url, _first_line(exc), attempt, STORE_ATTEMPTS)  # fmt: skip
            time.sleep(random.uniform(0.05, 0.25) * attempt)
        except SQLAlchemyError as exc:
            return _store_error(result, exc)
    raise AssertionError("unreachable")  # pragma: no cover


def _store_error(result: FetchResult, exc: SQLAlchemyError) -> FeedOutcome:
    """Rolled back as a whole: the feed keeps its old validators and is read again next time."""
    log.error("store failed feed_url=%s error=%s", result.url, _first_line(exc))
    message = f"store {result.url}: {_first_line(exc)}"
    return FeedOutcome(result.feed_id, result.url, result.url, "store_error", message)


def _first_line(exc: SQLAlchemyError) -> str:
    """The database driver's own error when there is one (SQLAlchemy may put a note first)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).splitlines() or [""]
    return f"{type(cause).__name__}: {lines[0]}"
