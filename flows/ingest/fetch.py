"""Fetch feeds with conditional GET, a size cap and polite concurrency (aiohttp).

Every request ends as a classified FetchResult; one feed's failure never raises.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp
import certifi

from parley.flows.ingest.model import FeedRequest, FetchResult, FetchStatus, Validators
from parley.flows.ingest.proxies import env_proxies, proxy_for
from parley.flows.ingest.redact import redact_url

_RETRY_AFTER_STATUSES = frozenset({429, 503})
_DRAIN_BYTES = 65_536  # a 304 or error body up to this size is read so the connection is reused
_MAX_HEADER_BYTES = 16_384  # one header line or field (aiohttp's default is 8,190)


@dataclass(frozen=True)
class FetchConfig:
    """Limits for one fetch cycle. `timeout` is also the deadline for one whole request."""

    timeout: float = 20
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    concurrency: int = 64
    per_host: int = 2
    user_agent: str = "parley/0.1 (news monitor)"


class _TooLarge(Exception):
    """The body is larger than FetchConfig.max_bytes."""


async def fetch_all(requests: Sequence[FeedRequest], config: FetchConfig) -> list[FetchResult]:
    """Fetch every request with one session; results come back in the order of `requests`."""
    if not requests:
        return []
    proxies = env_proxies()
    async with _session(config) as session:
        overall = asyncio.Semaphore(config.concurrency)
        per_host: dict[str, asyncio.Semaphore] = {}

        async def run(request: FeedRequest) -> FetchResult:
            host_limit = per_host.setdefault(_host_key(request.url), _semaphore(config.per_host))
            async with host_limit, overall:
                return await fetch_one(session, request, config, proxies)

        return list(await asyncio.gather(*(run(request) for request in requests)))


async def fetch_one(
    session: aiohttp.ClientSession,
    request: FeedRequest,
    config: FetchConfig,
    proxies: Mapping[str, str] | None = None,
) -> FetchResult:
    """Fetch one feed with `session`, turning every failure into a classified FetchResult."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(config.timeout):
            result = await _get(session, request, config, proxies or {})
    except Exception as exc:  # every failure of one feed is data, never a crash of the cycle
        result = _failure(request, config, exc)
    return _with_elapsed(result, time.monotonic() - started)


