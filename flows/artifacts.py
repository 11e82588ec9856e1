"""Prefect artifacts of a cycle: a table of the new matches and a markdown summary."""

from __future__ import annotations

import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from parley.flows.pipeline.report import CycleReport, MatchRecord
from parley.flows.reports.cycle import ROLE_ORDER, TopicMove

_MARKDOWN_ACTIVE = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")
_NOT_IN_KEY = re.compile(r"[^a-z0-9-]+")
# Prefect's server refuses events of several MB: a cycle over thousands of feeds can match
# ten thousand items, so artifacts list the first rows and say how many more there are.
MAX_ROWS = 1000


def md_escape(text: str) -> str:
    """Feed text shown in markdown: active characters escaped, one line."""
    return _MARKDOWN_ACTIVE.sub(r"\\\1", " ".join(text.split()))


def match_rows(matches: Sequence[MatchRecord], zone: ZoneInfo) -> list[dict[str, str]]:
    rows = []
    for m in matches:
        when = m.published_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if m.published_at else ""
        rows.append(
            {
                "published": when,
                "topic": m.topic_key,
                "kind": m.kind,
                "outlet": m.feed_name,
                "headline": " ".join(m.headline.split())[:200],
                "terms": ", ".join(m.terms),
                "link": m.link or "",
            }
        )
    return rows


def summary_markdown(report: CycleReport) -> str:
    lines = ["# parley monitor cycle", "", md_escape(report.summary_line()), ""]
    if report.matches:
        lines += ["## Matches", ""]
        for m in report.matches[:MAX_ROWS]:
            lines.append(f"- **{md_escape(m.topic_name)}** ({m.kind}): {md_escape(m.headline)} "
                         f"— {md_escape(m.feed_name)}")  # fmt: skip
        if more := _more(report.matches):
            lines.append(f"- {more}")
        lines.append("")
    if report.failures:
        lines += ["## Feed errors", ""]
        lines += [f"- {md_escape(o.feed_name)}: {md_escape(o.error or o.status)}"
                  for o in report.failures]  # fmt: skip
    return "\n".join(lines)


def _more(matches: Sequence[MatchRecord]) -> str:
    """``… and N more`` when ``matches`` is longer than an artifact shows, else ``""``."""
    hidden = len(matches) - MAX_ROWS
    return f"… and {hidden:,} more (the first {MAX_ROWS:,} are shown)" if hidden > 0 else ""


async def publish_cycle(report: CycleReport, zone: ZoneInfo) -> None:
    more = _more(report.matches)
    await acreate_table_artifact(
        key="parley-new-matches",
        table=match_rows(report.matches[:MAX_ROWS], zone),
        description="Topic matches found by this monitor cycle" + (f"; {more}" if more else ""),
    )
    await acreate_markdown_artifact(
        key="parley-cycle-summary",
        markdown=summary_markdown(report),
        description=report.summary_line(),
    )


async def publish_matches(
    matches: Sequence[MatchRecord], zone: ZoneInfo, key: str, summary: str
) -> None:
    """A table of ``matches`` and a markdown summary, under ``key``-matches / ``key``-summary."""
    more = _more(matches)
    await acreate_table_artifact(
        key=f"{key}-matches",
        table=match_rows(matches[:MAX_ROWS], zone),
        description=more or None,
    )
    markdown = "\n".join(md_escape(line) for line in summary.splitlines())
    await acreate_markdown_artifact(key=f"{key}-summary", markdown=markdown)


def topic_artifact_key(topic_key: str) -> str:
    """``parley-topic-<key>``: artifact keys take lowercase letters, digits and dashes only."""
    return "parley-topic-" + (_NOT_IN_KEY.sub("-", topic_key.lower()).strip("-") or "unnamed")


def topic_markdown(move: TopicMove, zone: ZoneInfo) -> str:
    """The stories of one topic that this cycle touched, with how many reports in each role."""
    count = len(move.stories)
    lines = [f"# {md_escape(move.topic_name)}", "",
             f"{count} stor{'y' if count == 1 else 'ies'} moved in this cycle "
             f"(topic `{md_escape(move.topic_key)}`).", ""]  # fmt: skip
    if move.stories:
        lines += ["| story | first seen | headline | outlets | " + " | ".join(ROLE_ORDER) + " |",
                  "|---:|---|---|---:|" + "---:|" * len(ROLE_ORDER)]  # fmt: skip
        for story in move.stories:
            marks = [m for m, on in (("official", story.official),
                                     ("corroborated", story.corroborated)) if on]  # fmt: skip
            outlets = f"{story.outlets}" + (f" ({', '.join(marks)})" if marks else "")
            first = story.first_seen_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            counts = " | ".join(str(story.roles[role]) for role in ROLE_ORDER)
            lines.append(f"| {story.story_id} | {first} | {md_escape(story.headline[:300])} "
                         f"| {outlets} | {counts} |")  # fmt: skip
    if move.unfiled:
        shown = ", ".join(f"{move.unfiled[r]} {r}" for r in ROLE_ORDER if move.unfiled[r])
        lines += ["", f"Matches in no story: {shown}."]
    return "\n".join(lines) + "\n"


async def publish_topics(moves: Sequence[TopicMove], zone: ZoneInfo) -> None:
    """One markdown artifact per topic that moved: ``parley-topic-<key>``."""
    for move in moves:
        total = sum(sum(s.roles.values()) for s in move.stories) + sum(move.unfiled.values())
        await acreate_markdown_artifact(
            key=topic_artifact_key(move.topic_key),
            markdown=topic_markdown(move, zone),
            description=f"{move.topic_name}: {len(move.stories)} stories, {total} reports this cycle",
        )
