"""agentotel.Cache with Redis as its second level, against a real redis-server.

The server comes from the ``redis_server`` fixture (tests/resilience/conftest.py) and
these tests skip, saying what to install, when ``redis-server`` is absent. Nothing
else in the suite needs Redis.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis

from agentotel import Cache, stable_key
from agentotel.testing import TelemetryCapture
from tests.support.servers import LOOPBACK, free_port

TIMEOUT = 10.0


def wait_until(predicate, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def test_l1_then_l2_then_loader_and_l2_hits_are_copied_to_l1(redis_url, fake_clock) -> None:
    writer = Cache("answers", ttl=60, l2=redis_url, clock=fake_clock)
    calls = []
    assert writer.get_or_load("q", lambda: calls.append(1) or {"answer": 42}) == {"answer": 42}

    reader = Cache("answers", ttl=60, l2=redis_url, clock=fake_clock)  # another process's L1: empty
    assert reader.get_or_load("q", lambda: calls.append(2) or "loaded") == {"answer": 42}
    assert calls == [1]
    stats = reader.stats()
    assert (stats.l2_hits, stats.load_successes) == (1, 0)
    reader._l2.client.flushdb()
    assert reader.get("q") == {"answer": 42}  # now served by L1
    assert reader.stats().hits == 1


def test_values_are_json_in_redis_under_a_namespaced_stable_key(redis_url) -> None:
    cache = Cache("ns", l2=redis_url)
    cache.set(("region", 7), [1, "two", None])
    client = redis.Redis.from_url(redis_url)
    raw = client.get("agentotel:cache:ns:" + stable_key(("region", 7)))
    assert raw == b'[1,"two",null]'
    cache.delete(("region", 7))
    assert client.exists("agentotel:cache:ns:" + stable_key(("region", 7))) == 0


def test_l2_entries_expire_with_the_cache_ttl(redis_url, fake_clock) -> None:
    cache = Cache("ttl", ttl=30, l2=redis_url, clock=fake_clock)
    cache.set("k", "v")
    cache.set("short", "v", ttl=2)
    client = redis.Redis.from_url(redis_url)
    assert 29_000 < client.pttl("agentotel:cache:ttl:k") <= 30_000
    assert 1_000 < client.pttl("agentotel:cache:ttl:short") <= 2_000
    fresh = Cache("ttl", ttl=30, l2=redis_url, clock=fake_clock)
    assert fresh.get("short") == "v"
    assert fresh.get("short") == "v"
    assert (fresh.stats().hits, fresh.stats().l2_hits) == (1, 1)
    fake_clock.advance(2.1)  # the L1 copy took Redis' remaining TTL (<= 2 s), not a fresh 30 s
    fresh.get("short")
    assert fresh.stats().evictions_by_cause["expired"] == 1
    assert fresh.stats().l2_hits == 2


def test_single_flight_covers_l2(redis_url, fake_clock) -> None:
    Cache("sf", l2=redis_url).set("k", "from redis")
    cache = Cache("sf", l2=redis_url, clock=fake_clock)
    gets = []
    original_get = cache._l2.get
    gate = threading.Event()

    def slow_get(key):
        gets.append(key)
        assert gate.wait(TIMEOUT)
        return original_get(key)

    cache._l2.get = slow_get  # type: ignore[method-assign]
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_load("k", lambda: "loader"))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    wait_until(lambda: cache.stats().coalesced == 7)
    gate.set()
    for t in threads:
        t.join(TIMEOUT)
    assert gets == ["k"]
    assert results == ["from redis"] * 8


async def test_async_path_uses_l2(redis_url, fake_clock) -> None:
    Cache("async", l2=redis_url).set("k", {"v": 1})
    cache = Cache("async", l2=redis_url, clock=fake_clock)

    async def loader():
        raise AssertionError("L2 should have answered")

    assert await cache.aget_or_load("k", loader) == {"v": 1}

    async def load_other():
        return [1, 2]

    assert await cache.aget_or_load("other", load_other) == [1, 2]
    assert await asyncio.to_thread(Cache("async", l2=redis_url).get, "other") == [1, 2]


def test_pickle_only_when_opted_in(redis_url) -> None:
    value = {"when": (1, 2), "set": {1, 2}}
    json_cache = Cache("json", l2=redis_url)
    json_cache.set("k", value)  # not JSON: counted, kept in L1 only
    assert json_cache.get("k") == value
    assert json_cache.stats().l2_errors == 1
    assert json_cache.health_snapshot()["l2"]["status"] == "ok"  # a bad value is not an outage
    pickled = Cache("pickled", l2=redis_url, l2_serializer="pickle")
    pickled.set("k", value)
    assert Cache("pickled", l2=redis_url, l2_serializer="pickle").get("k") == value
    with pytest.raises(ValueError, match="l2_serializer"):
        Cache("bad", l2=redis_url, l2_serializer="yaml")


def test_redis_down_falls_back_counts_and_never_raises(providers: TelemetryCapture, fake_clock) -> None:
    capture = providers
    dead = f"redis://{LOOPBACK}:{free_port()}/0"  # nothing listens there
    cache = Cache(
        "fallback",
        l2=dead,
        l2_retry_after=5,
        clock=fake_clock,
        tracer_provider=capture.tracer_provider,
        meter_provider=capture.meter_provider,
    )
    calls = []
    assert cache.get_or_load("a", lambda: calls.append(1) or "v") == "v"
    assert cache.get_or_load("a", lambda: calls.append(1) or "v") == "v"  # L1 still works
    assert cache.get_or_load("b", lambda: calls.append(1) or "w") == "w"
    cache.set("c", 1)
    assert cache.get("missing") is None
    assert calls == [1, 1]
    assert cache.stats().l2_errors == 1  # later calls skip Redis for l2_retry_after seconds
    snapshot = cache.health_snapshot()
    assert snapshot["status"] == "degraded"
    assert snapshot["l2"]["status"] == "down" and "ConnectionError" in snapshot["l2"]["last_error"]
    fake_clock.advance(5)
    cache.get("missing")
    assert cache.stats().l2_errors == 2
    assert capture.metric_value("agentotel.cache.l2.errors", **{"cache.name": "fallback"}) == 2


def test_redis_dying_mid_way_falls_back(tmp_path, fake_clock) -> None:
    from tests.support.servers import ServerProcess, require_binary

    binary = require_binary("redis-server", "apt-get install redis-server (Debian) — .ci/run installs it")
    port = free_port()
    server = ServerProcess(
        [binary, "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        log_path=tmp_path / "redis.log",
    ).start(wait_port=port)
    try:
        cache = Cache("dying", l2=f"redis://{LOOPBACK}:{port}/0", clock=fake_clock)
        cache.set("k", "v")
        assert cache.stats().l2_errors == 0
    finally:
        server.stop()
    cache.clear()
    assert cache.get_or_load("k", lambda: "reloaded") == "reloaded"
    assert cache.stats().l2_errors == 1
