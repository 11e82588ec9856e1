"""Benchmark parley's monitor cycle on generated feeds served from 127.0.0.1.

Runs the real ``parley.flows.monitor.monitor`` Prefect flow in this process, phase by phase,
inside one ``asyncio.run`` (so Prefect's client is reused), and prints markdown tables.
Process start, imports, the Prefect server start and feed generation are not in the figures.

    .venv/bin/python bench/cycle.py                       # 200 feeds x 50 items, SQLite
    .venv/bin/python bench/cycle.py --feeds 20 --items 10 # quick
    .venv/bin/python bench/cycle.py --database-url postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/cycle.py --latency 0.05 --repeat 3

See bench/README.md for what each phase means. Traffic stays on loopback.
"""

from __future__ import annotations

import os

# Before anything imports prefect: no analytics, quiet logs.
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import argparse
import asyncio
import cProfile
import io
import platform
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedhost import FeedHost, FeedInfo  # bench/feedhost.py, next to this file

REPO = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO / "seeds" / "demo"
MUTATED_SHARE = 0.05
SERVER_START_TIMEOUT = 120.0  # seconds for `prefect server start` to answer /health
WARM_LATENCY = "warm (all 304), latency per request"
FLOOR_WORKERS = 16


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Row:
    """One timed run of one phase."""

    phase: str
    feeds: int
    items: int  # entries in the bodies that came back 200 (i.e. were parsed)
    seconds: float
    statuses: Counter[str] = field(default_factory=Counter)
    new: int = 0
    changed: int = 0
    matches: int = 0
    sent: int = 0
    cpu: float = 0.0  # CPU seconds of this process (the feed servers run in another one)
    server_cpu: float | None = None  # CPU seconds of the Prefect server subprocess
    rss_mib: float = 0.0  # ru_maxrss after the run
    connections: int = 0  # TCP connections the feed server accepted during the run
    spread: tuple[float, float] | None = None  # (min, max) seconds over repeats


