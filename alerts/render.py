"""Alert text: a title that says what moved, and a plain-text body safe for markdown chats.

Feed text is untrusted: control and bidi characters are dropped, characters that chat
clients treat as markup (``<``, ``>``, backtick, ``](``, mass mentions) are neutralised,
and every field is capped in length.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

DIFF_CONTEXT_WORDS = 3
MAX_TITLE = 200
MAX_HEADLINE = 300
MAX_NAME = 80
MAX_SNIPPET = 600
MAX_DIFF = 1500
MAX_LINK = 2000
MAX_TERMS = 10
MAX_TERM = 60
ELLIPSIS = "…"

# Look-alikes that read the same but are not markup anywhere.
_NEUTRAL = str.maketrans({"<": "‹", ">": "›", "`": "ʹ"})
_KEEP_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})  # ZWNJ/ZWJ: needed by some scripts
_MASS_MENTION_RE = re.compile(r"@(?=(?:everyone|here|channel|room|all)\b)", re.IGNORECASE)
_SPACES_RE = re.compile(r"[ \t\f\v\u00a0\u2028\u2029]+")


@dataclass(frozen=True)
class StoryContext:
    """The evidence pack: the story an alert belongs to, as readers need it on a phone."""

    first_seen_at: datetime
    opener_headline: str
    opener_outlet: str
    opener_link: str | None
    outlets: tuple[tuple[str, str | None], ...]  # (outlet, link), in the order they reported
    official: bool = False
    corroborated: bool = False
    previous_development: str | None = None


@dataclass(frozen=True)
class AlertView:
    """What an alert shows about one new or edited entry."""

    kind: str  # "new" | "development" | "updated" | "coverage"
    topic_name: str
    topic_key: str
    severity: str
    headline: str
    outlet: str
    published_at: datetime | None  # aware, UTC
    link: str | None
    terms: tuple[str, ...]
    field: str
    snippet: str
    diff: str | None = None
    added: tuple[str, ...] = ()  # what a development adds: "new figure: 22", …
    story: StoryContext | None = None


@dataclass(frozen=True)
class RenderedAlert:
    """A finished alert: one title line and a plain-text body."""

    title: str
    body: str


# The title's word for each kind of alert ("new" has none: the headline says it).
KIND_MARKERS = {
    "updated": "Updated: ",
    "development": "Development: ",
    "coverage": "More coverage: ",
}


def render_alert(view: AlertView, zone: ZoneInfo) -> RenderedAlert:
    """Render ``view`` with times shown in ``zone``."""
    topic = topic_label(view)
    headline = clean_line(view.headline, MAX_HEADLINE) or "(no headline)"
    outlet = clean_line(view.outlet, MAX_NAME)
    title = alert_title(topic, view.kind, headline, outlet)

    lines = [headline]
    if view.kind == "coverage":
        lines.append(coverage_line(view.story))
    if view.added:
        lines.append(whats_new_line(view.added))
    lines += source_lines(view, outlet, zone)
    severity = clean_line(view.severity, MAX_NAME)
    lines.append(f"Severity: {severity} · Topic: {topic}")
    matched = matched_line(view.terms, view.field)
    if matched:
        lines.append(matched)
    snippet = clean_block(view.snippet, MAX_SNIPPET)
    if snippet:
        lines += ["", snippet]
    if view.kind == "updated" and view.diff:
        lines += ["", "What changed:", clean_block(view.diff, MAX_DIFF)]
    if view.story is not None:
        lines += ["", *story_lines(view.story, zone)]
    return RenderedAlert(title=title, body="\n".join(lines))


def topic_label(view: AlertView) -> str:
    """The topic as an alert names it: its name, else its key (cleaned)."""
    return clean_line(view.topic_name, MAX_NAME) or clean_line(view.topic_key, MAX_NAME)


def alert_title(topics: str, kind: str, headline: str, outlet: str) -> str:
    """``[topics] Marker: headline — outlet``, the headline cut to fit ``MAX_TITLE``; the
    parts are cleaned already."""
    prefix = f"[{topics}] " + KIND_MARKERS.get(kind, "")
    suffix = f" — {outlet}" if outlet else ""
    room = max(MAX_TITLE - len(prefix) - len(suffix), 20)
    return prefix + _cap(headline, room) + suffix


def coverage_line(story: StoryContext | None) -> str:
    count = len(story.outlets) if story is not None else 0
    return (
        f"More coverage of a known story: {count} outlet{'s' if count != 1 else ''} now report it"
    )


def whats_new_line(added: tuple[str, ...]) -> str:
    return "What's new: " + "; ".join(clean_line(a, MAX_NAME * 2) for a in added)


def source_lines(view: AlertView, outlet: str, zone: ZoneInfo) -> list[str]:
    """``outlet — time`` and the link (when it is a safe one)."""
    lines = [" — ".join(part for part in (outlet, format_time(view.published_at, zone)) if part)]
    link = safe_link(view.link)
    return [*lines, link] if link else lines


MAX_OUTLETS = 6


def story_lines(story: StoryContext, zone: ZoneInfo) -> list[str]:
    marks = [
        m for m, on in (("official", story.official), ("corroborated", story.corroborated)) if on
    ]
    count = len(story.outlets)
    head = f"Story: first seen {format_time(story.first_seen_at, zone)}, {count} outlet"
    head += ("s" if count != 1 else "") + (f" ({', '.join(marks)})" if marks else "")
    lines = [head, f"Opened by: {clean_line(story.opener_headline, MAX_HEADLINE)} — "
             f"{clean_line(story.opener_outlet, MAX_NAME)}"]  # fmt: skip
    for outlet, link in story.outlets[:MAX_OUTLETS]:
        shown = safe_link(link)
        lines.append(f"- {clean_line(outlet, MAX_NAME)}" + (f": {shown}" if shown else ""))
    if count > MAX_OUTLETS:
        lines.append(f"- … and {count - MAX_OUTLETS} more")
    if story.previous_development:
        lines.append(f"Previous development: {clean_line(story.previous_development, MAX_SNIPPET)}")
    return lines


def format_time(when: datetime | None, zone: ZoneInfo) -> str:
    """``2025-03-25 14:02 EET``; a naive time is taken as UTC."""
    if when is None:
        return "time unknown"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def word_diff(old: str, new: str, context: int = DIFF_CONTEXT_WORDS) -> str:
    """Changed regions of ``old`` → ``new`` word by word: ``[-removed-]`` ``{+added+}``.

    Each region keeps ``context`` words either side, is marked with … where text was
    skipped, and sits on its own line. Identical word sequences give ``""``.
    """
    a, b = old.split(), new.split()
    if a == b:
        return ""
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    hunks = []
    for group in matcher.get_grouped_opcodes(context):
        parts = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                parts.append(" ".join(a[i1:i2]))
                continue
            if i2 > i1:
                parts.append("[-" + " ".join(a[i1:i2]) + "-]")
            if j2 > j1:
                parts.append("{+" + " ".join(b[j1:j2]) + "+}")
        head = ELLIPSIS + " " if group[0][1] > 0 else ""
        tail = " " + ELLIPSIS if group[-1][2] < len(a) else ""
        hunks.append(head + " ".join(parts) + tail)
    return "\n".join(hunks)


def clean_line(text: str, limit: int) -> str:
    """Untrusted text as one neutralised line of at most ``limit`` characters."""
    return _cap(_SPACES_RE.sub(" ", _neutralise(_strip_controls(text, keep_newlines=False))), limit)


def clean_block(text: str, limit: int) -> str:
    """Untrusted text keeping its line breaks, neutralised and capped."""
    lines = _strip_controls(text, keep_newlines=True).split("\n")
    kept = [_SPACES_RE.sub(" ", _neutralise(line)).strip() for line in lines]
    return _cap("\n".join(line for line in kept if line), limit)


def safe_link(link: str | None) -> str | None:
    """An http(s) link with markup-active characters percent-encoded, or None."""
    if not link:
        return None
    text = link.strip()
    if not text.isprintable():  # printable text has no control or format characters (C*)
        text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    parts = urlsplit(text)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    encoded = quote(text, safe=":/?#[]@!$&'()*+,;=%~")
    return encoded if len(encoded) <= MAX_LINK else None


# Characters that make inline markdown (emphasis, strike-through, links, images, code, tables,
# Discord spoilers), and what starts a block (heading, quote, list) at the start of a text.
_MARKDOWN_INLINE_RE = re.compile(r"([\\`*_\[\]()!|~<>])")
_MARKDOWN_BLOCK_RE = re.compile(r"^(\d{1,9}(?=[.)]))?([#>+\-=.)])")


def escape_markdown(text: str) -> str:
    """``text`` (already cleaned) with markdown-active characters backslash-escaped, so it
    shows as written and cannot open emphasis, a link, a list or a heading."""
    text = _MARKDOWN_INLINE_RE.sub(r"\\\1", text)
    return _MARKDOWN_BLOCK_RE.sub(r"\1\\\2", text, count=1)


def markdown_link(label: str, link: str | None) -> str:
    """``[label](link)`` for a safe http(s) link, else just ``label``; ``label`` is escaped
    here, and the link's brackets and spaces are percent-encoded so it cannot end early."""
    text = escape_markdown(label)
    url = safe_link(link)
    if not url:
        return text
    for raw, encoded in (("(", "%28"), (")", "%29"), ("[", "%5B"), ("]", "%5D"), (" ", "%20")):
        url = url.replace(raw, encoded)
    return f"[{text}]({url})"


