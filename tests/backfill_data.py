"""Generated feeds and dumps for the backfill tests: archive pages, paged RSS, JSON Lines.

Item times are given in seconds after 2025-03-01 00:00 UTC.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

from parley.flows.ingest.localserver import FeedServer

EPOCH = datetime(2025, 3, 1, tzinfo=UTC)
DAY = 86_400
ATOM = "application/atom+xml"

Item = tuple[str, str, int]  # (id, title, seconds after EPOCH)


def at(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def atom_page(items: Sequence[Item], links: Mapping[str, str]) -> bytes:
    """An Atom feed document with feed-level links by rel (RFC 5005 archives use these)."""
    head = "".join(
        f"<link rel={quoteattr(rel)} href={quoteattr(href)}/>" for rel, href in links.items()
    )
    entries = "".join(
        f"<entry><id>tag:wire.example,2025:{escape(uid)}</id><title>{escape(title)}</title>"
        f'<link href="https://wire.example/{escape(uid)}"/>'
        f"<updated>{at(when).isoformat()}</updated><published>{at(when).isoformat()}</published>"
        f"<summary>{escape(title)}.</summary></entry>"
        for uid, title, when in items
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
            f'xmlns:fh="http://purl.org/syndication/history/1.0"><id>tag:wire.example,2025:feed</id>'
            f"<title>Wire archive</title><updated>{EPOCH.isoformat()}</updated>{head}{entries}"
            "</feed>").encode()  # fmt: skip


def rss_page(items: Sequence[Item], links: Mapping[str, str]) -> bytes:
    """An RSS 2.0 channel; paging links are atom:link elements, as RSS feeds publish them."""
    head = "".join(
        f"<atom:link rel={quoteattr(rel)} href={quoteattr(href)}/>" for rel, href in links.items()
    )
    entries = "".join(
        f"<item><guid>{escape(uid)}</guid><title>{escape(title)}</title>"
        f"<link>https://courier.example/{escape(uid)}</link>"
        f"<pubDate>{format_datetime(at(when))}</pubDate><description>{escape(title)}.</description></item>"
        for uid, title, when in items
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            f'xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>Courier</title>'
            f"<link>https://courier.example/</link><description>paged</description>{head}"
            f"{entries}</channel></rss>").encode()  # fmt: skip


def serve_archive(server: FeedServer, *, loop: bool = False) -> str:
    """The live feed (March 20-29) and three archive pages: arch-3 (10-19), arch-2 (1-9),
    arch-1 (February). With ``loop``, arch-2 points back to the live feed."""
    spans = {"feed": (19, 29), "arch-3": (9, 19), "arch-2": (0, 9), "arch-1": (-28, 0)}
    older = {"feed": "/arch-3.xml", "arch-3": "/arch-2.xml",
             "arch-2": "/feed.xml" if loop else "/arch-1.xml", "arch-1": None}  # fmt: skip
    for name, (first, last) in spans.items():
        items = [(f"{name}-{d}", _headline(d), d * DAY + 3600) for d in range(first, last)]
        links = {"current": "/feed.xml"}
        if older[name]:
            links["prev-archive"] = older[name] or ""
        if name == "feed":
            links["self"] = "/feed.xml"
        server.set(f"/{name}.xml", atom_page(items, links), content_type=ATOM)
    return server.url("/feed.xml")


def serve_paged(server: FeedServer) -> str:
    """A paged RSS feed of three pages (newest first) linked by atom:link rel="next"."""
    names = ("paged", "paged-2", "paged-3")
    for n, name in enumerate(names):
        items = [(f"{name}-{i}", _headline(i), (20 - 5 * n + i) * DAY) for i in range(3)]
        links = {"next": f"/{names[n + 1]}.xml"} if n + 1 < len(names) else {}
        server.set(f"/{name}.xml", rss_page(items, links))
    return server.url("/paged.xml")


def _headline(day: int) -> str:
    if day % 4 == 0:
        return f"IAEA says ZNPP lost off-site power again, day {day}"
    return f"Regional council approves the budget for road repairs, day {day}"


FEEDS = ("https://dnipro-wire.example/feed.xml", "https://kyiv-herald.example/rss",
         "https://odesa-courier.example/news.xml")  # fmt: skip
MATCH_EVERY = 50  # every 50th item of a dump is about the Zaporizhzhia plant


def dump_lines(count: int, *, offset: int = 0) -> list[str]:
    """``count`` JSON Lines items from three outlets over March 2025; each MATCH_EVERY-th
    matches the ``znpp`` topic of seeds/topics.yaml, the others match nothing."""
    lines = []
    for n in range(offset, offset + count):
        if n % MATCH_EVERY == 0:
            title = f"IAEA: Zaporizhzhia nuclear plant lost off-site power for the {n}th time"
            summary = "The ZNPP relied on its backup line while the IAEA team on site reported."
        else:
            title = f"City council {n} approves spending on schools and road repairs"
            summary = "The vote followed a long debate about the municipal budget for the year."
        lines.append(json.dumps({
            "feed": FEEDS[n % len(FEEDS)],
            "feed_name": FEEDS[n % len(FEEDS)].split("/")[2],
            "language": "en",
            "guid": f"item-{n}",
            "title": title,
            "summary": summary,
            "link": f"https://{FEEDS[n % len(FEEDS)].split('/')[2]}/news/{n}",
            "published": (EPOCH + timedelta(minutes=4 * n)).isoformat(),
            "author": "Desk",
        }))  # fmt: skip
    return lines


def matching_uids(count: int) -> set[str]:
    return {f"item-{n}" for n in range(count) if n % MATCH_EVERY == 0}
