"""CircuitBreaker under threads and asyncio at once.

Guards against "lets every concurrent call through in half-open" ->
test_half_open_admits_exactly_n_under_1000_tasks_and_8_threads.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from agentotel import CircuitBreaker, CircuitOpenError, CircuitState
from tests.support.clock import FakeClock


class Boom(Exception):
    pass


def _open_then_half_open(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(breaker.minimum_calls):
        with pytest.raises(Boom):
            breaker.call(lambda: (_ for _ in ()).throw(Boom()))
    clock.advance(breaker.open_duration)
    assert breaker.state is CircuitState.HALF_OPEN


def _wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.001)


async def test_half_open_admits_exactly_n_under_1000_tasks_and_8_threads() -> None:
    """Half-open admits exactly its permits: 5 of 1,200 concurrent attempts get in."""
    clock = FakeClock()
    permits = 5
    breaker = CircuitBreaker(
        "probe", minimum_calls=4, window_size=4, open_duration=10.0, half_open_calls=permits, clock=clock
    )
    _open_then_half_open(breaker, clock)

    release_threads = threading.Event()
    release_tasks = asyncio.Event()
    lock = threading.Lock()
    tally = {"admitted": 0, "rejected": 0, "blocked_threads": 0, "finished_threads": 0, "blocked_tasks": 0}
    attempts_per_thread = 25

    def count(key: str) -> None:
        with lock:
            tally[key] += 1

    def blocking_probe() -> None:
        count("admitted")
        count("blocked_threads")
        assert release_threads.wait(20)

    async def async_probe() -> None:
        count("admitted")
        count("blocked_tasks")
        await asyncio.wait_for(release_tasks.wait(), 20)

    start = threading.Barrier(9)

    def thread_main() -> None:
        start.wait(10)
        for _ in range(attempts_per_thread):
            if release_threads.is_set():
                break  # the verdict is in: later calls are not part of the half-open contest
            try:
                breaker.call(blocking_probe)
            except CircuitOpenError:
                count("rejected")
        count("finished_threads")

    async def task_main() -> None:
        try:
            await breaker.acall(async_probe)
        except CircuitOpenError:
            count("rejected")

    threads = [threading.Thread(target=thread_main) for _ in range(8)]
    for t in threads:
        t.start()
    start.wait(10)
    tasks = [asyncio.create_task(task_main()) for _ in range(1000)]

    # Wait until every thread and task has either finished or is blocked inside an admitted call.
    deadline = time.monotonic() + 20
    while (
        tally["finished_threads"] + tally["blocked_threads"] < 8
        or sum(task.done() for task in tasks) + tally["blocked_tasks"] < 1000
    ):
        assert time.monotonic() < deadline, tally
        await asyncio.sleep(0.001)
    assert tally["admitted"] == permits
    assert breaker.state is CircuitState.HALF_OPEN

    release_threads.set()
    release_tasks.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    for t in threads:
        t.join(20)
        assert not t.is_alive()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.counters()["rejected"]["half_open"] == tally["rejected"]


def test_counts_are_exact_under_threads() -> None:
    """The lock-free success path and the locked failure path together lose no call."""
    breaker = CircuitBreaker("busy", minimum_calls=10_000, window_size=10_000)
    per_thread = 2000

    def work(index: int) -> None:
        for i in range(per_thread):
            if (i + index) % 10 == 0:
                with pytest.raises(Boom):
                    breaker.call(lambda: (_ for _ in ()).throw(Boom()))
            else:
                breaker.call(int)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    calls = breaker.counters()["calls"]
    assert calls["success"] + calls["failure"] == 8 * per_thread
    assert calls["failure"] == 8 * per_thread // 10
    snapshot = breaker.health_snapshot()
    assert snapshot["window_calls"] == 10_000
    assert 0.05 < snapshot["failure_rate"] < 0.15
