"""``parley timeline``: a topic's stories over time — a table, a PNG chart and an HTML page.

The chart is drawn with matplotlib's Agg canvas, imported when it is drawn, so that importing
this module (and ``parley --help``) stays fast and never touches a display.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from parley.alerts.render import safe_link
from parley.flows.reports import plain, when
from parley.flows.stories.facts import Facts, describe
from parley.storage.story_reports import DayCount, daily_counts, stories_of_topic, story_members

HEADLINE_CHARS = 140
MAX_DAYS = 3660  # a chart wider than ten years of days says nothing per day


@dataclass(frozen=True)
class Development:
    seen_at: datetime
    entry_id: int
    outlet: str
    headline: str
    lines: tuple[str, ...]  # describe() of what it added: "new figure: 22", …


@dataclass(frozen=True)
class StoryRow:
    story_id: int
    first_seen_at: datetime
    last_seen_at: datetime
    headline: str
    link: str | None
    opened_by: int
    opener_outlet: str
    outlets: int
    reports: int
    official: bool
    corroborated: bool
    developments: tuple[Development, ...]

    @property
    def marks(self) -> list[str]:
        return [m for m, on in (("official", self.official), ("corroborated", self.corroborated))
                if on]  # fmt: skip


@dataclass(frozen=True)
class Timeline:
    topic_key: str
    topic_name: str
    zone: ZoneInfo
    since: datetime | None
    until: datetime | None
    stories: tuple[StoryRow, ...]
    days: tuple[DayCount, ...]  # every day of the period, zeros included

    @property
    def reports(self) -> int:
        return sum(day.items for day in self.days)

    def period(self) -> str:
        if not self.days:
            return "no reports"
        return f"{self.days[0].day.isoformat()} – {self.days[-1].day.isoformat()}"


def load_timeline(
    session: Session,
    topic_key: str,
    topic_name: str,
    since: datetime | None,
    until: datetime | None,
    zone: ZoneInfo,
) -> Timeline:
    """The topic's stories active in [since, until) and its reports per day in ``zone``."""
    rows = []
    for story in stories_of_topic(session, topic_key, since, until):
        assert story.id is not None
        members = story_members(session, story.id)
        opener = next(((e, f) for se, e, f in members if se.role == "opened"), None)
        developments = tuple(
            Development(
                seen_at=se.created_at,
                entry_id=se.entry_id,
                outlet=feed.name,
                headline=entry.title,
                lines=tuple(describe(Facts.from_json(se.added))),
            )
            for se, entry, feed in members
            if se.role == "development"
        )
        rows.append(
            StoryRow(
                story_id=story.id,
                first_seen_at=story.first_seen_at,
                last_seen_at=story.last_seen_at,
                headline=story.headline,
                link=opener[0].link if opener else None,
                opened_by=story.opened_by,
                opener_outlet=opener[1].name if opener else "",
                outlets=story.outlets,
                reports=len(members),
                official=story.official,
                corroborated=story.corroborated,
                developments=developments,
            )
        )
    counts = daily_counts(session, topic_key, since, until, zone)
    return Timeline(topic_key, topic_name, zone, since, until, tuple(rows),
                    tuple(_every_day(counts, since, until, zone)))  # fmt: skip


def _every_day(
    counts: list[DayCount], since: datetime | None, until: datetime | None, zone: ZoneInfo
) -> list[DayCount]:
    """``counts`` with the days between (and up to the asked bounds) filled with zeros."""
    if not counts and (since is None or until is None):
        return []
    first = since.astimezone(zone).date() if since else counts[0].day
    last = (until - timedelta(microseconds=1)).astimezone(zone).date() if until else counts[-1].day
    if counts:
        first, last = min(first, counts[0].day), max(last, counts[-1].day)
    if (last - first).days > MAX_DAYS:  # an open-ended --since far back: from the first report
        first = counts[0].day if counts else last - timedelta(days=MAX_DAYS)
    known = {c.day: c for c in counts}
    span = (last - first).days + 1
    days = (first + timedelta(days=n) for n in range(max(span, 0)))
    return [known.get(day, DayCount(day, 0, 0, 0)) for day in days]


