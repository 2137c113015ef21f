"""LoadBalancer under asyncio and threads: cancellation, bulkhead waiting, several event loops.

Guards against "in-flight count leaks +1 per request" (cancellation path) ->
test_cancelled_requests_release_their_lease, test_inflight_is_zero_after_threads_and_tasks.
"""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

from agentotel import LoadBalancer, NoInstanceAvailable
from tests.support.clock import FakeClock


class Boom(Exception):
    pass


def make(instances, **options) -> LoadBalancer:
    options.setdefault("rng", random.Random(3))
    options.setdefault("clock", FakeClock())
    return LoadBalancer("async", instances, **options)


async def test_cancelled_requests_release_their_lease() -> None:
    lb = make(["a", "b"])
    entered = asyncio.Event()

    async def hang(instance: str) -> None:
        entered.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(lb.acall(hang))
    await asyncio.wait_for(entered.wait(), 5)
    assert lb.inflight("a") + lb.inflight("b") == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    entered.clear()

    async def in_block() -> None:
        async with lb.lease():
            entered.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(in_block())
    await asyncio.wait_for(entered.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lb.inflight("a") == lb.inflight("b") == 0
    # A cancellation is not the instance's failure.
    assert all(slot.outlier.consecutive_failures == 0 and not slot.samples for slot in lb._slots)


async def test_inflight_is_zero_after_threads_and_tasks() -> None:
    lb = make([f"i{n}" for n in range(4)], outliers=None)

    def sync_work(instance: str, n: int) -> int:
        if n % 5 == 0:
            raise Boom()
        return n

    def thread_main(offset: int) -> None:
        for n in range(300):
            try:
                lb.call(sync_work, n + offset)
            except Boom:
                pass

    async def async_work(instance: str, n: int) -> int:
        await asyncio.sleep(0)
        if n % 7 == 0:
            raise Boom()
        return n

    async def task_main(n: int) -> None:
        try:
            await lb.acall(async_work, n)
        except Boom:
            pass

    threads = [threading.Thread(target=thread_main, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    tasks = [asyncio.create_task(task_main(n)) for n in range(500)]
    victims = [asyncio.create_task(lb.acall(lambda inst: asyncio.sleep(3600))) for _ in range(20)]
    await asyncio.sleep(0.01)
    for victim in victims:
        victim.cancel()
    await asyncio.wait_for(asyncio.gather(*tasks, *victims, return_exceptions=True), 30)
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    assert [lb.inflight(f"i{n}") for n in range(4)] == [0, 0, 0, 0]
    assert sum(slot.picks for slot in lb._slots) == 6 * 300 + 500 + 20


def test_thread_waits_for_a_free_instance() -> None:
    lb = make(["only"], max_inflight=1, wait_timeout=10.0)
    held = lb.acquire()
    got: list[str] = []
    waiting = threading.Event()

    def worker() -> None:
        waiting.set()
        with lb.lease() as instance:  # blocks until `held` is released
            got.append(instance)

    thread = threading.Thread(target=worker)
    thread.start()
    assert waiting.wait(5)
    while lb.health_snapshot()["waits"] == 0:  # the worker is waiting on the condition
        assert thread.is_alive()
        threading.Event().wait(0.001)
    held.release()
    thread.join(10)
    assert got == ["only"] and lb.inflight("only") == 0


def test_thread_wait_times_out_with_a_clear_error() -> None:
    lb = make(["a", "b"], max_inflight=1)
    held = [lb.acquire(), lb.acquire()]
    with pytest.raises(NoInstanceAvailable, match=r"all 2 instances are at max_inflight=1; waited 0.01s"):
        lb.acquire(timeout=0.01)
    for lease in held:
        lease.release()
    snapshot = lb.health_snapshot()
    assert (snapshot["waits"], snapshot["rejected"]) == (1, 1)


async def test_task_waits_for_a_free_instance_and_can_time_out() -> None:
    lb = make(["only"], max_inflight=1, wait_timeout=10.0)
    held = await lb.aacquire()
    waiter = asyncio.create_task(lb.aacquire())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    held.release()
    second = await asyncio.wait_for(waiter, 5)
    assert second.instance == "only"
    with pytest.raises(NoInstanceAvailable):
        await lb.aacquire(timeout=0.01)
    second.release()
    assert lb.inflight("only") == 0 and lb._async_waiters == []


async def test_cancelled_waiter_takes_nothing() -> None:
    lb = make(["only"], max_inflight=1, wait_timeout=10.0)
    held = await lb.aacquire()
    waiter = asyncio.create_task(lb.aacquire())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    held.release()
    assert lb.inflight("only") == 0 and lb._async_waiters == []


def test_waiter_on_another_event_loop_is_woken() -> None:
    lb = make(["only"], max_inflight=1, wait_timeout=10.0)
    held = lb.acquire()
    result: list[str] = []
    started = threading.Event()

    async def other_loop_main() -> None:
        started.set()
        lease = await lb.aacquire()
        result.append(lease.instance)
        lease.release()

    thread = threading.Thread(target=lambda: asyncio.run(other_loop_main()))
    thread.start()
    assert started.wait(5)
    while not lb._async_waiters:
        assert thread.is_alive()
        threading.Event().wait(0.001)
    held.release()  # from this thread, not that loop's
    thread.join(10)
    assert result == ["only"] and lb.inflight("only") == 0


async def test_async_retry_goes_to_another_instance() -> None:
    lb = make(["a", "b"], strategy="round_robin", retries=1, outliers=None)
    tried: list[str] = []

    async def flaky(instance: str) -> str:
        tried.append(instance)
        if instance == "a":
            raise Boom()
        return instance

    assert await lb.acall(flaky) == "b"
    assert tried == ["a", "b"] and lb.inflight("a") == lb.inflight("b") == 0


async def test_adding_an_instance_wakes_a_waiting_task() -> None:
    lb = make(["a"], max_inflight=1, wait_timeout=10.0)
    held = await lb.aacquire()
    waiter = asyncio.create_task(lb.aacquire())
    while not lb._async_waiters:
        await asyncio.sleep(0.001)
    lb.add("b")
    lease = await asyncio.wait_for(waiter, 5)
    assert lease.instance == "b"
    lease.release()
    held.release()
