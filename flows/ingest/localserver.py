"""A real threaded HTTP feed server on 127.0.0.1, for the demo command and the tests.

Routes are set in code (body, status, headers, delay, gzip, redirects); the server answers
GET and HEAD with ETag / Last-Modified validators and 304s, and records every request.
"""

from __future__ import annotations

import gzip as gzip_lib
import hashlib
import ipaddress
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import NamedTuple, Self
from urllib.parse import urlsplit

MAX_DELAY = 10.0  # seconds: a route's delay is capped so a test can never hang on it
STOP_TIMEOUT = 5.0  # seconds to wait for the serving thread on stop()
_CONDITIONAL_HEADERS = ("if-none-match", "if-modified-since")


class RecordedRequest(NamedTuple):
    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-cased names


@dataclass(frozen=True)
class _Route:
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    etag: str | None = None
    last_modified: float | None = None  # POSIX seconds
    gzip: bool = False
    location: str | None = None  # set for redirects


@dataclass
class _Stats:
    requests: list[RecordedRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


class FeedServer:
    """Serve feeds on 127.0.0.1 from a daemon thread; use as a context manager.

    ``host`` may be another loopback address (127.0.0.2, …): on Linux the whole 127.0.0.0/8
    is local, so several servers look like several hosts to a per-host limit.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"FeedServer serves on loopback only, not on {host}")
        self._host = host
        self._routes: dict[str, _Route] = {}
        self._stats = _Stats()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bind a free port on the loopback host and serve in a daemon thread."""
        if self._server is not None:
            return
        self._stopping.clear()
        self._server = _QuietServer((self._host, 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"feed-server-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; waits at most STOP_TIMEOUT seconds."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()  # wakes handlers sleeping on a delay
        server.shutdown()
        server.server_close()
        thread.join(STOP_TIMEOUT)
        self._server = self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FeedServer is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return self.base_url + path

    def set(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/rss+xml; charset=utf-8",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        etag: bool = True,
        last_modified: bool = True,
        gzip: bool = False,
    ) -> None:
        """Register or replace the answer for `path`."""
        with self._lock:
            previous = self._routes.get(path)
            self._routes[path] = _Route(
                body=body,
                content_type=content_type,
                status=status,
                headers=dict(headers or {}),
                delay=min(max(delay, 0.0), MAX_DELAY),
                etag=_etag(body) if etag else None,
                last_modified=_next_modified(previous, body) if last_modified else None,
                gzip=gzip,
            )

    def redirect(self, path: str, target: str, status: int = 301) -> None:
        """Answer `path` with a redirect to `target` (a path or an absolute URL)."""
        with self._lock:
            self._routes[path] = _Route(status=status, location=target, content_type="text/plain")

    def remove(self, path: str) -> None:
        """Forget `path`; it answers 404 from now on."""
        with self._lock:
            self._routes.pop(path, None)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._stats.requests)

    @property
    def max_in_flight(self) -> int:
        """The most requests handled at the same time (since the last clear)."""
        with self._lock:
            return self._stats.max_in_flight

    def clear_requests(self) -> None:
        """Forget the recorded requests and reset max_in_flight."""
        with self._lock:
            self._stats = _Stats(in_flight=self._stats.in_flight)

    def count(self, path: str) -> int:
        """How many requests `path` received."""
        return sum(1 for request in self.requests if request.path == path)

    def conditional_count(self, path: str) -> int:
        """How many requests for `path` carried If-None-Match or If-Modified-Since."""
        return sum(
            1
            for request in self.requests
            if request.path == path and any(h in request.headers for h in _CONDITIONAL_HEADERS)
        )

    def _route(self, path: str) -> _Route | None:
        with self._lock:
            return self._routes.get(path)

    def _begin(self, record: RecordedRequest) -> None:
        with self._lock:
            stats = self._stats
            stats.requests.append(record)
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)

    def _end(self) -> None:
        with self._lock:
            self._stats.in_flight -= 1

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


def _next_modified(previous: _Route | None, body: bytes) -> float:
    """Now, to the second; strictly later than the previous body's time when the body changed."""
    now = float(int(time.time()))
    if previous is None or previous.last_modified is None:
        return now
    if previous.body == body:
        return previous.last_modified
    return max(now, previous.last_modified + 1)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], feeds: FeedServer
    ) -> None:
        self.feeds = feeds
        super().__init__(address, handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up (timeouts, size caps) are expected: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "parley-feed-server/0.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't wait for ACKs
    timeout = 30  # an idle keep-alive connection is closed after this many seconds
    server: _QuietServer

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        """No request logging."""

    def _serve(self, *, send_body: bool) -> None:
        feeds = self.server.feeds
        path = urlsplit(self.path).path
        headers = {name.lower(): value for name, value in self.headers.items()}
        route = feeds._route(path)
        feeds._begin(RecordedRequest(self.command, path, headers))
        try:
            if route is not None and route.delay:
                feeds._sleep(route.delay)
        finally:
            # Counted as finished before the answer goes out, so a client that sends its
            # next request on receiving this answer is never seen as a concurrent one.
            feeds._end()
        self._answer(route, headers, send_body=send_body)

    def _answer(self, route: _Route | None, headers: dict[str, str], *, send_body: bool) -> None:
        if route is None:
            self._send(404, {"Content-Type": "text/plain"}, b"not found\n", send_body)
        elif route.location is not None:
            self._send(route.status, {"Location": route.location}, b"", send_body)
        elif route.status == 200 and _not_modified(route, headers):
            self._send(304, _validator_headers(route), b"", send_body)
        else:
            body, extra = _encoded_body(route, headers.get("accept-encoding", ""))
            out = {"Content-Type": route.content_type, **_validator_headers(route), **extra}
            self._send(route.status, {**out, **route.headers}, body, send_body)

    def _send(self, status: int, headers: Mapping[str, str], body: bytes, send_body: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)


def _validator_headers(route: _Route) -> dict[str, str]:
    headers: dict[str, str] = {}
    if route.etag is not None:
        headers["ETag"] = route.etag
    if route.last_modified is not None:
        headers["Last-Modified"] = formatdate(route.last_modified, usegmt=True)
    return headers


def _not_modified(route: _Route, headers: Mapping[str, str]) -> bool:
    """RFC 9110: If-None-Match wins over If-Modified-Since when both are sent."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        return route.etag is not None and _etag_matches(if_none_match, route.etag)
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None or route.last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since).timestamp()
    except (TypeError, ValueError, IndexError):
        return False
    return route.last_modified <= since


def _etag_matches(if_none_match: str, etag: str) -> bool:
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


def _encoded_body(route: _Route, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
    if route.gzip and "gzip" in accept_encoding.lower():
        return gzip_lib.compress(route.body, mtime=0), {"Content-Encoding": "gzip"}
    return route.body, {}
