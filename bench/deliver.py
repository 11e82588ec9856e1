"""Benchmark parley's alert delivery: the outbox drained to a JSON webhook on 127.0.0.1.

Two measurements, printed as markdown tables (progress goes to stderr):

1. **Throughput**: N outbox rows queued with ``storage.outbox.enqueue``, then one
   ``deliver_due`` drains them with real apprise ``json://`` sends over HTTP to a local
   receiver: alerts per second, requests the receiver counted (must be N), per-send p50/p95,
   and where the time goes (sends, ``claim_due``, the rest: sessions and ``mark_sent``).
2. **Item seen → alert arrived**: one generated feed served by ``FeedServer`` gets one new
   ZNPP item per cycle; each cycle runs the plain functions of flows/pipeline/cycle.py
   (``open_runtime`` → ``due_requests`` → ``fetch`` → ``process`` → ``deliver_due``) and the
   bench measures from the cycle's start and from the moment ``fetch`` returns to the moment
   the receiver got the POST (both ``time.perf_counter`` in this process).

    .venv/bin/python bench/deliver.py                         # 500 alerts, SQLite
    .venv/bin/python bench/deliver.py --alerts 100 --repeat 3
    .venv/bin/python bench/deliver.py --latency 0.05          # receiver answers after 50 ms
    .venv/bin/python bench/deliver.py --database-url postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/deliver.py --rate-limit 5/10m      # over the limit: one bundle

No Prefect. Traffic stays on loopback. See bench/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import io
import json
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

LOOPBACK = "127.0.0.1"
CHANNEL = "bench-hook"
FEED_PATH = "/bench/znpp-desk.xml"
ITEM_TITLE = "IAEA team rotates at the Zaporizhzhia nuclear power plant (ZNPP)"
ITEM_GAP = timedelta(days=10)  # > the story window (72 h): every item opens its own story
ITEM_BASE = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
WAIT_TIMEOUT = 10.0
SERVE_FLAG = "--serve-receiver"  # internal: run as the receiver child process


# ---------------------------------------------------------------------------------------------
# The receiver: a stdlib threaded HTTP server on 127.0.0.1 that stamps each POST on arrival.
# By default it runs in a child process (its own GIL, like a real webhook endpoint); arrival
# times are time.perf_counter() there, which on Linux is CLOCK_MONOTONIC, shared by processes.


@dataclass(frozen=True)
class Arrival:
    at: float  # time.perf_counter() once the request (headers and body) was read
    path: str
    size: int  # body bytes


class _HookState:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.arrivals: list[Arrival] = []
        self.connections = 0  # connections that carried at least one POST
        self.lock = threading.Lock()


class _HookHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive offered; apprise closes after each send anyway
    disable_nagle_algorithm = True  # like a real server: no delayed-ACK stall on the body
    timeout = 5.0
    server: _HookServer
    _posted = False

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        arrival = Arrival(time.perf_counter(), self.path, len(body))
        state = self.server.state
        with state.lock:
            state.arrivals.append(arrival)
            if not self._posted:
                state.connections += 1
                self._posted = True
        if state.latency:
            time.sleep(state.latency)
        self._reply(b'{"ok": true}')

    def do_GET(self) -> None:
        """``/_arrivals?since=K``: the arrivals from index K, for the bench in the parent."""
        since = int(self.path.partition("since=")[2] or 0)
        state = self.server.state
        with state.lock:
            document = {
                "connections": state.connections,
                "arrivals": [[a.at, a.path, a.size] for a in state.arrivals[since:]],
            }
        self._reply(json.dumps(document).encode())

    def _reply(self, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _HookServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, state: _HookState) -> None:
        super().__init__((LOOPBACK, 0), _HookHandler)
        self.state = state


class Receiver:
    """Records every POST with its arrival time; answers 200 after ``latency`` seconds.

    ``in_process``: serve from a thread of this process (shares the GIL with parley) instead
    of a child process.
    """

    def __init__(self, latency: float = 0.0, *, in_process: bool = False) -> None:
        self.latency = latency
        self.in_process = in_process
        self._state: _HookState | None = None
        self._server: _HookServer | None = None
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[str] | None = None
        self._seen: list[Arrival] = []
        self._connections = 0
        self.port = 0

    def __enter__(self) -> Receiver:
        if self.in_process:
            self._state = _HookState(self.latency)
            self._server = _HookServer(self._state)
            self.port = int(self._server.server_address[1])
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
            return self
        command = [sys.executable, str(Path(__file__).resolve()), SERVE_FLAG, str(self.latency)]
        self._child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True)  # fmt: skip
        assert self._child.stdout is not None
        line = self._child.stdout.readline()
        if not line.strip().isdigit():
            self._stop_child()
            raise SystemExit(f"receiver process did not start (said {line!r})")
        self.port = int(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5.0)
        self._stop_child()

    def _stop_child(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        assert child.stdin is not None
        child.stdin.close()  # the child stops when its stdin closes
        try:
            child.wait(5.0)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5.0)

    def _refresh(self) -> None:
        if self._state is not None:
            with self._state.lock:
                self._seen = list(self._state.arrivals)
                self._connections = self._state.connections
            return
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
        try:
            conn.request("GET", f"/_arrivals?since={len(self._seen)}")
            document = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        self._seen += [Arrival(at, path, size) for at, path, size in document["arrivals"]]
        self._connections = int(document["connections"])

    @property
    def arrivals(self) -> list[Arrival]:
        self._refresh()
        return list(self._seen)

    @property
    def connections(self) -> int:
        self._refresh()
        return self._connections

    def url(self, path: str = "/hook") -> str:
        return f"json://{LOOPBACK}:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = WAIT_TIMEOUT) -> list[Arrival]:
        deadline = time.monotonic() + timeout
        while len(self.arrivals) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self._seen)


def serve_receiver(latency: float) -> int:
    """The child process: serve until stdin closes; the port goes to stdout first."""
    server = _HookServer(_HookState(latency))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)  # fmt: skip
    thread.start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # EOF when the parent closes the pipe or dies
    server.shutdown()
    server.server_close()
    return 0


# ---------------------------------------------------------------------------------------------
# Stores and timers


class Stores:
    """Fresh stores: a new SQLite file each, or the given (throwaway) database emptied."""

    def __init__(self, database_url: str | None, tmp: Path) -> None:
        self.database_url = database_url
        self.tmp = tmp
        self.count = 0

    def fresh(self) -> str:
        self.count += 1
        if self.database_url is None:
            return f"sqlite:///{self.tmp / f'parley-{self.count}.db'}"
        self.drop()
        return self.database_url

    def drop(self) -> None:
        if self.database_url is None:
            return
        from sqlmodel import SQLModel

        from parley.storage.db import make_engine

        engine = make_engine(self.database_url)
        try:
            SQLModel.metadata.drop_all(engine)
        finally:
            engine.dispose()


class Timers:
    """Wraps module attributes with timing wrappers for one run; ``restore`` undoes it."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        samples = self.samples.setdefault(label, [])

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                samples.append(time.perf_counter() - started)

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def total(self, label: str) -> float:
        return sum(self.samples.get(label, []))


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def utcnow() -> datetime:
    return datetime.now(UTC)


