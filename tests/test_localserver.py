"""FeedServer: routes, validators, 304s, gzip, request records and a bounded stop."""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import pytest

from parley.flows.ingest.localserver import FeedServer

BODY = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def get(url: str, **headers: str) -> httpx.Response:
    """GET with headers given as keywords: if_none_match=... is sent as If-None-Match."""
    names = {name.replace("_", "-"): value for name, value in headers.items()}
    with httpx.Client(timeout=5) as client:
        return client.get(url, headers=names)


def test_serves_routes_and_404(server: FeedServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    server.set("/a.xml", BODY, headers={"X-Extra": "1"})
    response = get(server.url("/a.xml?x=1"))
    assert response.status_code == 200
    assert response.content == BODY
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert response.headers["x-extra"] == "1"
    server.remove("/a.xml")
    assert get(server.url("/a.xml")).status_code == 404


def test_head_has_headers_but_no_body(server: FeedServer) -> None:
    server.set("/h.xml", BODY)
    with httpx.Client(timeout=5) as client:
        response = client.head(server.url("/h.xml"))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(BODY))
    assert response.content == b""


def test_other_methods_are_refused(server: FeedServer) -> None:
    server.set("/p.xml", BODY)
    with httpx.Client(timeout=5) as client:
        assert client.post(server.url("/p.xml"), content=b"x").status_code == 501


def test_validators_and_304(server: FeedServer) -> None:
    server.set("/v.xml", BODY)
    first = get(server.url("/v.xml"))
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert get(server.url("/v.xml"), if_none_match=etag).status_code == 304
    assert get(server.url("/v.xml"), if_none_match='"other"').status_code == 200
    assert get(server.url("/v.xml"), if_modified_since=modified).status_code == 304
    server.set("/v.xml", BODY + b" ")  # a new body: new ETag, a strictly later Last-Modified
    assert get(server.url("/v.xml"), if_none_match=etag).status_code == 200
    assert get(server.url("/v.xml"), if_modified_since=modified).status_code == 200
    assert server.count("/v.xml") == 6
    assert server.conditional_count("/v.xml") == 5


def test_validators_can_be_turned_off(server: FeedServer) -> None:
    server.set("/bare.xml", BODY, etag=False, last_modified=False)
    response = get(server.url("/bare.xml"))
    assert "etag" not in response.headers
    assert "last-modified" not in response.headers


def test_gzip_only_when_accepted(server: FeedServer) -> None:
    server.set("/z.xml", BODY, gzip=True)
    compressed = get(server.url("/z.xml"))
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.content == BODY
    plain = get(server.url("/z.xml"), accept_encoding="identity")
    assert "content-encoding" not in plain.headers
    assert plain.content == BODY


def test_redirect(server: FeedServer) -> None:
    server.redirect("/from", "/to", status=302)
    response = get(server.url("/from"))
    assert response.status_code == 302
    assert response.headers["location"] == "/to"


def test_requests_are_recorded_and_cleared(server: FeedServer) -> None:
    server.set("/r.xml", BODY)
    get(server.url("/r.xml"), x_probe="yes")
    [record] = server.requests
    assert record.method == "GET"
    assert record.path == "/r.xml"
    assert record.headers["x-probe"] == "yes"
    server.clear_requests()
    assert server.requests == []
    assert server.count("/r.xml") == 0


def test_stop_is_bounded_with_a_slow_request_in_flight() -> None:
    server = FeedServer()
    server.start()
    server.set("/slow.xml", BODY, delay=30)
    url = server.url("/slow.xml")

    def slow_get() -> None:
        with contextlib.suppress(httpx.HTTPError):
            get(url)

    client = threading.Thread(target=slow_get, daemon=True)
    client.start()
    deadline = time.monotonic() + 5
    while server.count("/slow.xml") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    client.join(5)
    assert not client.is_alive()
    with pytest.raises(RuntimeError):
        _ = server.base_url


def test_serves_on_another_loopback_address() -> None:
    with FeedServer(host="127.0.0.2") as server:
        server.set("/r.xml", BODY)
        assert server.base_url.startswith("http://127.0.0.2:")
        assert get(server.url("/r.xml")).content == BODY


def test_refuses_a_host_off_loopback() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        FeedServer(host="192.0.2.1")
