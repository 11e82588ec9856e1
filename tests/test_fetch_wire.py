"""fetch_all against a raw-socket server on loopback that answers byte for byte as told:
hang-ups, cut and endless bodies, a body after a 304, repeated headers, bad encodings, TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import ipaddress
import logging
import socket
import ssl
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from parley.flows.ingest import fetch as fetch_module
from parley.flows.ingest.fetch import FetchConfig, fetch_all
from parley.flows.ingest.model import FeedRequest, FetchResult, FetchStatus, Validators

RSS = (Path(__file__).parent / "data" / "feeds" / "rss20_guid_dates_en.xml").read_bytes()
CONFIG = FetchConfig(timeout=2, max_bytes=50_000)
HANG_UP = None  # in an answer: close the connection here

# One answer: bytes are sent as they are, a float sleeps that many seconds, HANG_UP closes.
Answer = Iterable[bytes | float | None]


def response(status: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def ok(body: bytes, **headers: str) -> bytes:
    return response("200 OK", {**headers, "Content-Length": str(len(body))}, body)


class RawServer:
    """Serve on 127.0.0.1 from a thread; `answer(path, headers)` says what to write back."""

    def __init__(
        self,
        answer: Callable[[str, dict[str, str]], Answer],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.answer = answer
        self.tls = tls
        self.connections = 0
        self.paths: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # so the accepting thread sees `_stopping`
        self._port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._listener.close()
        for conn in self._open:
            conn.close()

    def url(self, path: str) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._port}{path}"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
                self._open.append(conn)
            reader = conn.makefile("rb")
            while (head := _read_head(reader)) is not None:
                path, headers = head
                self.paths.append(path)
                for part in self.answer(path, headers):
                    if part is HANG_UP:
                        return
                    if isinstance(part, float):
                        self._stopping.wait(part)
                    else:
                        conn.sendall(part)
        except (OSError, ValueError):
            return  # the client hung up (size cap, deadline) or the test ended
        finally:
            conn.close()


def _read_head(reader: object) -> tuple[str, dict[str, str]] | None:
    readline = reader.readline  # type: ignore[attr-defined]
    request_line = readline()
    if not request_line:
        return None
    headers: dict[str, str] = {}
    while (line := readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return request_line.split()[1].decode(), headers


def fetch(urls: list[str], config: FetchConfig = CONFIG) -> list[FetchResult]:
    return asyncio.run(fetch_all([FeedRequest(i, url) for i, url in enumerate(urls)], config))


def endless_chunks() -> Iterator[bytes]:
    yield response("200 OK", {"Transfer-Encoding": "chunked"})
    while True:  # no Content-Length: only the stream cap stops it
        yield b"1b58\r\n" + b"<item/>" * 1_000 + b"\r\n"


def test_hang_ups_cut_and_endless_bodies_and_a_404() -> None:
    def answer(path: str, headers: dict[str, str]) -> Answer:
        if path == "/conditional.xml":
            if headers.get("if-none-match") == '"v1"':
                return [response("304 Not Modified", {"ETag": '"v1"'})]
            return [ok(RSS, ETag='"v1"')]
        if path == "/endless.xml":
            return endless_chunks()
        if path == "/broken.xml":
            return [HANG_UP]  # no answer at all
        if path == "/cut.xml":
            return [response("200 OK", {"Content-Length": "1000"}, b"<rss>"), HANG_UP]
        return [response("404 Not Found", {"Content-Length": "0"})]

    with RawServer(answer) as server:
        requests = [
            FeedRequest(1, server.url("/conditional.xml")),
            FeedRequest(2, server.url("/conditional.xml"), Validators(etag='"v1"', body_hash="h")),
            FeedRequest(3, server.url("/endless.xml")),
            FeedRequest(4, server.url("/broken.xml")),
            FeedRequest(5, server.url("/cut.xml")),
            FeedRequest(6, server.url("/missing.xml")),
        ]
        results = asyncio.run(fetch_all(requests, CONFIG))
    assert [r.status for r in results] == [
        FetchStatus.OK,
        FetchStatus.NOT_MODIFIED,
        FetchStatus.TOO_LARGE,
        FetchStatus.CONNECTION,
        FetchStatus.CONNECTION,
        FetchStatus.HTTP_STATUS,
    ]
    assert results[0].validators.etag == '"v1"'
    assert results[1].validators == Validators(etag='"v1"', body_hash="h")
    assert results[3].error == (
        f"fetch {requests[3].url}: connection failed (RemoteProtocolError: Server disconnected)"
    )
    assert (results[4].error or "").startswith(
        f"fetch {requests[4].url}: connection failed (RemoteProtocolError: Response payload is not"
    )
    assert results[5].http_status == 404


def test_repeated_headers_are_joined_like_one() -> None:
    headers = b"X-Note: first\r\nLink: <a>; rel=prev\r\nx-note: second\r\nLink: <b>; rel=next\r\n"
    answer = response("200 OK", {"Content-Length": str(len(RSS))}).replace(
        b"\r\n\r\n", b"\r\n" + headers + b"\r\n", 1
    )
    with RawServer(lambda path, headers: [answer + RSS]) as server:
        [result] = fetch([server.url("/dup.xml")])
    assert result.status is FetchStatus.OK
    assert result.headers["x-note"] == "first, second"
    assert result.headers["link"] == "<a>; rel=prev, <b>; rel=next"


def test_a_long_header_is_accepted() -> None:
    policy = "; ".join(["default-src 'self'"] + ["img-src https://cdn.example.test"] * 360)
    with RawServer(lambda path, headers: [ok(RSS, **{"Content-Security-Policy": policy})]) as s:
        [result] = fetch([s.url("/csp.xml")])
    assert result.status is FetchStatus.OK
    assert len(policy) > 12_000
    assert result.headers["content-security-policy"] == policy


def test_a_body_sent_with_a_304_fails_that_fetch_only() -> None:
    """A 304 has no body (RFC 9110). A server that sends one with it makes the answer
    unreadable: a classified failure, and the connection is dropped, so the next request
    to the host gets its own answer. (Stray bytes sent later would spoil whatever answer
    comes next on that connection, with any HTTP/1.1 client.)"""

    def answer(path: str, headers: dict[str, str]) -> Answer:
        if path == "/304.xml":
            return [
                response("304 Not Modified", {"ETag": '"v1"', "Content-Length": "5"}) + b"stale"
            ]
        return [ok(RSS, ETag='"v2"')]

    with RawServer(answer) as server:
        requests = [
            FeedRequest(1, server.url("/304.xml"), Validators(etag='"v1"')),
            FeedRequest(2, server.url("/next.xml")),
        ]
        first, second = asyncio.run(fetch_all(requests, FetchConfig(timeout=2, per_host=1)))
    assert first.status is FetchStatus.CONNECTION
    assert (first.error or "").startswith(
        f"fetch {requests[0].url}: connection failed (RemoteProtocolError: "
    )
    assert "stale" in (first.error or "")
    assert second.status is FetchStatus.OK
    assert second.body == RSS


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("gzip", b"not gzip at all"), ("deflate", b"not deflate either")],
)
def test_a_body_the_client_cannot_decode_is_classified(encoding: str, body: bytes) -> None:
    answer = ok(body, **{"Content-Encoding": encoding})
    with RawServer(lambda path, headers: [answer]) as server:
        [result] = fetch([server.url("/encoded.xml")])
    assert result.status is FetchStatus.CONNECTION
    assert result.body is None
    assert "connection failed (RemoteProtocolError: " in (result.error or "")
    assert f"content-encoding: {encoding}" in (result.error or "")


def test_deflate_body_is_decoded_and_an_unknown_encoding_is_passed_on() -> None:
    def answer(path: str, headers: dict[str, str]) -> Answer:
        if path == "/deflate.xml":
            return [ok(zlib.compress(RSS), **{"Content-Encoding": "deflate"})]
        return [ok(RSS, **{"Content-Encoding": "x-parley-unknown"})]

    with RawServer(answer) as server:
        deflated, unknown = fetch([server.url("/deflate.xml"), server.url("/unknown.xml")])
    assert deflated.status is FetchStatus.OK
    assert deflated.body == RSS
    assert unknown.status is FetchStatus.OK  # the bytes as sent: parse decides what they are
    assert unknown.body == RSS


def test_small_answers_are_drained_and_the_connection_reused() -> None:
    def answer(path: str, headers: dict[str, str]) -> Answer:
        if path == "/big-error.xml":
            return [
                response("500 Internal Server Error", {"Content-Length": "200000"}, b"x" * 200_000)
            ]
        if path == "/not-modified.xml":
            return [response("304 Not Modified", {"ETag": '"v1"'})]
        if path == "/small-error.xml":
            return [response("503 Service Unavailable", {"Content-Length": "4"}, b"busy")]
        return [ok(RSS)]

    with RawServer(answer) as server:
        config = FetchConfig(timeout=2, per_host=1, concurrency=1)
        small = ["/not-modified.xml", "/small-error.xml", "/feed.xml", "/small-error.xml"]
        results = fetch([server.url(p) for p in small], config)
        assert [r.http_status for r in results] == [304, 503, 200, 503]
        assert server.connections == 1
        results = fetch([server.url(p) for p in ["/big-error.xml", "/feed.xml"]], config)
        assert [r.http_status for r in results] == [500, 200]
        assert server.connections == 3  # the big error body was dropped with its connection


def test_an_error_body_that_breaks_off_keeps_the_status() -> None:
    cut = response("404 Not Found", {"Content-Length": "100"}, b"gone")
    with RawServer(lambda path, headers: [cut, HANG_UP]) as server:
        url = server.url("/gone.xml")
        [result] = fetch([url])
    assert result.status is FetchStatus.HTTP_STATUS
    assert result.error == f"fetch {url}: HTTP 404 Not Found"


def test_deadline_covers_a_body_that_trickles_in() -> None:
    def trickle(path: str, headers: dict[str, str]) -> Answer:
        yield response("200 OK", {"Content-Length": str(len(RSS))})
        for i in range(0, len(RSS), 100):
            yield RSS[i : i + 100]
            yield 0.05

    with RawServer(trickle) as server:
        started = time.monotonic()
        [result] = fetch([server.url("/trickle.xml")], FetchConfig(timeout=0.3))
    assert result.status is FetchStatus.TIMEOUT
    assert time.monotonic() - started < 1.5


def test_no_unclosed_session_or_connection_is_left_behind(caplog: pytest.LogCaptureFixture) -> None:
    def answer(path: str, headers: dict[str, str]) -> Answer:
        if path == "/slow.xml":
            return [1.0, ok(RSS)]
        if path == "/endless.xml":
            return endless_chunks()
        return [ok(RSS)]

    with RawServer(answer) as server, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        urls = [server.url(p) for p in ("/feed.xml", "/slow.xml", "/endless.xml")]
        statuses = [r.status for r in fetch(urls, FetchConfig(timeout=0.3, max_bytes=50_000))]
        gc.collect()
    assert statuses == [FetchStatus.OK, FetchStatus.TIMEOUT, FetchStatus.TOO_LARGE]
    assert [str(w.message) for w in caught] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "parley test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def tls_server(tls_files: tuple[Path, Path]) -> Iterator[RawServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    with RawServer(lambda path, headers: [ok(RSS)], tls=context) as server:
        yield server


def test_tls_is_verified_with_one_context_per_process(tls_server: RawServer) -> None:
    context = fetch_module._tls_context()
    assert context is fetch_module._tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    [result] = fetch([tls_server.url("/feed.xml")])
    assert result.status is FetchStatus.CONNECTION
    assert "connection failed (ConnectError: " in (result.error or "")
    assert "CERTIFICATE_VERIFY_FAILED" in (result.error or "")


def test_ssl_cert_file_names_the_trusted_authorities(
    tls_server: RawServer, tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))
    fetch_module._tls_context.cache_clear()
    try:
        [result] = fetch([tls_server.url("/feed.xml")])
    finally:
        fetch_module._tls_context.cache_clear()
    assert result.status is FetchStatus.OK
    assert result.body == RSS
