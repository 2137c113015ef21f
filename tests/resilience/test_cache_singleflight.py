"""Single-flight loads of agentotel.Cache across threads, asyncio tasks and event loops.

Guards against "ten identical concurrent prompts run the agent ten times"
-> test_ten_identical_concurrent_prompts_run_once (tasks) and
test_stampede_of_threads_runs_one_load (threads). Also: "cashews cancels all waiters
when one is cancelled" -> test_cancelled_waiter_does_not_cancel_the_others.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from agentotel import Cache

TIMEOUT = 10.0


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll ``predicate`` (never a timed assertion: only a bound on how long to wait)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.001)


async def async_wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


def run_threads(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def test_stampede_of_threads_runs_one_load(fake_clock) -> None:
    cache = Cache("stampede", clock=fake_clock)
    callers = 16
    calls: list[int] = []
    release = threading.Event()
    results: list[str] = []

    def loader() -> str:
        calls.append(1)
        assert release.wait(TIMEOUT)
        return "answer"

    def caller() -> None:
        results.append(cache.get_or_load("prompt", loader))

    runner = threading.Thread(target=run_threads, args=([caller] * callers,))
    runner.start()
    wait_until(lambda: cache.stats().coalesced == callers - 1)
    release.set()
    runner.join(TIMEOUT)
    assert calls == [1]
    assert results == ["answer"] * callers
    assert cache.stats().load_successes == 1


async def test_ten_identical_concurrent_prompts_run_once(fake_clock) -> None:
    cache = Cache("prompts", clock=fake_clock)
    calls: list[str] = []
    gate = asyncio.Event()

    @cache.memoize
    async def run_agent(prompt: str) -> str:
        calls.append(prompt)
        await gate.wait()
        return f"answer to {prompt}"

    tasks = [asyncio.create_task(run_agent("What is the land use of Ghent?")) for _ in range(10)]
    await async_wait_until(lambda: cache.stats().coalesced == 9)
    gate.set()
    answers = await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
    assert answers == ["answer to What is the land use of Ghent?"] * 10
    assert len(calls) == 1


def test_error_reaches_every_thread_and_is_not_cached(fake_clock) -> None:
    cache = Cache("errors", clock=fake_clock)
    release = threading.Event()
    errors: list[BaseException] = []
    boom = RuntimeError("model unavailable")

    def loader() -> str:
        assert release.wait(TIMEOUT)
        raise boom

    def caller() -> None:
        try:
            cache.get_or_load("k", loader)
        except RuntimeError as exc:
            errors.append(exc)

    runner = threading.Thread(target=run_threads, args=([caller] * 5,))
    runner.start()
    wait_until(lambda: cache.stats().coalesced == 4)
    release.set()
    runner.join(TIMEOUT)
    assert errors == [boom] * 5
    assert cache.stats().load_failures == 1
    assert cache.get_or_load("k", lambda: "recovered") == "recovered"


async def test_error_reaches_every_task_and_is_not_cached(fake_clock) -> None:
    cache = Cache("errors", clock=fake_clock)
    gate = asyncio.Event()
    calls = []

    async def loader() -> str:
        calls.append(1)
        await gate.wait()
        raise LookupError("no such region")

    tasks = [asyncio.create_task(cache.aget_or_load("k", loader)) for _ in range(5)]
    await async_wait_until(lambda: cache.stats().coalesced == 4)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)
    assert len({id(r) for r in results}) == 1  # the same exception object everywhere
    assert calls == [1]

    async def good() -> str:
        return "ok"

    assert await cache.aget_or_load("k", good) == "ok"


async def test_cancelled_waiter_does_not_cancel_the_others(fake_clock) -> None:
    cache = Cache("cancel-one", clock=fake_clock)
    gate = asyncio.Event()
    loader_cancelled = []

    async def loader() -> str:
        try:
            await gate.wait()
        except asyncio.CancelledError:
            loader_cancelled.append(True)
            raise
        return "v"

    first = asyncio.create_task(cache.aget_or_load("k", loader))  # the one that starts the load
    await async_wait_until(lambda: cache.health_snapshot()["loads_in_flight"] == 1)
    others = [asyncio.create_task(cache.aget_or_load("k", loader)) for _ in range(3)]
    await async_wait_until(lambda: cache.stats().coalesced == 3)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    others[0].cancel()
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(*others[1:]), TIMEOUT) == ["v", "v"]
    assert loader_cancelled == []
    assert cache.get("k") == "v"


async def test_cancelling_every_waiter_stops_the_load(fake_clock) -> None:
    cache = Cache("cancel-all", clock=fake_clock)
    started = asyncio.Event()
    loader_cancelled = asyncio.Event()

    async def never_finishes() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            loader_cancelled.set()
            raise
        return "unreachable"

    waiters = [asyncio.create_task(cache.aget_or_load("k", never_finishes)) for _ in range(3)]
    await asyncio.wait_for(started.wait(), TIMEOUT)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    await asyncio.wait_for(loader_cancelled.wait(), TIMEOUT)
    assert cache.health_snapshot()["loads_in_flight"] == 0
    stats = cache.stats()
    assert (stats.load_successes, stats.load_failures) == (0, 0)  # cancellation is neither

    async def fresh() -> str:
        return "fresh"

    assert await cache.aget_or_load("k", fresh) == "fresh"  # a new caller starts a new load


def test_one_load_across_event_loops_and_threads(fake_clock) -> None:
    cache = Cache("loops", clock=fake_clock)
    calls = []
    release = threading.Event()
    results = []

    async def async_loader() -> str:
        calls.append("async")
        await asyncio.get_running_loop().run_in_executor(None, release.wait, TIMEOUT)
        return "shared"

    def in_own_loop() -> None:
        results.append(asyncio.run(cache.aget_or_load("k", async_loader)))

    def sync_loader() -> str:
        calls.append("sync")
        assert release.wait(TIMEOUT)
        return "shared"

    def sync_caller() -> None:
        results.append(cache.get_or_load("k", sync_loader))

    runner = threading.Thread(target=run_threads, args=([in_own_loop] * 3 + [sync_caller] * 2,))
    runner.start()
    wait_until(lambda: cache.stats().coalesced == 4)
    release.set()
    runner.join(TIMEOUT)
    assert len(calls) == 1  # whichever caller came first loaded for all five
    assert results == ["shared"] * 5


def test_a_loader_asking_for_its_own_key_fails_clearly(fake_clock) -> None:
    cache = Cache("recursive", clock=fake_clock)
    with pytest.raises(RuntimeError, match="asked for its own key"):
        cache.get_or_load("k", lambda: cache.get_or_load("k", lambda: 1))
    assert cache.get_or_load("k", lambda: 2) == 2  # the flight was cleaned up


async def test_sync_lookup_inside_the_loop_of_an_async_load_does_not_deadlock(fake_clock) -> None:
    cache = Cache("same-loop", clock=fake_clock)
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "async"

    task = asyncio.create_task(cache.aget_or_load("k", slow))
    await async_wait_until(lambda: cache.health_snapshot()["loads_in_flight"] == 1)
    # Blocking for the async load here would block the loop that runs it.
    assert cache.get_or_load("k", lambda: "sync") == "sync"
    gate.set()
    assert await asyncio.wait_for(task, TIMEOUT) == "async"


async def test_ttl_zero_keeps_nothing_but_still_coalesces(fake_clock) -> None:
    cache = Cache("coalesce-only", ttl=0, clock=fake_clock)
    gate = asyncio.Event()
    calls = []

    async def loader() -> str:
        calls.append(1)
        await gate.wait()
        return "v"

    tasks = [asyncio.create_task(cache.aget_or_load("k", loader)) for _ in range(5)]
    await async_wait_until(lambda: cache.stats().coalesced == 4)
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT) == ["v"] * 5
    assert calls == [1]
    assert len(cache) == 0
