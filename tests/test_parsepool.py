"""parse_results: the same parses, in the same order, from a process pool as in-process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from parley.flows.ingest.model import FetchResult, FetchStatus, Validators
from parley.flows.ingest.parse import parse_feed
from parley.flows.ingest.parsepool import parse_results, parse_workers

FEEDS = Path(__file__).resolve().parent / "data" / "feeds"
HEADERS = {"content-type": "application/xml; charset=utf-8"}


def fetched() -> list[FetchResult]:
    """Every fixture as an OK fetch, with a timeout and a 304 in between (nothing to parse)."""
    results = [
        FetchResult(
            n,
            f"https://feeds.example/{path.name}",
            FetchStatus.OK,
            Validators(),
            http_status=200,
            body=path.read_bytes(),
            headers=dict(HEADERS),
        )
        for n, path in enumerate(sorted(FEEDS.iterdir()), start=1)
    ]
    results.insert(
        2, FetchResult(90, "https://feeds.example/slow", FetchStatus.TIMEOUT, Validators())
    )
    results.insert(
        4, FetchResult(91, "https://feeds.example/same", FetchStatus.NOT_MODIFIED, Validators())
    )
    return results


def test_a_pool_gives_the_in_process_parses_in_order() -> None:
    results = fetched()
    expected = [parse_feed(r) if r.status is FetchStatus.OK else None for r in results]
    pooled = list(parse_results(results, 2, min_bodies=1, min_bytes=0))
    assert pooled == expected
    assert pooled[2] is None and pooled[4] is None
    assert any(p is not None and p.entries for p in pooled)


def test_small_cycles_and_no_pool_parse_in_process() -> None:
    results = fetched()
    expected = [parse_feed(r) if r.status is FetchStatus.OK else None for r in results]
    assert list(parse_results(results, 0, min_bodies=1, min_bytes=0)) == expected
    assert list(parse_results(results, 1, min_bodies=1, min_bytes=0)) == expected  # one worker
    assert list(parse_results(results, 4)) == expected  # below the default thresholds


def test_worker_count_setting() -> None:
    assert parse_workers(3) == 3
    assert parse_workers(1) == 0  # no pool: parse in the cycle's own process
    assert parse_workers(0) == len(os.sched_getaffinity(0))  # one per CPU


CHILD = """
import sys, time
from pathlib import Path
from parley.flows.ingest.model import FetchResult, FetchStatus, Validators
from parley.flows.ingest.parsepool import parse_results

def main() -> None:
    bodies = [p.read_bytes() for p in sorted(Path(sys.argv[1]).iterdir())] * 50
    results = [FetchResult(n, f"https://feeds.example/{n}", FetchStatus.OK, Validators(),
                           http_status=200, body=body) for n, body in enumerate(bodies)]
    for _ in parse_results(results, 2, min_bodies=1, min_bytes=0):
        print("parsed", flush=True)
        time.sleep(60)  # killed while the workers wait for more work

if __name__ == "__main__":
    main()
"""
WAIT = 60.0  # seconds: bounds on waiting for the child's workers to start, and to leave


def marked(marker: str) -> list[int]:
    """Processes whose environment carries ``marker`` (the child and its pool's processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            found.append(int(entry.name))
    return found


def test_workers_leave_when_the_cycle_process_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    marker = f"PARLEY_TEST_POOL_{uuid.uuid4().hex}"
    env = {**os.environ, marker: "1"}
    child = subprocess.Popen(
        [sys.executable, str(script), str(FEEDS)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "parsed"  # the pool is running
        assert len(marked(marker)) > 1
    finally:
        child.kill()
        child.wait(WAIT)
        if child.stdout is not None:
            child.stdout.close()
    deadline = time.monotonic() + WAIT
    while marked(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = marked(marker)
    for pid in left:  # leave nothing behind even when the test fails
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert left == []
