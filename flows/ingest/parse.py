"""Parse fetched feed bytes with feedparser into EntryDrafts with clean plain text."""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import feedparser
import nh3

from parley.flows.ingest.model import (
    EntryDraft,
    FetchResult,
    FetchStatus,
    ParseResult,
    ParseStatus,
)
from parley.flows.ingest.redact import redact_url

_LINK_SCHEMES = frozenset({"http", "https"})
_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_MAX_CLEAN_PASSES = 4  # text escaped several times over is unescaped at most this often
# Kept block tags (bare, as nh3 writes them) become spaces in one pass.
_BLOCK_TAG = re.compile("</?(?:" + "|".join(sorted(_BLOCK_TAGS)) + ")>")
# Text without these characters has no markup and no entity, and nh3 would hand it back as it
# is: only its whitespace needs collapsing (the NUL and the byte-order mark nh3 would drop).
_NEEDS_CLEANING = re.compile("[<&\x00\ufeff]")


def parse_feed(result: FetchResult) -> ParseResult:
    """Parse the body of an OK FetchResult (headers give charset and base URL)."""
    if result.status is not FetchStatus.OK or result.body is None:
        raise ValueError(f"parse {redact_url(result.url)}: nothing to parse ({result.status})")
    return parse_bytes(result.body, result.url, result.headers)


def parse_bytes(body: bytes, url: str, headers: Mapping[str, str]) -> ParseResult:
    """Parse a feed document; never raises for bad input, the status says what happened."""
    response_headers = {name.lower(): value for name, value in headers.items()}
    response_headers.setdefault("content-location", url)
    # A BytesIO, not bytes: feedparser would try to open bytes as a file name.
    # parley turns every summary into plain text itself (nh3), so feedparser's HTML
    # sanitizer and URI rewriting inside content would be work thrown away.
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    entries = _drafts(parsed.get("entries", []))
    status, message = _status(parsed, entries, redact_url(url), response_headers)
    feed_title = clean_text(parsed.get("feed", {}).get("title")) or None
    return ParseResult(status, entries, feed_title, message, _feed_links(parsed))


def _feed_links(parsed: Any) -> dict[str, str]:
    """The feed-level links by rel, the first of each rel."""
    links: dict[str, str] = {}
    for link in parsed.get("feed", {}).get("links", []):
        rel, href = link.get("rel"), link.get("href")
        if isinstance(rel, str) and isinstance(href, str) and href.strip():
            links.setdefault(rel.lower(), href.strip())
    return links


def _status(
    parsed: Any, entries: list[EntryDraft], url: str, headers: Mapping[str, str]
) -> tuple[ParseStatus, str | None]:
    problem = _problem(parsed)
    if not entries and not parsed.get("version"):
        content_type = headers.get("content-type", "no content type").split(";")[0].strip()
        detail = "" if problem is None or _is_non_xml(parsed) else f"; {problem}"
        return ParseStatus.NOT_A_FEED, f"parse {url}: not a feed (got {content_type}{detail})"
    if problem is None:
        return ParseStatus.OK, None
    if not entries and not _is_warning(parsed):
        return ParseStatus.PARSE_ERROR, f"parse {url}: {problem}"
    return ParseStatus.WARNING, f"parse {url}: {problem}"


def _problem(parsed: Any) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    text = " ".join(str(exc).split()) if exc is not None else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_non_xml(parsed: Any) -> bool:
    return isinstance(parsed.get("bozo_exception"), feedparser.NonXMLContentType)


def _is_warning(parsed: Any) -> bool:
    """Problems feedparser repaired (encoding, content type), as opposed to broken XML."""
    exc = parsed.get("bozo_exception")
    return isinstance(exc, feedparser.CharacterEncodingOverride | feedparser.NonXMLContentType)


