"""The feeds file: which feeds to watch, in which language, from which tier of source."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..yamlfile import LINE_KEY, ConfigError, read_yaml, where

TIERS = ("primary", "wire", "media")
FIELDS = {"name", "url", "language", "tier", "interval", LINE_KEY}


@dataclass(frozen=True)
class FeedSpec:
    url: str
    name: str
    language: str = "en"
    tier: str = "media"
    interval: int = 0  # minimum seconds between fetches; 0 = every cycle


def load_feeds(path: Path, base_url: str | None = None) -> list[FeedSpec]:
    """Read and check the feeds file. Relative URLs are resolved against ``base_url``."""
    document = read_yaml(path)
    source = str(path)
    items = document.get("feeds") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{source}: expected a top-level 'feeds:' list")
    specs = [_spec(item, source, base_url) for item in items]
    seen: dict[str, str] = {}
    for spec, item in zip(specs, items, strict=True):
        if spec.url in seen:
            raise ConfigError(f"{where(source, item)}: feed {spec.url} is listed twice")
        seen[spec.url] = spec.name
    return specs


def _spec(item: Any, source: str, base_url: str | None) -> FeedSpec:
    at = where(source, item)
    if not isinstance(item, dict):
        raise ConfigError(f"{at}: each feed must be a mapping with name and url")
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        raise ConfigError(f"{at}: unknown field(s) {', '.join(unknown)}")
    name, url = item.get("name"), item.get("url")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{at}: feed needs a 'name'")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{at}: feed {name!r} needs a 'url'")
    if base_url is not None:
        url = urljoin(base_url, url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError(f"{at}: feed {name!r}: url must be http(s), got {url!r}")
    tier = item.get("tier", "media")
    if tier not in TIERS:
        raise ConfigError(f"{at}: feed {name!r}: tier must be one of {', '.join(TIERS)}")
    interval = item.get("interval", 0)
    if not isinstance(interval, int) or interval < 0:
        raise ConfigError(f"{at}: feed {name!r}: interval must be a whole number of seconds")
    language = str(item.get("language", "en"))
    return FeedSpec(url=url.strip(), name=name.strip(), language=language, tier=tier,
                    interval=interval)  # fmt: skip
