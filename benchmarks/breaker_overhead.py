"""Closed-state call overhead of agentotel's CircuitBreaker against pybreaker, on the same function.

    .venv/bin/python benchmarks/breaker_overhead.py [--reps 15] [--calls 50000]

One process with agentotel instrumented into a real SDK TracerProvider and
MeterProvider (periodic reader into a discarding exporter), so the breakers'
observable instruments are live. Each repetition times every variant once, in
an order rotated per repetition, ``--calls`` calls each; medians of the per-call
times are reported, and a variant's overhead is its median minus the bare
function's. Target (issue 4): agentotel's overhead <= 0.3x pybreaker's.

Variants:
  bare                   ``fn(1)``
  pybreaker              ``pybreaker.CircuitBreaker().call(fn, 1)``
  agentotel              ``CircuitBreaker("bench").call(fn, 1)`` (count window: lock-free success path)
  agentotel @decorator   the same breaker as a decorator
  agentotel slow-calls   ``slow_call_duration=`` set: two clock reads per call, lock-free while calls are fast
  agentotel time window  ``sliding_window="time"``: the locked path on every call
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import pybreaker
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider

import agentotel
from agentotel import CircuitBreaker


class _DiscardMetrics(MetricExporter):
    def __init__(self) -> None:
        super().__init__()

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def work(x: int) -> int:
    return x + 1


def _timed(run: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        run()
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--calls", type=int, default=50_000)
    args = parser.parse_args()

    reader = PeriodicExportingMetricReader(_DiscardMetrics(), export_interval_millis=1_000)
    agentotel.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider(metric_readers=[reader]))

    py = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    ours = CircuitBreaker("bench")
    decorated = ours(work)
    slow = CircuitBreaker("bench-slow", slow_call_duration=5.0)
    timed = CircuitBreaker("bench-time", sliding_window="time", window_size=60)
    variants: dict[str, Callable[[], Any]] = {
        "bare": lambda: work(1),
        "pybreaker": lambda: py.call(work, 1),
        "agentotel": lambda: ours.call(work, 1),
        "agentotel @decorator": lambda: decorated(1),
        "agentotel slow-calls": lambda: slow.call(work, 1),
        "agentotel time window": lambda: timed.call(work, 1),
    }
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(args.reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            samples[name].append(_timed(variants[name], args.calls))
    median = {name: statistics.median(values) for name, values in samples.items()}
    bare = median["bare"]
    py_overhead = median["pybreaker"] - bare
    print(f"CircuitBreaker closed-state call, {args.reps} reps x {args.calls} calls, medians\n")
    print("| variant | per call | overhead | overhead vs pybreaker |")
    print("|---|---|---|---|")
    for name in names:
        overhead = median[name] - bare
        ratio = "" if name == "bare" else f"{overhead / py_overhead:.2f}x"
        print(f"| {name} | {median[name] * 1e9:.0f} ns | {overhead * 1e9:.0f} ns | {ratio} |")
    assert ours.counters()["calls"]["success"] > 0
    agentotel.uninstrument()


if __name__ == "__main__":
    main()
