"""Send one alert to one channel with apprise; failures come back as data, never raised.

Every send also reports what each apprise service said (:class:`ServiceResult`): its status,
the HTTP status a web service answered, and the reason and response text apprise logged — all
with the channel's secrets masked, so they can be stored and shown.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .channels import Channel
from .plugins import load_apprise_plugins, register_sinks

MAX_ERROR = 500
MAX_DETAIL = 1000
MIN_MASKED = 4  # shorter header values are too common to be worth masking
MASK = "***"
TEXT, HTML, MARKDOWN = "text", "html", "markdown"  # apprise body formats
_APPRISE_LOGGER = logging.getLogger("apprise")
_REPORTED_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
# apprise's web plugins log "…, error=500." on a refused request, and the body at DEBUG.
_HTTP_STATUS_RE = re.compile(r"\berror=(\d{3})\b")
_RESPONSE_PREFIX = "Response Details:"
# ``+Header=value`` arguments of json://, form://, xml:// URLs: their values are tokens too.
_HEADER_VALUE_RE = re.compile(r"[?&](?:\+|%2[Bb])[^=&#]*=([^&#]+)")
_NOT_SENT = "parley"  # ``service`` of a result for a send that never reached apprise


@dataclass(frozen=True)
class ServiceResult:
    """What one apprise service reported for one send (secrets masked)."""

    service: str  # the apprise plugin, e.g. "JSON", "E-Mail"
    target: str  # the channel URL, masked
    ok: bool
    status: str  # success | failure | timeout | error
    http_status: int | None = None
    detail: str = ""
    duration_ms: int = 0


@dataclass(frozen=True)
class SendOutcome:
    """The result of one send: ``ok`` or an ``error`` naming the channel (secrets masked).

    ``services`` holds each apprise service's own result; it does not take part in equality.
    """

    ok: bool
    error: str | None = None
    services: tuple[ServiceResult, ...] = field(default=(), compare=False)


def send(
    channel: Channel,
    title: str,
    body: str,
    *,
    timeout: float = 30.0,
    body_format: str = TEXT,
) -> SendOutcome:
    """Deliver ``title``/``body`` to ``channel`` within ``timeout`` seconds.

    ``body_format`` tells apprise what ``body`` is: ``text`` (default), ``html`` or ``markdown``.
    """
    where = f"channel {channel.name!r} ({channel.safe_url})"
    masker = _MaskSecrets(channel)
    _APPRISE_LOGGER.addFilter(masker)
    started = time.monotonic()
    try:
        register_sinks()
        _keep_apprise_logger_quiet()
        return _send(channel, title, body, timeout, where, body_format)
    except Exception as exc:
        reason = channel.mask(f"{type(exc).__name__}: {exc}")
        error = _cap(f"{where}: {reason}", MAX_ERROR)
        return SendOutcome(ok=False, error=error, services=(_not_sent(channel, error, started),))
    finally:
        _APPRISE_LOGGER.removeFilter(masker)


def _send(
    channel: Channel, title: str, body: str, timeout: float, where: str, body_format: str
) -> SendOutcome:
    import apprise

    load_apprise_plugins()
    app = apprise.Apprise()
    started = time.monotonic()
    if not app.add(channel.url):
        error = f"{where}: apprise could not load the URL"
        return SendOutcome(ok=False, error=error, services=(_not_sent(channel, error, started),))
    with (
        _details_captured(),
        app.notify(
            body=body,
            title=title,
            body_format=apprise.NotifyFormat(body_format),
            timeout=timeout,
            log_level=logging.DEBUG,
        ) as result,
    ):
        services = tuple(_service_result(channel, service) for service in result)
        ok = bool(result)
        status = result.status.name.lower()
        warnings = [(e.level, e.message) for e in result.logs() if e.level in _REPORTED_LEVELS]
    for level, message in warnings:  # apprise's own reasons still reach the logs, masked
        _APPRISE_LOGGER.log(logging.getLevelName(level), "%s", channel.mask(message))
    if ok:
        return SendOutcome(ok=True, services=services)
    messages = [message for _, message in warnings]
    reason = "; ".join(dict.fromkeys(channel.mask(m) for m in messages)) or "no reason given"
    error = _cap(f"{where}: delivery {status}: {reason}", MAX_ERROR)
    return SendOutcome(ok=False, error=error, services=services)


def _service_result(channel: Channel, service: Any) -> ServiceResult:
    """One apprise ``NotifyResult`` as plain data: reasons and response text, masked."""
    http_status: int | None = None
    lines: list[str] = []
    for entry in service.logs():
        message = str(entry.message)
        if entry.level in _REPORTED_LEVELS:
            found = _HTTP_STATUS_RE.search(message)
            http_status = int(found.group(1)) if found else http_status
            lines.append(message)
        elif message.startswith(_RESPONSE_PREFIX):
            lines.append("response: " + message[len(_RESPONSE_PREFIX) :].strip())
    detail = _mask_headers(channel, channel.mask("; ".join(dict.fromkeys(lines))))
    return ServiceResult(
        service=_cap(str(service.name), 200),
        target=channel.safe_url,
        ok=bool(service),
        status=service.status.name.lower(),
        http_status=http_status,
        detail=_cap(detail, MAX_DETAIL),
        duration_ms=round(float(service.elapsed) * 1000),
    )


def _mask_headers(channel: Channel, text: str) -> str:
    """``text`` with the values of the URL's ``+Header=value`` arguments masked as well (a
    token written into the channel file itself, not taken from the environment)."""
    values = sorted(set(_HEADER_VALUE_RE.findall(channel.url)), key=len, reverse=True)
    for value in values:
        if len(value) >= MIN_MASKED:
            text = text.replace(value, MASK)
    return text


def _not_sent(channel: Channel, error: str, started: float) -> ServiceResult:
    """The result of a send that failed before apprise tried any service."""
    return ServiceResult(
        service=_NOT_SENT,
        target=channel.safe_url,
        ok=False,
        status="error",
        detail=_cap(error, MAX_DETAIL),
        duration_ms=round((time.monotonic() - started) * 1000),
    )


_capture_lock = threading.Lock()
_capture_users = 0
_saved_logger_state: tuple[int, bool, list[logging.Handler]] | None = None


@contextmanager
def _details_captured() -> Iterator[None]:
    """Let apprise's DEBUG lines (the response text) reach its result, and nothing else.

    While a send runs, the ``apprise`` logger is set to DEBUG but stops propagating and its
    own handlers are set aside, so bodies and header values logged at DEBUG go only into the
    result's capture — never to the application's logs. Overlapping sends share the change.
    """
    global _capture_users, _saved_logger_state
    with _capture_lock:
        if _capture_users == 0:
            handlers = list(_APPRISE_LOGGER.handlers)
            _saved_logger_state = (_APPRISE_LOGGER.level, _APPRISE_LOGGER.propagate, handlers)
            for handler in handlers:
                _APPRISE_LOGGER.removeHandler(handler)
            _APPRISE_LOGGER.propagate = False
            _APPRISE_LOGGER.setLevel(logging.DEBUG)
        _capture_users += 1
    try:
        yield
    finally:
        with _capture_lock:
            _capture_users -= 1
            if _capture_users == 0 and _saved_logger_state is not None:
                level, propagate, handlers = _saved_logger_state
                _APPRISE_LOGGER.setLevel(level)
                _APPRISE_LOGGER.propagate = propagate
                for handler in handlers:
                    _APPRISE_LOGGER.addHandler(handler)
                _saved_logger_state = None


def _keep_apprise_logger_quiet() -> None:
    """Raise the apprise logger to INFO: at DEBUG it prints header values and bodies."""
    if _APPRISE_LOGGER.getEffectiveLevel() < logging.INFO:
        _APPRISE_LOGGER.setLevel(logging.INFO)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _MaskSecrets(logging.Filter):
    """Rewrites apprise log records with one channel's secrets masked."""

    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self._channel = channel

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._channel.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
