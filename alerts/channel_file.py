"""The channel file: channels and routes read from YAML, each mistake named by file and line.

See alerts/channels.py for what one channel is, and seeds/channels.example.yaml for the format.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from .channels import FORMATS, Channel, ChannelError, build_channel
from .plugins import register_sinks
from .quiet import QuietHours, parse_quiet
from .ratelimit import RateLimit, parse_rate_limit
from .routes import IMMEDIATE, MODES, Route, RouteError, check_topics, parse_routes
from .severity import RANK, SEVERITIES

DEFAULT_CHANNEL = ("console", "console://")
_KEYS = frozenset(
    {"name", "url", "tags", "min_severity", "quiet_hours", "quiet_bypass", "mode", "rate_limit",
     "format"}
)  # fmt: skip
_FILE_KEYS = frozenset({"channels", "routes"})


def load_channels(path: Path | None, env: Mapping[str, str]) -> list[Channel]:
    """Load channels from a YAML file; ``None`` gives the single ``console`` channel."""
    register_sinks()
    if path is None:
        name, url = DEFAULT_CHANNEL
        return [build_channel(name, url, env)]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ChannelError(f"cannot read channel file: {reason}", path=path) from None
    channels: list[Channel] = []
    seen: dict[str, int] = {}
    items, routes = _parse_file(text, path)
    for item, line in items:
        channel = _channel_from_item(item, line, path, env)
        if channel.name in seen:
            raise ChannelError(
                f"duplicate name (first defined on line {seen[channel.name]})",
                path=path,
                line=line,
                channel=channel.name,
            )
        seen[channel.name] = line
        channels.append(channel)
    if routes is None:
        return channels
    try:
        parsed = parse_routes(routes[0], routes[1], list(seen))
    except RouteError as exc:
        raise ChannelError(exc.reason, path=path, line=exc.line) from None
    assert parsed is not None
    return [replace(c, routes=tuple(r for r in parsed if c.name in r.channels)) for c in channels]


def file_routes(channels: Iterable[Channel]) -> list[Route]:
    """The routes of a loaded channel file (each once, in file order); empty without routes."""
    found = {id(route): route for channel in channels for route in channel.routes or ()}
    return sorted(found.values(), key=lambda route: route.line)


def rename_topics(channels: Sequence[Channel], renamed: Mapping[str, str]) -> list[Channel]:
    """The channels with every former topic key in their tags and routes replaced by the
    topic's key (a topics file's ``replaces:``), so a channel file written for the old key
    keeps receiving the topic's alerts."""
    if not renamed:
        return list(channels)
    new_routes: dict[int, Route] = {}

    def keys(found: frozenset[str]) -> frozenset[str]:
        return frozenset(renamed.get(key, key) for key in found)

    def route(old: Route) -> Route:
        if id(old) not in new_routes:
            topics = keys(old.topics) if old.topics is not None else None
            new_routes[id(old)] = replace(old, topics=topics)
        return new_routes[id(old)]

    return [
        replace(
            channel,
            tags=keys(channel.tags),
            routes=tuple(route(r) for r in channel.routes) if channel.routes is not None else None,
        )
        for channel in channels
    ]


def check_route_topics(
    channels: Iterable[Channel],
    topics: Collection[str],
    path: Path | None,
    topics_file: Path | None = None,
) -> None:
    """Raise ChannelError if a route names a topic key that ``topics`` (the topics file) lacks."""
    try:
        check_topics(file_routes(channels), topics, str(topics_file or "the topics file"))
    except RouteError as exc:
        raise ChannelError(exc.reason, path=path, line=exc.line) from None


