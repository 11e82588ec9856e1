"""SIGKILL safety of the real Prefect flows: `parley run` and `parley deliver` in subprocesses.

tests/test_crash_safety.py kills the cycle's plain functions at points chosen from inside.
Here the real command runs against a Prefect test server, over the demo step 01-first served
by a FeedServer (plus one bulk feed of unrelated items, so that storing takes long enough to
be interrupted), alerting one JSON webhook. It is killed at points chosen from the outside,
with no hook in the product, one after the other on the same database:

1. during the fetch — the feed server holds one feed's answer;
2. during the store — the first feed's entries are committed, the bulk feed's are not;
3. during a send — the webhook holds the 3rd alert's request unanswered;
4. (a clean `parley run`: the dead run's lease keeps its claimed rows, nothing is sent);
5. right after the webhook answered an alert of `parley deliver`, run once the lease is over;
6. (a clean `parley deliver`).

Then every matched item is stored once and every alert was received once, except the alert
in flight at a kill during a send: the webhook got it, the row was not marked, so it is sent
again — at most once more, and only after the lease of the dead run has run out (the test moves
the lease's end into the past instead of waiting for it). At step 5 the row may or may not
have been marked before the kill landed; the row's status tells which, and so whether a
second copy is allowed.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import clean_environ, parley_command
from crashrun import run
from flowrun import DEMO, demo_feeds, publish
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from parley.flows.ingest.localserver import MAX_DELAY, FeedServer
from parley.storage.db import make_engine
from parley.storage.models import Entry, Feed, Match, OutboxAlert

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

FIRST_ALERTS = 11  # demo step 01-first (seeds/demo/README.md): one per item that alerts
FIRST_FEED_ENTRIES = 4  # Dnipro Wire, the first feed stored
BULK_PATH = "/bulk-bazaar.xml"
BULK_ITEMS = 800  # unrelated items: keep the store of one feed busy for about a second
HELD_FEED = "/odesa-courier.xml"
HOLD_AT = 3  # step 3: the webhook holds the 3rd alert
WAIT = 60.0  # seconds for a subprocess to reach a kill point (loaded 2-core machine)
RUN_TIMEOUT = 120.0  # seconds for a clean run
EXIT_TIMEOUT = 10.0
HOLD_TIMEOUT = 20.0  # a held webhook request is answered after this at the latest


# --- a webhook that can hold a request or report an answer ---------------------------------


class _Hook(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HookHandler)
        self.lock = threading.Lock()
        self.titles: list[str] = []
        self.hold_at: int | None = None  # hold the Nth request (counted from the start)
        self.report_at: int | None = None  # signal once the Nth request is answered
        self.held = threading.Event()
        self.release = threading.Event()
        self.answered = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client killed mid-request is what these tests do: stay quiet."""


class _HookHandler(BaseHTTPRequestHandler):
    server: _Hook
    timeout = HOLD_TIMEOUT

    def do_POST(self) -> None:
        import json

        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        hook = self.server
        with hook.lock:
            hook.titles.append(str(json.loads(body)["title"]))
            number = len(hook.titles)
        if number == hook.hold_at:
            hook.held.set()
            hook.release.wait(HOLD_TIMEOUT)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
        self.wfile.flush()
        if number == hook.report_at:
            hook.answered.set()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class HoldingWebhook:
    """A JSON webhook on loopback that records alert titles and can hold or report one."""

    def __init__(self) -> None:
        self.server = _Hook()
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> HoldingWebhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(EXIT_TIMEOUT)

    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    @property
    def titles(self) -> list[str]:
        with self.server.lock:
            return list(self.server.titles)


# --- feeds, config, state ----------------------------------------------------------------


