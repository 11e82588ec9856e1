"""``parley entries show``: one entry with its revisions, what changed, its matches and stories."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session

from parley.alerts.render import word_diff
from parley.flows.reports import plain, when
from parley.storage.entries import revisions
from parley.storage.models import Entry, EntryRevision, Feed, Match, Story, StoryEntry
from parley.storage.reports import entry_matches, entry_with_feed
from parley.storage.story_reports import memberships

TITLE_CHARS = 160
DIFF_LINE_CHARS = 400


@dataclass(frozen=True)
class EntryReport:
    entry: Entry
    feed: Feed
    revisions: list[EntryRevision]
    matches: list[Match]
    stories: list[tuple[StoryEntry, Story]]


def load_entry(session: Session, entry_id: int) -> EntryReport | None:
    """Everything stored about one entry; None when there is no such entry."""
    found = entry_with_feed(session, entry_id)
    if found is None:
        return None
    entry, feed = found
    return EntryReport(
        entry=entry,
        feed=feed,
        revisions=revisions(session, entry_id),
        matches=entry_matches(session, entry_id),
        stories=memberships(session, entry_id),
    )


def revision_text(revision: EntryRevision) -> str:
    """What the diff compares: title and summary, as the alerts do."""
    return f"{revision.title}\n{revision.summary}"


def format_entry(report: EntryReport, zone: ZoneInfo) -> list[str]:
    """The report as lines for a terminal; feed text is cleaned to single lines."""
    entry, feed = report.entry, report.feed
    lines = [
        f"entry {entry.id}: {plain(entry.title, TITLE_CHARS) or '(no title)'}",
        f"  feed:       {plain(feed.name, 80)} ({plain(feed.url, 200)})",
        f"  link:       {plain(entry.link or '-', 500)}",
        f"  guid:       {plain(entry.guid or '-', 500)}",
        f"  published:  {when(entry.published_at, zone)}",
        f"  first seen: {when(entry.first_seen_at, zone)}",
        f"  revision:   {entry.revision} (last changed {when(entry.changed_at, zone)})",
        "",
        f"revisions ({len(report.revisions)})",
    ]
    lines += [f"  {'rev':>3}  {'seen at':<20}  title"]
    for rev in report.revisions:
        lines.append(f"  {rev.revision:>3}  {when(rev.seen_at, zone):<20}  "
                     f"{plain(rev.title, TITLE_CHARS)}")  # fmt: skip
    for old, new in zip(report.revisions, report.revisions[1:], strict=False):
        lines += ["", f"changes {old.revision} → {new.revision}"]
        diff = word_diff(revision_text(old), revision_text(new))
        lines += [f"  {plain(hunk, DIFF_LINE_CHARS)}" for hunk in diff.splitlines()]
        if not diff:
            lines.append("  (same words)")
        if old.link != new.link:
            lines.append(f"  link: {plain(old.link or '-', 500)} → {plain(new.link or '-', 500)}")
    lines += ["", f"matches ({len(report.matches)})"]
    if report.matches:
        lines.append(f"  {'rev':>3}  {'topic':<22}  {'kind':<12}  terms (field)")
    for match in report.matches:
        terms = ", ".join(plain(term, 60) for term in match.terms)
        lines.append(f"  {match.revision:>3}  {plain(match.topic_key, 40):<22}  "
                     f"{plain(match.kind, 16):<12}  {terms} ({plain(match.field, 16)})")  # fmt: skip
    lines += ["", f"stories ({len(report.stories)})"]
    if report.stories:
        lines.append(f"  {'topic':<22}  {'story':>5}  {'role':<12}  headline")
    for member, story in report.stories:
        lines.append(f"  {plain(story.topic_key, 40):<22}  {story.id:>5}  "
                     f"{plain(member.role, 16):<12}  {plain(story.headline, TITLE_CHARS)}")  # fmt: skip
    return lines
