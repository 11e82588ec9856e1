"""Walk a feed's history: RFC 5005 archive pages and paged feeds, newest page first.

From the page given, each step follows ``prev-archive`` (an archived feed, RFC 5005 §4) or
else ``next`` (a paged feed, RFC 5005 §3; in RSS the same as ``atom:link``). The walk stops
when a page holds items older than ``since``, when a page has no such link, after
``max_pages`` pages, or when a link points to a page already read (a loop). Every page is
fetched with the monitor's HTTP limits (fetch.py); only items in [since, until) are kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from parley.flows.ingest.fetch import FetchConfig, fetch_all
from parley.flows.ingest.model import EntryDraft, FeedRequest, FetchStatus, ParseStatus
from parley.flows.ingest.parse import parse_bytes

FOLLOW_RELS = ("prev-archive", "next")  # in this order of preference
DEFAULT_MAX_PAGES = 50


@dataclass(frozen=True)
class Window:
    """The date range of a backfill, [since, until); either end may be open."""

    since: datetime | None = None
    until: datetime | None = None

    def holds(self, draft: EntryDraft) -> bool | None:
        """Whether the item falls in the range; None when it has no date and the range is set."""
        when = draft.published_at or draft.updated_at
        if self.since is None and self.until is None:
            return True
        if when is None:
            return None
        return (self.since is None or when >= self.since) and (
            self.until is None or when < self.until
        )

    def passed(self, drafts: Sequence[EntryDraft]) -> bool:
        """True when some item is older than ``since``: older pages hold nothing wanted."""
        if self.since is None:
            return False
        since = self.since
        return any((d.published_at or d.updated_at or since) < since for d in drafts)


@dataclass(frozen=True)
class Page:
    """One page read: the items in range, how many were left out, and where to go next."""

    url: str
    number: int  # 1-based, counting from the page the walk started at
    drafts: list[EntryDraft] = field(default_factory=list)
    outside: int = 0  # items outside the range (or undated while a range is set)
    next_url: str | None = None  # None: the walk ends after this page
    stop: str | None = None  # why the walk ends here
    error: str | None = None  # the page could not be fetched or parsed (nothing kept)


def page_key(url: str) -> str:
    """A page's identity for the loop guard: no user:password, fragment or case in the host."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return url
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", parts.query, ""))


def next_page(links: Mapping[str, str]) -> str | None:
    for rel in FOLLOW_RELS:
        if rel in links:
            return links[rel]
    return None


async def walk(
    feed_id: int,
    start_url: str,
    config: FetchConfig,
    window: Window,
    *,
    max_pages: int = DEFAULT_MAX_PAGES,
    first_number: int = 1,
) -> AsyncIterator[Page]:
    """Yield the pages of the archive from ``start_url`` until one of the stops above."""
    seen: set[str] = set()
    url: str | None = start_url
    number = first_number
    while url is not None:
        seen.add(page_key(url))
        page = await read_page(feed_id, url, number, config, window)
        if page.error is None and page.stop is None:
            page = _next_step(page, seen, number - first_number + 1, max_pages)
        yield page
        if page.error is not None:
            return
        url, number = page.next_url, number + 1


async def read_page(
    feed_id: int, url: str, number: int, config: FetchConfig, window: Window
) -> Page:
    (result,) = await fetch_all([FeedRequest(feed_id, url)], config)
    if result.status is not FetchStatus.OK or result.body is None:
        return Page(url, number, error=result.error or f"fetch {url}: {result.status}")
    parsed = parse_bytes(result.body, result.url, result.headers)
    if parsed.status in (ParseStatus.NOT_A_FEED, ParseStatus.PARSE_ERROR):
        return Page(url, number, error=parsed.message)
    kept = [d for d in parsed.entries if window.holds(d)]
    outside = len(parsed.entries) - len(kept)
    following = next_page(parsed.links)
    if window.passed(parsed.entries):
        return Page(url, number, kept, outside, None, "reached --since")
    if following is None:
        return Page(url, number, kept, outside, None, "no older page")
    return Page(url, number, kept, outside, following)


def _next_step(page: Page, seen: set[str], read: int, max_pages: int) -> Page:
    """Stop at a loop or at the page cap, else go on to ``page.next_url``."""
    assert page.next_url is not None
    stop = None
    if page_key(page.next_url) in seen:
        stop = f"loop: {page.next_url} was read before"
    elif read >= max_pages:
        stop = f"page cap: {max_pages} pages read"
    if stop is None:
        return page
    return Page(page.url, page.number, page.drafts, page.outside, None, stop)
