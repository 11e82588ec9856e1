"""The monitor flow end to end: real Prefect flow, real HTTP feed server, real channels.

The demo snapshots (seeds/demo/README.md lists what each item must do) are served by a
loopback FeedServer; alerts go to a jsonl file sink and to a local JSON webhook receiver.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flowrun import SEEDS, Monitor, demo_feeds, jsonl_alerts, publish
from receivers import SmtpReceiver, WebhookReceiver
from sqlmodel import select

from parley.alerts.render import MAX_HEADLINE, clean_line
from parley.alerts.severity import RANK
from parley.flows.ingest.localserver import FeedServer
from parley.flows.stories.assign import ALERTING
from parley.flows.topics.load import load_topics
from parley.storage.models import Entry

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_harness")]

# Step 01 (seeds/demo/README.md): 12 items match → 17 matches (13 stories opened, 2
# developments, 2 coverage) and 11 alerts per channel: one per item that alerts, three of them
# on several topics.
FIRST_MATCHES = 17
FIRST_ALERTS = 11
MULTI_TOPIC_ITEMS = 3
PRISONERS = "prisoner-exchange"
DEMO_FILES = ("dnipro-wire.xml", "kyiv-herald.xml", "vestnik-online.xml", "atomic-watch.xml",
              "odesa-courier.xml")  # fmt: skip
NEGATIVE_UIDS = {
    "kyiv-herald:20590",  # football by the Black Sea
    "kyiv-herald:20661",  # a run in Zaporizhzhia city
}


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _monitor(tmp_path: Path, server: FeedServer, db_url: str, hook: WebhookReceiver) -> Monitor:
    channels: list[dict[str, object]] = [
        {"name": "file", "url": f"jsonl://{tmp_path / 'alerts.jsonl'}"},
        {"name": "webhook", "url": hook.url()},
    ]
    return Monitor(tmp_path, server, db_url, channels, demo_feeds())


def test_cycles_alert_once_per_story_and_development(
    tmp_path: Path, server: FeedServer, hook: WebhookReceiver, db_url: str
) -> None:
    run = _monitor(tmp_path, server, db_url, hook)
    sink = tmp_path / "alerts.jsonl"

    publish(server, "01-first")
    first = run.cycle()
    assert len(first.matches) == FIRST_MATCHES
    kinds = Counter(m.kind for m in first.matches)
    assert kinds == {"new": 13, "development": 2, "coverage": 2}
    assert first.delivery is not None and first.delivery.sent == 2 * FIRST_ALERTS
    assert len(jsonl_alerts(sink)) == FIRST_ALERTS
    assert len(hook.wait_for(FIRST_ALERTS)) == FIRST_ALERTS

    server.clear_requests()
    second = run.cycle()
    assert second.count("not_modified") == len(DEMO_FILES)
    assert all(server.conditional_count(f"/{name}") == 1 for name in DEMO_FILES)
    assert second.matches == []
    assert len(jsonl_alerts(sink)) == FIRST_ALERTS

    publish(server, "03-news")
    third = run.cycle()
    story = sorted((m.feed_name, m.kind) for m in third.matches if m.topic_key == PRISONERS)
    assert [kind for _, kind in story].count("new") == 1
    assert [kind for _, kind in story].count("coverage") == 3
    assert len({feed for feed, _ in story}) == 4  # four outlets, one story
    assert {m.kind for m in third.matches if m.topic_key != PRISONERS} == {"updated"}
    alerts = jsonl_alerts(sink)[FIRST_ALERTS:]
    assert len(alerts) == third.alerts_queued // 2 == 2  # the opener; the edit, on two topics
    opened = next(a for a in alerts if "Prisoner" in str(a["title"]))
    assert "Story: first seen" in str(opened["body"])
    updated = [a for a in alerts if "Updated" in str(a["title"])]
    assert updated
    assert all(re.search(r"\{\+[^}]*\b63\b", str(a["body"])) for a in updated)  # 40 → 63
    atomic = next(o for o in third.feeds if o.url.endswith("/atomic-watch.xml"))
    assert (atomic.new, atomic.changed) == (0, 0)  # re-indented only

    publish(server, "04-development")
    fourth = run.cycle()
    assert [(m.topic_key, m.kind) for m in fourth.matches] == [(PRISONERS, "development")]
    development = jsonl_alerts(sink)[-1]
    body = str(development["body"])
    assert "Development" in str(development["title"])
    assert "What's new: new figure: 22" in body
    assert "175" not in body.split("What's new:")[1].splitlines()[0]  # only what it adds
    assert "4 outlets" in body and "corroborated" in body

    total = len(jsonl_alerts(sink))
    again = run.cycle()
    assert again.matches == [] and again.alerts_queued == 0
    assert len(jsonl_alerts(sink)) == total
    assert len(hook.requests) == total

    stored_uids = {uid for uid, *_ in run.matches()}
    assert not stored_uids & NEGATIVE_UIDS
    assert all(a.status == "sent" for a in run.outbox())


def test_an_item_on_several_topics_is_one_message_per_channel_naming_them_all(
    tmp_path: Path, server: FeedServer, hook: WebhookReceiver, db_url: str
) -> None:
    """Each topic keeps its own match and story; each channel gets ONE message for the item,
    its title naming every topic (the highest severity first), its body each topic's part."""
    run = _monitor(tmp_path, server, db_url, hook)
    publish(server, "01-first")
    run.cycle()
    received = [request.json() for request in hook.wait_for(FIRST_ALERTS)]
    assert len(jsonl_alerts(tmp_path / "alerts.jsonl")) == len(received) == FIRST_ALERTS

    topics = load_topics(SEEDS / "topics.yaml")
    order = {topic.key: (-RANK[topic.severity], n) for n, topic in enumerate(topics)}
    names = {topic.key: topic.name for topic in topics}
    by_uid: dict[str, list[str]] = {}
    for uid, key, _revision, kind in run.matches():
        if kind in ALERTING:  # coverage is recorded, not alerted (no route asks for it)
            by_uid.setdefault(uid, []).append(key)
    several = {
        uid: sorted(keys, key=order.__getitem__) for uid, keys in by_uid.items() if len(keys) > 1
    }
    assert len(several) == MULTI_TOPIC_ITEMS
    with run.session() as session:
        headlines = {e.uid: e.title for e in session.exec(select(Entry)) if e.uid in several}
    for uid, keys in several.items():
        headline = clean_line(headlines[uid], MAX_HEADLINE)
        [message] = [m for m in received if str(m["message"]).splitlines()[0] == headline]
        shown = [names[key] for key in keys]
        assert str(message["title"]).startswith("[" + " · ".join(shown) + "] ")
        body = str(message["message"]).splitlines()
        assert any(line.endswith(f" · Topics: {', '.join(shown)}") for line in body), body
        for name in shown:
            assert sum(line.startswith(f"{name} (") for line in body) == 1, (name, body)
    rows = [row for row in run.outbox() if row.channel == "webhook"]
    assert len(rows) == FIRST_ALERTS
    assert sorted(row.topic_key.count(",") + 1 for row in rows) == sorted(
        len(keys) for keys in by_uid.values()
    )


