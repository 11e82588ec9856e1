"""A feed silent for longer than its usual rhythm raises one health alert; publishing again, one more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from parley.alerts.channel_file import load_channels
from parley.flows.ingest.model import FetchResult, FetchStatus, Validators
from parley.flows.pipeline.health import silence, usual_gap
from parley.flows.pipeline.process import Pipeline, process_fetch
from parley.flows.topics.load import load_topics
from parley.flows.topics.match import TopicMatcher
from parley.storage import outbox
from parley.storage.db import session_scope
from parley.storage.models import Feed

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
START = datetime(2025, 3, 20, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _rss(count: int) -> bytes:
    items = "".join(
        f"<item><title>Market note {i}</title><guid>n-{i}</guid>"
        f"<pubDate>{format_datetime(START + i * HOUR)}</pubDate>"
        f"<description>Routine note {i}.</description></item>"
        for i in range(count)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Notes</title>{items}</channel></rss>'.encode()


def test_usual_gap_and_silence() -> None:
    times = [START + i * HOUR for i in range(6)][::-1]
    assert usual_gap(times) == HOUR
    assert usual_gap(times[:4]) is None  # too little history to know the rhythm
    assert silence(times, times[0] + timedelta(hours=11)) is None  # under the 12 h floor
    assert silence(times, times[0] + timedelta(hours=13)) == timedelta(hours=13)
    watched = times[0] + timedelta(
        hours=10
    )  # an archive added later is not silent since its last item
    assert silence(times, times[0] + timedelta(hours=13), watched) is None


def test_a_silent_feed_alerts_once_then_recovers(tmp_path: Path, engine: Engine) -> None:
    channels = load_channels(None, {})
    pipeline = Pipeline(engine, TopicMatcher(load_topics(SEEDS / "topics.yaml")), channels,
                        ZoneInfo("UTC"))  # fmt: skip
    with session_scope(engine) as session:
        feed = Feed(url="http://127.0.0.1:9/notes.xml", name="Notes")
        session.add(feed)
        session.flush()
        assert feed.id is not None
        feed_id = feed.id

    def poll(body: bytes | None, at: datetime) -> list[str]:
        status = FetchStatus.OK if body else FetchStatus.NOT_MODIFIED
        result = FetchResult(feed_id, "http://127.0.0.1:9/notes.xml", status, Validators(),
                             body=body, headers={"content-type": "application/rss+xml"})  # fmt: skip
        process_fetch(pipeline, result, at)
        with session_scope(engine) as session:
            return [r.title for r in outbox.list_alerts(session) if r.kind == "health"]

    first_seen = START + 6 * HOUR
    assert poll(_rss(6), first_seen) == []
    assert poll(None, first_seen + timedelta(hours=6)) == []
    silent = poll(None, first_seen + timedelta(days=2))
    assert silent == [
        "[parley health] Feed silent: Notes — nothing new for 2 days (usually every 1 h)"
    ]
    assert poll(None, first_seen + timedelta(days=3)) == silent  # once per silence
    back = poll(_rss(7), first_seen + timedelta(days=3, hours=1))
    assert back[0] == "[parley health] Feed recovered: Notes"
    assert len(back) == 2
