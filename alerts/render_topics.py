"""One alert for an item on several topics: every topic named, each with its own part.

A channel gets one message per item revision (or story development) however many of its
topics the item touches (alerts/grouping.py groups them). The views come lead first — the
highest severity — and the lead gives the alert its severity and its title's marker
(``Development:``, ``Updated:`` …). The title starts with every topic's name,
``[Black Sea maritime ceasefire and shipping safety · Russia–Ukraine peace talks] …``, cut to
``+N more`` when the names would leave the headline no room. The body gives the item once
(headline, outlet and time, link, severity, what changed in an edit), then one part per topic:
its severity and kind (a new story in one topic may be a development in another), what's new,
the terms that fired, the snippet and the topic's story (each once when topics share it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from .render import (
    KIND_MARKERS,
    MAX_DIFF,
    MAX_HEADLINE,
    MAX_NAME,
    MAX_SNIPPET,
    MAX_TITLE,
    AlertView,
    RenderedAlert,
    alert_title,
    clean_block,
    clean_line,
    coverage_line,
    matched_line,
    render_alert,
    source_lines,
    story_lines,
    topic_label,
    whats_new_line,
)

TOPIC_SEPARATOR = " · "
MAX_TOPICS = 120  # characters of topic names in a title, at most
MIN_HEADLINE = 40  # characters a title keeps for the headline before naming more topics
KIND_LABELS = {
    "new": "new story",
    "development": "development",
    "updated": "updated",
    "coverage": "more coverage",
}


def render_item_alert(views: Sequence[AlertView], zone: ZoneInfo) -> RenderedAlert:
    """The alert for one item on the topics of ``views`` (lead first), times in ``zone``.

    One view renders exactly as :func:`parley.alerts.render.render_alert`.
    """
    if not views:
        raise ValueError("an alert names at least one topic")
    if len(views) == 1:
        return render_alert(views[0], zone)
    lead = views[0]
    names = [topic_label(view) for view in views]
    headline = clean_line(lead.headline, MAX_HEADLINE) or "(no headline)"
    outlet = clean_line(lead.outlet, MAX_NAME)
    room = MAX_TITLE - len(KIND_MARKERS.get(lead.kind, "")) - len(outlet) - MIN_HEADLINE - 6
    title = alert_title(title_topics(names, room), lead.kind, headline, outlet)

    lines = [headline, *source_lines(lead, outlet, zone)]
    lines.append(f"Severity: {clean_line(lead.severity, MAX_NAME)} · Topics: {', '.join(names)}")
    diff = next((view.diff for view in views if view.kind == "updated" and view.diff), None)
    if diff:
        lines += ["", "What changed:", clean_block(diff, MAX_DIFF)]
    seen = _Seen()
    for name, view in zip(names, views, strict=True):
        lines += ["", *_topic_part(name, view, zone, seen)]
    return RenderedAlert(title=title, body="\n".join(lines))


def title_topics(names: Sequence[str], room: int = MAX_TOPICS) -> str:
    """``A · B``: the names (cleaned, lead first) that fit in ``room`` characters (at most
    ``MAX_TOPICS``, the lead always), then how many more: ``A · B +2 more``."""
    room = min(room, MAX_TOPICS)
    shown = [names[0]]
    for count, name in enumerate(names[1:], start=2):
        rest = len(names) - count
        more = len(f" +{rest} more") if rest else 0
        if len(TOPIC_SEPARATOR.join([*shown, name])) + more > room:
            break
        shown.append(name)
    rest = len(names) - len(shown)
    return TOPIC_SEPARATOR.join(shown) + (f" +{rest} more" if rest else "")


@dataclass
class _Seen:
    """What earlier topics' parts showed: a snippet shown once, a story told the same way
    (opened by this item in both topics, say) told once."""

    snippets: set[str] = field(default_factory=set)
    stories: dict[tuple[str, ...], str] = field(default_factory=dict)  # story lines → topic


def _topic_part(name: str, view: AlertView, zone: ZoneInfo, seen: _Seen) -> list[str]:
    """One topic's lines, leaving out what an earlier topic's part already showed."""
    kind = KIND_LABELS.get(view.kind) or clean_line(view.kind, MAX_NAME)
    lines = [f"{name} ({clean_line(view.severity, MAX_NAME)}): {kind}"]
    if view.kind == "coverage":
        lines.append(coverage_line(view.story))
    if view.added:
        lines.append(whats_new_line(view.added))
    matched = matched_line(view.terms, view.field)
    if matched:
        lines.append(matched)
    snippet = clean_block(view.snippet, MAX_SNIPPET)
    if snippet and snippet not in seen.snippets:
        seen.snippets.add(snippet)
        lines.append(snippet)
    if view.story is not None:
        story = tuple(story_lines(view.story, zone))
        told = seen.stories.setdefault(story, name)
        lines += list(story) if told == name else [f"Story: as for {told}"]
    return lines
