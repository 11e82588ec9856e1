"""Digests: one message per digest channel with every alert it gathered, by topic and story.

A digest channel's alerts are queued like any other (``mode="digest"``) but ``deliver`` leaves
them alone. :func:`build_digests` claims a channel's pending rows, sends ONE message for them,
then marks them all sent in one transaction — or, when the send fails, records the error on
each of them (they stay pending, or go dead after ``max_attempts``) so the next digest retries.
"""

from __future__ import annotations

import html
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from parley.alerts.channels import Channel
from parley.alerts.notify import HTML, MARKDOWN, TEXT, SendOutcome, send
from parley.alerts.render import (
    MAX_HEADLINE,
    MAX_NAME,
    clean_line,
    escape_markdown,
    format_time,
    markdown_link,
    safe_link,
)
from parley.storage import outbox
from parley.storage.models import Entry, Feed, Match, OutboxAlert
from parley.storage.stories import story_of_entry

DigestSender = Callable[[Channel, str, str, str], SendOutcome]  # channel, title, body, format
JITTER = 0.2


@dataclass
class DigestReport:
    """What one digest run did: channels sent, alerts included, failures."""

    sent: int = 0  # digest messages sent
    alerts: int = 0  # outbox rows marked sent
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class StoryLine:
    """One story (or one alert without a story) in a digest."""

    headline: str
    outlet: str
    link: str | None
    reports: int = 1
    first_at: datetime | None = None  # when its first alert in the digest was queued


@dataclass
class TopicSection:
    key: str
    name: str
    alerts: int = 0
    stories: dict[str, StoryLine] = field(default_factory=dict)


@dataclass(frozen=True)
class Digest:
    """A rendered digest: its title and a body in ``body_format``."""

    title: str
    body: str
    body_format: str


def build_digests(
    session: Session,
    channels: Sequence[Channel],
    now: datetime,
    zone: ZoneInfo,
    *,
    topic_names: Mapping[str, str] | None = None,
    max_attempts: int = 8,
    timeout: float = 30.0,
    sender: DigestSender | None = None,
) -> DigestReport:
    """Send each digest channel one message with its pending alerts; commits ``session``.

    Rows are claimed (committed) before the send, so a concurrent digest skips them; the
    outcome is committed right after each channel's send.
    """
    report = DigestReport()
    lease = timedelta(seconds=timeout * 2 + 60)

    def default_sender(channel: Channel, title: str, body: str, body_format: str) -> SendOutcome:
        return send(channel, title, body, timeout=timeout, body_format=body_format)

    do_send = sender or default_sender
    for channel in channels:
        if not channel.digest:
            continue
        rows = outbox.claim_digest(session, channel.name, now, lease)
        session.commit()
        if not rows:
            continue
        sections = group_rows(session, rows, topic_names or {})
        digest = render_digest(sections, len(rows), now, zone, body_format=channel.format)
        result = do_send(channel, digest.title, digest.body, digest.body_format)
        ids = [row.id for row in rows if row.id is not None]
        if result.ok:
            for row_id in ids:
                outbox.mark_sent(session, row_id, now)
            session.commit()
            report.sent += 1
            report.alerts += len(ids)
            continue
        error = result.error or "send failed"
        jitter = random.uniform(0.0, JITTER)
        for row_id in ids:
            outbox.mark_failed(session, row_id, error, now, max_attempts, jitter)
        session.commit()
        report.failed += 1
        report.errors.append(error)
    return report


def group_rows(
    session: Session, rows: Sequence[OutboxAlert], topic_names: Mapping[str, str]
) -> list[TopicSection]:
    """The rows by topic (in order of their first alert), then by story within a topic.

    A row on several topics (one alert for an item on each of them) is listed under each,
    with that topic's story.
    """
    sections: dict[str, TopicSection] = {}
    for row in rows:
        found = _row_entry(session, row)
        for topic in outbox.row_topics(row.topic_key):
            section = sections.get(topic)
            if section is None:
                name = topic_names.get(topic) or topic
                section = sections[topic] = TopicSection(topic, name)
            section.alerts += 1
            key, line = _story_line(session, row, topic, found)
            known = section.stories.get(key)
            if known is None:
                section.stories[key] = line
            else:
                known.reports += 1
    return list(sections.values())


def _row_entry(session: Session, row: OutboxAlert) -> tuple[Entry, Feed] | None:
    """The entry (and its feed) the row's match is of; None for a row without a match."""
    if row.match_id is None:
        return None
    found = session.exec(
        select(Entry, Feed)
        .join(Match, col(Entry.id) == Match.entry_id)
        .join(Feed, col(Feed.id) == Entry.feed_id)
        .where(Match.id == row.match_id)
    ).first()
    return None if found is None else (found[0], found[1])


