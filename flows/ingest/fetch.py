"""Fetch feeds with conditional GET, a size cap and polite concurrency (httpx).

Every request ends as a classified FetchResult; one feed's failure never raises.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from parley.flows.ingest.model import FeedRequest, FetchResult, FetchStatus, Validators
from parley.flows.ingest.redact import redact_url

_RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class FetchConfig:
    """Limits for one fetch cycle. `timeout` is also the deadline for one whole request."""

    timeout: float = 20
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    concurrency: int = 32
    per_host: int = 2
    user_agent: str = "parley/0.1 (news monitor)"


class _TooLarge(Exception):
    """The body is larger than FetchConfig.max_bytes."""


async def fetch_all(
    requests: Sequence[FeedRequest],
    config: FetchConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[FetchResult]:
    """Fetch every request with one client; results come back in the order of `requests`."""
    if not requests:
        return []
    async with _make_client(config, transport) as client:
        overall = asyncio.Semaphore(config.concurrency)
        per_host: dict[str, asyncio.Semaphore] = {}

        async def run(request: FeedRequest) -> FetchResult:
            host_limit = per_host.setdefault(_host_key(request.url), _semaphore(config.per_host))
            async with host_limit, overall:
                return await fetch_one(client, request, config)

        return list(await asyncio.gather(*(run(request) for request in requests)))


async def fetch_one(
    client: httpx.AsyncClient, request: FeedRequest, config: FetchConfig
) -> FetchResult:
    """Fetch one feed with `client`, turning every failure into a classified FetchResult."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(config.timeout):
            result = await _get(client, request, config)
    except Exception as exc:  # every failure of one feed is data, never a crash of the cycle
        result = _failure(request, config, exc)
    return _with_elapsed(result, time.monotonic() - started)


def _make_client(
    config: FetchConfig, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport,
        verify=_tls_context(),
        limits=httpx.Limits(
            max_connections=config.concurrency, max_keepalive_connections=config.concurrency
        ),
        timeout=httpx.Timeout(config.timeout),
        follow_redirects=True,
        max_redirects=config.max_redirects,
        headers={"User-Agent": config.user_agent},
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The default verifying TLS context, built once per process on first use.

    httpx builds one per client otherwise, reading the CA bundle each time (~20 ms a cycle).
    """
    return httpx.create_ssl_context()


def _semaphore(limit: int) -> asyncio.Semaphore:
    return asyncio.Semaphore(max(1, limit))


def _host_key(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


async def _get(client: httpx.AsyncClient, request: FeedRequest, config: FetchConfig) -> FetchResult:
    async with client.stream("GET", request.url, headers=_conditional_headers(request)) as response:
        if response.status_code == httpx.codes.NOT_MODIFIED:
            await _drain(response, config.max_bytes)  # so the connection is reused
            return _result(request, FetchStatus.NOT_MODIFIED, response, request.validators)
        if not response.is_success:
            await _drain(response, config.max_bytes)
            return _http_error(request, response)
        _check_content_length(response, config.max_bytes)
        body = await _read_capped(response, config.max_bytes)
    return _ok(request, response, body)


async def _drain(response: httpx.Response, max_bytes: int) -> None:
    """Read a small answer's body to the end; a large one is left (the connection closes)."""
    length = response.headers.get("content-length", "0")
    if length.isdigit() and int(length) <= min(max_bytes, 65_536):
        await response.aread()


def _conditional_headers(request: FeedRequest) -> dict[str, str]:
    headers: dict[str, str] = {}
    if request.validators.etag:
        headers["If-None-Match"] = request.validators.etag
    if request.validators.last_modified:
        headers["If-Modified-Since"] = request.validators.last_modified
    return headers


def _check_content_length(response: httpx.Response, max_bytes: int) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _TooLarge


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _ok(request: FeedRequest, response: httpx.Response, body: bytes) -> FetchResult:
    etag = response.headers.get("etag")
    last_modified = response.headers.get("last-modified")
    body_hash = hashlib.sha256(body).hexdigest()
    validators = Validators(etag=etag, last_modified=last_modified, body_hash=body_hash)
    unchanged = not etag and not last_modified and body_hash == request.validators.body_hash
    if unchanged:
        return _result(request, FetchStatus.NOT_MODIFIED, response, validators)
    return _result(request, FetchStatus.OK, response, validators, body=body)


def _result(
    request: FeedRequest,
    status: FetchStatus,
    response: httpx.Response,
    validators: Validators,
    *,
    body: bytes | None = None,
) -> FetchResult:
    return FetchResult(
        feed_id=request.feed_id,
        url=request.url,
        status=status,
        validators=validators,
        http_status=response.status_code,
        body=body,
        headers=_feed_headers(response),
    )


def _feed_headers(response: httpx.Response) -> dict[str, str]:
    """Response headers with lower-cased names; content-location made absolute for feedparser."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    final_url = str(response.url.copy_with(username=None, password=None))
    headers["content-location"] = urljoin(final_url, headers.get("content-location", ""))
    return headers


def _http_error(request: FeedRequest, response: httpx.Response) -> FetchResult:
    retry_after = None
    if response.status_code in _RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
    reason = response.reason_phrase or "error"
    return FetchResult(
        feed_id=request.feed_id,
        url=request.url,
        status=FetchStatus.HTTP_STATUS,
        validators=request.validators,
        http_status=response.status_code,
        headers=_feed_headers(response),
        error=_message(request.url, f"HTTP {response.status_code} {reason}"),
        retry_after=retry_after,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _failure(request: FeedRequest, config: FetchConfig, exc: Exception) -> FetchResult:
    status, what = _classify(exc, config)
    return FetchResult(
        feed_id=request.feed_id,
        url=request.url,
        status=status,
        validators=request.validators,
        error=_message(request.url, what),
    )


def _classify(exc: Exception, config: FetchConfig) -> tuple[FetchStatus, str]:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return FetchStatus.TIMEOUT, f"timed out after {config.timeout:g} s"
    if isinstance(exc, _TooLarge):
        return FetchStatus.TOO_LARGE, f"body larger than {config.max_bytes} bytes"
    if isinstance(exc, httpx.TooManyRedirects):
        return FetchStatus.CONNECTION, f"more than {config.max_redirects} redirects"
    if isinstance(exc, httpx.HTTPError | OSError):
        return FetchStatus.CONNECTION, f"connection failed ({_describe(exc)})"
    if isinstance(exc, httpx.InvalidURL):
        return FetchStatus.CONNECTION, f"invalid URL ({_describe(exc)})"
    return FetchStatus.CONNECTION, f"unexpected error ({_describe(exc)})"


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _message(url: str, what: str) -> str:
    return redact_url(" ".join(f"fetch {_safe_url(url)}: {what}".split()))


def _safe_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_url(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def _with_elapsed(result: FetchResult, elapsed: float) -> FetchResult:
    return replace(result, elapsed=elapsed)