# --- the table ---------------------------------------------------------------------------


def table_lines(timeline: Timeline) -> list[str]:
    """The stories as lines for a terminal, each development below its story."""
    zone = timeline.zone
    count = len(timeline.stories)
    lines = [
        f"{plain(timeline.topic_name, 100)} ({timeline.topic_key}): {count} "
        f"stor{'y' if count == 1 else 'ies'}, {timeline.reports} reports, {timeline.period()}",
        "",
    ]
    if not timeline.stories:
        return [*lines, "no stories in this period"]
    lines.append(f"{'first seen':<16}  {'story':>5}  {'outlets':>7}  {'marks':<21}  headline")
    for story in timeline.stories:
        lines.append(
            f"{when(story.first_seen_at, zone, with_zone=False):<16}  {story.story_id:>5}  "
            f"{story.outlets:>7}  {', '.join(story.marks) or '-':<21}  "
            f"{plain(story.headline, HEADLINE_CHARS)} — {plain(story.opener_outlet, 60)} "
            f"(entry {story.opened_by})"
        )
        for dev in story.developments:
            what = "; ".join(plain(line, 120) for line in dev.lines) or plain(dev.headline, 120)
            lines.append(f"  {when(dev.seen_at, zone, with_zone=False):<16}  development: {what}"
                         f" — {plain(dev.outlet, 60)} (entry {dev.entry_id})")  # fmt: skip
    lines += ["", f"times in {zone.key}"]
    return lines


# --- the chart ---------------------------------------------------------------------------


def draw_png(timeline: Timeline, path: Path) -> None:
    """Reports and stories opened per day (bars, line), developments marked; a PNG file."""
    import matplotlib.dates
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # the Agg backend, no display
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    title = f"{timeline.topic_name} — reports and stories per day"
    axes.set_title(plain(title, 110), loc="left", fontsize=13, parse_math=False)
    count = len(timeline.stories)
    totals = (f"{timeline.reports} reports, {count} stor{'y' if count == 1 else 'ies'}, "
              f"{timeline.period()}")  # fmt: skip
    axes.set_title(totals, loc="right", fontsize=9, color="#555555", parse_math=False)
    axes.set_ylabel("count per day", parse_math=False)
    axes.set_xlabel(f"day ({timeline.zone.key})", parse_math=False)
    dates: Any = matplotlib.dates  # not typed
    days = dates.date2num([day.day for day in timeline.days])
    if not len(days):
        axes.text(0.5, 0.5, "no reports in this period", ha="center", va="center",
                  transform=axes.transAxes, parse_math=False)  # fmt: skip
        axes.set_xticks([])
        axes.set_yticks([])
    else:
        items = [day.items for day in timeline.days]
        axes.bar(days, items, width=0.8, color="#9ecae1", edgecolor="#3182bd",
                 label="reports (items in a story)")  # fmt: skip
        axes.plot(days, [day.stories for day in timeline.days], color="#e6550d", marker="o",
                  linewidth=2, label="stories opened")  # fmt: skip
        _mark_developments(axes, timeline, dates)
        axes.set_xlim(days[0] - 1, days[-1] + 1)
        axes.set_ylim(0, max(items) * 1.35 + 1)
        locator = dates.AutoDateLocator(minticks=3, maxticks=12)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(axis="y", alpha=0.3)
        axes.legend(loc="upper left")
    figure.savefig(path, format="png")