def _drafts(entries: Iterable[Any]) -> list[EntryDraft]:
    """One EntryDraft per usable entry; the first of several entries with one uid wins."""
    drafts: dict[str, EntryDraft] = {}
    for entry in entries:
        draft = entry_draft(entry)
        if draft is not None:
            drafts.setdefault(draft.uid, draft)
    return list(drafts.values())


def entry_draft(entry: Mapping[str, Any]) -> EntryDraft | None:
    """Turn one feedparser entry into an EntryDraft; None if it has nothing to identify it by."""
    guid = _clean_id(entry.get("id"))
    link = _safe_link(entry.get("link"))
    title = clean_text(entry.get("title"))
    summary = clean_text(_summary_html(entry))
    if not (guid or link or title or summary):
        return None
    return EntryDraft(
        uid=_uid(guid, link, title, summary),
        title=title,
        summary=summary,
        link=link,
        guid=guid,
        published_at=utc_datetime(_raw(entry, "published_parsed")),
        updated_at=utc_datetime(_raw(entry, "updated_parsed")),
        author=clean_text(entry.get("author")) or None,
        content_hash=content_hash(title, summary, link),
    )


def _raw(entry: Mapping[str, Any], key: str) -> Any:
    """The stored value only: feedparser maps a missing updated_* to published_* with a warning."""
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def _summary_html(entry: Mapping[str, Any]) -> str:
    summary = entry.get("summary")
    if summary:
        return str(summary)
    content = entry.get("content") or []
    return str(content[0].get("value", "")) if content else ""


def _clean_id(value: object) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text or None


def _safe_link(value: object) -> str | None:
    """The link if it is an absolute http(s) URL (javascript:, data: and the like are dropped)."""
    text = str(value).strip() if value is not None else ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in _LINK_SCHEMES or not parts.netloc:
        return None
    return text


TRACKING_PARAMS = frozenset({"fbclid", "gclid", "yclid", "mc_cid", "mc_eid", "igshid", "ref_src"})


def canonical_link(link: str) -> str:
    """A link as an identity: lower-case scheme and host, no fragment, no tracking parameters."""
    parts = urlsplit(link)
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not _is_tracking(pair.split("=", 1)[0].lower())
    )
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))


def _is_tracking(name: str) -> bool:
    return name.startswith("utm_") or name in TRACKING_PARAMS


def _uid(guid: str | None, link: str | None, title: str, summary: str) -> str:
    if guid:
        return guid
    if link:
        return canonical_link(link)
    return "sha256:" + _sha256(f"{title}\n{summary}")


def content_hash(title: str, summary: str, link: str | None) -> str:
    """A hash of what readers see; whitespace edits and tracking parameters do not change it."""
    canonical = canonical_link(link.strip()) if link else ""
    parts = (collapse_whitespace(title), collapse_whitespace(summary), canonical)
    return _sha256("\n".join(parts))


def clean_text(value: object) -> str:
    """Untrusted HTML or text → plain text: no tags, entities decoded, whitespace collapsed."""
    if value is None:
        return ""
    text = str(value)
    if _NEEDS_CLEANING.search(text) is None:
        return collapse_whitespace(text)
    for _ in range(_MAX_CLEAN_PASSES):
        cleaned = _strip_tags(text)
        if cleaned == text:
            return cleaned
        text = cleaned
    return collapse_whitespace(text.replace("<", " ").replace(">", " "))


def _strip_tags(text: str) -> str:
    # nh3 keeps only bare block tags (no attributes); each becomes a space so the words of
    # <p>a</p><p>b</p> stay apart, and every other tag is dropped (script/style with content).
    kept = nh3.clean(text, tags=set(_BLOCK_TAGS), attributes={}, link_rel=None)
    kept = _BLOCK_TAG.sub(" ", kept)
    return collapse_whitespace(html.unescape(kept))


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def utc_datetime(value: object) -> datetime | None:
    """feedparser's UTC struct_time → an aware UTC datetime; None when absent or invalid."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
