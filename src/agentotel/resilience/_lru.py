"""The in-process store behind :class:`agentotel.Cache`: LRU order, per-entry expiry, entry and byte bounds.

Not thread-safe by itself: the owning cache holds its lock around every call, and
never calls user code (weighers, loaders) from here. Costs: lookup, insert,
overwrite, delete and LRU eviction are O(1) (an ``OrderedDict``); entries with an
expiry are also pushed on a heap, so expiring them is O(log n) in C, amortised.
"""

from __future__ import annotations

import heapq
import itertools
import sys
from collections import OrderedDict
from typing import Any, Final, Hashable, NamedTuple, Optional

__all__ = ["CAUSES", "Entry", "LruTtlStore", "estimate_size"]

NEVER: Final = float("inf")
# Removal causes, as reported in `cache.eviction.cause`.
SIZE: Final = "size"
EXPIRED: Final = "expired"
EXPLICIT: Final = "explicit"
REPLACED: Final = "replaced"
CAUSES: Final = (SIZE, EXPIRED, EXPLICIT, REPLACED)


class Entry(NamedTuple):
    """A stored value: ``expires`` is a clock reading (``inf`` for never), ``weight`` fixed at insert."""

    value: Any
    expires: float
    weight: int


_new_entry = tuple.__new__


class LruTtlStore:
    """Entries in least-recently-used order, bounded by count and optionally by total weight."""

    __slots__ = ("data", "max_entries", "max_weight", "weight", "removals", "_heap", "_seq")

    def __init__(self, max_entries: int, max_weight: Optional[int]) -> None:
        self.data: OrderedDict[Hashable, Entry] = OrderedDict()  # oldest first
        self.max_entries = max_entries
        self.max_weight = max_weight
        self.weight = 0
        self.removals = dict.fromkeys(CAUSES, 0)
        # (expires, seq, key, entry); an item is stale once data[key] is no longer `entry`.
        self._heap: list[tuple[float, int, Hashable, Entry]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self.data)

    def lookup(self, key: Hashable, now: float) -> Optional[Entry]:
        """The live entry for ``key`` (marked most recently used), or ``None``; drops it if expired."""
        entry = self.data.get(key)
        if entry is None:
            return None
        if entry.expires > now:
            self.data.move_to_end(key)
            return entry
        self._remove(key, entry, EXPIRED)
        return None

    def put(self, key: Hashable, value: Any, expires: float, weight: int, now: float) -> None:
        """Store ``value``; an overwrite replaces in place and never evicts another key by itself."""
        old = self.data.pop(key, None)
        if old is not None:
            self.weight -= old.weight
            self.removals[EXPIRED if old.expires <= now else REPLACED] += 1
        if expires <= now:  # ttl=0: expires at once, so it is never stored
            return
        if self.max_weight is not None and weight > self.max_weight:
            self.removals[SIZE] += 1
            return
        entry = _new_entry(Entry, (value, expires, weight))  # Entry(...) without its Python __new__
        data = self.data
        data[key] = entry
        self.weight += weight
        if expires != NEVER:
            heap = self._heap
            heapq.heappush(heap, (expires, next(self._seq), key, entry))
            if len(heap) > 2 * len(data) + 64:
                self._compact()
        if len(data) > self.max_entries or (self.max_weight is not None and self.weight > self.max_weight):
            self._make_room(now)

    def delete(self, key: Hashable, now: float) -> bool:
        """Remove ``key``; True if a live entry was removed."""
        entry = self.data.get(key)
        if entry is None:
            return False
        live = entry.expires > now
        self._remove(key, entry, EXPLICIT if live else EXPIRED)
        return live

    def clear(self) -> int:
        """Remove everything (cause ``explicit``); returns how many entries were held."""
        count = len(self.data)
        self.removals[EXPLICIT] += count
        self.data.clear()
        self._heap.clear()
        self.weight = 0
        return count

    def expire(self, now: float) -> None:
        """Drop every entry whose expiry is at or before ``now``."""
        heap = self._heap
        data = self.data
        while heap and heap[0][0] <= now:
            _, _, key, entry = heapq.heappop(heap)
            if data.get(key) is entry:
                self._remove(key, entry, EXPIRED)

    def _make_room(self, now: float) -> None:
        # Expired entries go first: they must not push out live ones.
        self.expire(now)
        data = self.data
        while len(data) > self.max_entries or (self.max_weight is not None and self.weight > self.max_weight):
            key, entry = data.popitem(last=False)
            self.weight -= entry.weight
            self.removals[SIZE] += 1

    def _remove(self, key: Hashable, entry: Entry, cause: str) -> None:
        del self.data[key]
        self.weight -= entry.weight
        self.removals[cause] += 1

    def _compact(self) -> None:
        data = self.data
        self._heap = [item for item in self._heap if data.get(item[2]) is item[3]]
        heapq.heapify(self._heap)


def estimate_size(value: Any, _depth: int = 0) -> int:
    """Default weigher: ``sys.getsizeof`` of the value plus, for containers, of their items (3 levels)."""
    size = sys.getsizeof(value)
    if _depth >= 3 or isinstance(value, (str, bytes, bytearray, int, float)):
        return size
    if isinstance(value, dict):
        return size + sum(estimate_size(k, _depth + 1) + estimate_size(v, _depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return size + sum(estimate_size(item, _depth + 1) for item in value)
    return size
