"""Bad feeds in a real monitor cycle: each failure is classified, recorded on its feed row,
names its URL, and stops neither the good feeds nor loses anything stored before.

Next to two good demo feeds, a loopback FeedServer answers with malformed XML, an HTML
page, a 404, a slow answer (past ``fetch_timeout``), an over-size body (past
``fetch_max_bytes``), and one feed points at a closed port.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from flowrun import DEMO, Monitor, jsonl_alerts
from receivers import free_port
from sqlmodel import select

from parley.flows.ingest.localserver import FeedServer
from parley.flows.ingest.model import FetchStatus
from parley.flows.pipeline.report import CycleReport, FeedOutcome
from parley.flows.stories.assign import ALERTING
from parley.storage.models import Feed

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_harness")]

FEED_FIXTURES = Path(__file__).resolve().parent / "data" / "feeds"
FIRST = DEMO / "steps" / "01-first"
GOOD = {"dnipro-wire.xml": "application/rss+xml", "atomic-watch.xml": "application/atom+xml"}
# Step 01 of the demo (seeds/demo/README.md): Dnipro Wire has 3 matching items, two on two
# topics and one on three (7 matches); Atomic Watch has 2 ZNPP items. One alert per item: 5.
GOOD_MATCHES = 9  # dnipro-wire.xml (7) + atomic-watch.xml (2)
TIMEOUT = 0.5
MAX_BYTES = 200_000
THRESHOLD = 3  # failures in a row before a feed's health alert
OVERRIDES = {
    "fetch_timeout": str(TIMEOUT),
    "fetch_max_bytes": str(MAX_BYTES),
    "feed_failure_threshold": str(THRESHOLD),
}

# path on the server → the status its feed must end with
BAD = {
    "/broken.xml": FetchStatus.PARSE_ERROR,
    "/moved.html": FetchStatus.NOT_A_FEED,
    "/gone.xml": FetchStatus.HTTP_STATUS,
    "/slow.xml": FetchStatus.TIMEOUT,
    "/huge.xml": FetchStatus.TOO_LARGE,
}


def _serve_good(server: FeedServer) -> None:
    for name, kind in GOOD.items():
        server.set(f"/{name}", (FIRST / name).read_bytes(), content_type=kind)


def _small_feed(title: str) -> bytes:
    """A valid RSS feed with one item on no tracked topic."""
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://fixed.example/</link><description>d</description>"
        f"<item><title>{title}: weather for the weekend</title>"
        f"<guid>https://fixed.example/{title}/1</guid>"
        "<description>Sunny, then rain.</description></item></channel></rss>"
    ).encode()


def _huge_feed() -> bytes:
    """A well-formed RSS feed larger than MAX_BYTES."""
    items = "".join(
        f"<item><title>Filler {i}</title><guid>https://huge.example/{i}</guid>"
        f"<description>{'padding ' * 40}</description></item>"
        for i in range(1000)
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Huge</title>'
        f"{items}</channel></rss>"
    ).encode()
    assert len(body) > MAX_BYTES
    return body


def _serve_bad(server: FeedServer) -> None:
    server.set("/broken.xml", (FEED_FIXTURES / "malformed_no_entries.xml").read_bytes())
    html = (FEED_FIXTURES / "html_page.html").read_bytes()
    server.set("/moved.html", html, content_type="text/html; charset=utf-8")
    server.remove("/gone.xml")
    server.set("/slow.xml", _small_feed("slow"), delay=4 * TIMEOUT)
    server.set("/huge.xml", _huge_feed())


def _fix_bad(server: FeedServer) -> None:
    for path in BAD:
        server.set(path, _small_feed(path.strip("/").split(".")[0]))


def _monitor(tmp_path: Path, server: FeedServer, db_url: str, refused_url: str) -> Monitor:
    feeds: list[dict[str, object]] = [
        {"name": "Dnipro Wire", "url": "/dnipro-wire.xml", "tier": "wire"},
        {"name": "Atomic Watch", "url": "/atomic-watch.xml", "tier": "primary"},
        *({"name": f"bad {path}", "url": path} for path in BAD),
        {"name": "refused", "url": refused_url},
    ]
    channels: list[dict[str, object]] = [
        {"name": "file", "url": f"jsonl://{tmp_path / 'alerts.jsonl'}"}
    ]
    return Monitor(tmp_path, server, db_url, channels, feeds)


def _cycle(run: Monitor) -> CycleReport:
    """One forced cycle, like Monitor.cycle, with the low fetch limits on top."""
    from parley.flows.monitor import monitor

    overrides: dict[str, str | None] = {**run.write(), **OVERRIDES}
    return asyncio.run(monitor(base_url=run.server.base_url, force=True, overrides=overrides))


def _alerting_items(report: CycleReport) -> int:
    """The alerts of a cycle to one channel: one per item with an alerting match."""
    return len({m.entry_id for m in report.matches if m.kind in ALERTING})


def _by_path(report: CycleReport) -> dict[str, FeedOutcome]:
    return {"/" + outcome.url.rsplit("/", 1)[-1]: outcome for outcome in report.feeds}


def _feed_rows(run: Monitor) -> dict[str, Feed]:
    with run.session() as s:
        return {"/" + f.url.rsplit("/", 1)[-1]: f for f in s.exec(select(Feed)).all()}


def test_bad_feeds_fail_alone_with_a_clear_error_and_recover(
    tmp_path: Path, server: FeedServer, db_url: str
) -> None:
    refused_url = f"http://127.0.0.1:{free_port()}/refused.xml"
    run = _monitor(tmp_path, server, db_url, refused_url)
    expected = {**BAD, "/refused.xml": FetchStatus.CONNECTION}
    _serve_good(server)
    _serve_bad(server)

    first = _cycle(run)
    outcomes = _by_path(first)
    assert len(first.feeds) == len(GOOD) + len(expected)
    for path, status in expected.items():
        outcome = outcomes[path]
        assert outcome.status == status.value, (path, outcome.error)
        assert outcome.error is not None and outcome.url in outcome.error, (path, outcome.error)
        assert outcome.new == 0 and outcome.matches == []
    assert outcomes["/refused.xml"].url == refused_url
    assert "HTTP 404" in (outcomes["/gone.xml"].error or "")
    assert f"{TIMEOUT:g} s" in (outcomes["/slow.xml"].error or "")
    assert str(MAX_BYTES) in (outcomes["/huge.xml"].error or "")
    assert "not a feed (got text/html)" in (outcomes["/moved.html"].error or "")
    assert len(first.failures) == len(expected)
    assert f"{len(expected)} failed" in first.summary_line()

    for name in GOOD:
        assert outcomes[f"/{name}"].status == FetchStatus.OK.value
    assert len(first.matches) == GOOD_MATCHES
    alerts = _alerting_items(first)
    assert first.alerts_queued == alerts
    assert first.delivery is not None and first.delivery.sent == alerts
    assert len(jsonl_alerts(tmp_path / "alerts.jsonl")) == alerts
    assert len(run.matches()) == GOOD_MATCHES
    assert all(row.status == "sent" for row in run.outbox())

    rows = _feed_rows(run)
    for path, status in expected.items():
        assert rows[path].failures_in_row == 1, path
        assert rows[path].last_status == status.value
        assert rows[path].url in (rows[path].last_error or "")
    assert all(rows[f"/{name}"].failures_in_row == 0 for name in GOOD)

    second = _cycle(run)
    assert {p: o.status for p, o in _by_path(second).items() if p in expected} == {
        p: s.value for p, s in expected.items()
    }
    rows = _feed_rows(run)
    assert {p: rows[p].failures_in_row for p in expected} == dict.fromkeys(expected, 2)
    assert second.matches == []

    _fix_bad(server)
    third = _cycle(run)
    outcomes = _by_path(third)
    rows = _feed_rows(run)
    for path in BAD:
        assert outcomes[path].status == FetchStatus.OK.value, (path, outcomes[path].error)
        assert outcomes[path].new == 1
        assert rows[path].failures_in_row == 0
        assert rows[path].last_error is None
    assert rows["/refused.xml"].failures_in_row == THRESHOLD  # still nothing listens there
    assert len(third.failures) == 1
    assert len(run.matches()) == GOOD_MATCHES
    # The third failure in a row raises one health alert; the feeds fixed before never did.
    health = [row for row in run.outbox() if row.kind == "health"]
    assert [row.title for row in health] == [
        f"[parley health] Feed failing: refused — {THRESHOLD} failures in a row"
    ]
    assert refused_url in health[0].body and health[0].status == "sent"
    assert len(jsonl_alerts(tmp_path / "alerts.jsonl")) == alerts + 1


def test_a_feed_that_breaks_later_loses_nothing_stored_before(
    tmp_path: Path, server: FeedServer, db_url: str
) -> None:
    run = _monitor(tmp_path, server, db_url, f"http://127.0.0.1:{free_port()}/refused.xml")
    run.feeds = run.feeds[: len(GOOD)]
    _serve_good(server)
    first = _cycle(run)
    assert len(first.matches) == GOOD_MATCHES and not first.failures
    entries_before = run.entries()
    matches_before = run.matches()
    outbox_before = [(a.id, a.idempotency_key, a.status) for a in run.outbox()]
    alerts = _alerting_items(first)
    assert entries_before > 0 and len(outbox_before) == alerts
    validators_before = {
        p: (f.etag, f.last_modified, f.body_hash) for p, f in _feed_rows(run).items()
    }

    good_body = (FIRST / "dnipro-wire.xml").read_bytes()
    server.set("/dnipro-wire.xml", (FEED_FIXTURES / "malformed_no_entries.xml").read_bytes())
    server.remove("/atomic-watch.xml")
    broken = _cycle(run)
    assert {o.status for o in broken.feeds} == {"parse_error", "http_status"}
    assert run.entries() == entries_before
    assert run.matches() == matches_before
    assert [(a.id, a.idempotency_key, a.status) for a in run.outbox()] == outbox_before
    rows = _feed_rows(run)
    assert all(f.failures_in_row == 1 for f in rows.values())
    # A failure keeps the validators of the last good fetch.
    assert {p: (f.etag, f.last_modified, f.body_hash) for p, f in rows.items()} == (
        validators_before
    )

    server.set("/dnipro-wire.xml", good_body, content_type=GOOD["dnipro-wire.xml"])
    _serve_good(server)
    fixed = _cycle(run)
    assert not fixed.failures
    assert fixed.matches == [] and fixed.alerts_queued == 0
    assert all(f.failures_in_row == 0 for f in _feed_rows(run).values())
    assert run.entries() == entries_before
    assert len(run.outbox()) == len(outbox_before)
    assert len(jsonl_alerts(tmp_path / "alerts.jsonl")) == alerts