def alert_text(number: int) -> tuple[str, str]:
    """A title and a body of the size parley renders (title ~110, body ~700 characters)."""
    title = (f"[Zaporizhzhia nuclear power plant] IAEA team rotates at the plant, "
             f"report {number} — Bench Outlet")  # fmt: skip
    body = "\n".join([
        f"IAEA team rotates at the Zaporizhzhia nuclear power plant (ZNPP), report {number}",
        "Bench Outlet · 2025-01-06 09:00 UTC · severity high",
        "https://outlet.example/2025/01/06/znpp-rotation",
        "",
        "Matched: IAEA, Zaporizhzhia nuclear power plant (title)",
        "…the IAEA said its experts rotated at the Zaporizhzhia nuclear power plant on Monday "
        "after a delay caused by shelling near the route; the team will stay for five weeks and "
        "report on the state of the cooling pond, the 750 kV line and the diesel generators…",
        "",
        "Story: first report; 1 outlet so far. Not yet corroborated by an independent outlet.",
    ])  # fmt: skip
    return title, body


# ---------------------------------------------------------------------------------------------
# 1. Throughput


@dataclass
class Throughput:
    alerts: int
    enqueue_seconds: float
    seconds: float
    sent: int
    failed: int
    received: int
    connections: int
    statuses: dict[str, int]
    send_times: list[float]
    claim_seconds: float
    claim_calls: int
    mark_seconds: float
    cpu: float
    body_bytes: int


