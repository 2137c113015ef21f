"""Closed-state call overhead of agentotel's CircuitBreaker against pybreaker, on the same function.

    .venv/bin/python benchmarks/breaker_overhead.py [--reps 15] [--calls 50000]

One process with agentotel instrumented into a real SDK TracerProvider and
MeterProvider (periodic reader into a discarding exporter), so the breakers'
observable instruments are live. Each repetition times every variant once, in
an order rotated per repetition, ``--calls`` calls each; medians of the per-call
times are reported, and a variant's overhead is its median minus the bare
function's. Target: agentotel's overhead <= 0.3x pybreaker's.

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
from collections.abc import Callable
from typing import Any

import pybreaker  # pyright: ignore[reportMissingImports]  # the bench extras
from _harness import medians, print_table, providers, sample_rotated, timed

import agentotel
from agentotel import CircuitBreaker


def work(x: int) -> int:
    return x + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--calls", type=int, default=50_000)
    args = parser.parse_args()

    tracer_provider, meter_provider = providers(1_000, export_spans=False)
    agentotel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    py = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    ours = CircuitBreaker("bench")
    decorated = ours(work)
    slow = CircuitBreaker("bench-slow", slow_call_duration=5.0)
    time_window = CircuitBreaker("bench-time", sliding_window="time", window_size=60)
    variants: dict[str, Callable[[], Any]] = {
        "bare": lambda: work(1),
        "pybreaker": lambda: py.call(work, 1),
        "agentotel": lambda: ours.call(work, 1),
        "agentotel @decorator": lambda: decorated(1),
        "agentotel slow-calls": lambda: slow.call(work, 1),
        "agentotel time window": lambda: time_window.call(work, 1),
    }
    median = medians(sample_rotated(list(variants), args.reps, lambda name: timed(variants[name], args.calls)[0]))
    bare = median["bare"]
    py_overhead = median["pybreaker"] - bare
    print(f"CircuitBreaker closed-state call, {args.reps} reps x {args.calls} calls, medians\n")
    print_table(
        ["variant", "per call", "overhead", "overhead vs pybreaker"],
        (
            [
                name,
                f"{median[name] * 1e9:.0f} ns",
                f"{(median[name] - bare) * 1e9:.0f} ns",
                "" if name == "bare" else f"{(median[name] - bare) / py_overhead:.2f}x",
            ]
            for name in variants
        ),
    )
    assert ours.counters()["calls"]["success"] > 0
    agentotel.uninstrument()


if __name__ == "__main__":
    main()