def median_row(rows: Sequence[Row]) -> Row:
    """The first run's counts with the median timings of all runs."""
    first = rows[0]
    server = [r.server_cpu for r in rows if r.server_cpu is not None]
    return Row(
        phase=first.phase,
        feeds=first.feeds,
        items=first.items,
        seconds=statistics.median(r.seconds for r in rows),
        spread=(min(r.seconds for r in rows), max(r.seconds for r in rows))
        if len(rows) > 1
        else None,
        connections=first.connections,
        statuses=first.statuses,
        new=first.new,
        changed=first.changed,
        matches=first.matches,
        sent=first.sent,
        cpu=statistics.median(r.cpu for r in rows),
        server_cpu=statistics.median(server) if server else None,
        rss_mib=max(r.rss_mib for r in rows),
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------------------------------------
# The Prefect server: a temporary one (excluded from the figures) unless PREFECT_API_URL is set


@dataclass
class PrefectInfo:
    mode: str
    startup_seconds: float | None = None
    pid: int | None = None

    def cpu(self) -> float | None:
        """utime + stime of the server subprocess, from /proc (None if unknown)."""
        if self.pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float | None:
        if self.pid is None:
            return None
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        return int(found.group(1)) / 1024 if found else None


@contextmanager
def prefect_server(home: Path) -> Iterator[PrefectInfo]:
    """PREFECT_API_URL's server if set; else `prefect server start` in a subprocess on a free
    loopback port, with its database under ``home`` (what `parley serve` starts too). Not
    prefect_test_harness: that imports the server's modules into this process (~60 MiB that a
    service's process does not hold)."""
    if os.environ.get("PREFECT_API_URL"):
        yield PrefectInfo(f"external server PREFECT_API_URL={os.environ['PREFECT_API_URL']}")
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from parley.flows.serve import free_port, stop_server, wait_healthy

    started = time.perf_counter()
    port = free_port()
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "false"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(api_url, process, SERVER_START_TIMEOUT)
        info = PrefectInfo(f"`prefect server start` subprocess (SQLite under {home})")
        info.startup_seconds = time.perf_counter() - started
        info.pid = process.pid
        os.environ["PREFECT_API_URL"] = api_url  # for the parse pool's forkserver, say
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield info
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        stop_server(process)


# ---------------------------------------------------------------------------------------------
# Memory over time: VmRSS of this process and of its children but the Prefect server


class MemorySampler:
    """Samples resident memory every ``interval`` seconds in a daemon thread, tagged by phase."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.samples: list[tuple[str, float, float]] = []  # (phase, seconds since start, MiB)
        self.phase = "setup"
        self.exclude: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._started = time.perf_counter()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        now = time.perf_counter() - self._started
        self.samples.append((self.phase, now, rss_mib(os.getpid(), self.exclude)))

    def of(self, phase: str) -> list[float]:
        return [mib for name, _, mib in self.samples if name == phase]


def _pss_mib(pid: int) -> float:
    """Proportional set size: resident memory with pages shared between processes (the parse
    workers and the forkserver they fork from) counted once in all, not once per process."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else 0.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def rss_mib(pid: int, exclude: set[int]) -> float:
    """Resident MiB (PSS) of ``pid`` and its descendants (pool workers), but ``exclude``."""
    total = _pss_mib(pid)
    for child in _children(pid):
        if child not in exclude:
            total += rss_mib(child, exclude)
    return total


# ---------------------------------------------------------------------------------------------
# State: the feed server's routes, the database, the config files


@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    server: Any  # feedhost.FeedHost: the feed servers, in a process of their own
    prefect: PrefectInfo
    memory: MemorySampler | None = None
    items_at: dict[str, int] = field(default_factory=dict)  # absolute URL → items served
    db_count: int = 0

    def publish(self, path: str, body: bytes, content_type: str) -> None:
        self.items_at.update(self.server.set(path, body, content_type, self.args.latency))

    def serve_original(self) -> None:
        self.items_at.update(self.server.serve_original(self.args.latency))

    def serve_mutated(self) -> None:
        self.items_at.update(self.server.serve_mutated(self.args.latency))

    def fresh_db(self) -> str:
        """An empty store: a new SQLite file, or the given database with parley's tables dropped."""
        self.db_count += 1
        if self.args.database_url is None:
            return f"sqlite:///{self.tmp / f'parley-{self.db_count}.db'}"
        from sqlmodel import SQLModel

        from parley.storage.db import make_engine

        engine = make_engine(self.args.database_url)
        try:
            SQLModel.metadata.drop_all(engine)
        finally:
            engine.dispose()
        return str(self.args.database_url)

    def overrides(self, db_url: str, feeds_file: Path) -> dict[str, str | None]:
        channels = self.tmp / f"channels-{self.db_count}.yaml"
        alerts = self.tmp / f"alerts-{self.db_count}.jsonl"
        document = {"channels": [{"name": "bench-jsonl", "url": f"jsonl://{alerts}"}]}
        channels.write_text(yaml.safe_dump(document), encoding="utf-8")
        overrides: dict[str, str | None] = {
            "database_url": db_url,
            "channels_file": str(channels),
            "feeds_file": str(feeds_file),
        }
        if self.args.per_host is not None:
            overrides["fetch_per_host"] = str(self.args.per_host)
        return overrides

    async def cycle(self, phase: str, overrides: dict[str, str | None]) -> Row:
        """One monitor flow run, timed around the call."""
        from parley.flows.monitor import monitor

        cpu0, server0 = time.process_time(), self.prefect.cpu()
        conns0 = self.server.connections()
        if self.memory is not None:
            self.memory.phase = phase
        started = time.perf_counter()
        report = await monitor(base_url=self.server.base_url, force=True, overrides=overrides)
        seconds = time.perf_counter() - started
        if self.memory is not None:
            self.memory.sample()
            self.memory.phase = "between"
        cpu, server1 = time.process_time() - cpu0, self.prefect.cpu()
        if report.failures:
            first = report.failures[0]
            print(f"warning: {phase}: {len(report.failures)} feeds failed, e.g. {first.error}",
                  file=sys.stderr)  # fmt: skip
        ok = [o for o in report.feeds if o.status in ("ok", "warning")]
        return Row(
            phase=phase,
            feeds=len(report.feeds),
            items=sum(self.items_at.get(o.url, 0) for o in ok),
            seconds=seconds,
            statuses=Counter(o.status for o in report.feeds),
            new=sum(o.new for o in report.feeds),
            changed=sum(o.changed for o in report.feeds),
            matches=len(report.matches),
            sent=report.delivery.sent if report.delivery else 0,
            cpu=cpu,
            server_cpu=None if server0 is None or server1 is None else server1 - server0,
            rss_mib=peak_rss_mib(),
            connections=self.server.connections() - conns0,
        )


def write_feeds_file(path: Path, feeds: Sequence[FeedInfo]) -> Path:
    entries = [{"name": f.name, "url": f.url, "language": f.language,
                "tier": "media"} for f in feeds]  # fmt: skip
    path.write_text(yaml.safe_dump({"feeds": entries}, allow_unicode=True), encoding="utf-8")
    return path


def demo_step(bench: Bench, step: str) -> None:
    """Serve one step of seeds/demo like `parley demo` does (files not in it stay as they were)."""
    for path in sorted((DEMO_DIR / "steps" / step).glob("*.xml")):
        body = path.read_bytes()
        kind = "atom" if b"<feed" in body[:500] else "rss"
        bench.publish(f"/{path.name}", body, f"application/{kind}+xml; charset=utf-8")


# ---------------------------------------------------------------------------------------------
# The floor: the same feeds with bare threads, one httpx.Client and feedparser; nothing else


def floor(urls: Sequence[str]) -> tuple[float, int, float]:
    import feedparser
    import httpx

    cpu0 = time.process_time()
    started = time.perf_counter()
    with httpx.Client() as client, ThreadPoolExecutor(FLOOR_WORKERS) as pool:

        def one(url: str) -> int:
            response = client.get(url)
            response.raise_for_status()
            return len(feedparser.parse(response.content).entries)

        items = sum(pool.map(one, urls))
    return time.perf_counter() - started, items, time.process_time() - cpu0


def _count_entries(body: bytes) -> int:
    import feedparser

    return len(feedparser.parse(body).entries)


def floor_pool(urls: Sequence[str], workers: int) -> tuple[float, int, float]:
    """The floor with parsing in ``workers`` processes, as parley's cycle does (pool start
    included, as in the cycle). CPU: this process only (the workers' is not counted)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import httpx

    cpu0 = time.process_time()
    started = time.perf_counter()
    context = multiprocessing.get_context("forkserver")
    with (
        httpx.Client() as client,
        ThreadPoolExecutor(FLOOR_WORKERS) as threads,
        ProcessPoolExecutor(workers, mp_context=context) as pool,
    ):

        def one(url: str) -> int:
            response = client.get(url)
            response.raise_for_status()
            return pool.submit(_count_entries, response.content).result()

        items = sum(threads.map(one, urls))
    return time.perf_counter() - started, items, time.process_time() - cpu0


# ---------------------------------------------------------------------------------------------
# Where time goes: the same cold cycle as plain functions (no Prefect), step by step


class Timers:
    """Wrap functions for the length of one run and add up the wall time spent in each."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._undo: list[tuple[Any, str, Any]] = []
        self.step = ""  # a label may say {step}: the step running when the call is made

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        seconds, calls = self.seconds, self.calls

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                key = label.format(step=self.step)
                seconds[key] += time.perf_counter() - started
                calls[key] += 1

        self._undo.append((owner, name, original))
        setattr(owner, name, timed)

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()


@dataclass
class Plain:
    steps: dict[str, float]  # top-level steps, in order
    parts: list[tuple[str, float, int]]  # (label, seconds, calls) inside `process` / deliver
    entries: int
    matches: int
    sent: int
    cpu: float = 0.0  # CPU seconds of this process over the steps

    @property
    def total(self) -> float:
        return sum(self.steps.values())


def median_plain(runs: Sequence[Plain]) -> Plain:
    first = runs[0]
    steps = {name: statistics.median(r.steps[name] for r in runs) for name in first.steps}
    seconds = {label: [p[1] for r in runs for p in r.parts if p[0] == label]
               for label, _, _ in first.parts}  # fmt: skip
    parts = [(label, statistics.median(seconds[label]), calls) for label, _, calls in first.parts]
    cpu = statistics.median(r.cpu for r in runs)
    return Plain(steps, parts, first.entries, first.matches, first.sent, cpu)


async def plain_cold(
    bench: Bench, feeds_file: Path, profile: cProfile.Profile | None = None, db: str | None = None
) -> Plain:
    """A cycle as the plain functions of flows/pipeline/cycle.py: on a fresh store (cold), or
    on ``db`` (warm or mutated, when the store holds the feeds already)."""
    from sqlalchemy.orm import Session

    from parley.flows.ingest import parsepool
    from parley.flows.ingest.fetch import fetch_all
    from parley.flows.pipeline import deliver as deliver_module
    from parley.flows.pipeline import item_alerts as item_alerts_module
    from parley.flows.pipeline import process as process_module
    from parley.flows.pipeline.cycle import (
        due_requests,
        fetch_config,
        open_runtime,
        process,
        utcnow,
    )
    from parley.flows.pipeline.deliver import deliver_due
    from parley.flows.settings import load_settings
    from parley.flows.topics.match import TopicMatcher
    from parley.storage import outbox

    steps: dict[str, float] = {}

    timers = Timers()

    @contextmanager
    def step(name: str) -> Iterator[None]:
        timers.step = name.split(" ")[0]
        started = time.perf_counter()
        yield
        steps[name] = time.perf_counter() - started

    settings = load_settings(**bench.overrides(db or bench.fresh_db(), feeds_file))
    parts = [
        (parsepool, "_outcome", "parse: waiting for the pool's next parse"),
        (parsepool, "parse_feed", "parse: feedparser + clean_text, in this process"),
        (process_module, "record_fetch", "store: record_fetch (feed row)"),
        (process_module, "apply_entries", "store: apply_entries (entry + revision INSERTs)"),
        (TopicMatcher, "match", "match: TopicMatcher.match"),
        (process_module, "record_match", "store: record_match (match INSERT)"),
        (process_module, "assign", "stories: assign (pick or open the story, join it)"),
        (process_module, "_story_context", "stories: the alert's story context"),
        (item_alerts_module, "render_item_alert", "queue: render_item_alert"),
        (outbox, "enqueue", "queue: outbox.enqueue (INSERT)"),
        (Session, "commit", "{step}: Session.commit"),
        (outbox, "claim_due", "deliver: outbox.claim_due (UPDATE per row)"),
        (deliver_module, "send", "deliver: send (apprise → jsonl)"),
    ]  # fmt: skip
    for owner, name, label in parts:
        timers.wrap(owner, name, label)
    cpu0 = time.process_time()
    try:
        with profile or nullcontext():  # type: ignore[attr-defined]
            with step("open_runtime (config, topics, channels, create tables)"):
                runtime = open_runtime(
                    settings, feeds_file=feeds_file, base_url=bench.server.base_url
                )
            with step("due_requests (sync the feed rows)"):
                requests, _ = due_requests(runtime, utcnow(), force=True)
            with step("fetch_all (aiohttp, async, per-host limit)"):
                results = await fetch_all(requests, fetch_config(settings))
            with step("process (parse, store, match, queue; a transaction per feed)"):
                outcomes = process(runtime, results)
            with step("deliver_due (outbox → jsonl)"):
                delivery = deliver_due(
                    runtime.engine, runtime.channels, utcnow,
                    max_attempts=settings.deliver_max_attempts, timeout=settings.deliver_timeout,
                )  # fmt: skip
    finally:
        timers.restore()
        runtime.engine.dispose()
    return Plain(
        steps=steps,
        parts=[(label, timers.seconds[label], timers.calls[label]) for label in timers.seconds],
        entries=sum(o.new for o in outcomes),
        matches=sum(len(o.matches) for o in outcomes),
        sent=delivery.sent,
        cpu=time.process_time() - cpu0,
    )


# ---------------------------------------------------------------------------------------------
# The run


async def run_all(bench: Bench) -> dict[str, Any]:
    args, tmp = bench.args, bench.tmp
    generated = bench.server.generated
    mutated = generated.mutated
    rows: dict[str, list[Row]] = {}
    plains: list[Plain] = []

    def keep(row: Row) -> None:
        rows.setdefault(row.phase, []).append(row)
        print(f"  {row.phase}: {row.seconds:.2f} s", file=sys.stderr)

    bench.serve_original()
    gen_file = write_feeds_file(tmp / "feeds.yaml", generated.feeds)
    one_file = write_feeds_file(tmp / "feeds-1.yaml", generated.feeds[:1])
    demo_file = DEMO_DIR / "feeds.yaml"

    # Warm-up: the first flow run in a process pays for imports, the client and its caches.
    warmup = await bench.cycle(
        "warm-up (first flow run, 1 feed)", bench.overrides(bench.fresh_db(), one_file)
    )
    keep(warmup)

    for rep in range(args.repeat):
        print(f"repeat {rep + 1}/{args.repeat}", file=sys.stderr)
        # The demo, like `parley demo`: 01-first, then 03-news (02-unchanged changes nothing).
        demo_db = bench.fresh_db()
        demo_step(bench, "01-first")
        keep(await bench.cycle("demo 01-first", bench.overrides(demo_db, demo_file)))
        demo_step(bench, "03-news")
        keep(await bench.cycle("demo 03-news", bench.overrides(demo_db, demo_file)))

        # Generated feeds: cold (empty store), warm (all 304), mutated (5% of feeds changed).
        bench.serve_original()
        db = bench.fresh_db()
        keep(await bench.cycle("cold", bench.overrides(db, gen_file)))
        keep(await bench.cycle("warm (all 304)", bench.overrides(db, gen_file)))
        bench.serve_mutated()
        keep(await bench.cycle(f"mutated ({len(mutated)} feeds: +1 new, 1 edited)",
                               bench.overrides(db, gen_file)))  # fmt: skip
        if args.warm_latency:
            bench.server.delay_all(args.warm_latency)
            keep(await bench.cycle(WARM_LATENCY, bench.overrides(db, gen_file)))
            bench.server.delay_all(args.latency)
        bench.serve_original()
        # Where time goes: the cold cycle again as plain functions, without Prefect.
        if not args.no_plain:
            plains.append(await plain_cold(bench, gen_file))
            print(f"  cold, plain functions: {plains[-1].total:.2f} s", file=sys.stderr)

    if args.profile:  # separate runs: cProfile slows the code about 2x
        for phase in ("cold", "warm", "mutated"):
            profile = cProfile.Profile()
            if phase == "cold":
                db = bench.fresh_db()
            elif phase == "mutated":
                bench.serve_mutated()
            await plain_cold(bench, gen_file, profile, db=db)
            profile.dump_stats(f"{args.profile}.{phase}")
        bench.serve_original()

    # The floor.
    urls = [feed.url for feed in generated.feeds]
    conns0 = bench.server.connections()
    floors = [floor(urls) for _ in range(args.repeat)]
    floor_conns = (bench.server.connections() - conns0) // args.repeat
    floor_row = Row(
        phase=f"floor ({FLOOR_WORKERS} threads, httpx.Client + feedparser, no store)",
        feeds=len(urls),
        items=floors[0][1],
        seconds=statistics.median(f[0] for f in floors),
        statuses=Counter({"ok": len(urls)}),
        cpu=statistics.median(f[2] for f in floors),
        rss_mib=peak_rss_mib(),
        connections=floor_conns,
    )
    from parley.flows.ingest.parsepool import parse_workers
    from parley.flows.settings import load_settings

    workers = max(1, parse_workers(load_settings().parse_workers))
    pooled = [floor_pool(urls, workers) for _ in range(args.repeat)]
    pool_row = Row(
        phase=f"floor, parsing in {workers} processes (like parley's parse pool)",
        feeds=len(urls),
        items=pooled[0][1],
        seconds=statistics.median(f[0] for f in pooled),
        statuses=Counter({"ok": len(urls)}),
        cpu=statistics.median(f[2] for f in pooled),
        rss_mib=peak_rss_mib(),
    )
    return {"rows": rows, "floor": floor_row, "floor_pool": pool_row,
            "plain": median_plain(plains) if plains else None,
            "process_start": process_start()}  # fmt: skip


def process_start(runs: int = 3) -> float:
    """Seconds for a new interpreter to import the monitor flow (median of ``runs``)."""
    command = [sys.executable, "-c", "import parley.flows.monitor"]
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, timeout=120)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


