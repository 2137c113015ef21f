"""The in-process store behind :class:`agentotel.Cache`: LRU order, per-entry expiry, entry and byte bounds.

Not thread-safe by itself: the owning cache holds its lock around every call, and
never calls user code (weighers, loaders) from here.

Costs: lookup, insert, overwrite, delete and LRU eviction are O(1) (an
``OrderedDict`` in recency order). Expiry is O(1) too for entries stored with the
cache's default TTL: with a monotonic clock they expire in the order they were
written, so a second ``OrderedDict`` in write order finds the expired ones from its
front. Entries with their own TTL go on a heap instead (O(log n) in C); heap items
of entries removed early go stale and are compacted away in amortised O(1).
"""

from __future__ import annotations

import heapq
import itertools
import sys
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Final, NamedTuple, cast

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


# Entry(...) without its Python-level __new__ (a third of an insert's cost).
_new_entry = cast("Callable[[type[Entry], tuple[Any, float, int]], Entry]", tuple.__new__)  # pyright: ignore[reportUnknownMemberType]


class LruTtlStore:
    """Entries in least-recently-used order, bounded by count and optionally by total weight."""

    __slots__ = ("data", "max_entries", "max_weight", "weight", "removals", "_in_write_order", "_heap", "_seq")

    def __init__(self, max_entries: int, max_weight: int | None) -> None:
        self.data: OrderedDict[Hashable, Entry] = OrderedDict()  # least recently used first
        self.max_entries = max_entries
        self.max_weight = max_weight
        self.weight = 0
        self.removals: dict[str, int] = dict.fromkeys(CAUSES, 0)
        # Keys of entries with the default TTL, oldest write first (= soonest expiry first).
        self._in_write_order: OrderedDict[Hashable, None] = OrderedDict()
        # (expires, seq, key, entry) of entries with their own TTL; stale once data[key] is not `entry`.
        self._heap: list[tuple[float, int, Hashable, Entry]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self.data)

    def lookup(self, key: Hashable, now: float) -> Entry | None:
        """The live entry for ``key`` (marked most recently used), or ``None``; drops it if expired."""
        entry = self.data.get(key)
        if entry is None:
            return None
        if entry.expires > now:
            self.data.move_to_end(key)
            return entry
        self._remove(key, entry, EXPIRED)
        return None

    def put(
        self, key: Hashable, value: Any, expires: float, weight: int, now: float, *, default_ttl: bool = False
    ) -> None:
        """Store ``value``; an overwrite replaces in place and never evicts another key by itself.

        ``default_ttl``: ``expires`` is ``now`` plus the cache's one default TTL, so it is
        never earlier than that of any entry stored before with ``default_ttl``.
        """
        data = self.data
        old = data.pop(key, None)
        if old is not None:
            self._in_write_order.pop(key, None)
            self.weight -= old.weight
            self.removals[EXPIRED if old.expires <= now else REPLACED] += 1
        if expires <= now:  # ttl=0: expires at once, so it is never stored
            return
        if self.max_weight is not None and weight > self.max_weight:
            self.removals[SIZE] += 1
            return
        entry = _new_entry(Entry, (value, expires, weight))
        data[key] = entry
        self.weight += weight
        if expires == NEVER:
            pass
        elif default_ttl:
            self._in_write_order[key] = None
        else:
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
        self._in_write_order.clear()
        self._heap.clear()
        self.weight = 0
        return count

    def expire(self, now: float) -> None:
        """Drop every entry whose expiry is at or before ``now``."""
        data = self.data
        in_write_order = self._in_write_order
        while in_write_order:
            key = next(iter(in_write_order))
            entry = data[key]
            if entry.expires > now:
                break
            self._remove(key, entry, EXPIRED)
        heap = self._heap
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
            self._in_write_order.pop(key, None)
            self.weight -= entry.weight
            self.removals[SIZE] += 1

    def _remove(self, key: Hashable, entry: Entry, cause: str) -> None:
        del self.data[key]
        self._in_write_order.pop(key, None)
        self.weight -= entry.weight
        self.removals[cause] += 1

    def _compact(self) -> None:
        data = self.data
        self._heap = [item for item in self._heap if data.get(item[2]) is item[3]]
        heapq.heapify(self._heap)


def estimate_size(value: object, _depth: int = 0) -> int:
    """Default weigher: ``sys.getsizeof`` of the value plus, for containers, of their items (3 levels)."""
    size = sys.getsizeof(value)
    if _depth >= 3 or isinstance(value, (str, bytes, bytearray, int, float)):
        return size
    if isinstance(value, dict):
        items = cast("dict[object, object]", value).items()
        return size + sum(estimate_size(k, _depth + 1) + estimate_size(v, _depth + 1) for k, v in items)
    if isinstance(value, (list, tuple, set, frozenset)):
        return size + sum(estimate_size(item, _depth + 1) for item in cast("Iterable[object]", value))
    return size
