"""agentotel.Cache: LRU + TTL store, bounds, stats, the decorator and validation.

Failure modes of naive caches that the tests rule out:
* O(n) LRU eviction -> test_eviction_work_per_insert_does_not_grow_with_size
* wrong key evicted when overwriting -> test_overwrite_does_not_evict_another_key
* ``ttl=0`` silently became the default TTL -> test_ttl_zero_expires_at_once_not_the_default
* a cached ``None`` counted as a miss -> test_cached_none_is_a_hit
* 10 identical concurrent prompts ran 10 times -> test_cache_singleflight.py
* ``hash()`` keys differing per process -> test_keys.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math

import pytest

from agentotel import Cache, stable_key
from agentotel.resilience import _registry


class CountingKey:
    """A key that counts how often the cache hashes or compares it."""

    calls = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def __hash__(self) -> int:
        CountingKey.calls += 1
        return self.n

    def __eq__(self, other: object) -> bool:
        CountingKey.calls += 1
        return isinstance(other, CountingKey) and other.n == self.n


def _key_operations_per_insert(size: int, inserts: int = 200) -> float:
    cache = Cache("scaling", max_entries=size, ttl=60, clock=lambda: 0.0)
    for n in range(size):
        cache.set(CountingKey(n), n)
    CountingKey.calls = 0
    for n in range(size, size + inserts):  # every insert evicts the least recently used
        cache.set(CountingKey(n), n)
    return CountingKey.calls / inserts


def test_eviction_work_per_insert_does_not_grow_with_size() -> None:
    # An O(n) LRU (scan for the oldest, list.remove) touches keys in proportion to the size.
    # Here: the same few hashes per insert at any size.
    small, large = _key_operations_per_insert(10), _key_operations_per_insert(5_000)
    assert large == small <= 8


def test_overwrite_does_not_evict_another_key(fake_clock) -> None:
    cache = Cache("c", max_entries=3, clock=fake_clock)
    for key in "abc":
        cache.set(key, key.upper())
    cache.set("b", "B2")  # full cache, existing key: nothing else may go
    assert [cache.get(k) for k in "abc"] == ["A", "B2", "C"]
    assert cache.stats().evictions_by_cause["size"] == 0
    assert cache.stats().evictions_by_cause["replaced"] == 1


def test_least_recently_used_goes_first(fake_clock) -> None:
    cache = Cache("c", max_entries=3, clock=fake_clock)
    for key in "abc":
        cache.set(key, key)
    assert cache.get("a") == "a"  # a is now the most recently used
    cache.set("d", "d")
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == ["a", "c", "d"]
    assert cache.stats().evictions_by_cause["size"] == 1


def test_ttl_zero_expires_at_once_not_the_default(fake_clock) -> None:
    cache = Cache("c", ttl=60, clock=fake_clock)
    cache.set("k", "v", ttl=0)
    assert cache.get("k", "absent") == "absent"
    calls = []
    assert Cache("zero", ttl=0, clock=fake_clock).get_or_load("k", lambda: calls.append(1) or "v") == "v"
    immediate = Cache("zero2", ttl=0, clock=fake_clock)
    for _ in range(3):
        immediate.get_or_load("k", lambda: calls.append(1) or "v")
    assert len(calls) == 4  # nothing is kept with ttl=0


def test_default_and_per_entry_ttl(fake_clock) -> None:
    cache = Cache("c", ttl=10, clock=fake_clock)
    cache.set("default", 1)
    cache.set("short", 2, ttl=1)
    cache.set("forever", 3, ttl=math.inf)
    cache.set("delta", 4, ttl=dt.timedelta(seconds=30))
    fake_clock.advance(1)
    assert cache.get("short") is None  # expiry is exclusive: at expires it is gone
    assert cache.get("default") == 1
    fake_clock.advance(9)
    assert cache.get("default") is None
    assert cache.get("delta") == 4
    fake_clock.advance(10_000)
    assert cache.get("forever") == 3
    assert cache.get("delta") is None


def test_no_ttl_never_expires(fake_clock) -> None:
    cache = Cache("c", clock=fake_clock)
    cache.set("k", "v")
    fake_clock.advance(1e9)
    assert cache.get("k") == "v"


def test_cached_none_is_a_hit(fake_clock) -> None:
    cache = Cache("c", clock=fake_clock)
    calls = []
    cache.set("none", None)
    assert cache.get("none", "default") is None
    assert cache.get_or_load("none", lambda: calls.append(1)) is None
    assert calls == []
    assert cache.get_or_load("loaded-none", lambda: calls.append(1)) is None
    assert cache.get_or_load("loaded-none", lambda: calls.append(1)) is None
    assert calls == [1]
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (3, 1)


def test_expired_entries_do_not_hold_capacity(fake_clock) -> None:
    cache = Cache("c", max_entries=3, clock=fake_clock)
    cache.set("old1", 1, ttl=1)
    cache.set("old2", 2, ttl=1)
    cache.set("live", 3)
    fake_clock.advance(2)
    cache.set("new1", 4)
    cache.set("new2", 5)  # the expired entries go, not "live"
    assert [cache.get(k) for k in ("live", "new1", "new2")] == [3, 4, 5]
    causes = cache.stats().evictions_by_cause
    assert (causes["expired"], causes["size"]) == (2, 0)
    assert len(cache) == 3


def test_len_counts_live_entries_only(fake_clock) -> None:
    cache = Cache("c", clock=fake_clock)
    cache.set("a", 1, ttl=5)
    cache.set("b", 2)
    assert len(cache) == 2
    fake_clock.advance(5)
    assert len(cache) == 1


def test_byte_bound_with_weight_computed_once_at_insert(fake_clock) -> None:
    weighed = []

    def weigher(key, value):
        weighed.append(key)
        return len(value)

    cache = Cache("c", max_entries=100, max_bytes=10, weigher=weigher, clock=fake_clock)
    cache.set("a", "xxxx")
    cache.set("b", "xxxx")
    assert cache.get("a") == "xxxx"  # a is the most recently used now
    cache.set("c", "xxxx")  # 12 > 10: b (least recently used) goes
    assert cache.get("b") is None
    assert cache.stats().weight == 8
    cache.set("huge", "x" * 11)  # heavier than the bound on its own: not stored, nothing evicted
    assert cache.get("huge") is None
    assert [cache.get("a"), cache.get("c")] == ["xxxx", "xxxx"]
    assert weighed == ["a", "b", "c", "huge"]


def test_default_weigher_counts_container_contents(fake_clock) -> None:
    cache = Cache("c", max_bytes=10_000, clock=fake_clock)
    cache.set("small", ["x"])
    small = cache.stats().weight
    cache.set("big", ["x" * 1000])
    assert cache.stats().weight - small > 1000


def test_delete_and_clear(fake_clock) -> None:
    cache = Cache("c", clock=fake_clock)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    cache.clear()
    assert cache.get("b") is None
    assert cache.stats().evictions_by_cause["explicit"] == 2


def test_stats_like_caffeine(fake_clock) -> None:
    cache = Cache("c", max_entries=1, clock=fake_clock)

    def slow_load():
        fake_clock.advance(0.25)
        return "v"

    cache.get_or_load("a", slow_load)
    cache.get_or_load("a", slow_load)
    with pytest.raises(KeyError):
        cache.get_or_load("b", lambda: {}["missing"])
    cache.set("c", 1)  # evicts a
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.requests) == (1, 2, 3)
    assert (stats.load_successes, stats.load_failures, stats.loads) == (1, 1, 2)
    assert stats.total_load_time == pytest.approx(0.25)
    assert stats.average_load_time == pytest.approx(0.125)
    assert stats.hit_rate == pytest.approx(1 / 3)
    assert stats.evictions == 1
    assert Cache("fresh").stats().hit_rate == 1.0


def test_a_failed_load_is_not_cached(fake_clock) -> None:
    cache = Cache("c", clock=fake_clock)
    with pytest.raises(ValueError):
        cache.get_or_load("k", lambda: (_ for _ in ()).throw(ValueError("boom")))
    assert cache.get_or_load("k", lambda: "ok") == "ok"


@pytest.mark.parametrize("ttl", [-1, -0.001, float("nan"), -math.inf])
def test_negative_or_nan_ttl_is_rejected(ttl) -> None:
    with pytest.raises(ValueError, match="ttl must be >= 0"):
        Cache("c", ttl=ttl)
    with pytest.raises(ValueError, match="ttl must be >= 0"):
        Cache("c").set("k", 1, ttl=ttl)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"ttl": "60"}, TypeError),
        ({"ttl": True}, TypeError),
        ({"max_entries": 0}, ValueError),
        ({"max_entries": 1.5}, ValueError),
        ({"max_bytes": 0}, ValueError),
        ({"clock": 5}, TypeError),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error) -> None:
    with pytest.raises(error):
        Cache("c", **kwargs)


def test_weigher_must_return_a_non_negative_int() -> None:
    cache = Cache("c", max_bytes=100, weigher=lambda k, v: -1)
    with pytest.raises(ValueError, match="weigher returned -1"):
        cache.set("k", "v")


def test_memoize_sync_uses_stable_keys(fake_clock) -> None:
    cache = Cache("c", clock=fake_clock)
    calls = []

    @cache.memoize
    def area(region: str, *, year: int) -> int:
        calls.append((region, year))
        return len(region) * year

    assert area("north", year=2) == area("north", year=2) == 10
    assert area("south", year=2) == 10
    assert calls == [("north", 2), ("south", 2)]
    qualname = f"{area.__module__}.{area.__qualname__}"
    assert cache.get(stable_key(qualname, "north", year=2)) == 10
    assert area.cache is cache


async def test_memoize_async_caches_the_result_not_the_coroutine(fake_clock) -> None:
    cache = Cache("c", clock=fake_clock)
    calls = []

    @cache.memoize(ttl=5)
    async def answer(prompt: str) -> str:
        calls.append(prompt)
        await asyncio.sleep(0)
        return prompt.upper()

    assert await answer("hi") == "HI"
    assert await answer("hi") == "HI"  # a cached coroutine could not be awaited twice
    assert calls == ["hi"]
    fake_clock.advance(5)
    assert await answer("hi") == "HI"
    assert calls == ["hi", "hi"]


def test_memoize_with_custom_key_for_methods(fake_clock) -> None:
    cache = Cache("c", clock=fake_clock)

    class Repo:
        def __init__(self, name: str) -> None:
            self.name = name
            self.loads = 0

        @cache.memoize(key=lambda self, n: (self.name, n))
        def row(self, n: int) -> str:
            self.loads += 1
            return f"{self.name}:{n}"

    repo = Repo("r")
    assert repo.row(1) == repo.row(1) == "r:1"
    assert repo.loads == 1
    assert cache.get(("r", 1)) == "r:1"


def test_memoize_without_key_rejects_unencodable_arguments() -> None:
    cache = Cache("c")

    @cache.memoize
    def f(obj: object) -> int:
        return 1

    with pytest.raises(TypeError, match="stable_key: cannot encode"):
        f(object())


def test_registered_for_health_with_a_snapshot(fake_clock) -> None:
    cache = Cache("health-probe", max_entries=10, clock=fake_clock)
    cache.set("a", 1)
    cache.get("a")
    cache.get("b")
    assert cache in _registry.components("cache")
    assert cache.health_snapshot() == {
        "name": "health-probe",
        "status": "healthy",
        "entries": 1,
        "max_entries": 10,
        "bytes": None,
        "max_bytes": None,
        "hit_rate": 0.5,
        "hits": 1,
        "misses": 1,
        "evictions": 0,
        "loads_in_flight": 0,
        "l2": None,
    }


def test_entries_with_their_own_ttl_expire_in_expiry_order(fake_clock) -> None:
    # Default-TTL entries are tracked in write order, per-entry TTLs on a heap: mixed, both expire.
    cache = Cache("mixed", max_entries=10, ttl=10, clock=fake_clock)
    cache.set("default-1", 1)
    cache.set("own-30", 2, ttl=30)
    cache.set("own-2", 3, ttl=2)
    fake_clock.advance(5)
    cache.set("default-2", 4)
    assert len(cache) == 3  # own-2 expired
    fake_clock.advance(5)
    assert len(cache) == 2  # default-1 expired
    fake_clock.advance(5)
    assert [cache.get(k) for k in ("default-2", "own-30")] == [None, 2]
    fake_clock.advance(15)
    assert len(cache) == 0
    assert cache.stats().evictions_by_cause["expired"] == 4