def test_a_failing_channel_keeps_alerts_pending_then_delivers_once(
    tmp_path: Path, server: FeedServer, hook: WebhookReceiver, db_url: str
) -> None:
    run = _monitor(tmp_path, server, db_url, hook)
    hook.status = 500
    publish(server, "01-first")
    first = run.cycle()
    assert first.delivery is not None and first.delivery.failed == FIRST_ALERTS
    rows = run.outbox()
    webhook_rows = [r for r in rows if r.channel == "webhook"]
    assert all(r.status == "pending" and r.attempts == 1 for r in webhook_rows)
    assert all("webhook" in (r.last_error or "") for r in webhook_rows)
    assert len(jsonl_alerts(tmp_path / "alerts.jsonl")) == FIRST_ALERTS  # the other channel

    refused = len(hook.requests)
    assert refused == FIRST_ALERTS
    hook.status = 200
    _make_due(run)
    run.cycle()
    run.cycle()
    _make_due(run)
    run.cycle()
    delivered = hook.requests[refused:]
    assert len(delivered) == FIRST_ALERTS
    assert len({r.json()["title"] for r in delivered}) == FIRST_ALERTS
    assert all(r.status == "sent" for r in run.outbox())


def _make_due(run: Monitor) -> None:
    """Move every pending retry to now (instead of waiting out the backoff)."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from parley.storage.models import OutboxAlert

    with run.session() as s:
        s.execute(update(OutboxAlert).values(next_attempt_at=datetime.now(UTC)))
        s.commit()


def test_email_waits_while_the_smtp_server_is_down_then_arrives_once(
    tmp_path: Path, server: FeedServer, hook: WebhookReceiver
) -> None:
    smtp = SmtpReceiver()  # its port is chosen, but nothing listens yet
    run = _monitor(tmp_path, server, f"sqlite:///{tmp_path / 'mail.db'}", hook)
    run.channels = [
        {"name": "desk-mail", "url": smtp.url("parley@example.org", "desk@example.org")}
    ]
    publish(server, "01-first")
    down = run.cycle()
    assert down.delivery is not None and down.delivery.failed == FIRST_ALERTS
    assert all(r.status == "pending" and "desk-mail" in (r.last_error or "") for r in run.outbox())
    with smtp:
        _make_due(run)
        up = run.cycle()
        assert up.delivery is not None and up.delivery.sent == FIRST_ALERTS
        _make_due(run)
        run.cycle()
        mails = smtp.wait_for(FIRST_ALERTS)
    assert len(mails) == FIRST_ALERTS
    assert len({m.subject for m in mails}) == FIRST_ALERTS
    assert any("Zaporizhzhia" in m.subject for m in mails)
    assert all(m.subject.startswith("[") for m in mails)
