"""Alert channels: apprise URLs loaded from YAML, secrets taken from the environment.

File format (see seeds/channels.example.yaml)::

    channels:
      - name: desk-email                     # unique
        url: mailtos://parley:${PARLEY_SMTP_PASSWORD}@smtp.example.org?to=desk@example.org
        tags: [znpp, black-sea]              # topic keys; omitted or empty = every topic
        min_severity: medium                 # low | medium | high | critical (default low)
        mode: digest                         # immediate (default) | digest: one message a day
        rate_limit: "5/10m"                  # at most 5 messages in 10 min; the rest bundled
        format: markdown                     # text | markdown | html; default: from apprise

    routes:                                  # optional: see alerts/routes.py
      - topics: [znpp]
        channels: [desk-email]
        mode: immediate

``${VAR}`` in a URL is replaced by the variable's value, inserted as it is (percent-encode
characters such as ``@`` or ``/`` in the value when the URL needs it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from .plugins import JSONL_SCHEMA, OWN_SCHEMAS, load_apprise_plugins
from .quiet import QuietHours
from .ratelimit import RateLimit
from .routes import DIGEST, IMMEDIATE, MODES, Route
from .severity import RANK, SEVERITIES

MASK = "***"

_RANK = RANK
# Body formats a channel may take (apprise's names). Digests and rate-limit bundles are rendered
# in the channel's format; single alerts are always plain text.
TEXT, MARKDOWN, HTML = "text", "markdown", "html"
FORMATS = (TEXT, MARKDOWN, HTML)
# apprise's generic web hooks declare every format and pass the body on untouched: the program
# behind them expects plain text unless the channel says otherwise.
_PASS_THROUGH = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
_FORMAT_ARG_RE = re.compile(r"[?&]format=([^&#]*)", re.IGNORECASE)
_VAR_RE = re.compile(r"\$\{([^{}]*)\}")
_VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# ``+Header=value`` query arguments (json://, form://, xml://) carry tokens apprise shows.
_HEADER_ARG_RE = re.compile(r"([?&](?:\+|%2[Bb])[^=&#]*=)[^&#]*")
_TOKEN_SPLIT_RE = re.compile(r"[/:@?&=#,]+")
_MIN_HIDDEN_TOKEN = 4


class ChannelError(ValueError):
    """A channel file or URL that cannot be used; the message never contains a secret."""

    def __init__(
        self,
        reason: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        channel: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.channel = channel
        where = []
        if path is not None:
            where.append(str(path) if line is None else f"{path}, line {line}")
        if channel is not None:
            where.append(f"channel {channel!r}")
        super().__init__(": ".join([*where, reason]))


@dataclass(frozen=True)
class Channel:
    """One place alerts go. ``url`` holds expanded secrets: never log or print it."""

    name: str
    url: str = field(repr=False)
    safe_url: str
    tags: frozenset[str] = frozenset()
    min_severity: str = "low"
    secrets: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    quiet: QuietHours | None = None
    mode: str = IMMEDIATE  # immediate: each alert on its own; digest: gathered by `parley digest`
    rate_limit: RateLimit | None = None  # over it, the channel's due alerts go as one bundle
    format: str = TEXT  # body format of digests and bundles: text | markdown | html
    # The routes of the file that send alerts here; None: the file has no routes, so the
    # channel's own tags, min_severity and mode are its route.
    routes: tuple[Route, ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.min_severity not in _RANK:
            raise ValueError(f"unknown severity {self.min_severity!r}; use one of {SEVERITIES}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; use one of {MODES}")
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}; use one of {FORMATS}")

    @property
    def digest(self) -> bool:
        """True if alerts may wait here for the digest (its own mode, or a digest route)."""
        routes = self.routes or ()
        return self.mode == DIGEST or any(route.mode == DIGEST for route in routes)

    @property
    def is_email(self) -> bool:
        """True for ``mailto://`` and ``mailtos://`` channels."""
        return self.url.lower().startswith(("mailto://", "mailtos://"))

    def wants(self, topic_key: str, severity: str) -> bool:
        """True if an alert on ``topic_key`` at ``severity`` belongs on this channel."""
        if severity not in _RANK:
            raise ValueError(f"unknown severity {severity!r}; use one of {SEVERITIES}")
        if self.tags and topic_key not in self.tags:
            return False
        return _RANK[severity] >= _RANK[self.min_severity]

    def mask(self, text: str) -> str:
        """``text`` with every secret of this channel replaced by ``***``."""
        return mask_secrets(text, self.secrets)