def expected_requests(args: argparse.Namespace) -> int:
    """N posts, or under ``--rate-limit K/M`` K: K - 1 alerts alone and one bundle."""
    if not args.rate_limit:
        return int(args.alerts)
    from parley.alerts.ratelimit import parse_rate_limit

    return min(int(args.alerts), parse_rate_limit(args.rate_limit).count)


def run_throughput(args: argparse.Namespace, stores: Stores, hook: Receiver,
                   profile: cProfile.Profile | None = None) -> Throughput:  # fmt: skip
    from parley.alerts.channels import build_channel
    from parley.alerts.ratelimit import parse_rate_limit
    from parley.flows.pipeline import deliver as deliver_module
    from parley.flows.pipeline.deliver import deliver_due
    from parley.flows.settings import load_settings
    from parley.storage import outbox
    from parley.storage.db import init_db, make_engine, session_scope

    settings = load_settings()
    engine = make_engine(stores.fresh())
    init_db(engine)
    limit = parse_rate_limit(args.rate_limit) if args.rate_limit else None
    channels = [build_channel(CHANNEL, hook.url(), {}, rate_limit=limit)]
    now = utcnow()
    started = time.perf_counter()
    with session_scope(engine) as session:
        for number in range(args.alerts):
            title, body = alert_text(number)
            outbox.enqueue(session, key=f"bench-{number:06d}", channel=CHANNEL, kind="new",
                           topic_key="znpp", title=title, body=body, now=now)  # fmt: skip
    enqueue_seconds = time.perf_counter() - started

    before, conns0 = len(hook.arrivals), hook.connections
    timers = Timers()
    timers.wrap(deliver_module, "send", "send")  # what default_sender calls
    timers.wrap(outbox, "claim_due", "claim_due")
    timers.wrap(outbox, "mark_sent", "mark_sent")
    cpu0 = time.process_time()
    try:
        if profile is not None:
            profile.enable()
        started = time.perf_counter()
        report = deliver_due(engine, channels, utcnow, max_attempts=settings.deliver_max_attempts,
                             timeout=settings.deliver_timeout)  # fmt: skip
        seconds = time.perf_counter() - started
        if profile is not None:
            profile.disable()
    finally:
        timers.restore()
    cpu = time.process_time() - cpu0
    arrivals = hook.wait_for(before + expected_requests(args), timeout=2.0)[before:]
    with session_scope(engine) as session:
        statuses = outbox.counts(session)
    engine.dispose()
    if report.errors:
        print(f"warning: {report.failed} sends failed, e.g. {report.errors[0]}", file=sys.stderr)
    return Throughput(
        alerts=args.alerts,
        enqueue_seconds=enqueue_seconds,
        seconds=seconds,
        sent=report.sent,
        failed=report.failed,
        received=len(arrivals),
        connections=hook.connections - conns0,
        statuses=statuses,
        send_times=timers.samples["send"],
        claim_seconds=timers.total("claim_due"),
        claim_calls=len(timers.samples["claim_due"]),
        mark_seconds=timers.total("mark_sent"),
        cpu=cpu,
        body_bytes=arrivals[0].size if arrivals else 0,
    )


