"""Hypothesis stateful test: agentotel.Cache against a plain-Python model of LRU + TTL.

The model keeps only live entries in recency order (a list); the real cache must
answer every lookup, length and eviction the same way, whatever the interleaving of
sets (with default, zero, finite or infinite TTLs), overwrites, gets, loads,
deletes, clears and clock moves. Rules out "wrong key evicted on
overwrite", "ttl=0 becomes the default" and "cached None is a miss" under random
sequences.
"""

from __future__ import annotations

import math

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from agentotel import Cache
from tests.support.clock import FakeClock

MAX_ENTRIES = 4
DEFAULT_TTL = 5.0
KEYS = st.sampled_from(["a", "b", "c", "d", "e", "f"])
VALUES = st.one_of(st.none(), st.integers(0, 9))
TTLS = st.sampled_from([None, 0, 1, 2.5, 10, math.inf])


class CacheModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=0.0)
        self.cache = Cache("model", max_entries=MAX_ENTRIES, ttl=DEFAULT_TTL, clock=self.clock)
        self.order: list[str] = []  # least recently used first
        self.entries: dict[str, tuple[object, float]] = {}
        self.loads = 0

    # ---------------------------------------------------------------- model
    def _drop_expired(self) -> None:
        for key in [k for k, (_, expires) in self.entries.items() if expires <= self.clock.now]:
            del self.entries[key]
            self.order.remove(key)

    def _model_get(self, key: str) -> tuple[bool, object]:
        self._drop_expired()
        if key not in self.entries:
            return False, None
        self.order.remove(key)
        self.order.append(key)
        return True, self.entries[key][0]

    def _model_set(self, key: str, value: object, ttl: float | None) -> None:
        self._drop_expired()
        if key in self.entries:
            del self.entries[key]
            self.order.remove(key)
        seconds = DEFAULT_TTL if ttl is None else ttl
        if seconds == 0:
            return
        self.entries[key] = (value, self.clock.now + seconds)
        self.order.append(key)
        while len(self.order) > MAX_ENTRIES:
            del self.entries[self.order.pop(0)]

    # ---------------------------------------------------------------- rules
    @rule(key=KEYS, value=VALUES, ttl=TTLS)
    def set(self, key: str, value: object, ttl: float | None) -> None:
        self.cache.set(key, value, ttl=ttl)
        self._model_set(key, value, ttl)

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        found, value = self._model_get(key)
        missing = object()
        got = self.cache.get(key, missing)
        assert (got is not missing) == found
        if found:
            assert got == value

    @rule(key=KEYS, value=VALUES)
    def get_or_load(self, key: str, value: object) -> None:
        found, cached = self._model_get(key)
        loads_before = self.loads

        def loader() -> object:
            self.loads += 1
            return value

        got = self.cache.get_or_load(key, loader)
        assert self.loads == loads_before + (0 if found else 1)
        if found:
            assert got == cached
        else:
            assert got == value
            self._model_set(key, value, None)

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        self._drop_expired()
        assert self.cache.delete(key) == (key in self.entries)
        if key in self.entries:
            del self.entries[key]
            self.order.remove(key)

    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self.entries.clear()
        self.order.clear()

    @rule(seconds=st.sampled_from([0.5, 1, 2.5, 5, 100]))
    def advance(self, seconds: float) -> None:
        self.clock.now += seconds

    @invariant()
    def same_length(self) -> None:
        self._drop_expired()
        assert len(self.cache) == len(self.entries)


TestCacheModel = CacheModel.TestCase
TestCacheModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
