"""Read a YAML config file and point at the line of anything wrong in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

LINE_KEY = "__line__"


class ConfigError(ValueError):
    """A config file is missing or wrong; the message names the file and, when known, the line."""


class _LineLoader(yaml.SafeLoader):
    """A safe loader that records each mapping's 1-based line under ``__line__``."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        mapping[LINE_KEY] = node.start_mark.line + 1
        return mapping


def read_yaml(path: Path) -> Any:
    """The parsed document; ConfigError names the file (and line) when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None


def where(source: str, item: Any) -> str:
    """``file:line`` for a mapping read by :func:`read_yaml`, or just the file."""
    line = item.get(LINE_KEY) if isinstance(item, dict) else None
    return f"{source}:{line}" if line else source
