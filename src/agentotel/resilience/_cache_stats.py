"""``CacheStats``: a snapshot of an :class:`agentotel.Cache`'s counters, modelled on Caffeine's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agentotel.resilience._lru import EXPIRED, SIZE

__all__ = ["CacheStats"]


@dataclass(frozen=True)
class CacheStats:
    """A snapshot of a cache's counters, in the spirit of Caffeine's ``CacheStats``."""

    hits: int
    misses: int
    load_successes: int
    load_failures: int
    total_load_time: float
    """Seconds spent in loaders (on the cache's clock)."""
    evictions_by_cause: Mapping[str, int]
    """Removals by cause: ``size``, ``expired`` (automatic), ``explicit``, ``replaced``."""
    coalesced: int
    """Callers that joined a load already in flight instead of starting their own."""
    entries: int
    weight: int
    l2_hits: int = 0
    l2_misses: int = 0
    l2_errors: int = 0

    @property
    def requests(self) -> int:
        """Lookups: hits + misses."""
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float:
        """hits / requests (1.0 before the first request, as in Caffeine)."""
        return self.hits / self.requests if self.requests else 1.0

    @property
    def loads(self) -> int:
        """Loader runs: successes + failures."""
        return self.load_successes + self.load_failures

    @property
    def evictions(self) -> int:
        """Automatic removals: by size and by expiry."""
        return self.evictions_by_cause.get(SIZE, 0) + self.evictions_by_cause.get(EXPIRED, 0)

    @property
    def average_load_time(self) -> float:
        """Mean seconds per loader run (0.0 before the first)."""
        return self.total_load_time / self.loads if self.loads else 0.0
