"""One parley cycle with the plain functions (no Prefect) that can stop at a named kill point.

    python tests/crashrun.py <phase> <settings-json>

``phase`` is ``cycle`` (due feeds → fetch → process → deliver), ``monitor`` (the same without
delivery) or ``deliver`` (delivery only). ``settings-json`` holds Settings fields by name
(``database_url``, ``feeds_file``, ``channels_file``, …) plus ``base_url`` for the feeds file.

With ``PARLEY_TEST_KILL_AT`` set, the run prints ``PAUSED <point> <json detail>`` when it
reaches that point, then sleeps (at most ``PAUSE_SECONDS``) so a test can SIGKILL it exactly
there; ``PARLEY_TEST_KILL_NTH`` (default 1) picks the occurrence. The points are made by
wrapping product functions here, so the product carries no test hooks:

after-fetch             every feed fetched, nothing of the fetch stored
mid-process             after the Nth feed's transaction (entries, matches, outbox) committed
mid-transaction         after the Nth entry was matched, its feed's transaction still open
after-claim             rows claimed with a lease and committed, before the Nth send
after-send-before-mark  the Nth alert sent, before its row is marked sent

A run that ends normally prints ``DONE <json report>``. Tests import :func:`run` to do the
clean runs in-process.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

KILL_POINTS = (
    "after-fetch",
    "mid-process",
    "mid-transaction",
    "after-claim",
    "after-send-before-mark",
)
PAUSE_SECONDS = 30.0  # a paused run nobody kills ends by itself
PAUSED_EXIT = 3


def pause(point: str, detail: object = None) -> None:
    """Tell the test where we are, then wait to be killed."""
    print(f"PAUSED {point} {json.dumps(detail)}", flush=True)
    time.sleep(PAUSE_SECONDS)
    print(f"NOT KILLED {point}", file=sys.stderr, flush=True)
    os._exit(PAUSED_EXIT)


@contextmanager
def _wrapped(module: Any, name: str, make: Callable[[Any], Any]) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, make(original))
    try:
        yield
    finally:
        setattr(module, name, original)


@contextmanager
def _process_kill_points(kill_at: str | None, nth: int) -> Iterator[None]:
    from parley.flows.pipeline import cycle, process

    calls = 0

    def after_nth(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            result = original(*args, **kwargs)
            calls += 1
            if calls == nth:
                pause(str(kill_at), {"calls": calls})
            return result

        return wrapper

    if kill_at == "mid-process":
        # cycle._process_one calls process_fetch, which commits before returning.
        with _wrapped(cycle, "process_fetch", after_nth):
            yield
    elif kill_at == "mid-transaction":
        # process_fetch calls match_entry inside its session_scope, before the commit.
        with _wrapped(process, "match_entry", after_nth):
            yield
    else:
        yield


def make_sender(timeout: float, kill_at: str | None, nth: int) -> Callable[..., Any]:
    """The real apprise send, pausing before (after-claim) or after (…-before-mark) the Nth."""
    from parley.alerts.channels import Channel
    from parley.alerts.notify import SendOutcome, send

    sends = 0

    def sender(channel: Channel, title: str, body: str) -> SendOutcome:
        nonlocal sends
        sends += 1
        if kill_at == "after-claim" and sends == nth:
            pause(kill_at, {"title": title})
        outcome = send(channel, title, body, timeout=timeout)
        if kill_at == "after-send-before-mark" and sends == nth:
            pause(kill_at, {"title": title, "ok": outcome.ok})
        return outcome

    return sender


def run(
    phase: str,
    config: dict[str, Any],
    *,
    kill_at: str | None = None,
    nth: int = 1,
    now: Callable[[], datetime] | None = None,
) -> dict[str, Any]:
    """Run ``phase`` once; ``now`` replaces the delivery clock (e.g. to outlive a lease)."""
    from parley.flows.pipeline.cycle import due_requests, fetch, open_runtime, process, utcnow
    from parley.flows.pipeline.deliver import deliver_due
    from parley.flows.settings import load_settings

    if phase not in ("cycle", "monitor", "deliver"):
        raise ValueError(f"unknown phase {phase!r}")
    if kill_at is not None and kill_at not in KILL_POINTS:
        raise ValueError(f"unknown kill point {kill_at!r}; use one of {KILL_POINTS}")
    options = dict(config)
    base_url = options.pop("base_url", None)
    settings = load_settings(**options)
    runtime = open_runtime(settings, base_url=base_url)
    report: dict[str, Any] = {"phase": phase}
    try:
        if phase in ("cycle", "monitor"):
            requests, _ = due_requests(runtime, utcnow())
            results = fetch(requests, settings)
            if kill_at == "after-fetch":
                pause(kill_at, {"fetched": len(results)})
            with _process_kill_points(kill_at, nth):
                outcomes = process(runtime, results)
            report["feeds"] = {o.url: o.status for o in outcomes}
            report["matches"] = sum(len(o.matches) for o in outcomes)
        if phase in ("cycle", "deliver"):
            delivery = deliver_due(
                runtime.engine,
                runtime.channels,
                now or utcnow,
                max_attempts=settings.deliver_max_attempts,
                timeout=settings.deliver_timeout,
                sender=make_sender(settings.deliver_timeout, kill_at, nth),
            )
            report["sent"], report["failed"] = delivery.sent, delivery.failed
    finally:
        runtime.engine.dispose()
    return report


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    phase, config = argv[1], json.loads(argv[2])
    kill_at = os.environ.get("PARLEY_TEST_KILL_AT") or None
    nth = int(os.environ.get("PARLEY_TEST_KILL_NTH") or "1")
    report = run(phase, config, kill_at=kill_at, nth=nth)
    print(f"DONE {json.dumps(report)}", flush=True)
    if kill_at is not None:
        print(f"kill point {kill_at} (#{nth}) never reached", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
