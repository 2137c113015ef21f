"""Acquire/release overhead of agentotel's DuckDBPool against a bare ``queue.Queue`` pool of the same cursors.

    .venv/bin/python benchmarks/pool_overhead.py [--reps 15] [--ops 20000] [--threads 16]

One process with agentotel instrumented into a real SDK TracerProvider and
MeterProvider (periodic reader into a discarding exporter), so the pool's
observable instruments and histograms are live. Each repetition times every
variant once, in an order rotated per repetition; medians of the per-operation
times are reported. An operation is one acquire and one release with nothing
done in between, so the figures are the pool's own cost.

Variants (uncontended, one thread / one task):
  queue.Queue get/put         ``con = q.get(timeout=5)`` ... ``q.put(con)`` in try/finally: the floor
  queue.Queue context manager the same behind a ``@contextmanager`` (what a hand-rolled pool looks like)
  DuckDBPool                  ``with pool.connection():`` telemetry on (two histogram records per op)
  DuckDBPool, telemetry off   the same after ``uninstrument()`` (no SDK calls)
  asyncio.Queue get/put       ``await q.get()`` ... ``q.put_nowait(con)`` in one task
  DuckDBPool async            ``async with pool.aconnection():`` in one task, telemetry on
Contended: ``--threads`` threads share 4 connections, each doing acquire/release in a loop;
operations per second for both pools (the GIL bounds both).
For scale: one ``con.execute("SELECT 1").fetchall()`` on a pooled connection, DuckDB instrumentation on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from _harness import medians, print_table, providers, sample_rotated, timed

import agentotel
from agentotel import DuckDBPool, _telemetry

SIZE = 4


class QueuePool:
    """The bare pool people write: a ``queue.Queue`` of cursors of one connection."""

    def __init__(self, connections: list[Any]) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()
        for con in connections:
            self.queue.put(con)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        con = self.queue.get(timeout=5)
        try:
            yield con
        finally:
            self.queue.put(con)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()

    import duckdb

    tracer_provider, meter_provider = providers(1_000)
    agentotel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    pool = DuckDBPool(":memory:", size=SIZE, name="bench", timeout=5)
    root = duckdb.connect(":memory:")
    bare = QueuePool([root.cursor() for _ in range(SIZE)])
    q = bare.queue

    def queue_get_put() -> None:
        con = q.get(timeout=5)
        try:
            pass
        finally:
            q.put(con)

    def queue_cm() -> None:
        with bare.connection():
            pass

    def ours() -> None:
        with pool.connection():
            pass

    async def asyncio_queue_loop(n: int) -> None:
        aq: asyncio.Queue[Any] = asyncio.Queue()
        for con in [root.cursor() for _ in range(SIZE)]:
            aq.put_nowait(con)
        for _ in range(n):
            con = await aq.get()
            try:
                pass
            finally:
                aq.put_nowait(con)

    async def ours_async_loop(n: int) -> None:
        for _ in range(n):
            async with pool.aconnection():
                pass

    def async_timed(make: Callable[[int], Any], n: int) -> float:
        start = time.perf_counter()
        asyncio.run(make(n))
        return (time.perf_counter() - start) / n

    sync_variants: dict[str, Callable[[], None]] = {
        "queue.Queue get/put": queue_get_put,
        "queue.Queue context manager": queue_cm,
        "DuckDBPool": ours,
        "DuckDBPool, telemetry off": ours,
    }
    async_variants: dict[str, Callable[[int], Any]] = {
        "asyncio.Queue get/put": asyncio_queue_loop,
        "DuckDBPool async": ours_async_loop,
    }

    def measure(name: str) -> float:
        _telemetry.set_enabled(name != "DuckDBPool, telemetry off")
        try:
            if name in sync_variants:
                return timed(sync_variants[name], args.ops)[0]
            return async_timed(async_variants[name], args.ops)
        finally:
            _telemetry.set_enabled(True)

    names = list(sync_variants) + list(async_variants)
    median = medians(sample_rotated(names, args.reps, measure))
    floor = median["queue.Queue get/put"]
    print(f"Pool acquire + release, {args.reps} reps x {args.ops} operations, medians\n")
    print_table(
        ["variant", "per operation", "vs queue.Queue get/put"],
        ([name, f"{median[name] * 1e9:.0f} ns", f"{median[name] / floor:.2f}x"] for name in names),
    )

    def contended(use: Callable[[], Any]) -> float:
        per_thread = max(1, args.ops // args.threads)
        start = threading.Barrier(args.threads + 1)

        def work() -> None:
            start.wait()
            for _ in range(per_thread):
                with use():
                    pass

        workers = [threading.Thread(target=work) for _ in range(args.threads)]
        for thread in workers:
            thread.start()
        began = time.perf_counter()
        start.wait()
        for thread in workers:
            thread.join()
        return per_thread * args.threads / (time.perf_counter() - began)

    contended_variants: dict[str, Callable[[], Any]] = {
        "queue.Queue context manager": bare.connection,
        "DuckDBPool": pool.connection,
        "DuckDBPool, telemetry off": pool.connection,
    }

    def measure_contended(name: str) -> float:
        _telemetry.set_enabled(name != "DuckDBPool, telemetry off")
        try:
            return contended(contended_variants[name])
        finally:
            _telemetry.set_enabled(True)

    throughput = medians(sample_rotated(list(contended_variants), max(3, args.reps // 3), measure_contended))
    print(f"\n{args.threads} threads sharing {SIZE} connections, acquire + release, medians\n")
    print_table(
        ["variant", "operations/s", "vs queue.Queue"],
        (
            [name, f"{throughput[name]:,.0f}", f"{throughput[name] / throughput['queue.Queue context manager']:.2f}x"]
            for name in contended_variants
        ),
    )

    with pool.connection() as con:
        query = timed(lambda: con.execute("SELECT 1").fetchall(), 2_000)[0]
    print(f"\nFor scale: one `SELECT 1` execute + fetchall on a pooled connection (instrumented): {query * 1e6:.1f} µs")
    assert pool.stats()["used"] == 0 and pool.stats()["pending"] == 0
    pool.close()
    agentotel.uninstrument()


if __name__ == "__main__":
    main()
