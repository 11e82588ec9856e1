"""Start-up health: an unreachable database or Prefect API alerts once per outage, and once
more when a later start finds it back.

A scheduler starts parley every minute; while the database or the Prefect API is down, each
start fails with the same error. These functions turn that into one health alert per outage:

- **database unreachable** — the outbox is in the database, so the alert is sent directly to
  every channel that takes health alerts (best effort, at once, quiet hours or not), and the
  outage is written to a small state file (``PARLEY_STATE_DIR``) so the next failing starts
  stay silent. The first start that reaches the database queues a "reachable again" alert in
  the outbox (its idempotency key names the outage's start) and forgets the outage.
- **Prefect API unreachable** — the database works, so the alert is queued in the outbox with
  a key per outage and committed, then this start delivers just those rows through
  ``deliver_due`` (no flow can run to deliver them). The start that reaches the API again
  queues the "reachable again" alert.

Pure functions: nothing here imports Prefect (flows/cli.py and flows/serve.py call them).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from parley.alerts.channel_file import load_channels
from parley.alerts.channels import Channel
from parley.alerts.notify import SendOutcome, send
from parley.alerts.render import MAX_LINK, MAX_SNIPPET, RenderedAlert, clean_line, format_time
from parley.alerts.routes import HEALTH, HEALTH_TOPIC, Subject, targets
from parley.flows.pipeline.cycle import open_runtime, utcnow
from parley.flows.pipeline.deliver import deliver_due
from parley.flows.pipeline.health import HEALTH_SEVERITY, queue_health, queue_health_rows
from parley.flows.settings import Settings
from parley.storage.db import StorageError, check_connection, make_engine, safe_url, session_scope

log = logging.getLogger(__name__)

STATE_FILE = "outages.json"
PREFECT_PROBE_TIMEOUT = 5.0  # seconds for GET <PREFECT_API_URL>/health
DATABASE, PREFECT = "database", "prefect"
_WHAT = {DATABASE: "Database", PREFECT: "Prefect API"}

Sender = Callable[[Channel, str, str], SendOutcome]


class PrefectUnreachable(RuntimeError):
    """The Prefect API did not answer; the message starts like Prefect's own."""


@dataclass(frozen=True)
class Outage:
    """One service down since ``since``: ``target`` is its URL with secrets masked."""

    what: str  # DATABASE | PREFECT
    target: str
    since: datetime
    error: str

    @property
    def key(self) -> str:
        return f"{self.what} {self.target}"


class OutageLog:
    """The outages seen at start-up and not yet over, in ``<state dir>/outages.json``.

    Written only when an outage starts or ends; a missing or unreadable file means none.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_FILE

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def find(self, what: str, target: str) -> Outage | None:
        raw = self._read().get(f"{what} {target}")
        if not isinstance(raw, dict):
            return None
        try:
            since = datetime.fromisoformat(raw["since"])
        except (KeyError, TypeError, ValueError):
            return None
        return Outage(what, target, since, str(raw.get("error", "")))

    def record(self, outage: Outage) -> None:
        data = self._read()
        data[outage.key] = {"since": outage.since.isoformat(), "error": outage.error}
        self._write(data)

    def forget(self, outage: Outage) -> None:
        data = self._read()
        if data.pop(outage.key, None) is not None:
            self._write(data)

    def _write(self, data: Mapping[str, object]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".tmp")
            partial.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(partial, self.path)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc.strerror or exc)


def safe_api_url(url: str) -> str:
    """``url`` with any password in it replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _masked(text: str, url: str) -> str:
    """``text`` without the password of ``url`` (a database or API URL)."""
    try:
        password = make_url(url).password
    except ArgumentError:
        password = urlsplit(url).password
    return text.replace(str(password), "***") if password else text


def render_outage(outage: Outage, zone: ZoneInfo, *, over: datetime | None = None) -> RenderedAlert:
    """The alert for ``outage``: unreachable, or (``over`` given) reachable again."""
    what = _WHAT[outage.what]
    target = clean_line(outage.target, MAX_LINK)
    since = format_time(outage.since, zone)
    if over is None:
        title = f"[parley health] {what} unreachable: {target}"
        lines = [
            target,
            f"parley cannot reach the {what.lower()} since {since}: runs fail until it is back.",
            f"Error: {clean_line(outage.error, MAX_SNIPPET)}",
        ]
    else:
        title = f"[parley health] {what} reachable again: {target}"
        lines = [target, f"Unreachable from {since} until {format_time(over, zone)}."]
    return RenderedAlert(title=title, body="\n".join(lines))