def _parse_file(
    text: str, path: Path
) -> tuple[list[tuple[Any, int]], tuple[yaml.MappingNode, dict[Any, Any]] | None]:
    """Each raw ``channels:`` entry with its 1-based line, and the document when it has
    ``routes:``."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, path) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise ChannelError("expected a mapping with a 'channels:' list", path=path, line=1)
    for key, _ in node.value:
        if getattr(key, "value", None) not in _FILE_KEYS:
            raise ChannelError(
                f"unknown top-level key {str(key.value)[:40]!r}; allowed: "
                f"{', '.join(sorted(_FILE_KEYS))}",
                path=path,
                line=key.start_mark.line + 1,
            )
    items = data.get("channels")
    items_node = next(
        (value for key, value in node.value if getattr(key, "value", None) == "channels"), None
    )
    if not isinstance(items, list) or not isinstance(items_node, yaml.SequenceNode):
        line = items_node.start_mark.line + 1 if items_node is not None else 1
        raise ChannelError("'channels:' must be a list of channels", path=path, line=line)
    if not items:
        raise ChannelError("'channels:' is empty; no alert would be sent", path=path)
    lines = [n.start_mark.line + 1 for n in items_node.value]
    return list(zip(items, lines, strict=True)), ((node, data) if "routes" in data else None)


def _yaml_error(exc: yaml.YAMLError, path: Path) -> ChannelError:
    """A ChannelError for broken YAML, without PyYAML's quoted source line (it may hold tokens)."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or type(exc).__name__
    context = getattr(exc, "context", None)
    reason = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    return ChannelError(reason, path=path, line=line)


def _channel_from_item(item: Any, line: int, path: Path, env: Mapping[str, str]) -> Channel:
    """Validate one raw ``channels:`` entry and build its Channel."""
    if not isinstance(item, dict):
        raise ChannelError("each channel must be a mapping with name and url", path=path, line=line)
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ChannelError("channel without a 'name'", path=path, line=line)
    name = name.strip()
    unknown = sorted(str(key) for key in item if key not in _KEYS)
    if unknown:
        raise ChannelError(
            f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}",
            path=path,
            line=line,
            channel=name,
        )
    url = item.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ChannelError("'url' must be a non-empty string", path=path, line=line, channel=name)
    severity = item.get("min_severity", "low")
    if severity not in RANK:
        raise ChannelError(
            f"min_severity must be one of {', '.join(SEVERITIES)}",
            path=path,
            line=line,
            channel=name,
        )
    mode = item.get("mode", IMMEDIATE)
    if mode not in MODES:
        raise ChannelError(
            f"mode must be one of {', '.join(MODES)} (got {str(mode)[:40]!r})",
            path=path,
            line=line,
            channel=name,
        )
    body_format = item.get("format")
    if body_format is not None and body_format not in FORMATS:
        raise ChannelError(
            f"format must be one of {', '.join(FORMATS)} (got {str(body_format)[:40]!r})",
            path=path,
            line=line,
            channel=name,
        )
    try:
        quiet = _quiet(item)
        rate_limit = _rate_limit(item, mode)
    except ValueError as exc:
        raise ChannelError(str(exc), path=path, line=line, channel=name) from None
    try:
        tags = _tags(item.get("tags"))
        return build_channel(
            name, url.strip(), env, tags=tags, min_severity=severity, quiet=quiet, mode=mode,
            rate_limit=rate_limit, body_format=body_format,
        )  # fmt: skip
    except ChannelError as exc:
        raise ChannelError(exc.reason, path=path, line=line, channel=name) from None


def _quiet(item: Mapping[str, Any]) -> QuietHours | None:
    """``quiet_hours: "22:00-07:00"`` and ``quiet_bypass: high`` (default critical)."""
    window = item.get("quiet_hours")
    if window is None:
        if "quiet_bypass" in item:
            raise ValueError("quiet_bypass needs quiet_hours")
        return None
    return parse_quiet(str(window), str(item.get("quiet_bypass", "critical")))


def _rate_limit(item: Mapping[str, Any], mode: str) -> RateLimit | None:
    """``rate_limit: "5/10m"`` (immediate channels only: a digest is one message anyway)."""
    raw = item.get("rate_limit")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError('rate_limit must be a string such as "5/10m"')
    if mode != IMMEDIATE:
        raise ValueError("rate_limit applies to immediate channels only (this one is a digest)")
    return parse_rate_limit(raw)


def _tags(raw: Any) -> frozenset[str]:
    """Topic keys from ``tags:`` (a list of strings, one string, or nothing)."""
    if raw is None:
        return frozenset()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(tag, str) and tag.strip() for tag in raw):
        raise ChannelError("'tags' must be a list of topic keys")
    return frozenset(tag.strip() for tag in raw)