@dataclass
class Floor:
    label: str
    seconds: float
    count: int
    received: int


def floors(n: int, hook: Receiver) -> list[Floor]:
    """Reference points without the outbox: what one POST costs with less machinery."""
    from parley.alerts.channels import build_channel
    from parley.alerts.notify import send

    channel = build_channel(CHANNEL, hook.url("/floor"), {})
    title, body = alert_text(0)
    results = []

    def timed(label: str, action: Callable[[], object]) -> None:
        before = len(hook.arrivals)
        started = time.perf_counter()
        for _ in range(n):
            action()
        seconds = time.perf_counter() - started
        received = len(hook.wait_for(before + n, timeout=2.0)) - before
        results.append(Floor(label, seconds, n, received))

    timed("`notify.send` alone (no outbox; one Apprise object per send, as parley)",
          lambda: send(channel, title, body, timeout=30.0))  # fmt: skip

    import apprise

    app = apprise.Apprise()
    app.add(channel.url)
    timed("apprise, one `Apprise` object reused for every send",
          lambda: app.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT))  # fmt: skip

    import requests

    payload = json.dumps({"version": "1.0", "title": title, "message": body, "type": "info"})
    url = f"http://{LOOPBACK}:{hook.port}/floor"
    headers = {"Content-Type": "application/json"}
    timed("`requests.post`, a new connection per POST (what apprise does underneath)",
          lambda: requests.post(url, data=payload, headers=headers, timeout=30))  # fmt: skip

    def raw() -> None:
        conn = http.client.HTTPConnection(LOOPBACK, hook.port, timeout=30)
        conn.request("POST", "/floor", payload.encode(), headers)
        conn.getresponse().read()
        conn.close()

    timed("`http.client`, a new connection per POST (stdlib floor)", raw)
    return results


# ---------------------------------------------------------------------------------------------
# 2. Item seen → alert arrived


@dataclass
class CycleTiming:
    label: str
    steps: dict[str, float]  # step → seconds
    from_start: float  # cycle start → POST arrived
    from_fetch: float  # fetch returned → POST arrived
    deliver_to_arrival: float  # deliver_due called → POST arrived
    matches: int
    sent: int
    received: int
    cpu: float
    delivery_parts: dict[str, float] = field(default_factory=dict)


def feed_body(count: int) -> bytes:
    """An RSS feed with ``count`` ZNPP items, newest first, ITEM_GAP apart."""
    items = []
    for number in reversed(range(count)):
        published = ITEM_BASE + ITEM_GAP * number
        items += [
            "    <item>",
            f"      <title>{escape(ITEM_TITLE)}</title>",
            f"      <link>https://znpp-desk.example/{published:%Y/%m/%d}/rotation-{number}</link>",
            f'      <guid isPermaLink="false">urn:parley-bench:znpp-desk:{number}</guid>',
            f"      <pubDate>{published:%a, %d %b %Y %H:%M:%S} +0000</pubDate>",
            "      <description><![CDATA[<p>The IAEA said its experts rotated at the "
            "Zaporizhzhia nuclear power plant after a delay near the front line.</p>]]>"
            "</description>",
            "    </item>",
        ]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0">',
        "  <channel>",
        "    <title>ZNPP desk (bench)</title>",
        "    <link>https://znpp-desk.example/</link>",
        "    <description>One generated feed for bench/deliver.py.</description>",
        *items,
        "  </channel>",
        "</rss>",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


