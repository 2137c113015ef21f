"""RateLimiter: token buckets on a fake clock, waiting and rejection, threads and tasks, telemetry."""

from __future__ import annotations

import asyncio
import threading

import pytest

import agentotel
from agentotel import RateLimiter, RateLimitExceeded, semconv
from agentotel.testing import TelemetryCapture, capture_telemetry
from tests.support.clock import FakeClock


def make(clock: FakeClock, **options) -> RateLimiter:
    options.setdefault("requests_per_minute", 60)  # one per second
    return RateLimiter("llm", clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep, **options)


def test_burst_then_steady_rate() -> None:
    clock = FakeClock()
    limiter = make(clock, burst=3)
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire() == pytest.approx(1.0)  # slept one second (the fake clock moved)
    assert limiter.acquire() == pytest.approx(1.0)
    clock.advance(10)  # refills up to the burst only
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire() == pytest.approx(1.0)


def test_timeout_rejects_without_taking_anything() -> None:
    clock = FakeClock()
    limiter = make(clock, burst=1)
    limiter.acquire()
    with pytest.raises(RateLimitExceeded) as info:
        limiter.acquire(timeout=0.5)
    assert info.value.retry_after == pytest.approx(1.0) and info.value.name == "llm"
    clock.advance(1.0)
    assert limiter.acquire(timeout=0) == 0.0  # the rejected call reserved nothing
    snapshot = limiter.health_snapshot()
    assert (snapshot["admitted"], snapshot["rejected"], snapshot["status"]) == (2, 1, "degraded")
    clock.advance(60)
    assert limiter.health_snapshot()["status"] == "healthy"


def test_waiters_reserve_in_arrival_order() -> None:
    clock = FakeClock()
    sleeps: list[float] = []
    limiter = RateLimiter("fifo", requests_per_minute=120, burst=1, clock=clock, sleep=sleeps.append)
    for _ in range(5):
        limiter.acquire()  # the clock does not move: each caller reserves behind the previous
    assert sleeps == pytest.approx([0.5, 1.0, 1.5, 2.0])


def test_tokens_per_minute() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=1000, tokens_per_minute=6000)
    assert limiter.acquire(tokens=5000) == 0.0
    assert limiter.acquire(tokens=3000) == pytest.approx(20.0)  # 2000 missing at 100 tokens/s
    with pytest.raises(ValueError, match="never fit"):
        limiter.acquire(tokens=7000)
    with pytest.raises(RateLimitExceeded) as info:
        limiter.acquire(tokens=6000, timeout=1)
    assert info.value.retry_after == pytest.approx(60.0) and info.value.tokens == 6000


def test_adjust_settles_estimates() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=1000, tokens_per_minute=6000)
    limiter.acquire(tokens=1000)
    limiter.adjust(2000)  # the reply used 3000 in total
    assert limiter.health_snapshot()["tokens_available"] == pytest.approx(3000)
    limiter.adjust(-10_000)  # refunds never exceed the bucket
    assert limiter.health_snapshot()["tokens_available"] == pytest.approx(6000)


async def test_async_acquire_and_cancellation_refund() -> None:
    clock = FakeClock()
    limiter = make(clock, burst=1)
    assert await limiter.aacquire() == 0.0
    assert await limiter.aacquire() == pytest.approx(1.0)

    never = asyncio.Event()

    async def stuck_sleep(seconds: float) -> None:
        await never.wait()

    limiter._async_sleep = stuck_sleep
    task = asyncio.create_task(limiter.aacquire())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The cancelled reservation was given back: the next caller waits 1 s, not 2 s.
    limiter._async_sleep = clock.async_sleep
    assert await limiter.aacquire() == pytest.approx(1.0)
    assert limiter.health_snapshot()["admitted"] == 3


def test_reservations_are_atomic_under_threads() -> None:
    clock = FakeClock()  # frozen: every wait is decided by the reservations alone
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    limiter = RateLimiter("threads", requests_per_minute=600, burst=10, clock=clock, sleep=record, timeout=1e9)

    def worker() -> None:
        for _ in range(50):
            limiter.acquire()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # 400 callers, 10 free: the 390 waits are exactly 0.1, 0.2, ... 39.0 s, each once.
    assert sorted(round(w, 6) for w in waits) == [round(0.1 * k, 6) for k in range(1, 391)]


