"""Progress of long work: done/total, items per second, time left — for a terminal and logs.

A :class:`Meter` counts; sinks show it. On a terminal the line is redrawn in place (at most
every ``TTY_EVERY`` seconds); elsewhere, and in logs, a line is written at each tenth of the
work and at least every ``LINE_EVERY`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

TTY_EVERY = 0.2  # seconds between redraws of the in-place line
LINE_EVERY = 10.0  # seconds between periodic lines at most
STEPS = 10  # a periodic line at each tenth of the work


@dataclass(frozen=True)
class Snapshot:
    label: str
    done: int
    total: int | None
    rate: float  # items per second in this run
    unit: str = "items"

    @property
    def eta(self) -> float | None:
        if self.total is None or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)

    def text(self) -> str:
        count = f"{self.done:,}" if self.total is None else f"{self.done:,}/{self.total:,}"
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        eta = self.eta
        left = f", ETA {format_seconds(eta)}" if eta is not None else ""
        return f"{self.label}: {count} {self.unit}{share}, {self.rate:,.0f} {self.unit}/s{left}"


def format_seconds(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Sink(Protocol):
    def show(self, snapshot: Snapshot, *, final: bool) -> None: ...

    def note(self, text: str) -> None: ...


@dataclass
class Meter:
    """Counts the work done; the rate counts only what this run did (not a resumed start)."""

    label: str
    total: int | None
    sinks: list[Sink]
    start_done: int = 0
    unit: str = "items"
    clock: Callable[[], float] = time.monotonic
    _started: float = field(init=False, default=0.0)
    done: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._started = self.clock()
        self.done = self.start_done

    def snapshot(self) -> Snapshot:
        elapsed = self.clock() - self._started
        rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        return Snapshot(self.label, self.done, self.total, rate, self.unit)

    def update(self, done: int) -> None:
        self.done = done
        snapshot = self.snapshot()
        for sink in self.sinks:
            sink.show(snapshot, final=False)

    def finish(self) -> Snapshot:
        snapshot = self.snapshot()
        for sink in self.sinks:
            sink.show(snapshot, final=True)
        return snapshot

    def note(self, text: str) -> None:
        for sink in self.sinks:
            sink.note(text)


@dataclass
class _Cadence:
    """When a periodic line is due: a new tenth of the work, or LINE_EVERY seconds."""

    clock: Callable[[], float] = time.monotonic
    last_step: int = -1
    last_time: float = field(default_factory=time.monotonic)
    last_done: int | None = None

    def due(self, snapshot: Snapshot, final: bool) -> bool:
        if snapshot.done == self.last_done:
            return False  # said already (a final line after the last batch's line)
        step = STEPS * snapshot.done // snapshot.total if snapshot.total else -1
        now = self.clock()
        if final or step > self.last_step or now - self.last_time >= LINE_EVERY:
            self.last_step, self.last_time = max(step, self.last_step), now
            self.last_done = snapshot.done
            return True
        return False


@dataclass
class TerminalSink:
    """Progress on a terminal stream: redrawn in place on a TTY, periodic lines otherwise."""

    stream: TextIO
    clock: Callable[[], float] = time.monotonic
    _cadence: _Cadence = field(init=False)
    _drawn_at: float = field(init=False, default=float("-inf"))
    _width: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._cadence = _Cadence(self.clock)

    @property
    def tty(self) -> bool:
        return self.stream.isatty()

    def show(self, snapshot: Snapshot, *, final: bool) -> None:
        if self.tty:
            now = self.clock()
            if final or now - self._drawn_at >= TTY_EVERY:
                self._drawn_at = now
                self._draw(snapshot.text(), end="\n" if final else "")
        elif self._cadence.due(snapshot, final):
            print(snapshot.text(), file=self.stream, flush=True)

    def note(self, text: str) -> None:
        if self.tty and self._width:
            self._draw(text, end="\n")
        else:
            print(text, file=self.stream, flush=True)

    def _draw(self, text: str, end: str) -> None:
        pad = " " * max(0, self._width - len(text))
        self.stream.write(f"\r{text}{pad}{end}")
        self.stream.flush()
        self._width = 0 if end else len(text)


@dataclass
class LogSink:
    """Progress lines in a log (a flow run's logger), with fixed keys."""

    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
    clock: Callable[[], float] = time.monotonic
    _cadence: _Cadence = field(init=False)

    def __post_init__(self) -> None:
        self._cadence = _Cadence(self.clock)

    def show(self, snapshot: Snapshot, *, final: bool) -> None:
        if self._cadence.due(snapshot, final):
            eta = snapshot.eta
            self.logger.info(
                "backfill progress source=%s done=%s total=%s rate=%.1f eta_s=%s",
                snapshot.label,
                snapshot.done,
                snapshot.total,
                snapshot.rate,
                "-" if eta is None else f"{eta:.0f}",
            )

    def note(self, text: str) -> None:
        self.logger.info("backfill %s", text)