# ---------------------------------------------------------------------------------------------
# Output


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _seconds(row: Row) -> str:
    if row.spread is None:
        return f"{row.seconds:.2f}"
    return f"{row.seconds:.2f} ({row.spread[0]:.2f}–{row.spread[1]:.2f})"


def _statuses(counter: Counter[str]) -> str:
    short = {"ok": "200", "not_modified": "304"}
    return ", ".join(f"{n}×{short.get(s, s)}" for s, n in counter.most_common())


def render(bench: Bench, result: dict[str, Any], meta: dict[str, Any]) -> str:
    args = bench.args
    rows: dict[str, list[Row]] = result["rows"]
    floor_row: Row = result["floor"]
    plain: Plain | None = result["plain"]
    cold = median_row(rows["cold"])
    out = []
    store = "PostgreSQL " + meta["db_safe"] if args.database_url else "SQLite (temporary file, WAL)"
    prefect = bench.prefect
    started = (f", started in {prefect.startup_seconds:.1f} s (excluded)"
               if prefect.startup_seconds is not None else "")  # fmt: skip
    out += [
        "## parley monitor cycle benchmark",
        "",
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{platform.python_implementation()} {platform.python_version()}, prefect {meta['prefect']}, "
        f"{platform.system()} {platform.release()}; load average at start "
        f"{' '.join(f'{x:.2f}' for x in meta['load'])}",
        f"- parley code measured: {meta['code']}",
        f"- store: {store}",
        f"- Prefect API: {prefect.mode}{started}",
        f"- feeds: {args.feeds} × {args.items} items ({meta['rss']} RSS 2.0, {meta['atom']} Atom), "
        f"{meta['bytes'] / 1e6:.1f} MB in all, {meta['planted']} topical items planted "
        f"({meta['planted'] / max(1, args.feeds * args.items):.1%}); generated in "
        f"{meta['gen_seconds']:.1f} s (excluded)",
        f"- latency per request: {args.latency:g} s; repeat: {args.repeat} (median shown); "
        f"fetch_per_host: {args.per_host if args.per_host is not None else '2 (parley default)'}; "
        f"fetch_concurrency {meta['concurrency']}; parse_workers {meta['workers']}; "
        f"{args.hosts} loopback hosts; one jsonl:// alert channel; feed server: "
        f"{'Nagle on, as shipped (--nagle)' if args.nagle else 'TCP_NODELAY (set by the bench)'}",
        "",
        "| phase | feeds | items | seconds | items/s | responses | new | edited | matches "
        "| alerts sent | TCP conns | CPU s (this process) | CPU s (Prefect server) |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ordered = [median_row(r) for r in rows.values()] + [floor_row, result["floor_pool"]]
    for row in ordered:
        rate = f"{row.items / row.seconds:,.0f}" if row.items and row.seconds else "—"
        out.append(
            f"| {row.phase} | {row.feeds} | {row.items} | {_seconds(row)} | {rate} "
            f"| {_statuses(row.statuses)} | {row.new} | {row.changed} | {row.matches} "
            f"| {row.sent} | {row.connections} | {row.cpu:.2f} | {_num(row.server_cpu)} |"
        )
    server_rss = prefect.peak_rss_mib()
    out += [
        "",
        f"- cold / floor: **{cold.seconds / floor_row.seconds:.1f}×** "
        f"({cold.seconds:.2f} s vs {floor_row.seconds:.2f} s)",
        f"- peak RSS of this process: **{peak_rss_mib():.0f} MiB** (ru_maxrss; the feed "
        f"servers and the generated bodies are in another process)"
        + (f"; Prefect server subprocess: {server_rss:.0f} MiB (VmHWM)" if server_rss else ""),
        f"- not in the cycle figures: a flow run that Prefect's runner (`parley serve`) or a "
        f"process worker starts runs in a new Python process, which first imports parley and "
        f"Prefect: {result['process_start']:.2f} s here (median of 3, "
        f"`python -c 'import parley.flows.monitor'`)",
        "",
        *targets(bench, rows, floor_row, result["floor_pool"]),
        "",
        *memory_lines(bench),
    ]
    if plain is not None:
        out += where_time_goes(args, plain, cold)
    if args.profile:
        out += ["", f"cProfile of plain runs: {args.profile}.{{cold,warm,mutated}}"]
    return "\n".join(out)


def where_time_goes(args: argparse.Namespace, plain: Plain, cold: Row) -> list[str]:
    out = [
        "",
        "### Where the cold cycle's time goes",
        "",
        "The same cold cycle run again, after each repeat, as the plain functions of "
        "flows/pipeline/cycle.py (no Prefect), on a fresh store, with timers wrapped around "
        f"parley's functions (median of {args.repeat}):",
        "",
        "| step | seconds | calls |",
        "|---|---:|---:|",
    ]
    for name, seconds in plain.steps.items():
        key = name.split(" ")[0]
        out.append(f"| {name} | {seconds:.2f} | |")
        inside = [p for p in plain.parts if _step_of(p[0]) == key]
        for label, part, calls in inside:
            out.append(f"| &nbsp;&nbsp;↳ {label} | {part:.2f} | {calls} |")
        if inside:
            rest = seconds - sum(p[1] for p in inside)
            out.append(f"| &nbsp;&nbsp;↳ rest (sessions, Session.get, ORM and glue) "
                       f"| {rest:.2f} | |")  # fmt: skip
    overhead = cold.seconds - plain.total
    out += [
        f"| **total, plain functions** (CPU {plain.cpu:.2f} s) | **{plain.total:.2f}** | |",
        f"| Prefect flow, cold, from the table above (CPU {cold.cpu:.2f} s) "
        f"| {cold.seconds:.2f} | |",
        f"| → flow + task overhead: flow − plain (CPU: {cold.cpu - plain.cpu:+.2f} s) "
        f"| {overhead:+.2f} | |",
        "",
        f"(plain run: {plain.entries} new entries, {plain.matches} matches, "
        f"{plain.sent} alerts sent)",
    ]
    return out


def _verdict(ok: bool) -> str:
    return "pass" if ok else "**fail**"


def targets(bench: Bench, rows: dict[str, list[Row]], floor_row: Row, pool_row: Row) -> list[str]:
    """The targets table; time targets are set for 200 feeds and scale with the feed count."""
    args = bench.args
    scale = max(1.0, args.feeds / 200)
    cold = median_row(rows["cold"])
    ratio = cold.seconds / floor_row.seconds
    out = [
        "### Targets",
        "",
        "| phase | parley | floor | ratio | target | result |",
        "|---|---:|---:|---:|---|---|",
        f"| cold | {cold.seconds:.2f} s | {floor_row.seconds:.2f} s | {ratio:.2f}× "
        f"| ≤ 1.2× floor | {_verdict(ratio <= 1.2)} |",
        f"| cold, vs the floor parsing in processes too | {cold.seconds:.2f} s "
        f"| {pool_row.seconds:.2f} s | {cold.seconds / pool_row.seconds:.2f}× | (like with like) | |",
    ]
    if args.feeds >= 10_000:
        out.append(f"| cold, {args.feeds} feeds | {cold.seconds:.0f} s | | | ≤ 600 s "
                   f"| {_verdict(cold.seconds <= 600)} |")  # fmt: skip
    warm = median_row(rows["warm (all 304)"])
    limit = 0.3 * scale
    out.append(f"| warm (all 304) | {warm.seconds:.2f} s | | | ≤ {limit:.2f} s "
               f"| {_verdict(warm.seconds <= limit)} |")  # fmt: skip
    if WARM_LATENCY in rows:
        slow = median_row(rows[WARM_LATENCY])
        limit = 0.6 * scale
        out.append(f"| warm, {args.warm_latency * 1000:g} ms per request | {slow.seconds:.2f} s "
                   f"| | | ≤ {limit:.2f} s (at 50 ms) | {_verdict(slow.seconds <= limit)} |")  # fmt: skip
    mutated = next(median_row(r) for name, r in rows.items() if name.startswith("mutated"))
    out.append(f"| mutated | {mutated.seconds:.2f} s | | | — | |")
    memory = bench.memory
    if memory is not None and memory.samples:
        # During the flow runs only: not the floors (16 threads holding every body) nor the
        # plain-function and profiled runs between the phases.
        peak = max(mib for phase, _, mib in memory.samples if phase not in ("setup", "between"))
        out.append(f"| peak memory during the cycles (PSS sampled: this process + parse workers) "
                   f"| {peak:.0f} MiB | | "
                   f"| ≤ 200 MiB | {_verdict(peak <= 200)} |")  # fmt: skip
        growth = cold_growth(memory)
        if growth is not None:
            out.append(f"| memory during cold: second half's peak vs first half's "
                       f"| {growth:+.1%} | | | ≤ +10% (flat) | {_verdict(growth <= 0.10)} |")  # fmt: skip
    return out


def cold_growth(memory: MemorySampler) -> float | None:
    samples = memory.of("cold")
    if len(samples) < 4:
        return None
    half = len(samples) // 2
    first = max(samples[:half])
    return max(samples[half:]) / first - 1


def memory_lines(memory_bench: Bench) -> list[str]:
    memory = memory_bench.memory
    if memory is None or not memory.samples:
        return []
    out = [
        f"### Memory over time (PSS every {memory.interval:g} s: this process and its children "
        "but the Prefect server)",
        "",
        "| phase | samples | start MiB | peak MiB | end MiB | across the phase, in tenths |",
        "|---|---:|---:|---:|---:|---|",
    ]
    names = list(dict.fromkeys(name for name, _, _ in memory.samples))
    for name in names:
        series = memory.of(name)
        if name == "between" or len(series) < 2:
            continue
        tenths = [series[min(len(series) - 1, round(i * (len(series) - 1) / 9))]
                  for i in range(10)]  # fmt: skip
        out.append(f"| {name} | {len(series)} | {series[0]:.0f} | {max(series):.0f} "
                   f"| {series[-1]:.0f} | {' '.join(f'{v:.0f}' for v in tenths)} |")  # fmt: skip
    return out


def _step_of(label: str) -> str:
    """The plain-run step a timed part belongs to (its label starts with the step's key)."""
    group = label.split(":")[0]
    if group in ("parse", "store", "match", "stories", "queue"):
        return "process"
    return "deliver_due" if group == "deliver" else group


def profile_summary(path: str, limit: int = 25) -> str:
    buffer = io.StringIO()
    stats = pstats.Stats(path, stream=buffer)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--feeds", type=int, default=200, help="generated feeds (default 200)")
    parser.add_argument("--items", type=int, default=50, help="items per feed (default 50)")
    parser.add_argument(
        "--database-url",
        help="store to use instead of a temporary SQLite file, e.g. "
        "postgresql://postgres@127.0.0.1:5432/parley_bench. THROWAWAY ONLY: parley's tables "
        "in it are dropped before each fresh run.",
    )
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the feed server waits before each answer (default 0)")  # fmt: skip
    parser.add_argument(
        "--hosts",
        type=int,
        default=20,
        help="loopback addresses (127.0.0.1 …) the generated feeds are spread "
        "over, each a FeedServer: what the per-host limit sees (default 20)",
    )
    parser.add_argument(
        "--warm-latency",
        type=float,
        default=0.05,
        help="one more warm cycle with this delay per request (default 0.05; 0 skips it)",
    )
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each phase K times on fresh state; report the median")  # fmt: skip
    parser.add_argument("--per-host", type=int, default=None,
                        help="override parley's fetch_per_host (default: parley's own, 2); "
                        "every generated feed is on 127.0.0.1, so this caps the fetch")  # fmt: skip
    parser.add_argument(
        "--nagle",
        action="store_true",
        help="serve as FeedServer ships (Nagle on): each 200 answer then stalls ~40 ms on "
        "delayed ACK; by default the bench sets TCP_NODELAY on the server's sockets",
    )
    parser.add_argument(
        "--no-plain",
        action="store_true",
        help="skip the plain-function cold run (the 'where time goes' table)",
    )
    parser.add_argument("--seed", type=int, default=20250322, help="generator seed")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile plain-function cold, warm and mutated runs into FILE.{cold,warm,mutated} "
                        "and print a summary")  # fmt: skip
    args = parser.parse_args(argv)
    if min(args.feeds, args.items, args.repeat, args.hosts) < 1 or args.hosts > 254:
        parser.error("--feeds, --items, --repeat and --hosts must be at least 1 (--hosts ≤ 254)")
    if args.latency < 0 or args.warm_latency < 0:
        parser.error("--latency and --warm-latency must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import prefect

    from parley.flows.ingest import localserver
    from parley.flows.ingest.parsepool import parse_workers
    from parley.flows.settings import load_settings
    from parley.storage.db import safe_url

    meta: dict[str, Any] = {
        "prefect": prefect.__version__,
        "load": os.getloadavg(),
        "code": str(Path(localserver.__file__).resolve().parent.parent),
        "db_safe": safe_url(args.database_url) if args.database_url else "",
        "concurrency": load_settings().fetch_concurrency,
        "workers": parse_workers(load_settings().parse_workers),
    }

    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    try:
        host = FeedHost(args.hosts, nagle=args.nagle, feeds=args.feeds, items=args.items,
                        seed=args.seed, mutated_share=MUTATED_SHARE)  # fmt: skip
        with host, prefect_server(tmp / "prefect") as info, MemorySampler() as memory:
            print(f"Prefect: {info.mode}", file=sys.stderr)
            meta.update(host.generated.meta)
            memory.exclude.add(host.pid)  # the feed servers are not parley
            if info.pid is not None:
                memory.exclude.add(info.pid)
            bench = Bench(args, tmp, host, info, memory)
            result = asyncio.run(run_all(bench))
            print(render(bench, result, meta))
        if args.profile:
            for phase in ("cold", "warm", "mutated"):
                summary = profile_summary(f"{args.profile}.{phase}")
                print(f"\n{phase}:\n```\n{summary}```", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if args.database_url:
            Bench(args, tmp, None, PrefectInfo("")).fresh_db()  # leave no bench tables behind
    return 0


if __name__ == "__main__":
    sys.exit(main())
