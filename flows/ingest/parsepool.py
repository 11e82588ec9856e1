"""Parse a cycle's fetched bodies in worker processes, handed back in order as they finish.

feedparser is pure Python: threads would share one interpreter lock, so a pool of processes
is what lets parsing use more than one CPU. While the caller stores one feed, the workers
parse the next ones. Small cycles (a few feeds, a few 304s) parse in the caller's process,
where starting workers would cost more than it saves.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from parley.flows.ingest.model import FetchResult, FetchStatus, ParseResult
from parley.flows.ingest.parse import parse_bytes, parse_feed
from parley.flows.ingest.redact import redact_url

log = logging.getLogger(__name__)

POOL_MIN_BYTES = 1_000_000  # below this much feed text a cycle parses in its own process
POOL_MIN_BODIES = 8  # … and below this many bodies
AHEAD = 4  # parses per worker submitted ahead of the one the caller waits for
PARENT_CHECK = 1.0  # seconds between a worker's checks that the cycle's process still runs


def parse_workers(setting: int) -> int:
    """The pool size a ``parse_workers`` setting means (0 in return: parse in the cycle's own
    process). The setting 0 is one worker per CPU this process may use; 1 is no pool.

    On 2 CPUs, once storing got cheaper, two workers beat one (cold 200 × 50 cycle 9.1 → 7.7 s)
    for ~13 MiB more.
    """
    if setting == 1:
        return 0
    if setting > 1:
        return setting
    return len(os.sched_getaffinity(0))


def parse_results(
    results: Sequence[FetchResult],
    workers: int,
    *,
    min_bodies: int = POOL_MIN_BODIES,
    min_bytes: int = POOL_MIN_BYTES,
) -> Iterator[ParseResult | None]:
    """Yield the parse of each result's body in the order of ``results`` (None: nothing to parse).

    With ``workers`` ≥ 1 and at least ``min_bodies`` bodies of ``min_bytes`` in all, bodies go
    to a pool of that many processes; a pool that breaks (a worker killed) leaves the rest to
    be parsed here. Workers start through multiprocessing's forkserver, which imports the
    ``__main__`` module again: a script that runs a cycle keeps its work under
    ``if __name__ == "__main__":`` (the ``parley`` command and Prefect's runners do).
    """
    todo = [result for result in results if _has_body(result)]
    size = sum(len(result.body or b"") for result in todo)
    if workers < 1 or len(todo) < max(1, min_bodies) or size < min_bytes:
        yield from (parse_feed(result) if _has_body(result) else None for result in results)
        return
    # forkserver: workers start from a clean single-threaded process, never a fork of this one
    # (which runs the event loop, HTTP and database threads).
    context = multiprocessing.get_context("forkserver")
    # The fork server imports this module (feedparser, nh3) once and the workers fork from it,
    # sharing those pages: the pool's processes hold ~37 MiB (PSS) instead of ~57.
    context.set_forkserver_preload([__name__])
    workers = min(workers, len(todo))
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_leave_with, initargs=(os.getpid(),)
    )
    # At most AHEAD parses per worker wait to be stored, so memory stays flat however many feeds.
    pending: deque[tuple[FetchResult, Future[ParseResult] | None]] = deque()
    try:
        for result in results:
            pending.append((result, _submit(pool, result) if _has_body(result) else None))
            if len(pending) >= AHEAD * workers:
                yield _next(pending)
        while pending:
            yield _next(pending)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _submit(pool: ProcessPoolExecutor, result: FetchResult) -> Future[ParseResult] | None:
    try:
        return pool.submit(parse_bytes, result.body or b"", result.url, result.headers)
    except BrokenProcessPool:  # a worker died; _next parses this one here
        return None


def _next(pending: deque[tuple[FetchResult, Future[ParseResult] | None]]) -> ParseResult | None:
    result, future = pending.popleft()
    if future is not None:
        return _outcome(future, result)
    return parse_feed(result) if _has_body(result) else None


def _leave_with(parent: int) -> None:
    """Worker initializer: exit once the cycle's process is gone.

    A process that is killed (SIGKILL, or SIGTERM without a handler) cannot shut its pool
    down, and a worker waiting for work would wait forever (it holds its queue's write end).
    """

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                continue  # alive (the pid is someone else's only if it was reused)

    threading.Thread(target=watch, name="parse-worker-watch", daemon=True).start()


def _has_body(result: FetchResult) -> bool:
    return result.status is FetchStatus.OK and result.body is not None


def _outcome(future: Future[ParseResult], result: FetchResult) -> ParseResult:
    try:
        return future.result()
    except Exception as exc:  # the pool broke; parse_bytes itself never raises for bad input
        log.warning(
            "parse pool failed feed_url=%s error=%s", redact_url(result.url), type(exc).__name__
        )
        return parse_feed(result)