def bulk_feed(items: int = BULK_ITEMS) -> bytes:
    """An RSS feed of unrelated local news that matches no topic."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        "<title>Bulk Bazaar</title><link>https://bulk-bazaar.example/</link>"
        "<description>Market stalls and opening hours</description>"
    ]
    for i in range(items):
        parts.append(
            f"<item><title>Market stall {i} opens a new bakery corner on the square</title>"
            f"<link>https://bulk-bazaar.example/stalls/{i}</link>"
            f"<guid>https://bulk-bazaar.example/stalls/{i}</guid>"
            f"<description>Stall {i} sells bread, cheese and apples every weekday morning; "
            "the owners thank their neighbours for the help with the new awning.</description>"
            "<pubDate>Sat, 22 Mar 2025 08:00:00 GMT</pubDate></item>"
        )
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


def feeds_list(server: FeedServer) -> list[dict[str, object]]:
    """The demo feeds with the bulk feed second (stored right after Dnipro Wire)."""
    demo = [{**f, "url": server.url(str(f["url"]))} for f in demo_feeds()]
    bulk = {"name": "Bulk Bazaar", "url": server.url(BULK_PATH), "language": "en",
            "tier": "media"}  # fmt: skip
    return [demo[0], bulk, *demo[1:]]


def write_config(tmp: Path, server: FeedServer, hook_url: str) -> tuple[Path, Path]:
    feeds_file = tmp / "feeds.yaml"
    feeds_file.write_text(
        yaml.safe_dump({"feeds": feeds_list(server)}, allow_unicode=True), encoding="utf-8"
    )
    channels_file = tmp / "channels.yaml"
    channels = [{"name": "webhook", "url": hook_url}]
    channels_file.write_text(yaml.safe_dump({"channels": channels}), encoding="utf-8")
    return feeds_file, channels_file


def serve_feeds(server: FeedServer) -> None:
    publish(server, "01-first")
    server.set(BULK_PATH, bulk_feed())


class Store:
    """Looks into the database from the outside while the runs come and go."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def entries(self, feed_url: str | None = None) -> int:
        query = select(func.count()).select_from(Entry)
        if feed_url is not None:
            query = query.join(Feed, col(Feed.id) == col(Entry.feed_id)).where(Feed.url == feed_url)
        with Session(self.engine) as session:
            return int(session.exec(query).one())

    def matches(self) -> list[tuple[str, str, int, str]]:
        with Session(self.engine) as session:
            pairs = session.exec(select(Match, Entry).join(Entry, Entry.id == Match.entry_id))  # type: ignore[arg-type]
            return sorted((e.uid, m.topic_key, m.revision, m.kind) for m, e in pairs)

    def outbox(self) -> list[OutboxAlert]:
        with Session(self.engine) as session:
            return list(session.exec(select(OutboxAlert).order_by(col(OutboxAlert.id))))

    def status(self, title: str) -> str:
        return next(row.status for row in self.outbox() if row.title == title)

    def end_leases(self) -> int:
        """Move every claim's end into the past: what the clock does once a lease has run out."""
        past = datetime.now(UTC) - timedelta(seconds=1)
        with Session(self.engine) as session:
            done = session.execute(
                update(OutboxAlert)
                .where(col(OutboxAlert.claimed_until).is_not(None), OutboxAlert.status == "pending")
                .values(claimed_until=past)
            )
            session.commit()
            return int(done.rowcount)  # type: ignore[attr-defined]


# --- running and killing the command -----------------------------------------------------


class Parley:
    """Starts `parley …` subprocesses with one environment and kills them at a condition."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.logs = 0
        self.times: list[str] = []  # "what seconds", for the summary line

    def start(self, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        self.logs += 1
        log = self.tmp / f"parley-{self.logs}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*parley_command(), *args], cwd=self.tmp, env=self.env,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return proc, log

    def kill_when(self, args: tuple[str, ...], ready: Callable[[], bool], what: str) -> None:
        """Start the command, SIGKILL it as soon as ``ready()`` holds (polled)."""
        proc, log = self.start(*args)
        begun = time.monotonic()
        try:
            deadline = begun + WAIT
            while not ready():
                if proc.poll() is not None:
                    output = log.read_text("utf-8", "replace")
                    raise AssertionError(f"{what}: parley exited {proc.returncode}: {output}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{what}: not reached within {WAIT:.0f} s")
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait(EXIT_TIMEOUT)
            assert proc.returncode == -signal.SIGKILL, what
            self.times.append(f"{what} {time.monotonic() - begun:.1f}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(EXIT_TIMEOUT)

    def complete(self, *args: str) -> str:
        proc, log = self.start(*args)
        begun = time.monotonic()
        try:
            proc.wait(RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(EXIT_TIMEOUT)
        output = log.read_text("utf-8", "replace")
        self.times.append(f"{' '.join(args)} {time.monotonic() - begun:.1f}")
        assert proc.returncode == 0, output
        assert "Traceback" not in output, output
        return output


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prefect_api(prefect_harness: None) -> str:
    """The API URL of the session's Prefect test server, for the subprocesses."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the Prefect test harness set no API URL"
    return str(url)


class Reference:
    """What one clean cycle over the same feeds stores and sends (no crash, no Prefect)."""

    def __init__(
        self, entries: int, matches: list[tuple[str, str, int, str]], titles: Counter[str]
    ):
        self.entries = entries
        self.matches = matches
        self.titles = titles


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    tmp = tmp_path_factory.mktemp("reference")
    db_url = f"sqlite:///{tmp / 'parley.db'}"
    with FeedServer() as server, HoldingWebhook() as hook:
        serve_feeds(server)
        feeds_file, channels_file = write_config(tmp, server, hook.url())
        config = {"database_url": db_url, "feeds_file": str(feeds_file),
                  "channels_file": str(channels_file)}  # fmt: skip
        report = run("cycle", config)
        assert report["sent"] == FIRST_ALERTS
        store = Store(db_url)
        try:
            result = Reference(store.entries(), store.matches(), Counter(hook.titles))
            assert {row.status for row in store.outbox()} == {"sent"}
        finally:
            store.close()
    assert result.titles.total() == FIRST_ALERTS == len(result.titles)
    assert result.entries > BULK_ITEMS
    return result


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    looking = Store(db_url)
    yield looking
    looking.close()


