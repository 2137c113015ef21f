"""Call outcomes, and the sliding windows of them that the circuit breaker keeps, O(1) per recorded call.

An :class:`Outcome` is a flag: a slow failure is ``FAILURE | SLOW``. The outcomes a
window holds are ``SUCCESS``, ``FAILURE``, ``SLOW`` and ``FAILURE | SLOW``; ``IGNORED``
and ``CANCELLED`` never enter one. Both windows keep running totals, so reading the
rates is O(1) too. They are not thread-safe: the breaker calls them under its lock.
"""

from __future__ import annotations

import enum
import math
from typing import Final, Protocol

__all__ = ["Outcome", "Window", "CountWindow", "TimeWindow", "FAILURES", "SLOW_CALLS"]


class Outcome(enum.IntFlag):
    """How one call ended, as a circuit breaker counts it; the window outcomes are the values below ``IGNORED``."""

    SUCCESS = 0
    FAILURE = 1
    SLOW = 2
    IGNORED = 4  # an exception the breaker was told not to count
    CANCELLED = 8  # cancellation, GeneratorExit, KeyboardInterrupt: neither success nor failure

    @property
    def label(self) -> str:
        """The ``circuit_breaker.outcome`` it is reported under (a slow failure is a ``failure``)."""
        if self & Outcome.FAILURE:
            return "failure"
        if self & Outcome.SLOW:
            return "slow"
        return (self.name or "success").lower()


# What each window outcome adds to a window's failure and slow-call counts, indexed by the outcome
# itself: computed once here because the flag operators (``&``, ``|``) are Python code, ~0.5 µs a call.
FAILURES: Final = tuple(int(Outcome.FAILURE in Outcome(value)) for value in range(Outcome.IGNORED))
SLOW_CALLS: Final = tuple(int(Outcome.SLOW in Outcome(value)) for value in range(Outcome.IGNORED))


class Window(Protocol):
    """Totals of the outcomes currently inside the window."""

    total: int
    failures: int
    slow: int

    def record(self, outcome: Outcome, now: float) -> None:
        """Add one window outcome observed at ``now``."""
        ...

    def add_successes(self, count: int, now: float) -> None:
        """Add ``count`` successes observed at ``now`` at once."""
        ...

    def refresh(self, now: float) -> None:
        """Drop what has slid out of the window by ``now``."""
        ...

    def clear(self) -> None:
        """Forget everything."""
        ...


class CountWindow:
    """The last ``size`` outcomes, in a ring buffer."""

    __slots__ = ("size", "_ring", "_next", "total", "failures", "slow")

    total: int
    failures: int
    slow: int

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("window_size must be >= 1")
        self.size = size
        self._ring = bytearray(size)
        self._next = 0
        self.total = self.failures = self.slow = 0

    def clear(self) -> None:
        """Forget everything."""
        self._ring = bytearray(self.size)
        self._next = 0
        self.total = self.failures = self.slow = 0

    def record(self, outcome: Outcome, now: float) -> None:
        """Add one window outcome (the oldest one slides out once the ring is full)."""
        i = self._next
        if self.total == self.size:
            old = self._ring[i]
            self.failures -= FAILURES[old]
            self.slow -= SLOW_CALLS[old]
        else:
            self.total += 1
        self._ring[i] = outcome
        self.failures += FAILURES[outcome]
        self.slow += SLOW_CALLS[outcome]
        i += 1
        self._next = 0 if i == self.size else i

    def add_successes(self, count: int, now: float) -> None:
        """Record ``count`` successes at once: O(1) while the window holds no failure or slow call."""
        if self.failures or self.slow:
            for _ in range(min(count, self.size)):
                self.record(Outcome.SUCCESS, now)
            return
        self.total = min(self.size, self.total + count)  # every slot already holds 0 (success)
        self._next = (self._next + count) % self.size

    def refresh(self, now: float) -> None:
        """Nothing to do: a count window does not age."""


class TimeWindow:
    """Outcomes of the last ``seconds``, in ``buckets`` time slices (resilience4j's time-based window)."""

    __slots__ = ("width", "buckets", "_totals", "_failures", "_slow", "_head", "total", "failures", "slow")

    total: int
    failures: int
    slow: int

    def __init__(self, seconds: float, buckets: int = 10) -> None:
        if seconds <= 0 or buckets < 1:
            raise ValueError("a time window needs seconds > 0 and buckets >= 1")
        self.buckets = buckets
        self.width = seconds / buckets
        self._totals = [0] * buckets
        self._failures = [0] * buckets
        self._slow = [0] * buckets
        self._head = -math.inf  # index (in slices since the clock's epoch) of the newest slice
        self.total = self.failures = self.slow = 0

    def clear(self) -> None:
        """Forget everything."""
        n = self.buckets
        self._totals = [0] * n
        self._failures = [0] * n
        self._slow = [0] * n
        self._head = -math.inf
        self.total = self.failures = self.slow = 0

    def refresh(self, now: float) -> None:
        """Empty the slices that have slid out of the window by ``now``."""
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

    def record(self, outcome: Outcome, now: float) -> None:
        """Add one window outcome to the slice of ``now``."""
        self.refresh(now)
        i = int(self._head) % self.buckets
        failed, slow = FAILURES[outcome], SLOW_CALLS[outcome]
        self._totals[i] += 1
        self._failures[i] += failed
        self._slow[i] += slow
        self.total += 1
        self.failures += failed
        self.slow += slow

    def add_successes(self, count: int, now: float) -> None:
        """Add ``count`` successes to the slice of ``now``."""
        self.refresh(now)
        self._totals[int(self._head) % self.buckets] += count
        self.total += count
