"""Real receivers on loopback for alert tests: an SMTP server and an HTTP webhook.

Both are context managers: they listen on 127.0.0.1 when entered and stop, bounded in
time, on exit. Use them from fixtures, e.g. ``with WebhookReceiver() as hook: yield hook``.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

LOOPBACK = "127.0.0.1"
STOP_TIMEOUT = 5.0
WAIT_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@dataclass(frozen=True)
class ReceivedMail:
    """One message the SMTP receiver accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def text(self) -> str:
        """The plain-text part (or the only part) of the body."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        return str(part.get_content()) if part is not None else ""


class _MailHandler:
    def __init__(self, sink: list[ReceivedMail], lock: threading.Lock) -> None:
        self._sink = sink
        self._lock = lock

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._sink.append(ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """An aiosmtpd SMTP server on 127.0.0.1 that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(
            _MailHandler(self.messages, self._lock),
            hostname=LOOPBACK,
            port=self.port,
            ready_timeout=STOP_TIMEOUT,
        )

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def url(self, sender: str, recipient: str) -> str:
        """An apprise ``mailto://`` URL that delivers here without TLS or login."""
        return f"mailto://{LOOPBACK}:{self.port}?from={sender}&to={recipient}"

    def wait_for(self, count: int = 1, timeout: float = WAIT_TIMEOUT) -> list[ReceivedMail]:
        """The messages once ``count`` have arrived (fails the test after ``timeout``)."""
        if not _wait_for(lambda: len(self.messages) >= count, timeout):
            raise AssertionError(f"expected {count} mail(s), got {len(self.messages)}")
        with self._lock:
            return list(self.messages)


@dataclass
class ReceivedRequest:
    """One request the webhook receiver answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _WebhookState:
    status: int = 200
    reply: Callable[[ReceivedRequest], bytes] | None = None  # the body to answer with
    requests: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _HookHandler(BaseHTTPRequestHandler):
    server: _HookServer
    timeout = STOP_TIMEOUT  # bounds a client that stops sending mid-request

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        state = self.server.state
        request = ReceivedRequest("POST", self.path, dict(self.headers.items()), body)
        with state.lock:
            state.requests.append(request)
            status = state.status
        if state.reply is not None:
            payload = state.reply(request)
        else:
            payload = b'{"ok": true}' if status < 400 else b'{"error": "receiver says no"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _HookServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, state: _WebhookState) -> None:
        super().__init__((LOOPBACK, 0), _HookHandler)
        self.state = state


class WebhookReceiver:
    """A threaded HTTP server on 127.0.0.1 that records POSTs and answers ``status``
    (with the body ``reply`` makes of the request, when given)."""

    def __init__(
        self, status: int = 200, reply: Callable[[ReceivedRequest], bytes] | None = None
    ) -> None:
        self._state = _WebhookState(status=status, reply=reply)
        self._server = _HookServer(self._state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.port = int(self._server.server_address[1])

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(STOP_TIMEOUT)

    @property
    def status(self) -> int:
        return self._state.status

    @status.setter
    def status(self, value: int) -> None:
        with self._state.lock:
            self._state.status = value

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def url(self, path: str = "/hook", scheme: str = "json") -> str:
        """An apprise URL (``json://`` by default) that posts here."""
        return f"{scheme}://{LOOPBACK}:{self.port}{path}"

    def wait_for(self, count: int = 1, timeout: float = WAIT_TIMEOUT) -> list[ReceivedRequest]:
        """The requests once ``count`` have arrived (fails the test after ``timeout``)."""
        if not _wait_for(lambda: len(self.requests) >= count, timeout):
            raise AssertionError(f"expected {count} request(s), got {len(self.requests)}")
        return self.requests