def build_channel(
    name: str,
    url_template: str,
    env: Mapping[str, str],
    *,
    tags: frozenset[str] = frozenset(),
    min_severity: str = "low",
    quiet: QuietHours | None = None,
    mode: str = IMMEDIATE,
    rate_limit: RateLimit | None = None,
    body_format: str | None = None,
) -> Channel:
    """Expand ``${VAR}`` in ``url_template``, check it with apprise and build the Channel.

    ``body_format`` (text | markdown | html) is the format of its digests and bundles; None
    takes it from the URL's ``format=`` argument, or else from what the apprise service takes.
    """
    url, secret_values = expand_url(url_template, env, channel=name)
    secrets = _secret_variants(secret_values)
    url, explicit = _with_format(url, body_format, name, secrets)
    scheme_match = _SCHEME_RE.match(url)
    if scheme_match is None:
        raise ChannelError(
            f"not an apprise URL (expected scheme://…): {_fallback_safe_url(url, secrets)}",
            channel=name,
        )
    scheme = scheme_match.group(1).lower()
    manager = load_apprise_plugins()
    if scheme not in manager:
        raise ChannelError(f"unknown URL scheme {scheme + '://'!r}", channel=name)
    plugin_class = manager[scheme]
    if not getattr(plugin_class, "enabled", True):
        needs = _requirements(plugin_class)
        raise ChannelError(f"{scheme}:// is not available here{needs}", channel=name)
    if scheme == JSONL_SCHEMA and not url.startswith(f"{JSONL_SCHEMA}:///"):
        raise ChannelError("jsonl:// needs an absolute path: jsonl:///path/to/file", channel=name)
    plugin = _instantiate_quietly(url)
    if plugin is None:
        raise ChannelError(
            f"apprise cannot use this URL ({_fallback_safe_url(url, secrets)}); "
            f"check it against the {scheme}:// format",
            channel=name,
        )
    chosen = explicit or native_format(plugin_class, scheme)
    shown = url if scheme in OWN_SCHEMAS else str(plugin.url(privacy=True))
    hidden = _hidden_tokens(url, shown)
    safe_url = mask_secrets(_HEADER_ARG_RE.sub(r"\1" + MASK, shown), secrets)
    return Channel(
        name=name,
        url=url,
        safe_url=safe_url,
        tags=tags,
        min_severity=min_severity,
        secrets=secrets | hidden,
        quiet=quiet,
        mode=mode,
        rate_limit=rate_limit,
        format=chosen,
    )


def native_format(plugin_class: Any, scheme: str) -> str:
    """The body format an apprise service takes, from its plugin's ``notify_format`` (one
    format, or several with its default first).

    A service whose default is markdown or HTML gets it (Slack, Rocket.Chat, Google Chat; e-mail,
    Telegram); one that also takes markdown gets markdown (Discord, Matrix), except the generic
    web hooks (json://, form://, xml://) and parley's own console:// and jsonl://, which pass
    any body on; anything else gets plain text (Mattermost, ntfy).
    """
    declared = getattr(plugin_class, "notify_format", TEXT)
    formats = [
        str(getattr(f, "value", f)).lower()
        for f in (declared if isinstance(declared, tuple | list) else (declared,))
    ]
    if not formats:
        return TEXT
    if formats[0] in (MARKDOWN, HTML):
        return formats[0]
    if MARKDOWN in formats and scheme not in _PASS_THROUGH and scheme not in OWN_SCHEMAS:
        return MARKDOWN
    return TEXT


