"""Quote the original text around a hit: ≈160 characters, the hit in « », … where cut."""

from __future__ import annotations

import re
import unicodedata

from parley.flows.topics.normalize import Normalized

SNIPPET_WIDTH = 160
ELLIPSIS = "…"
_SPACE = re.compile(r"\s+")


def original_span(original: str, norm: Normalized, start: int, end: int) -> tuple[int, int]:
    """The span of `original` that produced `norm.text[start:end]` (trailing marks included)."""
    left = norm.origin[start]
    right = norm.origin[end - 1] + 1
    while right < len(original) and (
        unicodedata.combining(original[right]) or unicodedata.category(original[right]) == "Cf"
    ):
        right += 1
    return left, right


def make_snippet(original: str, left: int, right: int, width: int = SNIPPET_WIDTH) -> str:
    """About `width` characters of `original` around `original[left:right]`, cut at spaces."""
    room = max(width - (right - left), 0)
    start = max(left - room // 2, 0)
    after_room = room - (left - start)
    end = min(right + after_room, len(original))
    start = max(start - (after_room - (end - right)), 0)  # room unused on the right goes left
    if start > 0:
        gap = _SPACE.search(original, start, left)
        start = gap.end() if gap else start
    if end < len(original):
        gaps = list(_SPACE.finditer(original, right, end))
        end = gaps[-1].start() if gaps else end
    head = ELLIPSIS if original[:start].strip() else ""
    tail = ELLIPSIS if original[end:].strip() else ""
    before = _SPACE.sub(" ", original[start:left]).lstrip()
    hit = _SPACE.sub(" ", original[left:right])
    after = _SPACE.sub(" ", original[right:end]).rstrip()
    return f"{head}{before}«{hit}»{after}{tail}"
