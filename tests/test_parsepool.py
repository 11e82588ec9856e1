"""parse_results: the same parses, in the same order, from a process pool as in-process."""

from __future__ import annotations

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


def test_small_cycles_and_one_worker_parse_in_process() -> None:
    results = fetched()
    expected = [parse_feed(r) if r.status is FetchStatus.OK else None for r in results]
    assert list(parse_results(results, 1, min_bodies=1, min_bytes=0)) == expected
    assert list(parse_results(results, 4)) == expected  # below the default thresholds


def test_worker_count_setting() -> None:
    assert parse_workers(3) == 3
    assert parse_workers(0) >= 1