def matched_line(terms: tuple[str, ...], field: str) -> str:
    """``Matched: "ZNPP", "IAEA" in title`` (empty without terms)."""
    shown = [clean_line(term, MAX_TERM).replace('"', "'") for term in terms[:MAX_TERMS]]
    shown = [term for term in shown if term]
    if not shown:
        return ""
    more = f" and {len(terms) - MAX_TERMS} more" if len(terms) > MAX_TERMS else ""
    where = clean_line(field, MAX_NAME)
    return (
        "Matched: " + ", ".join(f'"{t}"' for t in shown) + more + (f" in {where}" if where else "")
    )


def _strip_controls(text: str, *, keep_newlines: bool) -> str:
    """Drop control, format (bidi, zero-width) and surrogate characters."""
    if text.isprintable():  # no Cc, Cf or Cs character (nor \r, \n, \t): nothing to do
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\n" if keep_newlines else " ")
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) in {"Cc", "Cf", "Cs"} and ch not in _KEEP_FORMAT_CHARS:
            continue
        else:
            out.append(ch)
    return "".join(out)


def _neutralise(text: str) -> str:
    """Make markup-active characters inert: HTML tags, code spans, links, mass mentions."""
    text = text.translate(_NEUTRAL).replace("](", "] (")
    return _MASS_MENTION_RE.sub("@\u2060", text)


