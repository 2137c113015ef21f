"""Interrupted runs by ``thread_id``, so that the run resuming one can link to it (bounded, thread-safe)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from opentelemetry.trace import SpanContext

__all__ = ["InterruptedRuns", "INTERRUPTED_RUNS"]


class InterruptedRuns:
    """``thread_id`` -> span context of the root span of the run that was interrupted last.

    At most ``capacity`` threads are remembered (least recently interrupted first
    out); an entry is taken out by the next top-level run on its thread.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, SpanContext] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, thread_id: str, span_context: SpanContext) -> None:
        """Record that the run on ``thread_id`` with root ``span_context`` stopped at an interrupt."""
        with self._lock:
            self._entries[thread_id] = span_context
            self._entries.move_to_end(thread_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def pop(self, thread_id: str) -> SpanContext | None:
        """Take out and return the interrupted run's root span context, if any."""
        with self._lock:
            return self._entries.pop(thread_id, None)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


INTERRUPTED_RUNS = InterruptedRuns()
