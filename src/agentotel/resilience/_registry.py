"""Live components, for ``agentotel.health()`` and for shared observable instruments.

Components register themselves at construction and are held weakly: a component
the application drops disappears from health reports and metrics by itself.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Protocol


class Reporting(Protocol):
    """What a registered component offers: its name and a health snapshot."""

    name: str

    def health_snapshot(self) -> dict[str, Any]:
        """A plain, JSON-serialisable dict describing the component's current state."""
        ...


_lock = threading.Lock()
_components: dict[str, weakref.WeakSet[Any]] = {}


def register(kind: str, component: Any) -> None:
    """Remember ``component`` (weakly) under ``kind`` ("cache", "circuit_breaker", "load_balancer", "rate_limiter")."""
    with _lock:
        _components.setdefault(kind, weakref.WeakSet()).add(component)


def components(kind: str) -> list[Any]:
    """The live components of ``kind``, sorted by name."""
    with _lock:
        found = list(_components.get(kind, ()))
    return sorted(found, key=lambda c: str(getattr(c, "name", "")))


def kinds() -> list[str]:
    """Every kind that has had a component registered."""
    with _lock:
        return sorted(_components)