def run_cycle(label: str, settings: Any, hook: Receiver) -> CycleTiming:
    """One cycle as flows/pipeline/cycle.py's plain functions, timed around each step."""
    from parley.flows.pipeline import deliver as deliver_module
    from parley.flows.pipeline.cycle import due_requests, fetch, open_runtime, process
    from parley.flows.pipeline.deliver import deliver_due
    from parley.storage import outbox

    before = len(hook.arrivals)
    steps: dict[str, float] = {}
    timers = Timers()
    timers.wrap(deliver_module, "send", "send")
    timers.wrap(outbox, "claim_due", "claim_due")
    timers.wrap(outbox, "mark_sent", "mark_sent")
    cpu0 = time.process_time()
    start = mark = time.perf_counter()

    def lap(step: str) -> float:
        nonlocal mark
        now = time.perf_counter()
        steps[step] = now - mark
        mark = now
        return now

    runtime = open_runtime(settings)
    try:
        lap("open_runtime")
        requests, _ = due_requests(runtime, utcnow(), force=True)
        lap("due_requests")
        results = fetch(requests, settings)
        fetched = lap("fetch")
        outcomes = process(runtime, results)
        delivering = lap("process")
        delivery = deliver_due(runtime.engine, runtime.channels, utcnow,
                               max_attempts=settings.deliver_max_attempts,
                               timeout=settings.deliver_timeout)  # fmt: skip
        lap("deliver_due")
    finally:
        timers.restore()
        runtime.engine.dispose()
    cpu = time.process_time() - cpu0
    arrivals = hook.wait_for(before + 1, timeout=2.0)[before:]
    if not arrivals:
        raise SystemExit(f"{label}: no POST arrived (delivery: {delivery})")
    arrived = arrivals[0].at
    return CycleTiming(
        label=label,
        steps=steps,
        from_start=arrived - start,
        from_fetch=arrived - fetched,
        deliver_to_arrival=arrived - delivering,
        matches=sum(len(o.matches) for o in outcomes),
        sent=delivery.sent,
        received=len(arrivals),
        cpu=cpu,
        delivery_parts={
            "claim_due": timers.total("claim_due"),
            "send": timers.total("send"),
            "mark_sent": timers.total("mark_sent"),
        },
    )


def run_latency(args: argparse.Namespace, stores: Stores, hook: Receiver, tmp: Path,
                profile: cProfile.Profile | None = None) -> list[CycleTiming]:  # fmt: skip
    from parley.flows.ingest.localserver import FeedServer
    from parley.flows.settings import load_settings

    timings = []
    with FeedServer() as server:
        feeds_file = tmp / "feeds-latency.yaml"
        feeds = [{"name": "ZNPP desk (bench)", "url": server.url(FEED_PATH), "tier": "media"}]
        feeds_file.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
        channels_file = tmp / "channels-latency.yaml"
        document = {"channels": [{"name": CHANNEL, "url": hook.url("/cycle")}]}
        channels_file.write_text(yaml.safe_dump(document), encoding="utf-8")
        settings = load_settings(database_url=stores.fresh(), feeds_file=feeds_file,
                                 channels_file=channels_file)  # fmt: skip
        # Cycle 0 is the first in the process (lazy imports, apprise plugin load, first
        # connections); it is shown on its own. Cycles 1..K each see one new item.
        for number in range(args.repeat + 1):
            server.set(FEED_PATH, feed_body(number + 1))
            label = "first cycle in the process" if number == 0 else f"cycle {number}"
            if profile is not None and number == args.repeat:
                profile.enable()
            timing = run_cycle(label, settings, hook)
            if profile is not None and number == args.repeat:
                profile.disable()
            if timing.matches != 1 or timing.sent != 1:
                print(f"warning: {label}: {timing.matches} matches, {timing.sent} sent "
                      "(expected 1 and 1)", file=sys.stderr)  # fmt: skip
            print(f"  {label}: {timing.from_start * 1000:.0f} ms from start, "
                  f"{timing.from_fetch * 1000:.0f} ms from fetch", file=sys.stderr)  # fmt: skip
            timings.append(timing)
    return timings


