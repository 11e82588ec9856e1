"""Masking the userinfo of URLs, so that a feed's user:password never reaches output or logs.

A module of its own: the parse workers need it, and importing it must not bring in an HTTP
client (each parse worker would hold that client's modules for nothing).
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redact_url(text: str) -> str:
    """Mask the userinfo (user:password@) of every URL in `text`."""
    return _USERINFO.sub("***@", text)
