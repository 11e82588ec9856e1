"""Crash safety of the monitor and deliver runs, on SQLite and PostgreSQL.

A cycle (tests/crashrun.py, the plain functions without Prefect) runs in a subprocess over the
demo step 01-first served by a FeedServer, alerting one JSON webhook; it is SIGKILLed at a named
point, then clean runs finish the work. Nothing matched is lost and no alert is sent twice —
except the one alert in flight at ``after-send-before-mark``: delivery is at least once, so that
row, still pending, is sent again when its lease runs out (never while the lease holds).

Two deliver runs at the same time never send the same row twice.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from crashrun import run
from flowrun import demo_feeds, publish
from receivers import WebhookReceiver
from sqlalchemy import func
from sqlmodel import Session, select

from parley.alerts.channels import Channel, build_channel
from parley.alerts.notify import SendOutcome, send
from parley.flows.ingest.localserver import FeedServer
from parley.flows.pipeline import deliver as deliver_module
from parley.flows.pipeline.deliver import deliver_due
from parley.storage import outbox
from parley.storage.db import init_db, make_engine, session_scope
from parley.storage.models import Entry, Match, OutboxAlert

CRASHRUN = Path(__file__).resolve().parent / "crashrun.py"
MARKER_TIMEOUT = 15.0  # seconds for the subprocess to reach its kill point
EXIT_TIMEOUT = 5.0
FIRST_ALERTS = 11  # demo step 01-first (seeds/demo/README.md): one per item that alerts

# kill point → which occurrence (see tests/crashrun.py). Demo 01-first is matched in the order
# Dnipro Wire (entries 1-4), Kyiv Herald (5-8), …; 11 alerts are sent in one claimed batch.
KILL_POINTS = {
    "after-fetch": 1,
    "mid-process": 2,  # Dnipro Wire and Kyiv Herald committed, three feeds to go
    "mid-transaction": 6,  # Dnipro Wire committed; Kyiv Herald half matched, uncommitted
    "after-claim": 1,  # all 11 rows claimed and committed, none sent
    "after-send-before-mark": 4,  # 3 sent and marked; the 4th sent, not marked; 7 claimed
}
LEASED = ("after-claim", "after-send-before-mark")  # the dead run's claim holds rows


@dataclass(frozen=True)
class Outcome:
    """What a database and a webhook hold after a run, in terms that survive a new server."""

    entries: int
    matches: list[tuple[str, str, int, str]]  # entry uid, topic, revision, kind
    alerts: list[tuple[str, str, str, str, str]]  # channel, kind, topic, title, status
    received: Counter[str]  # webhook titles


def _outcome(db_url: str, hook: WebhookReceiver) -> Outcome:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            entries = session.exec(select(func.count()).select_from(Entry)).one()
            pairs = session.exec(select(Match, Entry).join(Entry, Entry.id == Match.entry_id))  # type: ignore[arg-type]
            matches = sorted((e.uid, m.topic_key, m.revision, m.kind) for m, e in pairs)
            rows = session.exec(select(OutboxAlert)).all()
            alerts = sorted((r.channel, r.kind, r.topic_key, r.title, r.status) for r in rows)
    finally:
        engine.dispose()
    received = Counter(str(r.json()["title"]) for r in hook.requests)
    return Outcome(int(entries), matches, alerts, received)


def _config(tmp: Path, server: FeedServer, hook: WebhookReceiver, db_url: str) -> dict[str, Any]:
    feeds_file = tmp / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": demo_feeds()}), encoding="utf-8")
    channels_file = tmp / "channels.yaml"
    channels = [{"name": "webhook", "url": hook.url()}]
    channels_file.write_text(yaml.safe_dump({"channels": channels}), encoding="utf-8")
    return {
        "database_url": db_url,
        "feeds_file": str(feeds_file),
        "channels_file": str(channels_file),
        "base_url": server.base_url,
        "deliver_timeout": 5.0,
    }


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def never_crashed(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """The reference: one clean cycle over demo 01-first on its own SQLite file."""
    tmp = tmp_path_factory.mktemp("never-crashed")
    db_url = f"sqlite:///{tmp / 'parley.db'}"
    with FeedServer() as server, WebhookReceiver() as hook:
        publish(server, "01-first")
        report = run("cycle", _config(tmp, server, hook, db_url))
        assert report["sent"] == FIRST_ALERTS
        outcome = _outcome(db_url, hook)
    assert len(outcome.alerts) == FIRST_ALERTS
    assert all(status == "sent" for *_, status in outcome.alerts)
    assert outcome.received.total() == FIRST_ALERTS
    return outcome


def _crash(phase: str, config: dict[str, Any], kill_at: str, nth: int, log: Path) -> dict[str, Any]:
    """Run crashrun.py until it reports ``kill_at``, SIGKILL it there; the marker's detail."""
    env = {**os.environ, "PARLEY_TEST_KILL_AT": kill_at, "PARLEY_TEST_KILL_NTH": str(nth)}
    with log.open("w", encoding="utf-8") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(CRASHRUN), phase, json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            text=True,
        )
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(proc, lines), daemon=True)
    reader.start()
    try:
        line = _wait_for_marker(proc, lines, MARKER_TIMEOUT, log)
        prefix = f"PAUSED {kill_at} "
        assert line.startswith(prefix), f"unexpected output {line!r}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(EXIT_TIMEOUT)
        assert proc.returncode == -signal.SIGKILL
        detail: dict[str, Any] = json.loads(line[len(prefix) :]) or {}
        return detail
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(EXIT_TIMEOUT)
        reader.join(EXIT_TIMEOUT)  # the pipe ends with the process
        assert proc.stdout is not None
        proc.stdout.close()


