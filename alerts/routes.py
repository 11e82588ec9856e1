"""Alert routes: which alerts go to which channels, at once or in the digest.

A route maps topic × severity × source tier × alert kind to channels and a mode::

    routes:
      - name: znpp-now              # optional; shown in errors (default: "#N", its position)
        topics: [znpp]              # topic keys; omitted = every topic (and health alerts)
        min_severity: high          # low | medium | high | critical (default low)
        tiers: [primary]            # primary | wire | media; omitted = every tier
        kinds: [new, development]   # omitted = new, development, update, health
        channels: [desk-email]      # channel names, at least one
        mode: immediate             # immediate | digest; omitted = each channel's own mode

A channel file without ``routes:`` gives each channel an implicit route made of its own
``tags``, ``min_severity`` and ``mode`` (every kind but ``coverage``). With ``routes:`` a
channel gets only what a route sends it, and its own ``tags``/``min_severity`` still limit
what it accepts. When several routes send one alert to a channel it is queued once, in
immediate mode if any of them says immediate.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from .severity import RANK, SEVERITIES

if TYPE_CHECKING:
    from .channels import Channel

IMMEDIATE, DIGEST = "immediate", "digest"
MODES = (IMMEDIATE, DIGEST)
NEW, DEVELOPMENT, UPDATE, COVERAGE, HEALTH = "new", "development", "update", "coverage", "health"
KINDS = (NEW, DEVELOPMENT, UPDATE, COVERAGE, HEALTH)
DEFAULT_KINDS = frozenset({NEW, DEVELOPMENT, UPDATE, HEALTH})
# The source tiers of the feeds file (flows/ingest/catalog.py TIERS; a test keeps them equal).
TIERS = ("primary", "wire", "media")
HEALTH_TOPIC = "health"  # the topic key health alerts are stored and filtered under
_KEYS = frozenset({"name", "topics", "min_severity", "tiers", "kinds", "channels", "mode"})
# A story's decision (flows/stories/assign.py) → the alert kind routes speak of.
_STORY_KINDS = {"new": NEW, "development": DEVELOPMENT, "updated": UPDATE, "coverage": COVERAGE}


class RouteError(ValueError):
    """A ``routes:`` entry that cannot be used; ``line`` is its 1-based line in the file."""

    def __init__(self, reason: str, *, route: str | None = None, line: int | None = None) -> None:
        self.reason = reason if route is None else f"route {route!r}: {reason}"
        self.line = line
        super().__init__(self.reason)


@dataclass(frozen=True)
class Subject:
    """What routes look at in an alert. Health alerts have the topic ``health``; a channel's
    own health has no tier."""

    kind: str
    topic: str
    severity: str
    tier: str | None = None


@dataclass(frozen=True)
class Route:
    name: str
    line: int
    channels: tuple[str, ...]
    mode: str | None = None  # None: each channel's own mode
    topics: frozenset[str] | None = None  # None: every topic
    min_severity: str = "low"
    tiers: frozenset[str] | None = None  # None: every tier
    kinds: frozenset[str] = DEFAULT_KINDS

    def matches(self, subject: Subject) -> bool:
        """True if this route carries ``subject`` (to its channels)."""
        if subject.kind not in self.kinds:
            return False
        if self.topics is not None and (subject.kind == HEALTH or subject.topic not in self.topics):
            return False  # health has no topic: only routes for every topic carry it
        if self.tiers is not None and subject.tier not in self.tiers:
            return False
        return RANK[subject.severity] >= RANK[self.min_severity]


def route_kind(story_kind: str) -> str | None:
    """The route kind of a story decision (``updated`` → ``update``), None if it never alerts."""
    return _STORY_KINDS.get(story_kind)


def channel_mode(channel: Channel, subject: Subject) -> str | None:
    """The mode ``subject`` is queued in on ``channel``, or None if it does not go there."""
    if not channel.wants(subject.topic, subject.severity):
        return None
    if channel.routes is None:  # no routes in the file: the channel's own settings decide
        return channel.mode if subject.kind in DEFAULT_KINDS else None
    modes = {route.mode or channel.mode for route in channel.routes if route.matches(subject)}
    if not modes:
        return None
    return IMMEDIATE if IMMEDIATE in modes else DIGEST


def targets(
    channels: Iterable[Channel], subject: Subject, *, skip: str | None = None
) -> list[tuple[Channel, str]]:
    """Each channel (but ``skip``) that takes ``subject``, once, with the mode to queue it in."""
    chosen = []
    for channel in channels:
        mode = channel_mode(channel, subject) if channel.name != skip else None
        if mode is not None:
            chosen.append((channel, mode))
    return chosen


def parse_routes(
    document: yaml.MappingNode, data: dict[Any, Any], channel_names: Collection[str]
) -> tuple[Route, ...] | None:
    """The ``routes:`` list of a parsed channel file, or None when it has no ``routes:`` key."""
    if "routes" not in data:
        return None
    items = data["routes"]
    node = next(value for key, value in document.value if getattr(key, "value", None) == "routes")
    line = node.start_mark.line + 1
    if not isinstance(items, list) or not isinstance(node, yaml.SequenceNode):
        raise RouteError("'routes:' must be a list of routes", line=line)
    if not items:
        raise RouteError("'routes:' is empty; no alert would be sent", line=line)
    routes: list[Route] = []
    seen: dict[str, int] = {}
    for number, (item, item_node) in enumerate(zip(items, node.value, strict=True), start=1):
        route = _route(item, item_node.start_mark.line + 1, number, channel_names)
        if route.name in seen:
            raise RouteError(f"duplicate name (first defined on line {seen[route.name]})",
                             route=route.name, line=route.line)  # fmt: skip
        seen[route.name] = route.line
        routes.append(route)
    return tuple(routes)


def check_topics(
    routes: Iterable[Route], topics: Collection[str], source: str = "the topics file"
) -> None:
    """Raise RouteError for the first route naming a topic key ``topics`` lacks."""
    for route in routes:
        unknown = sorted((route.topics or frozenset()) - set(topics))
        if unknown:
            raise RouteError(f"unknown topic(s) {', '.join(unknown)}; not in {source}",
                             route=route.name, line=route.line)  # fmt: skip


def _route(item: Any, line: int, number: int, channel_names: Collection[str]) -> Route:
    if not isinstance(item, dict):
        raise RouteError(f"route #{number} must be a mapping with 'channels'", line=line)
    name = item.get("name", f"#{number}")
    if not isinstance(name, str) or not name.strip():
        raise RouteError(f"route #{number}: 'name' must be a non-empty string", line=line)
    name = name.strip()

    def fail(reason: str) -> RouteError:
        return RouteError(reason, route=name, line=line)

    unknown = sorted(str(key) for key in item if key not in _KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}")
    channels = _names(item.get("channels"), "channels", fail)
    if not channels:
        raise fail("'channels' must list at least one channel")
    missing = [channel for channel in channels if channel not in channel_names]
    if missing:
        raise fail(f"unknown channel(s) {', '.join(missing)}; channels in this file: "
                   f"{', '.join(channel_names)}")  # fmt: skip
    mode = item.get("mode")
    if mode is not None and mode not in MODES:
        raise fail(f"mode must be one of {', '.join(MODES)} (got {str(mode)[:40]!r})")
    severity = item.get("min_severity", "low")
    if severity not in RANK:
        raise fail(f"min_severity must be one of {', '.join(SEVERITIES)}")
    topics = _optional_set(item, "topics", fail)
    tiers = _optional_set(item, "tiers", fail)
    if tiers is not None and not tiers <= set(TIERS):
        bad = ", ".join(sorted(tiers - set(TIERS)))
        raise fail(f"unknown tier(s) {bad}; use {', '.join(TIERS)}")
    kinds = _optional_set(item, "kinds", fail)
    if kinds is not None and not kinds <= set(KINDS):
        bad = ", ".join(sorted(kinds - set(KINDS)))
        raise fail(f"unknown kind(s) {bad}; use {', '.join(KINDS)}")
    return Route(name=name, line=line, channels=tuple(dict.fromkeys(channels)), mode=mode,
                 topics=topics, min_severity=severity, tiers=tiers,
                 kinds=kinds if kinds is not None else DEFAULT_KINDS)  # fmt: skip


def _optional_set(
    item: dict[Any, Any], key: str, fail: Callable[[str], RouteError]
) -> frozenset[str] | None:
    """An omitted list is None (everything); a written one must hold at least one value."""
    if key not in item:
        return None
    values = _names(item[key], key, fail)
    if not values:
        raise fail(f"'{key}' is empty; leave it out to mean every {key.rstrip('s')}")
    return frozenset(values)


def _names(raw: Any, key: str, fail: Callable[[str], RouteError]) -> Sequence[str]:
    """A list of non-empty strings (one string is a list of one)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
        raise fail(f"'{key}' must be a list of names")
    return [value.strip() for value in raw]
