"""Cost of agentotel.Cache lookups and inserts, and of instrumenting cachetools.

    .venv/bin/python benchmarks/cache_overhead.py [--reps 9] [--ops 200000]

One process with agentotel instrumented into a real SDK TracerProvider (batch
processor, discarding exporter) and MeterProvider (periodic reader, discarding
exporter), cachetools instrumentation switched on and off between measurements.
Each repetition times every case once, in an order rotated per repetition; the
cost of an empty loop is subtracted; medians are reported in nanoseconds.

Targets:
* ``agentotel.Cache`` hit with telemetry on <= 1.0x an uninstrumented ``TTLCache[k]`` hit;
* ``Cache.set`` into a full cache of 1e5 entries within 1.5x of 1e3 (each insert evicts);
* an instrumented ``TTLCache[k]`` hit <= 1.2x the uninstrumented one.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import cachetools
from _harness import medians, print_table, providers, rotated

import agentotel
from agentotel import Cache
from agentotel.instrumentation.cachetools import CachetoolsInstrumentor


def _per_op(run: Callable[[int], None], ops: int, empty: float) -> float:
    start = time.perf_counter()
    run(ops)
    return max((time.perf_counter() - start) / ops - empty, 0.0) * 1e9


def _empty_loop(ops: int) -> None:
    for _ in range(ops):
        pass


def _lookup_loop(lookup: Callable[[Any], Any], key: Any) -> Callable[[int], None]:
    def run(ops: int) -> None:
        for _ in range(ops):
            lookup(key)

    return run


def _get_or_load_loop(cache: Cache, key: Any) -> Callable[[int], None]:
    def run(ops: int) -> None:
        get_or_load = cache.get_or_load
        for _ in range(ops):
            get_or_load(key, str)

    return run


def _insert_loop(cache: Cache, size: int) -> Callable[[int], None]:
    """Insert keys never seen before into a full cache, so every insert evicts one entry."""
    state = {"next": size}

    def run(ops: int) -> None:
        set_ = cache.set
        start = state["next"]
        for key in range(start, start + ops):
            set_(key, key)
        state["next"] = start + ops

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--ops", type=int, default=200_000)
    args = parser.parse_args()

    tracer_provider, meter_provider = providers(5_000)
    agentotel.instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        disabled_instrumentations={"cachetools"},  # switched on and off below
    )
    instrumentor = CachetoolsInstrumentor()
    tracer = tracer_provider.get_tracer("bench")

    ttl_cache = cachetools.TTLCache(maxsize=1024, ttl=600)
    ttl_cache["k"] = "v"
    ours = Cache("bench", max_entries=1024, ttl=600)
    ours.set("k", "v")
    insert_small = Cache("insert-1e3", max_entries=1_000, ttl=600)
    insert_large = Cache("insert-1e5", max_entries=100_000, ttl=600)
    for cache, size in ((insert_small, 1_000), (insert_large, 100_000)):
        for n in range(size):
            cache.set(n, n)

    @cachetools.cached(cachetools.TTLCache(maxsize=1024, ttl=600))
    def decorated(x: int) -> int:
        return x

    decorated(1)

    def in_span(run: Callable[[int], None]) -> Callable[[int], None]:
        def wrapped(ops: int) -> None:
            with tracer.start_as_current_span("request"):
                run(ops)

        return wrapped

    loads = {"n": 0}

    def miss_and_load(ops: int) -> None:
        cache = Cache("miss", max_entries=1024)
        start = loads["n"]
        for i in range(start, start + ops):
            cache.get_or_load(i, int)
        loads["n"] = start + ops

    cases: dict[str, Callable[[int], None]] = {
        "cachetools.TTLCache[k] hit, uninstrumented": _lookup_loop(ttl_cache.__getitem__, "k"),
        "agentotel.Cache.get hit, telemetry on": _lookup_loop(ours.get, "k"),
        "agentotel.Cache.get hit inside a recording span": in_span(_lookup_loop(ours.get, "k")),
        "agentotel.Cache.get_or_load hit": _get_or_load_loop(ours, "k"),
        "agentotel.Cache.set, full cache of 1e3 (evicts)": _insert_loop(insert_small, 1_000),
        "agentotel.Cache.set, full cache of 1e5 (evicts)": _insert_loop(insert_large, 100_000),
        "agentotel.Cache.get_or_load miss (span + load)": miss_and_load,
        "@cachetools.cached hit, uninstrumented": _lookup_loop(decorated, 1),
    }
    instrumented_cases: dict[str, Callable[[int], None]] = {
        "cachetools.TTLCache[k] hit, instrumented": _lookup_loop(ttl_cache.__getitem__, "k"),
        "@cachetools.cached hit, instrumented": _lookup_loop(decorated, 1),
    }
    names = list(cases) + list(instrumented_cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(args.reps):
        empty = min(_timed_empty(args.ops) for _ in range(3))
        for name in rotated(names, rep):
            ops = args.ops if "miss" not in name else args.ops // 20
            if name in instrumented_cases:
                instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
                try:
                    samples[name].append(_per_op(instrumented_cases[name], ops, empty))
                finally:
                    instrumentor.uninstrument()
            else:
                samples[name].append(_per_op(cases[name], ops, empty))

    median = medians(samples)
    base = median["cachetools.TTLCache[k] hit, uninstrumented"]
    load = os.getloadavg()[0]
    rows = []
    for name in names:
        if "set, full" in name:
            ratio = median[name] / median["agentotel.Cache.set, full cache of 1e3 (evicts)"]
            note = "x 1e3 insert"
        elif name.startswith("@cachetools"):
            ratio = median[name] / median["@cachetools.cached hit, uninstrumented"]
            note = "x uninstrumented"
        else:
            ratio, note = median[name] / base, "x TTLCache hit"
        rows.append([name, f"{median[name]:.0f}", f"{ratio:.2f} {note}"])
    print_table(
        [f"case (median of {args.reps}, ns/op; load average {load:.1f} on {os.cpu_count()} cores)", "ns", "ratio"],
        rows,
        numeric=True,
    )
    agentotel.uninstrument()
    tracer_provider.shutdown()
    meter_provider.shutdown()


def _timed_empty(ops: int) -> float:
    start = time.perf_counter()
    _empty_loop(ops)
    return (time.perf_counter() - start) / ops


if __name__ == "__main__":
    main()
