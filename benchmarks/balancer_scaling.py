"""Cost of a LoadBalancer pick (acquire + release) as the number of instances grows, per strategy.

    .venv/bin/python benchmarks/balancer_scaling.py [--reps 25] [--picks 2000]

One process with agentotel instrumented into a real SDK TracerProvider and
MeterProvider (periodic reader into a discarding exporter), so every release
records ``agentotel.lb.request.duration`` and the observable instruments are
live. Each repetition times every (strategy, size) pair once, in an order
rotated per repetition; medians are reported. The instances have warm latency
samples (one lease each first). Target: a pick with 10,000 instances
within 1.5x of a pick with 10. ``weighted_round_robin`` is O(n) by design
(nginx's smooth algorithm visits every instance) and is timed with fewer picks.
"""

from __future__ import annotations

import argparse
import random
import time

from _harness import medians, print_table, providers, sample_rotated

import agentotel
from agentotel import LoadBalancer

STRATEGIES = ("p2c_ewma", "round_robin", "random", "least_requests", "weighted_round_robin")
SIZES = (10, 100, 1000, 10_000)


def _balancer(strategy: str, size: int) -> LoadBalancer:
    lb = LoadBalancer(
        f"{strategy}-{size}",
        [f"10.0.{i // 250}.{i % 250}:8000" for i in range(size)],
        strategy=strategy,
        rng=random.Random(size),
    )
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]
    parser.add_argument("--reps", type=int, default=25)
    parser.add_argument("--picks", type=int, default=2_000)
    args = parser.parse_args()

    tracer_provider, meter_provider = providers(5_000, export_spans=False)
    agentotel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    pairs = [(strategy, size) for strategy in STRATEGIES for size in SIZES]
    balancers = {pair: _balancer(*pair) for pair in pairs}

    def measure(pair: tuple[str, int]) -> float:
        picks = args.picks if pair[0] != "weighted_round_robin" else max(50, args.picks * 10 // pair[1])
        return _timed(balancers[pair], picks)

    median = medians(sample_rotated(pairs, args.reps, measure))

    print(f"LoadBalancer acquire + release, {args.reps} reps, medians (µs per pick)\n")
    print_table(
        ["strategy", *(f"{size:,} instances" for size in SIZES), "10,000 vs 10"],
        (
            [
                strategy,
                *(f"{median[(strategy, size)] * 1e6:.2f}" for size in SIZES),
                f"{median[(strategy, SIZES[-1])] / median[(strategy, SIZES[0])]:.2f}x",
            ]
            for strategy in STRATEGIES
        ),
    )
    agentotel.uninstrument()


if __name__ == "__main__":
    main()
