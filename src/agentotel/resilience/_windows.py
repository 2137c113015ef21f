"""Sliding windows of call outcomes for the circuit breaker, O(1) per recorded call.

An outcome is a small int: bit ``FAILURE`` set for a failed call, bit ``SLOW``
set for a call slower than the slow-call threshold (a slow failure has both).
Both windows keep running totals, so reading the rates is O(1) too. They are
not thread-safe: the breaker calls them under its lock.
"""

from __future__ import annotations

import math
from typing import Protocol

__all__ = ["FAILURE", "SLOW", "Window", "CountWindow", "TimeWindow"]

FAILURE = 1
SLOW = 2


class Window(Protocol):
    """Totals of the outcomes currently inside the window."""

    total: int
    failures: int
    slow: int

    def record(self, outcome: int, now: float) -> None:
        """Add one outcome observed at ``now``."""

    def refresh(self, now: float) -> None:
        """Drop what has slid out of the window by ``now``."""

    def clear(self) -> None:
        """Forget everything."""


class CountWindow:
    """The last ``size`` outcomes, in a ring buffer."""

    __slots__ = ("size", "_ring", "_next", "total", "failures", "slow")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("window_size must be >= 1")
        self.size = size
        self.clear()

    def clear(self) -> None:
        self._ring = bytearray(self.size)
        self._next = 0
        self.total = self.failures = self.slow = 0

    def record(self, outcome: int, now: float) -> None:
        i = self._next
        if self.total == self.size:
            old = self._ring[i]
            self.failures -= old & FAILURE
            self.slow -= (old & SLOW) >> 1
        else:
            self.total += 1
        self._ring[i] = outcome
        self.failures += outcome & FAILURE
        self.slow += (outcome & SLOW) >> 1
        i += 1
        self._next = 0 if i == self.size else i

    def add_successes(self, count: int) -> None:
        """Record ``count`` successes at once: O(1) while the window holds no failure or slow call."""
        if self.failures or self.slow:
            for _ in range(min(count, self.size)):
                self.record(0, 0.0)
            return
        self.total = min(self.size, self.total + count)  # every slot already holds 0 (success)
        self._next = (self._next + count) % self.size

    def refresh(self, now: float) -> None:  # a count window does not age
        return None


class TimeWindow:
    """Outcomes of the last ``seconds``, in ``buckets`` time slices (resilience4j's time-based window)."""

    __slots__ = ("width", "buckets", "_totals", "_failures", "_slow", "_head", "total", "failures", "slow")

    def __init__(self, seconds: float, buckets: int = 10) -> None:
        if seconds <= 0 or buckets < 1:
            raise ValueError("a time window needs seconds > 0 and buckets >= 1")
        self.buckets = buckets
        self.width = seconds / buckets
        self.clear()

    def clear(self) -> None:
        n = self.buckets
        self._totals = [0] * n
        self._failures = [0] * n
        self._slow = [0] * n
        self._head = -math.inf  # index (in slices since the clock's epoch) of the newest slice
        self.total = self.failures = self.slow = 0

    def refresh(self, now: float) -> None:
        head = math.floor(now / self.width)
        if head <= self._head:
            return
        n = self.buckets
        # Each slice is cleared at most once per pass: amortised O(1) per call.
        start = max(self._head + 1, head - n + 1)
        for s in range(int(start), head + 1):
            i = s % n
            self.total -= self._totals[i]
            self.failures -= self._failures[i]
            self.slow -= self._slow[i]
            self._totals[i] = self._failures[i] = self._slow[i] = 0
        self._head = head

    def record(self, outcome: int, now: float) -> None:
        self.refresh(now)
        i = int(self._head) % self.buckets
        failed = outcome & FAILURE
        slow = (outcome & SLOW) >> 1
        self._totals[i] += 1
        self._failures[i] += failed
        self._slow[i] += slow
        self.total += 1
        self.failures += failed
        self.slow += slow