def _cap(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in … when cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def bundle_title(alerts: int, topic_names: list[str], rate_limit: str) -> str:
    """The first line of a rate-limit bundle: how many alerts, on which topics, and why.

    ``[parley] 8 alerts on Zaporizhzhia NPP, Black Sea grain (rate limit 5/10m)``; the body
    is the digest's grouping by topic and story (flows/pipeline/digest.py renders it).
    """
    names = [clean_line(name, MAX_NAME) for name in topic_names if clean_line(name, MAX_NAME)]
    head = f"[parley] {alerts} alert{'s' if alerts != 1 else ''} on "
    tail = f" (rate limit {clean_line(rate_limit, MAX_NAME)})"
    room = max(MAX_TITLE - len(head) - len(tail), 20)
    return head + _cap(", ".join(names) or "several topics", room) + tail


@dataclass(frozen=True)
class HealthView:
    """A feed (or a channel) crossed the failure threshold (``failing``) or came back."""

    state: str  # "failing" | "recovered"
    feed_name: str  # the feed's or the channel's name
    feed_url: str  # shown as is: pass a channel's safe_url, never its url
    failures: int
    error: str | None
    since: datetime | None
    subject: str = "Feed"  # or "Channel"
    detail: str | None = None  # for "silent": how long, against the usual gap


def render_health(view: HealthView, zone: ZoneInfo) -> RenderedAlert:
    """A health alert: its first line says which feed broke or recovered."""
    name = clean_line(view.feed_name, MAX_NAME)
    what = "failures in a row" if view.subject == "Feed" else "failed tries: an alert is dead"
    if view.state == "failing":
        title = f"[parley health] {view.subject} failing: {name} — {view.failures} {what}"
    elif view.state == "silent":
        title = f"[parley health] {view.subject} silent: {name} — {view.detail or 'nothing new'}"
    else:
        title = f"[parley health] {view.subject} recovered: {name}"
    lines = [clean_line(view.feed_url, MAX_LINK)]
    if view.since is not None:
        lines.append(f"Failing since: {format_time(view.since, zone)}")
    if view.error:
        lines.append(f"Last error: {clean_line(view.error, MAX_SNIPPET)}")
    return RenderedAlert(title=_cap(title, MAX_TITLE), body="\n".join(lines))