def _session(config: FetchConfig) -> aiohttp.ClientSession:
    # The connector's limits repeat fetch_all's semaphores for what those cannot see: a
    # request redirected to another host takes its connection under that host's limit.
    connector = aiohttp.TCPConnector(
        ssl=_tls_context(), limit=config.concurrency, limit_per_host=max(1, config.per_host)
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(),  # no aiohttp timers: fetch_one's deadline covers all
        headers={"User-Agent": config.user_agent},
        max_line_size=_MAX_HEADER_BYTES,
        max_field_size=_MAX_HEADER_BYTES,
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The default verifying TLS context, built once per process on first use.

    The CA bundle is certifi's unless SSL_CERT_FILE or SSL_CERT_DIR name another (as httpx,
    parley's client before aiohttp, did). Loading it costs ~20 ms, so it is never repeated.
    """
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())


def _semaphore(limit: int) -> asyncio.Semaphore:
    return asyncio.Semaphore(max(1, limit))


def _host_key(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


async def _get(
    session: aiohttp.ClientSession,
    request: FeedRequest,
    config: FetchConfig,
    proxies: Mapping[str, str],
) -> FetchResult:
    async with session.get(
        request.url,
        headers=_conditional_headers(request),
        # aiohttp gives up on reaching its max_redirects-th redirect; parley follows that many
        max_redirects=config.max_redirects + 1,
        proxy=proxy_for(request.url, proxies),
    ) as response:
        headers = _feed_headers(response)
        if response.status == 304:
            await _drain(response, config.max_bytes)  # so the connection is reused
            return _result(request, FetchStatus.NOT_MODIFIED, response, headers, request.validators)
        if not 200 <= response.status < 300:
            await _drain(response, config.max_bytes)
            return _http_error(request, response, headers)
        _check_content_length(response, config.max_bytes)
        body = await _read_capped(response, config.max_bytes)
    return _ok(request, response, headers, body)


async def _drain(response: aiohttp.ClientResponse, max_bytes: int) -> None:
    """Read a small answer's body to the end so the connection is reused; drop a large one.

    Best effort: the status is the answer, so a body that breaks off only costs the connection.
    """
    limit = min(max_bytes, _DRAIN_BYTES)
    declared = response.content_length
    try:
        drained = (declared is None or declared <= limit) and await _read_to_end(response, limit)
    except aiohttp.ClientError:
        drained = False
    if not drained:
        response.close()


async def _read_to_end(response: aiohttp.ClientResponse, limit: int) -> bool:
    """Read the body and throw it away; False as soon as it runs past `limit` bytes."""
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            return False
    return True


def _conditional_headers(request: FeedRequest) -> dict[str, str]:
    headers: dict[str, str] = {}
    if request.validators.etag:
        headers["If-None-Match"] = request.validators.etag
    if request.validators.last_modified:
        headers["If-Modified-Since"] = request.validators.last_modified
    return headers


def _check_content_length(response: aiohttp.ClientResponse, max_bytes: int) -> None:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        response.close()
        raise _TooLarge


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The decoded body, read as it streams in; more than `max_bytes` aborts the read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > max_bytes:
            response.close()
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _ok(
    request: FeedRequest, response: aiohttp.ClientResponse, headers: dict[str, str], body: bytes
) -> FetchResult:
    etag = headers.get("etag")
    last_modified = headers.get("last-modified")
    body_hash = hashlib.sha256(body).hexdigest()
    validators = Validators(etag=etag, last_modified=last_modified, body_hash=body_hash)
    unchanged = not etag and not last_modified and body_hash == request.validators.body_hash
    if unchanged:
        return _result(request, FetchStatus.NOT_MODIFIED, response, headers, validators)
    return _result(request, FetchStatus.OK, response, headers, validators, body=body)


def _result(
    request: FeedRequest,
    status: FetchStatus,
    response: aiohttp.ClientResponse,
    headers: dict[str, str],
    validators: Validators,
    *,
    body: bytes | None = None,
) -> FetchResult:
    return FetchResult(
        feed_id=request.feed_id,
        url=request.url,
        status=status,
        validators=validators,
        http_status=response.status,
        body=body,
        headers=headers,
    )


def _feed_headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    """Response headers with lower-cased names, a repeated header's values joined by ", ",
    content-location made absolute against the final URL (after redirects) for feedparser."""
    headers: dict[str, str] = {}
    for name, value in response.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    final_url = str(response.url.with_user(None))
    headers["content-location"] = urljoin(final_url, headers.get("content-location", ""))
    return headers


def _http_error(
    request: FeedRequest, response: aiohttp.ClientResponse, headers: dict[str, str]
) -> FetchResult:
    retry_after = None
    if response.status in _RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(headers.get("retry-after"))
    reason = response.reason or "error"
    return FetchResult(
        feed_id=request.feed_id,
        url=request.url,
        status=FetchStatus.HTTP_STATUS,
        validators=request.validators,
        http_status=response.status,
        headers=headers,
        error=_message(request.url, f"HTTP {response.status} {reason}"),
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
    if isinstance(exc, TimeoutError):  # aiohttp's own timeouts derive from it too
        return FetchStatus.TIMEOUT, f"timed out after {config.timeout:g} s"
    if isinstance(exc, _TooLarge):
        return FetchStatus.TOO_LARGE, f"body larger than {config.max_bytes} bytes"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return FetchStatus.CONNECTION, f"more than {config.max_redirects} redirects"
    if isinstance(exc, aiohttp.RedirectClientError):
        target = exc.args[0] if exc.args else "?"  # the Location the server sent
        return (
            FetchStatus.CONNECTION,
            f"redirected to an invalid URL ({target}: {_url_problem(exc)})",
        )
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return FetchStatus.CONNECTION, f"invalid URL ({_url_problem(exc)})"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return FetchStatus.CONNECTION, f"connection failed ({_describe(exc)})"
    return FetchStatus.CONNECTION, f"unexpected error ({_describe(exc)})"


# What a failure is called in messages, whatever the HTTP library: the names parley's
# stored errors have used since it fetched with httpx.
_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (aiohttp.ClientConnectorError, "ConnectError"),  # refused, DNS, TLS, unreachable
    (aiohttp.ServerDisconnectedError, "RemoteProtocolError"),  # hung up before an answer
    (aiohttp.ClientPayloadError, "RemoteProtocolError"),  # body cut short or undecodable
    (aiohttp.ClientHttpProxyError, "ProxyError"),  # the proxy refused the tunnel
    (aiohttp.ClientResponseError, "RemoteProtocolError"),  # an answer aiohttp cannot parse
)


def _describe(exc: Exception) -> str:
    kind = next((name for cls, name in _KINDS if isinstance(exc, cls)), type(exc).__name__)
    detail = exc.message if isinstance(exc, aiohttp.ClientResponseError) else str(exc)
    text = " ".join(detail.split())
    return f"{kind}: {text}" if text else kind


def _url_problem(exc: Exception) -> str:
    """What is wrong with a URL aiohttp refused (the message names the URL already)."""
    if isinstance(exc, aiohttp.NonHttpUrlClientError):
        return "not http or https"
    if exc.__cause__ is not None:  # yarl's reason, e.g. "Port out of range 0-65535"
        return " ".join(str(exc.__cause__).split()) or type(exc.__cause__).__name__
    if isinstance(exc, aiohttp.InvalidURL) and exc.description:
        return " ".join(exc.description.split())
    return "no host"


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
