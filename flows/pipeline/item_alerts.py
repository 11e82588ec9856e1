"""An item's alerts: one outbox row per channel, naming every topic that channel takes.

``match_entry`` (process.py) records each topic's match and story and routes each topic on its
own; this queues what they chose: the topics grouped by channel (alerts/grouping.py), one
alert rendered per group (alerts/render_topics.py), one outbox row per channel, in the same
transaction as the matches, with a key that a re-run, an overlapping run or a restart after a
crash finds again.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from parley.alerts.channels import Channel
from parley.alerts.grouping import group_by_channel
from parley.alerts.render import AlertView, RenderedAlert
from parley.alerts.render_topics import render_item_alert
from parley.storage import outbox
from parley.storage.models import Entry, Feed


@dataclass(frozen=True)
class TopicAlert:
    """One topic's part of an item's alert: what it shows, its match, the channels (and
    modes) its routes chose."""

    view: AlertView
    match_id: int
    chosen: Sequence[tuple[Channel, str]]

    @property
    def topic_key(self) -> str:
        return self.view.topic_key

    @property
    def severity(self) -> str:
        return self.view.severity


def idempotency_key(feed: Feed, entry: Entry, topic_keys: Iterable[str], channel: str) -> str:
    """The same item revision on the same topics for the same channel always gets this key.

    Made of the feed URL, the entry's uid and revision, the topic keys sorted and joined by
    commas (their order in the message follows severity, which the key must not depend on)
    and the channel. For one topic it is the key of the per-topic alerts of earlier versions.
    """
    topics = ",".join(sorted(set(topic_keys)))
    parts = (feed.url, entry.uid, str(entry.revision), topics, channel)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def queue_item_alerts(
    session: Session,
    feed: Feed,
    entry: Entry,
    topics: Sequence[TopicAlert],
    zone: ZoneInfo,
    now: datetime,
) -> Counter[str]:
    """Queue one alert per channel for the ``topics`` of ``entry``; how many rows were queued,
    counted under each row's lead topic (a key queued before adds none)."""
    queued: Counter[str] = Counter()
    rendered: dict[tuple[str, ...], RenderedAlert] = {}
    for group in group_by_channel((topic, topic.chosen) for topic in topics):
        keys = tuple(part.topic_key for part in group.parts)
        alert = rendered.get(keys)
        if alert is None:
            alert = rendered[keys] = render_item_alert([part.view for part in group.parts], zone)
        lead = group.lead
        row_id = outbox.enqueue(
            session,
            key=idempotency_key(feed, entry, keys, group.channel.name),
            channel=group.channel.name,
            kind=lead.view.kind,
            topic_key=outbox.pack_topics(keys),
            title=alert.title,
            body=alert.body,
            now=now,
            match_id=lead.match_id,
            severity=lead.severity,
            mode=group.mode,
        )
        queued[lead.topic_key] += row_id is not None
    return queued
