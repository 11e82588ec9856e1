"""Which shard a feed belongs to: a stable hash of its host, so one host stays in one shard.

Every process that runs a shard computes the assignment on its own, so it must not depend on
the process: Python's ``hash()`` of a string changes with ``PYTHONHASHSEED``; BLAKE2 does not.
Feeds of the same host always share a shard, so the per-host request limit of one cycle
(``PARLEY_FETCH_PER_HOST``) still holds when the shards run on different workers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

_DIGEST_BYTES = 8


class ShardRunsFailed(RuntimeError):
    """Some shards of a cycle did not complete; the others were stored and delivered."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0 ≤ index < count)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"shard count must be at least 1, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} is outside 0..{self.count - 1}")

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"

    def holds(self, url: str) -> bool:
        return shard_of(url, self.count) == self.index


def feed_host(url: str) -> str:
    """The host that per-host politeness counts by: the URL's host name, lower-cased."""
    return (urlsplit(url).hostname or "").lower()


def host_slot(host: str, count: int) -> int:
    """The shard of ``host`` among ``count``: the same in every process and Python version."""
    digest = hashlib.blake2b(host.encode("utf-8"), digest_size=_DIGEST_BYTES).digest()
    return int.from_bytes(digest, "big") % count


def shard_of(url: str, count: int) -> int:
    return host_slot(feed_host(url), count)


def split(urls: Iterable[str], count: int) -> list[list[str]]:
    """``urls`` in ``count`` lists, one per shard, each in the order given."""
    shards: list[list[str]] = [[] for _ in range(count)]
    for url in urls:
        shards[shard_of(url, count)].append(url)
    return shards
