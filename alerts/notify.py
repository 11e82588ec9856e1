"""Send one alert to one channel with apprise; failures come back as data, never raised."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .channels import Channel
from .plugins import load_apprise_plugins, register_sinks

MAX_ERROR = 500
TEXT, HTML, MARKDOWN = "text", "html", "markdown"  # apprise body formats
_APPRISE_LOGGER = logging.getLogger("apprise")
_REPORTED_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})


@dataclass(frozen=True)
class SendOutcome:
    """The result of one send: ``ok`` or an ``error`` naming the channel (secrets masked)."""

    ok: bool
    error: str | None = None


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
    try:
        register_sinks()
        _keep_apprise_logger_quiet()
        return _send(channel, title, body, timeout, where, body_format)
    except Exception as exc:
        reason = channel.mask(f"{type(exc).__name__}: {exc}")
        return SendOutcome(ok=False, error=_cap(f"{where}: {reason}"))
    finally:
        _APPRISE_LOGGER.removeFilter(masker)


def _send(
    channel: Channel, title: str, body: str, timeout: float, where: str, body_format: str
) -> SendOutcome:
    import apprise

    load_apprise_plugins()
    app = apprise.Apprise()
    if not app.add(channel.url):
        return SendOutcome(ok=False, error=f"{where}: apprise could not load the URL")
    with app.notify(
        body=body, title=title, body_format=apprise.NotifyFormat(body_format), timeout=timeout
    ) as result:
        if result:
            return SendOutcome(ok=True)
        status = result.status.name.lower()
        messages = [entry.message for entry in result.logs() if entry.level in _REPORTED_LEVELS]
    reason = "; ".join(dict.fromkeys(channel.mask(m) for m in messages)) or "no reason given"
    return SendOutcome(ok=False, error=_cap(f"{where}: delivery {status}: {reason}"))


def _keep_apprise_logger_quiet() -> None:
    """Raise the apprise logger to INFO: at DEBUG it prints header values and bodies."""
    if _APPRISE_LOGGER.getEffectiveLevel() < logging.INFO:
        _APPRISE_LOGGER.setLevel(logging.INFO)


def _cap(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


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
