"""The proxy for a feed URL, from HTTP_PROXY / HTTPS_PROXY / ALL_PROXY / NO_PROXY.

aiohttp reads these only with ``trust_env=True``, which also sends ~/.netrc credentials to
feed hosts and looks both up in a thread for every request; parley reads the environment
once per fetch cycle instead. A proxy URL may carry ``user:password@`` (sent to the proxy as
Proxy-Authorization by aiohttp).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit


def env_proxies() -> dict[str, str]:
    """The proxy settings in the environment: scheme (or "all", "no") → value."""
    return urllib.request.getproxies_environment()


def proxy_for(url: str, proxies: Mapping[str, str]) -> str | None:
    """The proxy `url` goes through, or None for a direct connection."""
    if not proxies:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None  # the fetch itself reports the invalid URL
    proxy = proxies.get(parts.scheme.lower()) or proxies.get("all")
    if not proxy or _bypassed(host, proxies.get("no", "")):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _bypassed(host: str, no_proxy: str) -> bool:
    """NO_PROXY as curl reads it: `*`, or host names that also cover their subdomains."""
    for entry in no_proxy.lower().split(","):
        name = entry.strip().removeprefix("*").lstrip(".")
        if entry.strip() == "*" or (name and (host == name or host.endswith("." + name))):
            return True
    return False
