"""One message per item per channel: an item's topics grouped by the channels that take them.

Routes are evaluated per topic (:func:`parley.alerts.routes.targets`: kind, topic, severity,
tier); this turns "each topic → the channels (and modes) its routes chose" into "each channel →
the topics it takes", so a channel gets ONE alert for the item, naming only the topics chosen
for it. Within a group the lead topic — the highest severity, the first given on a tie — comes
first; the group's mode is immediate if any of its topics chose immediate for that channel,
else digest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from .routes import DIGEST, IMMEDIATE
from .severity import RANK

if TYPE_CHECKING:
    from .channels import Channel


class Ranked(Protocol):
    """What grouping needs of one topic's alert: its severity."""

    @property
    def severity(self) -> str: ...


T = TypeVar("T", bound=Ranked)


@dataclass(frozen=True)
class ChannelGroup(Generic[T]):
    """The topics of one item that go to one channel, the lead first, and the mode to queue
    their one alert in."""

    channel: Channel
    mode: str
    parts: tuple[T, ...]

    @property
    def lead(self) -> T:
        return self.parts[0]


def lead_first(parts: Iterable[T]) -> list[T]:
    """``parts`` by severity, highest first; equal severities keep their order."""
    return sorted(parts, key=lambda part: -RANK.get(part.severity, 0))


def group_by_channel(
    chosen: Iterable[tuple[T, Sequence[tuple[Channel, str]]]],
) -> list[ChannelGroup[T]]:
    """One group per channel named in ``chosen`` (each topic's part with the channels and
    modes its routes chose), in the order the channels first appear."""
    by_name: dict[str, tuple[Channel, list[T], set[str]]] = {}
    for part, channels in chosen:
        for channel, mode in channels:
            found = by_name.setdefault(channel.name, (channel, [], set()))
            found[1].append(part)  # targets() names a channel once per topic
            found[2].add(mode)
    return [
        ChannelGroup(channel, IMMEDIATE if IMMEDIATE in modes else DIGEST, tuple(lead_first(parts)))
        for channel, parts, modes in by_name.values()
    ]
