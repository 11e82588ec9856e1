"""Read a JSON Lines dump of news items: one object per line, checked line by line.

Fields of one line (all optional but one of guid, link, title or summary):

feed       the feed's URL, or the name of a feed in the feeds file or the store
feed_name  the name for a feed that is new to parley (default: its URL)
language   the language of such a new feed (default ``en``)
title, summary (or ``content``), link, guid (or ``id``), author
published, updated   ISO 8601 (``2025-03-14T09:30:00Z``), RFC 822 or POSIX seconds; UTC
                     when no zone is given

A line without ``feed`` belongs to the dump itself (a feed named after the file). Items get
the same identity as feed items (guid → link → hash of the text), through parse.entry_draft.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from parley.flows.ingest.model import EntryDraft
from parley.flows.ingest.parse import entry_draft

TEXT_FIELDS = ("feed", "feed_name", "language", "title", "summary", "content", "link", "guid",
               "id", "author")  # fmt: skip
TIME_FIELDS = ("published", "updated")
MAX_LINE_BYTES = 1_000_000  # a longer line is reported, not parsed


@dataclass(frozen=True)
class DumpItem:
    feed: str | None  # URL or feed name; None: the dump's own feed
    feed_name: str | None
    language: str | None
    draft: EntryDraft


@dataclass(frozen=True)
class DumpLine:
    """One line read: an item, a problem (``error``), or neither (a blank line)."""

    number: int  # 1-based
    end: int  # byte offset just past this line
    item: DumpItem | None = None
    error: str | None = None


class LineError(ValueError):
    """What is wrong with one line (the caller adds file:line)."""


def count_lines(path: Path) -> int:
    """Lines in the file (a last line without a newline counts)."""
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def read_dump(path: Path, *, start_offset: int = 0, start_line: int = 0) -> Iterator[DumpLine]:
    """The lines of ``path`` from byte ``start_offset`` (which follows line ``start_line``)."""
    with path.open("rb") as handle:
        handle.seek(start_offset)
        number, offset = start_line, start_offset
        for raw in handle:
            number += 1
            offset += len(raw)
            if not raw.strip():
                yield DumpLine(number, offset)
                continue
            try:
                item = parse_line(raw)
            except LineError as exc:
                yield DumpLine(number, offset, error=f"{path}:{number}: {exc}")
            else:
                yield DumpLine(number, offset, item=item)


def parse_line(raw: bytes) -> DumpItem:
    """One JSON object → a DumpItem; LineError says what is wrong."""
    if len(raw) > MAX_LINE_BYTES:
        raise LineError(f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        value = json.loads(raw.rstrip(b"\r\n"))
    except UnicodeDecodeError:
        raise LineError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise LineError(
            f"invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"
        ) from None
    if not isinstance(value, dict):
        raise LineError(f"expected a JSON object, got {_kind(value)}")
    for name in TEXT_FIELDS:
        if value.get(name) is not None and not isinstance(value[name], str):
            raise LineError(f"field {name!r} must be a string, got {_kind(value[name])}")
    fields = {name: parse_time(value.get(name), name) for name in TIME_FIELDS}
    entry = {
        "id": value.get("guid") or value.get("id"),
        "link": value.get("link"),
        "title": value.get("title"),
        "summary": value.get("summary") or value.get("content"),
        "author": value.get("author"),
        "published_parsed": _struct(fields["published"]),
        "updated_parsed": _struct(fields["updated"]),
    }
    draft = entry_draft(entry)
    if draft is None:
        raise LineError("no guid, link, title or summary to know the item by")
    feed = (value.get("feed") or "").strip() or None
    return DumpItem(feed, value.get("feed_name"), value.get("language"), draft)


def parse_time(value: Any, name: str) -> datetime | None:
    """ISO 8601, RFC 822 or POSIX seconds → aware UTC; LineError for anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, ValueError, OSError):
            raise LineError(f"field {name!r}: {value!r} is out of range") from None
    if not isinstance(value, str):
        raise LineError(f"field {name!r} must be a date, got {_kind(value)}")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            raise LineError(f"field {name!r}: {value!r} is not a date") from None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _struct(when: datetime | None) -> Any:
    return when.utctimetuple() if when is not None else None


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(value), "a number")  # fmt: skip