def _read_lines(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line.rstrip("\n"))
    lines.put(None)  # end of output


def _wait_for_marker(
    proc: subprocess.Popen[str], lines: queue.Queue[str | None], timeout: float, log: Path
) -> str:
    """The subprocess's ``PAUSED …`` line, waited for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            proc.wait(EXIT_TIMEOUT)
            output = log.read_text(encoding="utf-8")
            raise AssertionError(f"crashrun exited {proc.returncode} unpaused: {output}")
        if line.startswith("PAUSED "):
            return line
    raise AssertionError(f"crashrun did not reach its kill point within {timeout} s")


def _claims(db_url: str) -> list[tuple[str, str, datetime | None]]:
    """(title, status, claimed_until) of every outbox row."""
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            rows = session.exec(select(OutboxAlert).order_by(OutboxAlert.id)).all()  # type: ignore[arg-type]
            return [(r.title, r.status, r.claimed_until) for r in rows]
    finally:
        engine.dispose()


@pytest.mark.parametrize("kill_at", list(KILL_POINTS))
def test_sigkill_loses_no_match_and_sends_no_alert_twice(
    kill_at: str,
    tmp_path: Path,
    server: FeedServer,
    hook: WebhookReceiver,
    db_url: str,
    never_crashed: Outcome,
) -> None:
    publish(server, "01-first")
    config = _config(tmp_path, server, hook, db_url)
    started = datetime.now(UTC)
    detail = _crash("cycle", config, kill_at, KILL_POINTS[kill_at], tmp_path / "crashrun.log")
    sent_before_kill = Counter(str(r.json()["title"]) for r in hook.requests)

    # Start again: a clean cycle (its feeds are due again unless the dead run committed them).
    run("cycle", config)
    run("deliver", config)
    held = [(title, until) for title, status, until in _claims(db_url) if status == "pending"]

    if kill_at in LEASED:
        # The dead run's lease still holds its unsent rows: no run sends them before it ends.
        assert held, "the claimed rows should wait for their lease"
        assert all(until is not None and until > started for _, until in held)
        assert Counter(str(r.json()["title"]) for r in hook.requests) == sent_before_kill
        # Once the lease has run out (the clock moved past it), a deliver run sends them.
        expiry = max(until for _, until in held if until is not None) + timedelta(seconds=1)
        report = run("deliver", config, now=lambda: datetime.now(UTC) + (expiry - started))
        assert report["sent"] == len(held)
        run("deliver", config)  # nothing left
    else:
        assert held == []

    outcome = _outcome(db_url, hook)
    assert outcome.entries == never_crashed.entries
    assert outcome.matches == never_crashed.matches
    assert outcome.alerts == never_crashed.alerts  # every row, each sent
    if kill_at == "after-send-before-mark":
        # At least once: the alert in flight at the kill reached the webhook, was never marked
        # sent, and went out again after its lease — the one duplicate; all others once.
        assert detail["ok"] is True
        in_flight = str(detail["title"])
        assert sent_before_kill[in_flight] == 1
        assert outcome.received == never_crashed.received + Counter([in_flight])
    else:
        assert outcome.received == never_crashed.received


N_ROWS = 40


def _enqueue_rows(engine: Any, count: int) -> list[str]:
    keys = [f"key-{i:03d}" for i in range(count)]
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        for key in keys:
            outbox.enqueue(
                session, key=key, channel="webhook", kind="new", topic_key="znpp",
                title=f"alert {key}", body="body", now=now,
            )  # fmt: skip
    return keys


@pytest.mark.parametrize("start", ["together", "staggered"])
def test_two_deliver_runs_at_once_send_each_row_once(
    start: str, db_url: str, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``together``: both runs claim at the same moment (the conditional UPDATE decides);
    ``staggered``: the second starts while the first is sending (the lease keeps it off)."""
    monkeypatch.setattr(deliver_module, "CLAIM_BATCH", 10)
    setup = make_engine(db_url)
    init_db(setup)
    keys = _enqueue_rows(setup, N_ROWS)
    channel = build_channel("webhook", hook.url(), {})
    sends: list[tuple[str, str]] = []  # (run, title)
    lock = threading.Lock()
    first_send = threading.Event()
    barrier = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def sender_for(name: str) -> Callable[[Channel, str, str], SendOutcome]:
        def sender(ch: Channel, title: str, body: str) -> SendOutcome:
            first_send.set()
            with lock:
                sends.append((name, title))
            time.sleep(0.02)
            return send(ch, title, body, timeout=5.0)

        return sender

    def deliver_run(name: str) -> None:
        engine = make_engine(db_url)  # each run its own engine and connections
        try:
            if start == "together":
                barrier.wait()
            elif name == "second":
                assert first_send.wait(10)
            deliver_due(
                engine, [channel], lambda: datetime.now(UTC),
                max_attempts=3, timeout=5.0, sender=sender_for(name),
            )  # fmt: skip
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=deliver_run, args=(n,)) for n in ("first", "second")]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    elapsed = time.monotonic() - started
    assert errors == []

    titles = Counter(title for _, title in sends)
    assert titles == Counter(f"alert {key}" for key in keys)  # each key once, none missed
    received = Counter(str(r.json()["title"]) for r in hook.wait_for(N_ROWS))
    assert received == titles
    with Session(setup) as session:
        rows = session.exec(select(OutboxAlert)).all()
        assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    setup.dispose()
    per_run = Counter(name for name, _ in sends)
    if start == "staggered":
        assert per_run["first"] > 0 and per_run["second"] > 0
    print(f"{start}: sends per run {dict(per_run)} in {elapsed:.2f} s")
