"""Cost of a LoadBalancer pick (acquire + release) as the number of instances grows, per strategy.

    .venv/bin/python benchmarks/balancer_scaling.py [--reps 25] [--picks 2000]

One process with agentotel instrumented into a real SDK TracerProvider and
MeterProvider (periodic reader into a discarding exporter), so every release
records ``agentotel.lb.request.duration`` and the observable instruments are
live. Each repetition times every (strategy, size) pair once, in an order
rotated per repetition; medians are reported. The instances have warm latency
samples (one lease each first). Target (issue 4): a pick with 10,000 instances
within 1.5x of a pick with 10. ``weighted_round_robin`` is O(n) by design
(nginx's smooth algorithm visits every instance) and is timed with fewer picks.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider

import agentotel
from agentotel import LoadBalancer

STRATEGIES = ("p2c_ewma", "round_robin", "random", "least_requests", "weighted_round_robin")
SIZES = (10, 100, 1000, 10_000)


class _DiscardMetrics(MetricExporter):
    def __init__(self) -> None:
        super().__init__()

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _balancer(strategy: str, size: int) -> LoadBalancer:
    lb = LoadBalancer(f"{strategy}-{size}", [f"10.0.{i // 250}.{i % 250}:8000" for i in range(size)],
                      strategy=strategy, rng=random.Random(size))
    for _ in range(size):  # every instance gets a latency sample
        lb.acquire().release()
    return lb


def _timed(lb: LoadBalancer, picks: int) -> float:
    acquire = lb.acquire
    start = time.perf_counter()
    for _ in range(picks):
        acquire().release()
    return (time.perf_counter() - start) / picks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=25)
    parser.add_argument("--picks", type=int, default=2_000)
    args = parser.parse_args()

    reader = PeriodicExportingMetricReader(_DiscardMetrics(), export_interval_millis=5_000)
    agentotel.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider(metric_readers=[reader]))

    pairs = [(strategy, size) for strategy in STRATEGIES for size in SIZES]
    balancers = {pair: _balancer(*pair) for pair in pairs}
    samples: dict[tuple[str, int], list[float]] = {pair: [] for pair in pairs}
    for rep in range(args.reps):
        order = pairs[rep % len(pairs):] + pairs[:rep % len(pairs)]
        for pair in order:
            picks = args.picks if pair[0] != "weighted_round_robin" else max(50, args.picks * 10 // pair[1])
            samples[pair].append(_timed(balancers[pair], picks))
    median = {pair: statistics.median(values) for pair, values in samples.items()}

    print(f"LoadBalancer acquire + release, {args.reps} reps, medians (µs per pick)\n")
    print("| strategy | " + " | ".join(f"{size:,} instances" for size in SIZES) + " | 10,000 vs 10 |")
    print("|---|" + "---|" * (len(SIZES) + 1))
    for strategy in STRATEGIES:
        cells = " | ".join(f"{median[(strategy, size)] * 1e6:.2f}" for size in SIZES)
        ratio = median[(strategy, SIZES[-1])] / median[(strategy, SIZES[0])]
        print(f"| {strategy} | {cells} | {ratio:.2f}x |")
    agentotel.uninstrument()


if __name__ == "__main__":
    main()
