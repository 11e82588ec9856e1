"""parse_bytes / parse_feed over the fixture feeds in tests/data/feeds/ (see each file's header)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parley.flows.ingest.fetch import FetchConfig, fetch_all
from parley.flows.ingest.localserver import FeedServer
from parley.flows.ingest.model import (
    EntryDraft,
    FeedRequest,
    FetchResult,
    FetchStatus,
    ParseResult,
    ParseStatus,
    Validators,
)
from parley.flows.ingest.parse import clean_text, content_hash, parse_bytes, parse_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
FIXTURES = sorted(FEEDS.iterdir())
FEED_URL = "http://127.0.0.1/feeds/ru.xml"
_EXPECT = re.compile(r"^Expect: status=(\w+) entries=(\d+)$", re.MULTILINE)
_CONTENT_TYPE = re.compile(r"^Content-Type: (.+)$", re.MULTILINE)


def header(path: Path, pattern: re.Pattern[str]) -> re.Match[str]:
    match = pattern.search(path.read_text(encoding="utf-8"))
    assert match, f"{path.name}: fixture header lacks {pattern.pattern}"
    return match


def parse_fixture(name: str, url: str = FEED_URL) -> ParseResult:
    path = FEEDS / name
    content_type = header(path, _CONTENT_TYPE).group(1)
    return parse_bytes(path.read_bytes(), url, {"Content-Type": content_type})


def by_uid(result: ParseResult) -> dict[str, EntryDraft]:
    return {entry.uid: entry for entry in result.entries}


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_header_expectation(path: Path) -> None:
    assert "Description:" in path.read_text(encoding="utf-8")
    expect = header(path, _EXPECT)
    result = parse_fixture(path.name)
    assert result.status == ParseStatus(expect.group(1))
    assert len(result.entries) == int(expect.group(2))
    if result.status is not ParseStatus.OK:
        assert result.message is not None
        assert result.message.startswith(f"parse {FEED_URL}: ")


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_no_markup_survives(path: Path) -> None:
    result = parse_fixture(path.name)
    for entry in result.entries:
        for text in (entry.title, entry.summary, entry.author or ""):
            assert not re.search(r"<\s*/?\s*[a-zA-Z!]", text), text
            assert "script" not in text.lower()
            assert "alert" not in text.lower()
            assert "onclick" not in text.lower()
            assert text == " ".join(text.split())


def test_guid_identity_and_non_utc_offsets() -> None:
    result = parse_fixture("rss20_guid_dates_en.xml")
    assert result.feed_title == "Black Sea Wire"
    entries = by_uid(result)
    assert list(entries) == ["wire-2025-0304-001", "wire-2025-0305-002", "wire-2025-0306-003"]
    first = entries["wire-2025-0304-001"]
    assert first.guid == "wire-2025-0304-001"
    assert first.link == "https://wire.example.org/2025/03/04/grain-corridor"
    assert first.published_at == datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
    assert entries["wire-2025-0305-002"].published_at == datetime(2025, 3, 5, 13, 0, tzinfo=UTC)
    assert entries["wire-2025-0305-002"].title == (
        "Energy truce: both sides trade accusations & claims"
    )
    assert entries["wire-2025-0306-003"].published_at is None


def test_identity_falls_back_to_link_then_hash() -> None:
    result = parse_fixture("rss20_identity_uk.xml")
    assert result.feed_title == "Новини переговорів"
    guid_entry, link_entry, hash_entry = result.entries
    assert guid_entry.uid == guid_entry.guid == "https://novyny.example.ua/zaes/1"
    assert guid_entry.title == "Переговори щодо Запорізької АЕС тривають"
    assert link_entry.guid is None
    assert link_entry.uid == "https://novyny.example.ua/obmin/2"
    assert link_entry.published_at == datetime(2025, 3, 4, 12, 15, tzinfo=UTC)
    assert hash_entry.guid is None
    assert hash_entry.link is None
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", hash_entry.uid)
    assert hash_entry.title == "Енергетичне перемир'я: заява міністерства"
    assert hash_entry.summary == "Міністерство закликало дотримуватися домовленостей."


def test_hash_identity_is_stable_across_whitespace_edits() -> None:
    original = parse_fixture("rss20_identity_uk.xml").entries[2]
    edited_body = (
        (FEEDS / "rss20_identity_uk.xml")
        .read_bytes()
        .replace("Міністерство   закликало".encode(), "Міністерство\n\t закликало".encode())
    )
    edited = parse_bytes(edited_body, FEED_URL, {"content-type": "application/rss+xml"})
    assert edited.entries[2].uid == original.uid
    assert edited.entries[2].content_hash == original.content_hash


def test_atom_relative_links_content_fallback_and_offsets() -> None:
    result = parse_fixture("atom_relative_links_ru.xml")
    assert result.status is ParseStatus.OK
    first, second = result.entries
    assert first.uid == "urn:example:peregovory:1"
    assert first.link == "http://127.0.0.1/news/ceasefire"
    assert first.author == "Редакция"
    assert first.updated_at == datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
    assert first.published_at == datetime(2025, 3, 4, 11, 0, tzinfo=UTC)
    assert second.link == "http://127.0.0.1/feeds/news/black-sea?id=2"
    assert second.title == "Черноморская инициатива: новый раунд"
    assert second.summary == (
        "Стороны обсудили безопасный проход судов. Следующая встреча — в марте."
    )


def test_hostile_html_is_reduced_to_text() -> None:
    result = parse_fixture("rss20_html_summaries.xml")
    assert result.feed_title == "Hostile Markup Daily"
    first, second = result.entries
    assert first.title == "Ceasefire holds"
    assert first.summary == "First paragraph Second paragraph"
    assert second.title == "Talks in Riyadh"
    assert second.summary == "Read more & more"
    assert second.link is None  # javascript: is not a link


def test_not_a_feed_message_names_url_and_content_type() -> None:
    result = parse_fixture("html_page.html")
    assert result.status is ParseStatus.NOT_A_FEED
    assert result.message == f"parse {FEED_URL}: not a feed (got text/html)"


def test_parse_error_and_warning_name_the_xml_problem() -> None:
    broken = parse_fixture("malformed_no_entries.xml")
    assert broken.status is ParseStatus.PARSE_ERROR
    assert "undefined entity" in (broken.message or "")
    truncated = parse_fixture("malformed_with_entries.xml")
    assert truncated.status is ParseStatus.WARNING
    assert truncated.entries[0].title == "Complete item"
    assert truncated.entries[0].link == "https://cut.example.com/1"


def test_mislabelled_encoding_is_a_warning() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        "<item><title>Київ</title><link>https://x.example/1</link></item></channel></rss>"
    ).encode("cp1251")
    result = parse_bytes(body, FEED_URL, {"content-type": "application/rss+xml"})
    assert result.status is ParseStatus.WARNING
    assert "CharacterEncodingOverride" in (result.message or "")
    assert len(result.entries) == 1


@pytest.mark.parametrize("body", [b"", b"hello, not xml", b"\x00\xff\xfe"])
def test_junk_bytes_are_not_a_feed(body: bytes) -> None:
    result = parse_bytes(body, FEED_URL, {})
    assert result.status is ParseStatus.NOT_A_FEED
    assert result.entries == []


def test_bytes_are_never_opened_as_a_file_name(tmp_path: Path) -> None:
    secret = tmp_path / "feed.xml"
    secret.write_bytes((FEEDS / "rss20_guid_dates_en.xml").read_bytes())
    result = parse_bytes(str(secret).encode(), FEED_URL, {})
    assert result.status is ParseStatus.NOT_A_FEED


def test_userinfo_is_masked_in_messages() -> None:
    body = (FEEDS / "html_page.html").read_bytes()
    result = parse_bytes(body, "https://me:pw@h.example/f", {"content-type": "text/html"})
    assert result.message == "parse https://***@h.example/f: not a feed (got text/html)"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<p>a</p><p>b</p>", "a b"),
        ("x < y > z", "x < y > z"),
        ("A &amp; B", "A & B"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;ok", "ok"),
        ("&amp;lt;b&amp;gt;bold", "bold"),
        ("line\n\t  break\u00a0nbsp", "line break nbsp"),
        (None, ""),
    ],
)
def test_clean_text(raw: str | None, clean: str) -> None:
    assert clean_text(raw) == clean


def test_content_hash_changes_with_content_not_whitespace() -> None:
    base = content_hash("Title", "Summary text", "https://x.example/1")
    assert content_hash(" Title ", "Summary \n text", "https://x.example/1") == base
    assert content_hash("Title", "Summary text!", "https://x.example/1") != base
    assert content_hash("Title", "Summary text", "https://x.example/2") != base


def test_parse_feed_refuses_a_failed_fetch() -> None:
    failed = FetchResult(1, "https://x.example/f", FetchStatus.TIMEOUT, Validators())
    with pytest.raises(ValueError, match="nothing to parse"):
        parse_feed(failed)


def test_fetch_then_parse_through_a_redirect() -> None:
    """Relative links resolve against where the feed was finally served from."""
    with FeedServer() as server:
        server.set("/feeds/ru.xml", (FEEDS / "atom_relative_links_ru.xml").read_bytes())
        server.redirect("/old.xml", "/feeds/ru.xml")
        server.set("/page", (FEEDS / "html_page.html").read_bytes(), content_type="text/html")
        server.set("/broken.xml", (FEEDS / "malformed_no_entries.xml").read_bytes())
        base = server.base_url
        urls = [base + path for path in ("/old.xml", "/page", "/broken.xml")]
        requests = [FeedRequest(i, url) for i, url in enumerate(urls)]
        fetched = asyncio.run(fetch_all(requests, FetchConfig(timeout=2)))
    assert all(result.status is FetchStatus.OK for result in fetched)
    feed, page, broken = (parse_feed(result) for result in fetched)
    assert feed.status is ParseStatus.OK
    assert feed.entries[0].link == f"{base}/news/ceasefire"
    assert feed.entries[1].link == f"{base}/feeds/news/black-sea?id=2"
    assert page.status is ParseStatus.NOT_A_FEED
    assert page.message == f"parse {urls[1]}: not a feed (got text/html)"
    assert broken.status is ParseStatus.PARSE_ERROR


def test_tracking_parameters_are_no_edit() -> None:
    from parley.flows.ingest.parse import canonical_link, content_hash

    plain = "https://example.org/news/1?id=7"
    tracked = "https://Example.org/news/1?utm_source=x&id=7&fbclid=abc#top"
    assert canonical_link(tracked) == plain
    assert content_hash("T", "S", plain) == content_hash("T", "S  ", tracked)
    assert content_hash("T", "S", plain) != content_hash("T", "S", "https://example.org/news/2")