# --- the test ------------------------------------------------------------------------------


def test_real_flows_killed_at_each_point_lose_nothing_and_send_once(
    tmp_path: Path,
    server: FeedServer,
    db_url: str,
    store: Store,
    prefect_api: str,
    reference: Reference,
) -> None:
    started = time.monotonic()
    serve_feeds(server)
    with HoldingWebhook() as hook:
        feeds_file, channels_file = write_config(tmp_path, server, hook.url())
        env = {
            **clean_environ(),
            "PARLEY_DATABASE_URL": db_url,
            "PARLEY_FEEDS_FILE": str(feeds_file),
            "PARLEY_CHANNELS_FILE": str(channels_file),
            "PARLEY_TOPICS_FILE": str(DEMO.parent / "topics.yaml"),
            "PARLEY_DELIVER_TIMEOUT": "10",
            "PREFECT_API_URL": prefect_api,
            "PREFECT_HOME": str(tmp_path / "prefect"),
        }
        parley = Parley(tmp_path, env)
        run_args = ("run", "--force")

        # 1. During the fetch: one feed's answer is held by the server. Nothing is stored.
        held_body = (DEMO / "steps" / "01-first" / HELD_FEED.lstrip("/")).read_bytes()
        server.set(HELD_FEED, held_body, delay=MAX_DELAY)
        parley.kill_when(run_args, lambda: server.count(HELD_FEED) > 0, "during fetch")
        server.set(HELD_FEED, held_body)  # the same feed, answered at once from now on
        assert store.entries() == 0
        assert store.outbox() == []

        # 2. During the store: the first feed is committed, the bulk feed's transaction is open.
        parley.kill_when(run_args, lambda: store.entries() > 0, "during store")
        assert store.entries() == FIRST_FEED_ENTRIES, "the kill should land in the bulk feed"
        assert store.entries(server.url(BULK_PATH)) == 0
        assert 0 < len(store.outbox()) < FIRST_ALERTS
        assert hook.titles == []

        # 3. During a send: the webhook has the 3rd alert and holds its answer.
        hook.server.hold_at = HOLD_AT
        killed_at = datetime.now(UTC)
        parley.kill_when(run_args, hook.server.held.is_set, "during send")
        hook.server.release.set()
        in_flight = hook.titles[HOLD_AT - 1]
        assert len(hook.titles) == HOLD_AT
        rows = store.outbox()
        assert len(rows) == FIRST_ALERTS
        assert Counter(r.status for r in rows) == {
            "sent": HOLD_AT - 1,
            "pending": FIRST_ALERTS - HOLD_AT + 1,
        }
        assert store.status(in_flight) == "pending"  # sent, but never marked

        # 4. A clean run finds every row still leased by the dead run and sends none of them.
        output = parley.complete(*run_args)
        assert ", 0 alerts queued, 0 sent" in output, output
        assert len(hook.titles) == HOLD_AT
        leased = [r for r in store.outbox() if r.status == "pending"]
        assert leased and all(r.claimed_until and r.claimed_until > killed_at for r in leased)

        # 5. Once the lease is over, `parley deliver` is killed right after the webhook
        # answered its 2nd request (the first is the in-flight alert of step 3, sent again).
        assert store.end_leases() == len(leased)
        resent_from = len(hook.titles)
        hook.server.report_at = resent_from + 2
        parley.kill_when(("deliver",), hook.server.answered.is_set, "after an answer")
        assert hook.titles[resent_from] == in_flight
        # The kill lands a moment after that answer: by then the run may have marked the row and
        # even sent the next one. Sends are one at a time, each marked before the next, so at
        # most one alert the webhook got is unmarked — it is the one sent again in step 6.
        unmarked = [t for t in hook.titles[resent_from:] if store.status(t) != "sent"]
        assert len(unmarked) <= 1, unmarked

        # 6. A clean deliver, once the lease of step 5 is over too, sends the rest.
        store.end_leases()
        finish_from = len(hook.titles)
        output = parley.complete("deliver")
        assert ", 0 failed, 0 dead" in output, output

    assert store.entries() == reference.entries
    assert store.matches() == reference.matches
    rows = store.outbox()
    assert sorted(r.title for r in rows) == sorted(reference.titles)
    assert {r.status for r in rows} == {"sent"}
    duplicates = Counter([in_flight, *unmarked])
    received = Counter(hook.titles)
    assert received == reference.titles + duplicates
    # Each second copy went out only after the dead run's lease had run out.
    assert hook.titles.index(in_flight) < resent_from <= _last_index(hook.titles, in_flight)
    for title in unmarked:
        assert hook.titles.index(title) < finish_from <= _last_index(hook.titles, title)
    print(f"{db_url.split(':')[0]}: 6 runs in {time.monotonic() - started:.1f} s "
          f"({', '.join(parley.times)}), {len(duplicates)} alert(s) sent twice")  # fmt: skip


def _last_index(items: list[str], value: str) -> int:
    return len(items) - 1 - items[::-1].index(value)