def check_start(
    settings: Settings,
    environ: Mapping[str, str],
    api_url: str | None,
    *,
    feeds_file: Path | None = None,
    base_url: str | None = None,
) -> None:
    """Before a run or `parley serve`: load the config and open the store as a run would,
    then probe the Prefect API at ``api_url`` (when one is set).

    Raises what :func:`open_runtime` raises (StorageError for an unreachable database, after
    its health alert) or PrefectUnreachable (after its health alert); on success, queues the
    "reachable again" alert of an outage that is over.
    """
    try:
        runtime = open_runtime(settings, feeds_file=feeds_file, base_url=base_url)
    except StorageError:
        database_unreachable(settings, environ, utcnow())
        raise
    try:
        database_reachable(runtime.engine, runtime.channels, settings, utcnow())
        if api_url:
            check_prefect(runtime.engine, runtime.channels, settings, api_url, utcnow())
    finally:
        runtime.engine.dispose()


def _identity(outage: Outage, state: str) -> tuple[str, ...]:
    return (outage.what, outage.target, state, outage.since.isoformat())


# --- the database -------------------------------------------------------------------------


def database_unreachable(
    settings: Settings,
    environ: Mapping[str, str],
    now: datetime,
    *,
    sender: Sender | None = None,
) -> bool:
    """Called when opening the store failed: True if the database cannot be reached.

    The first failing start of an outage sends the alert straight to the channels (the
    outbox is out of reach) and records the outage; later failing starts send nothing.
    A database URL that is merely invalid is a configuration mistake, not an outage.
    """
    try:
        engine = make_engine(settings.database_url)
    except StorageError:
        return False
    try:
        check_connection(engine)
        return False
    except StorageError as exc:
        error = _masked(str(exc), settings.database_url)
    finally:
        engine.dispose()
    outages = OutageLog(settings.state_dir)
    target = safe_url(settings.database_url)
    if outages.find(DATABASE, target) is not None:
        return True
    outage = Outage(DATABASE, target, now, error)
    outages.record(outage)
    rendered = render_outage(outage, settings.zone)
    channels = load_channels(settings.channels_file, environ)
    do_send = sender or _sender(settings.deliver_timeout)
    # Straight to every channel a health alert is routed to, digest or not: the outbox is down.
    for channel, _mode in targets(channels, Subject(HEALTH, HEALTH_TOPIC, HEALTH_SEVERITY, None)):
        result = do_send(channel, rendered.title, rendered.body)
        if not result.ok:
            log.warning("health alert not sent: %s", result.error)
    return True


def database_reachable(
    engine: Engine, channels: Sequence[Channel], settings: Settings, now: datetime
) -> int:
    """The store is open: if a database outage was recorded, queue its "reachable again"
    alert and forget it; return the rows queued."""
    outages = OutageLog(settings.state_dir)
    outage = outages.find(DATABASE, safe_url(settings.database_url))
    if outage is None:
        return 0
    rendered = render_outage(outage, settings.zone, over=now)
    with session_scope(engine) as session:
        queued = queue_health(session, channels, rendered, _identity(outage, "recovered"), now)
    outages.forget(outage)
    return queued


# --- the Prefect API ----------------------------------------------------------------------


def probe_prefect(api_url: str, timeout: float = PREFECT_PROBE_TIMEOUT) -> str | None:
    """None when ``<api_url>/health`` answers at all, else why it could not be reached."""
    try:
        httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout)
    except httpx.TransportError as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return _masked(reason, api_url)
    return None


def check_prefect(
    engine: Engine,
    channels: Sequence[Channel],
    settings: Settings,
    api_url: str,
    now: datetime,
    *,
    probe: Callable[[str], str | None] = probe_prefect,
    sender: Sender | None = None,
) -> None:
    """Probe the Prefect API. Unreachable: queue one alert per outage, deliver it at once and
    raise PrefectUnreachable. Reachable after an outage: queue "reachable again"."""
    target = safe_api_url(api_url)
    outages = OutageLog(settings.state_dir)
    known = outages.find(PREFECT, target)
    error = probe(api_url)
    if error is None:
        if known is not None:
            rendered = render_outage(known, settings.zone, over=now)
            with session_scope(engine) as session:
                queue_health(session, channels, rendered, _identity(known, "recovered"), now)
            outages.forget(known)
        return
    outage = known or Outage(PREFECT, target, now, error)
    if known is None:
        outages.record(outage)
    rendered = render_outage(outage, settings.zone)
    with session_scope(engine) as session:
        queued = queue_health_rows(
            session, channels, rendered, _identity(outage, "unreachable"), now
        )
    if queued:
        # Committed above, so no transaction stays open while the channels answer. No flow can
        # run to deliver these rows while Prefect is down: this start delivers them itself,
        # through the usual path (lease, attempts, backoff, quiet hours; digest rows wait).
        deliver_due(engine, channels, lambda: now, max_attempts=settings.deliver_max_attempts,
                    timeout=settings.deliver_timeout, sender=sender, zone=settings.zone,
                    only=queued)  # fmt: skip
    raise PrefectUnreachable(f"Failed to reach API at {target}: {error}")


def _sender(timeout: float) -> Sender:
    def do_send(channel: Channel, title: str, body: str) -> SendOutcome:
        return send(channel, title, body, timeout=timeout)

    return do_send
