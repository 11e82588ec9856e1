"""fetch_all against a real FeedServer on loopback (tests/test_fetch_wire.py has a raw-socket
server for answers FeedServer never gives: hang-ups, stray bytes, bad encodings, TLS)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from parley.flows.ingest.fetch import FetchConfig, _classify, fetch_all, parse_retry_after
from parley.flows.ingest.localserver import FeedServer
from parley.flows.ingest.model import FeedRequest, FetchResult, FetchStatus, Validators
from parley.flows.ingest.proxies import proxy_for

FEEDS = Path(__file__).parent / "data" / "feeds"
RSS = (FEEDS / "rss20_guid_dates_en.xml").read_bytes()
FAST = FetchConfig(timeout=0.3)


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with FeedServer() as feeds:
        yield feeds


def fetch(
    urls: list[str],
    config: FetchConfig = FAST,
    validators: Validators | None = None,
) -> list[FetchResult]:
    requests = [FeedRequest(i, url, validators or Validators()) for i, url in enumerate(urls)]
    return asyncio.run(fetch_all(requests, config))


def fetch_one(
    url: str, config: FetchConfig = FAST, validators: Validators | None = None
) -> FetchResult:
    [result] = fetch([url], config, validators)
    return result


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ok_returns_body_validators_and_lowercased_headers(server: FeedServer) -> None:
    server.set("/ok.xml", RSS)
    result = fetch_one(server.url("/ok.xml"))
    assert result.status is FetchStatus.OK
    assert result.http_status == 200
    assert result.body == RSS
    assert result.error is None
    assert result.validators.etag
    assert result.validators.last_modified
    assert result.validators.body_hash is not None
    assert len(result.validators.body_hash) == 64
    assert result.headers["content-type"].startswith("application/rss+xml")
    assert result.headers["content-location"] == server.url("/ok.xml")
    assert result.elapsed > 0
    [request] = [r for r in server.requests if r.path == "/ok.xml"]
    assert request.headers["user-agent"] == "parley/0.1 (news monitor)"


@pytest.mark.parametrize(
    ("etag", "last_modified"), [(True, False), (False, True)], ids=["etag", "last-modified"]
)
def test_conditional_get_gives_not_modified(
    server: FeedServer, etag: bool, last_modified: bool
) -> None:
    path = f"/conditional-{etag}.xml"
    server.set(path, RSS, etag=etag, last_modified=last_modified)
    first = fetch_one(server.url(path))
    second = fetch_one(server.url(path), validators=first.validators)
    assert second.status is FetchStatus.NOT_MODIFIED
    assert second.http_status == 304
    assert second.body is None
    assert second.validators == first.validators
    assert server.conditional_count(path) == 1


def test_changed_body_after_conditional_get_is_ok(server: FeedServer) -> None:
    server.set("/changing.xml", RSS)
    first = fetch_one(server.url("/changing.xml"))
    server.set("/changing.xml", RSS.replace(b"Istanbul", b"Ankara"))
    second = fetch_one(server.url("/changing.xml"), validators=first.validators)
    assert second.status is FetchStatus.OK
    assert second.validators.etag != first.validators.etag
    assert second.validators.body_hash != first.validators.body_hash


def test_same_body_without_validators_is_not_modified(server: FeedServer) -> None:
    server.set("/bare.xml", RSS, etag=False, last_modified=False)
    first = fetch_one(server.url("/bare.xml"))
    assert first.status is FetchStatus.OK
    assert first.validators == Validators(body_hash=first.validators.body_hash)
    second = fetch_one(server.url("/bare.xml"), validators=first.validators)
    assert second.status is FetchStatus.NOT_MODIFIED
    assert second.body is None
    assert second.validators == first.validators
    server.set("/bare.xml", RSS + b"\n<!-- edited -->", etag=False, last_modified=False)
    third = fetch_one(server.url("/bare.xml"), validators=first.validators)
    assert third.status is FetchStatus.OK


@pytest.mark.parametrize(("status", "reason"), [(404, "Not Found"), (500, "Internal Server Error")])
def test_http_error_status(server: FeedServer, status: int, reason: str) -> None:
    path = f"/status-{status}.xml"
    if status == 404:
        server.remove(path)
    else:
        server.set(path, b"oops", status=status, content_type="text/plain")
    old = Validators(etag='"old"', body_hash="abc")
    result = fetch_one(server.url(path), validators=old)
    assert result.status is FetchStatus.HTTP_STATUS
    assert result.http_status == status
    assert result.error == f"fetch {server.url(path)}: HTTP {status} {reason}"
    assert result.validators == old
    assert result.body is None
    assert result.retry_after is None


def test_429_with_retry_after_seconds(server: FeedServer) -> None:
    server.set("/busy.xml", b"slow down", status=429, headers={"Retry-After": "120"})
    result = fetch_one(server.url("/busy.xml"))
    assert result.status is FetchStatus.HTTP_STATUS
    assert result.http_status == 429
    assert result.retry_after == 120.0
    assert "HTTP 429 Too Many Requests" in (result.error or "")


def test_503_with_retry_after_date(server: FeedServer) -> None:
    later = format_datetime(datetime.now(UTC).replace(microsecond=0).astimezone(UTC), usegmt=True)
    server.set("/down.xml", b"maintenance", status=503, headers={"Retry-After": later})
    result = fetch_one(server.url("/down.xml"))
    assert result.http_status == 503
    assert result.retry_after is not None
    assert 0 <= result.retry_after <= 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("3600", 3600.0),
        ("Wed, 05 Mar 2025 12:01:40 GMT", 100.0),
        ("Wed, 05 Mar 2025 11:00:00 GMT", 0.0),  # in the past: retry now
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2025, 3, 5, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


def test_timeout(server: FeedServer) -> None:
    server.set("/slow.xml", RSS, delay=2.0)
    result = fetch_one(server.url("/slow.xml"))
    assert result.status is FetchStatus.TIMEOUT
    assert result.error == f"fetch {server.url('/slow.xml')}: timed out after 0.3 s"
    assert result.elapsed < 1.5


def test_too_large_by_content_length(server: FeedServer) -> None:
    server.set("/big.xml", b"x" * 5_000)
    result = fetch_one(server.url("/big.xml"), FetchConfig(timeout=2, max_bytes=1_000))
    assert result.status is FetchStatus.TOO_LARGE
    assert result.body is None
    assert result.error == f"fetch {server.url('/big.xml')}: body larger than 1000 bytes"


def test_too_large_gzip_is_aborted_while_streaming(server: FeedServer) -> None:
    body = b"<item>Black Sea</item>\n" * 20_000  # ~460 kB decoded, a few kB on the wire
    assert len(gzip.compress(body)) < 50_000 < len(body)
    server.set("/bomb.xml", body, gzip=True)
    result = fetch_one(server.url("/bomb.xml"), FetchConfig(timeout=2, max_bytes=50_000))
    assert result.status is FetchStatus.TOO_LARGE


def test_gzip_body_is_decoded(server: FeedServer) -> None:
    server.set("/gz.xml", RSS, gzip=True)
    result = fetch_one(server.url("/gz.xml"))
    assert result.status is FetchStatus.OK
    assert result.body == RSS
    assert result.headers["content-encoding"] == "gzip"


def test_redirect_is_followed_and_base_url_is_the_target(server: FeedServer) -> None:
    server.set("/new/feed.xml", RSS)
    server.redirect("/old/feed.xml", "/new/feed.xml")
    result = fetch_one(server.url("/old/feed.xml"))
    assert result.status is FetchStatus.OK
    assert result.body == RSS
    assert result.url == server.url("/old/feed.xml")
    assert result.headers["content-location"] == server.url("/new/feed.xml")


def test_too_many_redirects(server: FeedServer) -> None:
    server.redirect("/loop-a", "/loop-b", status=302)
    server.redirect("/loop-b", "/loop-a", status=302)
    result = fetch_one(server.url("/loop-a"), FetchConfig(timeout=2, max_redirects=3))
    assert result.status is FetchStatus.CONNECTION
    assert result.error == f"fetch {server.url('/loop-a')}: more than 3 redirects"


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{closed_port()}/feed.xml"
    result = fetch_one(url)
    assert result.status is FetchStatus.CONNECTION
    assert result.http_status is None
    assert (result.error or "").startswith(f"fetch {url}: connection failed (ConnectError")


def test_userinfo_is_masked_in_errors(server: FeedServer) -> None:
    refused = fetch_one(f"http://reader:s3cret@127.0.0.1:{closed_port()}/feed.xml")
    server.remove("/private.xml")
    missing = fetch_one(f"http://reader:s3cret@127.0.0.1:{server.port}/private.xml")
    for result in (refused, missing):
        assert result.error is not None
        assert "s3cret" not in result.error
        assert "reader" not in result.error
        assert "://***@127.0.0.1:" in result.error
    assert "s3cret" not in missing.headers["content-location"]


def test_invalid_url_is_a_classified_failure() -> None:
    urls = ["ftp://example.invalid/feed", "http:///feed.xml", "http://127.0.0.1:99999/feed.xml"]
    results = fetch(urls)
    assert [r.status for r in results] == [FetchStatus.CONNECTION] * 3
    assert [r.error for r in results] == [
        "fetch ftp://example.invalid/feed: invalid URL (not http or https)",
        "fetch http:///feed.xml: invalid URL (no host)",
        "fetch http://127.0.0.1:99999/feed.xml: invalid URL (Port out of range 0-65535)",
    ]


def test_one_failing_feed_does_not_affect_the_others(server: FeedServer) -> None:
    server.set("/mix-good-1.xml", RSS)
    server.set("/mix-good-2.xml", RSS + b"\n")
    server.set("/mix-slow.xml", RSS, delay=2.0)
    server.remove("/mix-missing.xml")
    urls = [
        server.url("/mix-good-1.xml"),
        server.url("/mix-slow.xml"),
        f"http://127.0.0.1:{closed_port()}/x.xml",
        server.url("/mix-missing.xml"),
        server.url("/mix-good-2.xml"),
    ]
    results = fetch(urls)
    assert [r.url for r in results] == urls
    assert [r.feed_id for r in results] == [0, 1, 2, 3, 4]
    assert [r.status for r in results] == [
        FetchStatus.OK,
        FetchStatus.TIMEOUT,
        FetchStatus.CONNECTION,
        FetchStatus.HTTP_STATUS,
        FetchStatus.OK,
    ]
    assert results[4].body == RSS + b"\n"


def test_per_host_limit_is_respected() -> None:
    with FeedServer() as server:  # its own server: no slow answers left over from other tests
        for i in range(6):
            server.set(f"/host-{i}.xml", RSS, delay=0.15)
        config = FetchConfig(timeout=5, per_host=2, concurrency=16)
        results = fetch([server.url(f"/host-{i}.xml") for i in range(6)], config)
        assert all(r.status is FetchStatus.OK for r in results)
        assert server.max_in_flight == 2


def test_overall_concurrency_limit_is_respected() -> None:
    with FeedServer() as server:
        for i in range(6):
            server.set(f"/all-{i}.xml", RSS, delay=0.15)
        config = FetchConfig(timeout=5, per_host=10, concurrency=3)
        results = fetch([server.url(f"/all-{i}.xml") for i in range(6)], config)
        assert all(r.status is FetchStatus.OK for r in results)
        assert server.max_in_flight == 3


def test_empty_request_list() -> None:
    assert fetch([]) == []


@pytest.mark.parametrize(("max_redirects", "ok"), [(3, True), (2, False), (0, False)])
def test_max_redirects_are_followed_and_no_more(
    server: FeedServer, max_redirects: int, ok: bool
) -> None:
    server.set("/hop-end.xml", RSS)
    for hop, target in enumerate(["/hop-1", "/hop-2", "/hop-end.xml"]):
        server.redirect(f"/hop-{hop}", target, status=302)
    result = fetch_one(server.url("/hop-0"), FetchConfig(timeout=2, max_redirects=max_redirects))
    if ok:
        assert result.status is FetchStatus.OK
        assert result.headers["content-location"] == server.url("/hop-end.xml")
    else:
        assert result.error == f"fetch {server.url('/hop-0')}: more than {max_redirects} redirects"


def test_userinfo_is_sent_as_basic_auth_and_kept_out_of_the_result(server: FeedServer) -> None:
    server.set("/members.xml", RSS)
    server.redirect("/members-old.xml", "/members.xml")
    url = f"http://reader:s3cret@127.0.0.1:{server.port}/members-old.xml"
    result = fetch_one(url)
    assert result.status is FetchStatus.OK
    assert result.url == url  # the feed's own URL, as stored
    assert result.headers["content-location"] == server.url("/members.xml")
    assert "s3cret" not in repr(result.headers)
    expected = "Basic " + base64.b64encode(b"reader:s3cret").decode()
    sent = [r.headers.get("authorization") for r in server.requests if "members" in r.path]
    assert sent[-2:] == [expected, expected]  # the redirect stays on the same origin


def test_redirect_to_another_scheme_is_classified(server: FeedServer) -> None:
    server.redirect("/to-ftp.xml", "ftp://127.0.0.1/feed.xml")
    result = fetch_one(server.url("/to-ftp.xml"))
    assert result.status is FetchStatus.CONNECTION
    assert result.error == (
        f"fetch {server.url('/to-ftp.xml')}: redirected to an invalid URL "
        "(ftp://127.0.0.1/feed.xml: not http or https)"
    )


def test_per_host_limit_ignores_the_case_of_host_names() -> None:
    with FeedServer() as server:
        for i in range(6):
            server.set(f"/case-{i}.xml", RSS, delay=0.15)
        hosts = ["localhost", "LOCALHOST", "LocalHost"]
        urls = [f"http://{hosts[i % 3]}:{server.port}/case-{i}.xml" for i in range(6)]
        results = fetch(urls, FetchConfig(timeout=5, per_host=2, concurrency=16))
        assert all(r.status is FetchStatus.OK for r in results)
        assert server.max_in_flight == 2


def test_proxy_from_the_environment(server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """FeedServer answers a proxy's absolute-form request line like any other: it serves as
    the proxy here, for a host that does not exist."""
    server.set("/proxied.xml", RSS)
    for name in ("http_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://relay:pa55@127.0.0.1:{server.port}")
    result = fetch_one("http://feeds.example.test/proxied.xml")
    assert result.status is FetchStatus.OK
    assert result.body == RSS
    [request] = [r for r in server.requests if r.path == "/proxied.xml"]
    assert request.headers["host"] == "feeds.example.test"
    assert (
        request.headers["proxy-authorization"]
        == "Basic " + base64.b64encode(b"relay:pa55").decode()
    )
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert fetch_one(server.url("/proxied.xml")).status is FetchStatus.OK


@pytest.mark.parametrize(
    ("url", "proxies", "expected"),
    [
        ("http://a.test/f", {}, None),
        ("http://a.test/f", {"http": "http://p:3128"}, "http://p:3128"),
        ("https://a.test/f", {"http": "http://p:3128"}, None),
        ("https://a.test/f", {"all": "p:3128"}, "http://p:3128"),
        ("http://a.test/f", {"http": "http://p:3128", "no": "*"}, None),
        ("http://news.a.test/f", {"http": "http://p:3128", "no": "x.test, .a.test"}, None),
        ("http://A.TEST/f", {"http": "http://p:3128", "no": "a.test"}, None),
        ("http://ba.test/f", {"http": "http://p:3128", "no": "a.test"}, "http://p:3128"),
        ("http://a.test/f", {"http": "http://u%40x:p@p:3128"}, "http://u%40x:p@p:3128"),
    ],
)
def test_proxy_for(url: str, proxies: dict[str, str], expected: str | None) -> None:
    assert proxy_for(url, proxies) == expected


def test_a_dns_failure_is_a_connect_error() -> None:
    """Built by hand: a real lookup of a missing name would leave the machine."""
    key = ConnectionKey("feeds.invalid", 443, True, True, None, None, None)
    exc = aiohttp.ClientConnectorDNSError(key, socket.gaierror(-2, "Name or service not known"))
    status, what = _classify(exc, FAST)
    assert status is FetchStatus.CONNECTION
    assert what == (
        "connection failed (ConnectError: Cannot connect to host feeds.invalid:443 ssl:default "
        "[Name or service not known])"
    )