def _mark_developments(axes: object, timeline: Timeline, dates: Any) -> None:
    from matplotlib.axes import Axes

    assert isinstance(axes, Axes)
    per_day: dict[date, list[str]] = {}
    for story in timeline.stories:
        for dev in story.developments:
            day = dev.seen_at.astimezone(timeline.zone).date()
            per_day.setdefault(day, []).append("; ".join(dev.lines) or "development")
    height = {day.day: day.items for day in timeline.days}
    shown = [day for day in sorted(per_day) if day in height]
    if not shown:
        return
    tops = [height[day] + 0.15 for day in shown]
    axes.scatter(dates.date2num(shown), tops, marker="v", s=90, color="#756bb1", zorder=3,
                 label="development")  # fmt: skip
    for day, x, top in zip(shown, dates.date2num(shown), tops, strict=True):
        label = plain(" | ".join(per_day[day]), 48)
        axes.annotate(label, (x, top), xytext=(0, 10), textcoords="offset points",
                      ha="center", fontsize=8, color="#54278f", parse_math=False)  # fmt: skip


# --- the page ----------------------------------------------------------------------------

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
p.meta { color: #555; margin-top: 0; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem;
         border-bottom: 1px solid #e4e4e4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
span.mark { background: #eef; border-radius: 3px; padding: 0 .3rem; margin-right: .2rem; }
ul { margin: .2rem 0 0 1rem; padding: 0; }
"""
# Nothing on the page may load or run anything: the chart is inline, feed text is escaped.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def html_page(timeline: Timeline, png: bytes | None) -> str:
    """A self-contained page: the chart inline (base64) and the stories table."""
    zone = timeline.zone
    title = f"{plain(timeline.topic_name, 200)} — parley timeline"
    rows = []
    for story in timeline.stories:
        link = safe_link(story.link)
        headline = _e(plain(story.headline, 500))
        if link:
            headline = f'<a href="{_e(link)}" rel="noreferrer noopener">{headline}</a>'
        marks = "".join(f'<span class="mark">{m}</span>' for m in story.marks)
        devs = "".join(
            f"<li>{_e(when(d.seen_at, zone, with_zone=False))}: "
            f"{_e('; '.join(plain(x, 200) for x in d.lines) or plain(d.headline, 200))}"
            f" — {_e(plain(d.outlet, 80))}</li>"
            for d in story.developments
        )
        rows.append(
            "<tr>"
            f"<td>{_e(when(story.first_seen_at, zone, with_zone=False))}</td>"
            f"<td>{headline}<br><small>{_e(plain(story.opener_outlet, 80))}, story "
            f"{story.story_id}, entry {story.opened_by}</small></td>"
            f'<td class="num">{story.outlets}</td>'
            f'<td class="num">{story.reports}</td>'
            f"<td>{marks}</td>"
            f"<td>{f'<ul>{devs}</ul>' if devs else ''}</td>"
            "</tr>"
        )
    image = ""
    if png is not None:
        data = base64.b64encode(png).decode("ascii")
        alt = _e(f"Reports and stories per day for {plain(timeline.topic_name, 200)}")
        image = f'<img src="data:image/png;base64,{data}" alt="{alt}">'
    count = len(timeline.stories)
    body = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(plain(timeline.topic_name, 200))} <small>({_e(timeline.topic_key)})</small></h1>",
        f'<p class="meta">{count} stor{"y" if count == 1 else "ies"}, {timeline.reports} '
        f"reports, {_e(timeline.period())}; times in {_e(zone.key)}</p>",
        image,
        "<table>",
        "<thead><tr><th>first seen</th><th>headline</th><th>outlets</th><th>reports</th>"
        "<th>marks</th><th>developments</th></tr></thead>",
        "<tbody>",
        *rows,
        "</tbody>",
        "</table>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(body)


def write_timeline(timeline: Timeline, out_dir: Path) -> tuple[Path, Path]:
    """``timeline-<topic>.png`` and ``timeline-<topic>.html`` in ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png_path = out_dir / f"timeline-{timeline.topic_key}.png"
    html_path = out_dir / f"timeline-{timeline.topic_key}.html"
    draw_png(timeline, png_path)
    html_path.write_text(html_page(timeline, png_path.read_bytes()), encoding="utf-8")
    return png_path, html_path
