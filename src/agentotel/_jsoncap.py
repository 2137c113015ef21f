"""Cap captured content to a length while keeping it valid JSON (shared by every content capture)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

__all__ = ["capped_json", "cap_text"]

_ELLIPSIS = "…"
_MIN_LEAF = 8


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _clip(value: Any, limit: int) -> Any:
    """``value`` with every string longer than ``limit`` cut to ``limit`` characters plus an ellipsis."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + _ELLIPSIS
    if isinstance(value, Mapping):
        return {str(k): _clip(v, limit) for k, v in cast("Mapping[object, object]", value).items()}
    if isinstance(value, (list, tuple)):
        return [_clip(v, limit) for v in cast("Sequence[object]", value)]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _clip(str(value), limit)


def capped_json(value: Any, max_length: int) -> str:
    """``value`` as compact JSON of at most ``max_length`` characters, always valid JSON.

    Long strings are shortened first (halving a per-string limit); if that is not
    enough, leading list items are dropped (the newest messages are kept); as a
    last resort an empty list or object is returned. Caps below 2 are taken as 2
    (the shortest JSON value that can stand for anything, ``""``).
    """
    max_length = max(max_length, 2)
    text = _dumps(value)
    if len(text) <= max_length:
        return text
    limit = max_length
    clipped = value
    while limit > _MIN_LEAF:
        limit //= 2
        clipped = _clip(value, limit)
        text = _dumps(clipped)
        if len(text) <= max_length:
            return text
    if isinstance(clipped, list):
        items = list(cast("list[object]", clipped))
        while items:
            items.pop(0)
            text = _dumps(items)
            if len(text) <= max_length:
                return text
        return "[]"
    if isinstance(clipped, str):
        keep = max(0, max_length - 2 - len(_ELLIPSIS))
        while keep >= 0:
            text = _dumps(clipped[:keep] + _ELLIPSIS)
            if len(text) <= max_length:
                return text
            keep -= max(1, len(text) - max_length)
        return '""'
    fallback = "{}" if isinstance(clipped, dict) else "null"
    return fallback if len(fallback) <= max_length else '""'


def cap_text(value: str, max_length: int) -> str:
    """``value`` cut to ``max_length``: re-capped as JSON when it is JSON (so it stays valid), else truncated."""
    if len(value) <= max_length:
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value[: max(0, max_length - len(_ELLIPSIS))] + _ELLIPSIS
    return capped_json(parsed, max_length)