def _story_line(
    session: Session, row: OutboxAlert, topic: str, found: tuple[Entry, Feed] | None
) -> tuple[str, StoryLine]:
    """A grouping key for the row's story in ``topic`` and the line to show for it."""
    key, line = _find_story(session, row, topic, found)
    line.first_at = row.created_at
    return key, line


def _find_story(
    session: Session, row: OutboxAlert, topic: str, found: tuple[Entry, Feed] | None
) -> tuple[str, StoryLine]:
    if found is None:
        return f"row:{row.id}", StoryLine(row.title, "", None)
    entry, feed = found
    assert entry.id is not None
    story = story_of_entry(session, entry.id, topic)
    if story is None:
        return f"entry:{entry.id}", StoryLine(entry.title, feed.name, entry.link)
    return f"story:{story.id}", StoryLine(story.headline, feed.name, entry.link)


def render_digest(
    sections: Sequence[TopicSection],
    alerts: int,
    now: datetime,
    zone: ZoneInfo,
    *,
    body_format: str = TEXT,
) -> Digest:
    """One message: a title with the counts, a body in ``body_format`` — plain text, markdown
    (chat services) or HTML (e-mail); times are shown in ``zone``."""
    topics = len(sections)
    title = (
        f"parley digest — {alerts} alert{'s' if alerts != 1 else ''} on {topics} "
        f"topic{'s' if topics != 1 else ''} ({format_time(now, zone)})"
    )
    if body_format == HTML:
        return Digest(title, _html_body(sections), HTML)
    if body_format == MARKDOWN:
        return Digest(title, _markdown_body(sections, zone), MARKDOWN)
    return Digest(title, _text_body(sections), TEXT)


def _more(reports: int) -> str:
    more = reports - 1
    return f", + {more} more report{'s' if more != 1 else ''}" if more else ""


def _text_body(sections: Sequence[TopicSection]) -> str:
    lines: list[str] = []
    for section in sections:
        if lines:
            lines.append("")
        lines.append(f"{_clean_name(section)} ({section.alerts})")
        for story in section.stories.values():
            head = clean_line(story.headline, MAX_HEADLINE) or "(no headline)"
            outlet = clean_line(story.outlet, MAX_NAME)
            lines.append(f"- {head}" + (f" — {outlet}" if outlet else "") + _more(story.reports))
            link = safe_link(story.link)
            if link:
                lines.append(f"  {link}")
    return "\n".join(lines)


def _html_body(sections: Sequence[TopicSection]) -> str:
    parts: list[str] = []
    for section in sections:
        parts.append(f"<h2>{html.escape(_clean_name(section))} ({section.alerts})</h2>")
        parts.append("<ul>")
        for story in section.stories.values():
            head = html.escape(clean_line(story.headline, MAX_HEADLINE) or "(no headline)")
            link = safe_link(story.link)
            if link:
                head = f'<a href="{html.escape(link, quote=True)}">{head}</a>'
            outlet = clean_line(story.outlet, MAX_NAME)
            tail = (f" — {html.escape(outlet)}" if outlet else "") + _more(story.reports)
            parts.append(f"<li>{head}{tail}</li>")
        parts.append("</ul>")
    return "\n".join(parts)


def _markdown_body(sections: Sequence[TopicSection], zone: ZoneInfo) -> str:
    """``**Topic** (n)`` then one bullet per story: ``[headline](link) — outlet · time``.

    Feed text is escaped, so a headline cannot open emphasis, a link or a heading."""
    lines: list[str] = []
    for section in sections:
        if lines:
            lines.append("")
        lines.append(f"**{escape_markdown(_clean_name(section))}** ({section.alerts})")
        for story in section.stories.values():
            head = markdown_link(clean_line(story.headline, MAX_HEADLINE) or "(no headline)",
                                 story.link)  # fmt: skip
            outlet = escape_markdown(clean_line(story.outlet, MAX_NAME))
            when = format_time(story.first_at, zone) if story.first_at is not None else ""
            about = " · ".join(part for part in (outlet, when) if part)
            lines.append(f"- {head}" + (f" — {about}" if about else "") + _more(story.reports))
    return "\n".join(lines)


def _clean_name(section: TopicSection) -> str:
    return clean_line(section.name, MAX_NAME) or clean_line(section.key, MAX_NAME)