def _with_format(
    url: str, body_format: str | None, name: str, secrets: frozenset[str]
) -> tuple[str, str | None]:
    """``url`` carrying apprise's ``format=`` argument when a format is asked for, and that
    format (None: none asked for). apprise then renders nothing in a format of its own: a
    service it knows as text-only (Mattermost, ntfy) takes the markdown as it is."""
    found = _FORMAT_ARG_RE.search(url)
    raw = found.group(1) if found else None
    in_url = raw.lower() if raw is not None else None
    if raw is not None and in_url not in FORMATS:
        raise ChannelError(
            f"format={mask_secrets(raw, secrets)[:40]!r} in url: use one of {', '.join(FORMATS)}",
            channel=name,
        )
    if body_format is None:
        return url, in_url
    if in_url is None:
        return url + ("&" if "?" in url else "?") + f"format={body_format}", body_format
    if in_url != body_format:
        raise ChannelError(
            f"format {body_format!r} contradicts format={in_url} in its url", channel=name
        )
    return url, body_format


def expand_url(
    template: str, env: Mapping[str, str], *, channel: str | None = None
) -> tuple[str, frozenset[str]]:
    """Replace each ``${VAR}`` from ``env``; return the URL and the values inserted."""
    values: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        var = match.group(1).strip()
        if not _VAR_NAME_RE.fullmatch(var):
            raise ChannelError(f"bad variable reference ${{{var}}} in url", channel=channel)
        value = env.get(var)
        if value is None:
            raise ChannelError(f"environment variable {var} is not set", channel=channel)
        if not value:
            raise ChannelError(f"environment variable {var} is empty", channel=channel)
        values.add(value)
        return value

    expanded = _VAR_RE.sub(substitute, template)
    if "${" in _VAR_RE.sub("", template):
        raise ChannelError("unclosed ${ in url", channel=channel)
    return expanded, frozenset(values)


def mask_secrets(text: str, secrets: frozenset[str]) -> str:
    """``text`` with each secret (longest first) replaced by ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


def _secret_variants(values: frozenset[str]) -> frozenset[str]:
    """The values plus the encoded and decoded forms apprise may print them in."""
    variants: set[str] = set()
    for value in values:
        variants.update({value, quote(value, safe=""), quote(value), unquote(value)})
    return frozenset(v for v in variants if v)


def _hidden_tokens(url: str, shown: str) -> frozenset[str]:
    """Parts of ``url`` that apprise's privacy rendering hides: treat them as secrets."""
    tokens = _TOKEN_SPLIT_RE.split(url.split("://", 1)[-1])
    visible = shown + " " + unquote(shown)
    return frozenset(t for t in tokens if len(t) >= _MIN_HIDDEN_TOKEN and t not in visible)


def _fallback_safe_url(url: str, secrets: frozenset[str]) -> str:
    """A display form for a URL apprise rejected: scheme and a plain host name only."""
    scheme, _, rest = url.partition("://")
    authority, sep, tail = rest.partition("/")
    host = authority.rsplit("@", 1)[-1]
    host_name, _, port = host.partition(":")
    looks_like_host = "." in host_name or host_name == "localhost"
    shown = host_name if looks_like_host and host_name not in secrets else MASK
    if looks_like_host and port.isdigit():
        shown += f":{port}"
    if "@" in authority:
        shown = f"{MASK}@{shown}"
    if sep or tail or "?" in host:
        shown += "/…"
    return mask_secrets(f"{scheme}://{shown}", secrets)


def _requirements(plugin_class: Any) -> str:
    """`` (needs …)`` from an apprise plugin's declared requirements, or ``""``."""
    requirements = getattr(plugin_class, "requirements", None)
    if isinstance(requirements, Mapping):
        needed = requirements.get("packages_required")
        if needed:
            listed = needed if isinstance(needed, str) else ", ".join(map(str, needed))
            return f" (needs the Python package {listed})"
    return ""


def _instantiate_quietly(url: str) -> Any:
    """Build the apprise service for ``url`` with apprise's own log lines muted.

    apprise logs a rejected URL verbatim (tokens included), so nothing it says while
    checking a URL may reach the logs.
    """
    import apprise

    with _apprise_muted():
        return apprise.Apprise.instantiate(url)


@contextmanager
def _apprise_muted() -> Iterator[None]:
    """Drop every record logged on the ``apprise`` logger while active."""
    logger = logging.getLogger("apprise")
    drop = _DropAll()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


class _DropAll(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False
