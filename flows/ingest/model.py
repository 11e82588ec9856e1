"""Plain data passed between the fetch, parse and store stages (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class FetchStatus(StrEnum):
    """How one feed request ended. Everything but OK and NOT_MODIFIED is a failure."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"  # a 304, or the same body as last time without validators
    TIMEOUT = "timeout"
    HTTP_STATUS = "http_status"  # 4xx/5xx (the code is in FetchResult.http_status)
    TOO_LARGE = "too_large"
    CONNECTION = "connection"  # refused, DNS, TLS, too many redirects, protocol errors
    NOT_A_FEED = "not_a_feed"  # set by parse: HTML page or other non-feed document
    PARSE_ERROR = "parse_error"  # set by parse: broken XML with no usable entries

    @property
    def failed(self) -> bool:
        return self not in (FetchStatus.OK, FetchStatus.NOT_MODIFIED)


@dataclass(frozen=True)
class Validators:
    """What a conditional GET needs next time: the server's validators and our body hash."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True)
class FeedRequest:
    feed_id: int
    url: str
    validators: Validators = field(default_factory=Validators)


@dataclass(frozen=True)
class FetchResult:
    feed_id: int
    url: str
    status: FetchStatus
    validators: Validators  # to store on the feed row (unchanged ones on failure)
    http_status: int | None = None
    body: bytes | None = None  # only for OK
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    error: str | None = None  # a message that names the URL
    elapsed: float = 0.0
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After


@dataclass(frozen=True)
class EntryDraft:
    """One feed entry as parsed: identity, clean text for matching, times in UTC."""

    uid: str  # guid → link → hash of title+summary
    title: str
    summary: str  # HTML turned into plain text
    link: str | None = None
    guid: str | None = None
    published_at: datetime | None = None  # timezone-aware UTC
    updated_at: datetime | None = None
    author: str | None = None
    content_hash: str = ""  # hash of title + summary + link: a change means an edit


class ParseStatus(StrEnum):
    OK = "ok"
    WARNING = "warning"  # feedparser repaired something (bozo) but entries are usable
    NOT_A_FEED = "not_a_feed"
    PARSE_ERROR = "parse_error"


@dataclass(frozen=True)
class ParseResult:
    status: ParseStatus
    entries: list[EntryDraft] = field(default_factory=list)
    feed_title: str | None = None
    message: str | None = None  # warning or error text that names the feed URL
    # Feed-level links by rel (absolute URLs, the first of each rel): RFC 5005 prev-archive,
    # paged feeds' next, …
    links: dict[str, str] = field(default_factory=dict)