async def test_decorators_and_context_managers() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=6000, tokens_per_minute=600)

    @limiter
    def plain(x: int) -> int:
        return x + 1

    @limiter.limit(tokens=lambda prompt: len(prompt))
    async def ask(prompt: str) -> str:
        return prompt.upper()

    assert plain(1) == 2
    assert await ask("hello") == "HELLO"  # the result, not a coroutine
    with limiter:
        pass
    async with limiter:
        pass
    snapshot = limiter.health_snapshot()
    assert snapshot["admitted"] == 4 and snapshot["tokens_available"] == pytest.approx(595)


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        RateLimiter("bad", requests_per_minute=0)
    with pytest.raises(ValueError):
        RateLimiter("bad", requests_per_minute=10, burst=0)
    with pytest.raises(ValueError):
        make(FakeClock()).acquire(tokens=-1)


def test_telemetry_admitted_waited_rejected(telemetry: TelemetryCapture) -> None:
    clock = FakeClock()
    limiter = make(clock, burst=1)
    limiter.acquire()
    limiter.acquire()  # waits 1 s
    with pytest.raises(RateLimitExceeded):
        limiter.acquire(timeout=0)
    name = {semconv.RATE_LIMITER_NAME: "llm"}
    assert telemetry.metric_value(semconv.RATE_LIMITER_ADMITTED, **name) == 2
    assert telemetry.metric_value(semconv.RATE_LIMITER_REJECTED, **name) == 1
    (wait,) = telemetry.metric_points(semconv.RATE_LIMITER_WAIT_DURATION, **name)
    assert wait.count == 1 and wait.sum == pytest.approx(1.0)


def test_counters_only_count_what_happened_when_a_wait_is_cancelled(telemetry: TelemetryCapture) -> None:
    name = {semconv.RATE_LIMITER_NAME: "cancelling"}

    def values() -> dict[str, float]:
        return {
            metric.name: telemetry.metric_value(metric, **name)
            for metric in (
                semconv.RATE_LIMITER_ADMITTED,
                semconv.RATE_LIMITER_REJECTED,
                semconv.RATE_LIMITER_CANCELLED,
                semconv.RATE_LIMITER_WAITING,
            )
        }

    async def scenario() -> list[dict[str, float]]:
        clock = FakeClock()
        never = asyncio.Event()

        async def stuck_sleep(seconds: float) -> None:
            await never.wait()

        limiter = RateLimiter(
            "cancelling", requests_per_minute=60, burst=1, clock=clock, sleep=clock.sleep, async_sleep=stuck_sleep
        )
        seen = []
        await limiter.aacquire()
        seen.append(values())
        task = asyncio.create_task(limiter.aacquire())
        await asyncio.sleep(0)
        seen.append(values())  # waiting, not admitted
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        seen.append(values())
        return seen

    first, waiting, cancelled = asyncio.run(scenario())
    admitted, cancelled_name, waiting_name = (
        semconv.RATE_LIMITER_ADMITTED,
        semconv.RATE_LIMITER_CANCELLED,
        semconv.RATE_LIMITER_WAITING,
    )
    assert (first[admitted], waiting[admitted], cancelled[admitted]) == (1, 1, 1)
    assert (waiting[waiting_name], cancelled[waiting_name]) == (1, 0)
    assert (waiting[cancelled_name], cancelled[cancelled_name]) == (0, 1)
    for metric in semconv.METRICS:  # every counter (monotonic) only ever went up
        if metric.name in first and metric.instrument == semconv.OBSERVABLE_COUNTER:
            assert first[metric.name] <= waiting[metric.name] <= cancelled[metric.name], metric.name


def test_nothing_emitted_after_uninstrument() -> None:
    with capture_telemetry() as telemetry:
        clock = FakeClock()
        limiter = make(clock, burst=1)
        agentotel.uninstrument()
        telemetry.metrics()  # the last collection, made by uninstrument()
        limiter.acquire()
        limiter.acquire()
        assert telemetry.metrics() == {}
