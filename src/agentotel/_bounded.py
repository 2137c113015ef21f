"""A bounded LRU map for per-statement work on hot paths (query text -> analysis, attributes)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["BoundedLRU"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """At most ``size`` entries, least recently used evicted first; ``size=0`` keeps nothing.

    A read takes no lock (``OrderedDict`` operations are atomic under the GIL; an
    entry evicted between the lookup and the move is simply not moved); a write
    takes one plain lock for the insert and the eviction. Safe from many threads.
    """

    __slots__ = ("_entries", "_lock", "_size")

    def __init__(self, size: int) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recent), or ``None``."""
        value = self._entries.get(key)
        if value is not None:
            try:
                self._entries.move_to_end(key)
            except KeyError:  # evicted by another thread in between
                pass
        return value

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` under ``key``, evicting the least recently used beyond ``size``."""
        if not self._size:
            return
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