# ---------------------------------------------------------------------------------------------
# Output


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("apprise", "requests", "SQLAlchemy", "sqlmodel", "psycopg", "httpx"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "—"
    return found


def render(args: argparse.Namespace, meta: dict[str, Any], throughputs: list[Throughput],
           floor_rows: list[Floor], timings: list[CycleTiming]) -> str:  # fmt: skip
    from parley.flows.settings import load_settings

    settings = load_settings()
    v = meta["versions"]
    store = f"PostgreSQL {meta['db_safe']}" if args.database_url else "SQLite (temporary file, WAL)"
    out = [
        "## parley alert delivery benchmark",
        "",
        "| machine | |",
        "|---|---|",
        f"| nproc | {len(os.sched_getaffinity(0))} (os.cpu_count {os.cpu_count()}) |",
        f"| Python | {platform.python_implementation()} {platform.python_version()} |",
        f"| apprise | {v['apprise']} (requests {v['requests']}) |",
        f"| SQLAlchemy / sqlmodel / psycopg | {v['SQLAlchemy']} / {v['sqlmodel']} / "
        f"{v['psycopg']} |",
        f"| OS | {platform.system()} {platform.release()} |",
        f"| load average at start | {' '.join(f'{x:.2f}' for x in meta['load'])} |",
        f"| store | {store} |",
        f"| receiver | stdlib `ThreadingHTTPServer` on 127.0.0.1 "
        f"({'a child process' if args.receiver == 'process' else 'a thread of this process'}), "
        f"HTTP/1.1, TCP_NODELAY, answers 200 after {args.latency:g} s |",
        f"| channel | one `json://127.0.0.1:PORT/hook` (apprise JSON webhook); deliver_timeout "
        f"{settings.deliver_timeout:g} s |",
        f"| parley code | {meta['code']} |",
        "",
        f"### 1. Delivery throughput: {args.alerts} outbox rows → `deliver_due` → webhook",
        "",
        f"Median of {len(throughputs)} run(s), each on a fresh store; per-send times pooled over "
        "all runs.",
        "",
    ]
    runs = throughputs
    med = statistics.median
    seconds = med(t.seconds for t in runs)
    sends = [s for t in runs for s in t.send_times]
    send_total = med(sum(t.send_times) for t in runs)
    claim = med(t.claim_seconds for t in runs)
    mark = med(t.mark_seconds for t in runs)
    first = runs[0]
    spread = (f" ({min(t.seconds for t in runs):.2f}–{max(t.seconds for t in runs):.2f})"
              if len(runs) > 1 else "")  # fmt: skip
    out += [
        "| measure | value |",
        "|---|---:|",
        f"| alerts queued (`outbox.enqueue`, one transaction) | {args.alerts} in "
        f"{med(t.enqueue_seconds for t in runs):.2f} s |",
        f"| `deliver_due` wall time | {seconds:.2f} s{spread} |",
        f"| **alerts per second** | **{args.alerts / seconds:,.0f}** |",
        f"| sent / failed (DeliveryReport) | {first.sent} / {first.failed} |",
        f"| channel rate limit | {args.rate_limit or 'none'} |",
        f"| requests the receiver counted | {first.received} "
        f"({'as expected' if all(t.received == expected_requests(args) for t in runs) else '**unexpected**'}) |",
        f"| TCP connections the receiver accepted | {first.connections} |",
        f"| outbox rows after | {', '.join(f'{k} {n}' for k, n in sorted(first.statuses.items()))} |",
        f"| per-send time (`notify.send`) p50 / p95 / max | {ms(percentile(sends, 0.5))} / "
        f"{ms(percentile(sends, 0.95))} / {ms(max(sends))} ms |",
        f"| JSON body posted | {first.body_bytes} bytes |",
        f"| CPU seconds of this process during `deliver_due` | {med(t.cpu for t in runs):.2f} |",
        "",
        "Where `deliver_due`'s time goes (median run):",
        "",
        "| part | seconds | share | calls |",
        "|---|---:|---:|---:|",
        f"| `notify.send` (apprise + HTTP POST) | {send_total:.2f} | {send_total / seconds:.0%} "
        f"| {len(first.send_times)} |",
        f"| `outbox.claim_due` (SELECT + one UPDATE per row, batches of 20) | {claim:.2f} "
        f"| {claim / seconds:.0%} | {first.claim_calls} |",
        f"| `outbox.mark_sent` (get + update) | {mark:.2f} | {mark / seconds:.0%} "
        f"| {args.alerts} |",
        f"| rest (sessions, commits, glue) | {seconds - send_total - claim - mark:.2f} "
        f"| {(seconds - send_total - claim - mark) / seconds:.0%} | |",
    ]
    if floor_rows:
        out += [
            "",
            f"Reference, no outbox or store ({args.alerts} POSTs each, same receiver):",
            "",
            "| path | seconds | per POST (ms) | POSTs/s | received |",
            "|---|---:|---:|---:|---:|",
        ]
    for row in floor_rows:
        out.append(f"| {row.label} | {row.seconds:.2f} | {ms(row.seconds / row.count)} "
                   f"| {row.count / row.seconds:,.0f} | {row.received} |")  # fmt: skip

    cycles = [t for t in timings if t.label != "first cycle in the process"]
    warm = [t for t in timings if t.label == "first cycle in the process"]
    out += [
        "",
        "### 2. A cycle sees an item → the alert arrives",
        "",
        "One feed on a local `FeedServer`; each cycle serves one new matching item "
        f"(“{ITEM_TITLE}”) on top of the previous ones. The cycle is flows/pipeline/cycle.py's "
        "plain functions on one store; times in ms; arrival = `time.perf_counter()` in the "
        "receiver's handler once the POST is read.",
        "",
        "| cycle | open_runtime | due_requests | fetch | process | deliver_due | "
        "**fetch returned → POST arrived** | **cycle start → POST arrived** | CPU ms | matches "
        "| sent | received |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in warm + cycles:
        s = t.steps
        out.append(
            f"| {t.label} | {ms(s['open_runtime'])} | {ms(s['due_requests'])} | {ms(s['fetch'])} "
            f"| {ms(s['process'])} | {ms(s['deliver_due'])} | {ms(t.from_fetch)} "
            f"| {ms(t.from_start)} | {ms(t.cpu)} | {t.matches} | {t.sent} | {t.received} |"
        )
    if cycles:

        def stat(fn: Callable[[Sequence[float]], float], key: str) -> str:
            return ms(fn([t.steps[key] for t in cycles]))

        out.append(
            f"| **median of {len(cycles)}** | {stat(med, 'open_runtime')} "
            f"| {stat(med, 'due_requests')} | {stat(med, 'fetch')} | {stat(med, 'process')} "
            f"| {stat(med, 'deliver_due')} | **{ms(med([t.from_fetch for t in cycles]))}** "
            f"| **{ms(med([t.from_start for t in cycles]))}** | {ms(med([t.cpu for t in cycles]))} "
            "| | | |"
        )
        out.append(
            f"| **max of {len(cycles)}** | {stat(max, 'open_runtime')} "
            f"| {stat(max, 'due_requests')} | {stat(max, 'fetch')} | {stat(max, 'process')} "
            f"| {stat(max, 'deliver_due')} | **{ms(max(t.from_fetch for t in cycles))}** "
            f"| **{ms(max(t.from_start for t in cycles))}** | {ms(max(t.cpu for t in cycles))} "
            "| | | |"
        )
        parts = {k: med([t.delivery_parts[k] for t in cycles]) for k in cycles[0].delivery_parts}
        to_arrival = med([t.deliver_to_arrival for t in cycles])
        out += [
            "",
            f"Inside `deliver_due` (median): claim_due {ms(parts['claim_due'])} ms, "
            f"`notify.send` {ms(parts['send'])} ms, mark_sent {ms(parts['mark_sent'])} ms; "
            f"the POST arrives {ms(to_arrival)} ms after `process` returns.",
        ]
    out += ["", f"Peak RSS of this process: {peak_rss_mib():.0f} MiB."]
    if args.profile:
        out += [
            f"cProfile: {args.profile}-deliver.pstats (first throughput run), "
            f"{args.profile}-cycle.pstats (the last cycle)"
        ]
    return "\n".join(out)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def profile_summary(path: str, limit: int = 30) -> str:
    buffer = io.StringIO()
    stats = pstats.Stats(path, stream=buffer)
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--alerts", type=int, default=500,
                        help="outbox rows drained in the throughput run (default 500)")  # fmt: skip
    parser.add_argument(
        "--database-url",
        help="store instead of a temporary SQLite file, e.g. "
        "postgresql://postgres@127.0.0.1:5432/parley_bench. THROWAWAY ONLY: parley's tables in "
        "it are dropped before each fresh store and at the end.",
    )
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the receiver waits before answering each POST (default 0)")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=5,
                        help="cycles in the arrival test, each with one new item (default 5)")  # fmt: skip
    parser.add_argument("--runs", type=int, default=1,
                        help="throughput runs on fresh stores; the table shows the median")  # fmt: skip
    parser.add_argument("--receiver", choices=("process", "thread"), default="process",
                        help="run the webhook receiver in a child process (default: its own "
                        "GIL, like a real endpoint) or in a thread of the bench process")  # fmt: skip
    parser.add_argument("--no-floors", action="store_true",
                        help="skip the reference POST loops (no outbox, no store)")  # fmt: skip
    parser.add_argument("--profile", metavar="PREFIX",
                        help="cProfile the first throughput run and the last cycle into "
                        "PREFIX-deliver.pstats and PREFIX-cycle.pstats; summary on stderr")  # fmt: skip
    parser.add_argument("--rate-limit", metavar="K/M",
                        help='give the channel a rate limit, e.g. "5/10m": K - 1 alerts go alone, '
                        "the rest in one bundle (default: none, every alert alone)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.alerts < 1 or args.repeat < 1 or args.runs < 1 or not 0 <= args.latency <= 10:
        parser.error("--alerts, --repeat and --runs must be at least 1; --latency in 0..10 s")
    return args


@contextmanager
def temporary_dir() -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-deliver-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [SERVE_FLAG]:
        return serve_receiver(float(argv[1]))
    args = parse_args(argv)
    from parley.flows.ingest import localserver
    from parley.storage.db import safe_url

    meta = {
        "versions": versions(),
        "load": os.getloadavg(),
        "code": str(Path(localserver.__file__).resolve().parent.parent),
        "db_safe": safe_url(args.database_url) if args.database_url else "",
    }
    profiles = {"cycle": cProfile.Profile(), "deliver": cProfile.Profile()} if args.profile else {}
    receiver = Receiver(args.latency, in_process=args.receiver == "thread")
    with temporary_dir() as tmp, receiver as hook:
        stores = Stores(args.database_url, tmp)
        try:
            print(f"latency: {args.repeat} cycles + 1 first", file=sys.stderr)
            timings = run_latency(args, stores, hook, tmp, profiles.get("cycle"))
            throughputs = []
            for run in range(args.runs):
                result = run_throughput(
                    args, stores, hook, profiles.get("deliver") if run == 0 else None
                )
                print(f"throughput run {run + 1}/{args.runs}: {result.seconds:.2f} s, "
                      f"{args.alerts / result.seconds:.0f} alerts/s", file=sys.stderr)  # fmt: skip
                throughputs.append(result)
            floor_rows = [] if args.no_floors else floors(args.alerts, hook)
        finally:
            stores.drop()  # leave no bench tables behind in a given database
        print(render(args, meta, throughputs, floor_rows, timings))
    for name, profile in profiles.items():
        path = f"{args.profile}-{name}.pstats"
        profile.dump_stats(path)
        print(f"\n{path}\n```\n" + profile_summary(path) + "```", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
