"""Pick strategies for :class:`~agentotel.resilience.balancer.LoadBalancer`.

A strategy chooses one slot among ``slots`` for which ``ok(slot)`` holds, or
returns ``None``. The balancer calls it under its lock and counts the pick in the
same critical section. Cost per pick, with *n* instances:

=========================  ===================================================
``p2c_ewma`` (default)     O(1): two random samples, lower peak-EWMA x (in-flight + 1)
``random``                 O(1): one random sample
``least_requests``         O(n) scan for n <= 16, else O(1): the better of two random samples
``round_robin``            O(1) amortised (O(n) only when most instances are unavailable)
``weighted_round_robin``   O(n): nginx's smooth weighted round robin visits every instance
=========================  ===================================================

A strategy sees of each instance only its :class:`Load` (the balancer's slots are
loads), which carries its position in ``slots`` as ``index``. Sampling strategies
retry a few samples when they hit an unavailable instance and
then fall back to a scan from a random offset, so a pick only gets expensive when
most instances are unavailable.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

__all__ = ["Load", "Strategy", "make_strategy", "STRATEGIES"]

_SAMPLE_TRIES = 4
_SCAN_BELOW = 16


class Load:
    """What the strategies read and keep for one instance: its place, weight, requests in flight, latency."""

    __slots__ = ("index", "weight", "current_weight", "inflight", "samples", "ewma", "stamp")

    def __init__(self, weight: int, now: float) -> None:
        self.index = -1  # position in the balancer's list of instances
        self.weight = weight
        self.current_weight = 0  # smooth weighted round robin's running weight
        self.inflight = 0
        self.samples = 0  # latency samples observed
        self.ewma = 0.0  # peak-EWMA latency, seconds
        self.stamp = now  # when ewma was last updated

    def observe_latency(self, rtt: float, now: float, decay_time: float) -> None:
        """Peak EWMA: jump up to a slower sample at once, decay toward faster ones."""
        if not self.samples:
            self.ewma = rtt
        else:
            elapsed = max(0.0, now - self.stamp)
            w = math.exp(-elapsed / decay_time)
            self.ewma = rtt if rtt > self.ewma else self.ewma * w + rtt * (1.0 - w)
        self.samples += 1
        self.stamp = now


L = TypeVar("L", bound=Load)
Ok = Callable[[L], bool]


class Strategy(Protocol):
    """Chooses one eligible slot."""

    name: str

    def pick(self, slots: Sequence[L], ok: Ok[L], rng: random.Random, now: float) -> L | None:
        """An eligible slot, or ``None`` when there is none."""
        ...


def _sample(slots: Sequence[L], ok: Ok[L], rng: random.Random) -> L | None:
    n = len(slots)
    draw = rng.random
    for _ in range(_SAMPLE_TRIES):
        slot = slots[int(draw() * n)]
        if ok(slot):
            return slot
    return None


def _scan(slots: Sequence[L], ok: Ok[L], rng: random.Random) -> L | None:
    """First eligible slot from a random offset (fallback when samples keep missing)."""
    n = len(slots)
    start = int(rng.random() * n)
    for i in range(n):
        slot = slots[(start + i) % n]
        if ok(slot):
            return slot
    return None


def _two_choices(slots: Sequence[L], ok: Ok[L], rng: random.Random) -> tuple[L | None, L | None]:
    """Two distinct eligible slots drawn at random (the second ``None`` if none found quickly)."""
    first = _sample(slots, ok, rng) or _scan(slots, ok, rng)
    n = len(slots)
    if first is None or n == 1:
        return first, None
    for _ in range(_SAMPLE_TRIES):
        j = int(rng.random() * (n - 1))  # drawn among the others: never the first again
        candidate = slots[j + 1 if j >= first.index else j]
        if ok(candidate):
            return first, candidate
    return first, None


class RandomStrategy:
    """Uniformly random among eligible instances."""

    name = "random"

    def pick(self, slots: Sequence[L], ok: Ok[L], rng: random.Random, now: float) -> L | None:
        return _sample(slots, ok, rng) or _scan(slots, ok, rng)


class RoundRobin:
    """Each eligible instance in turn."""

    name = "round_robin"

    def __init__(self) -> None:
        self._cursor = 0

    def pick(self, slots: Sequence[L], ok: Ok[L], rng: random.Random, now: float) -> L | None:
        n = len(slots)
        cursor = self._cursor
        for i in range(n):
            slot = slots[(cursor + i) % n]
            if ok(slot):
                self._cursor = (cursor + i + 1) % n
                return slot
        return None


class SmoothWeightedRoundRobin:
    """nginx's smooth weighted round robin: weights {a: 5, b: 1, c: 1} give a a b a c a a."""

    name = "weighted_round_robin"

    def pick(self, slots: Sequence[L], ok: Ok[L], rng: random.Random, now: float) -> L | None:
        best: L | None = None
        total = 0
        for slot in slots:
            if not ok(slot):
                continue
            slot.current_weight += slot.weight
            total += slot.weight
            if best is None or slot.current_weight > best.current_weight:
                best = slot
        if best is not None:
            best.current_weight -= total
        return best


class LeastRequests:
    """Fewest requests in flight: exact for small pools, the better of two random ones for large pools."""

    name = "least_requests"

    def pick(self, slots: Sequence[L], ok: Ok[L], rng: random.Random, now: float) -> L | None:
        n = len(slots)
        if n <= _SCAN_BELOW:
            best: L | None = None
            start = int(rng.random() * n)  # random start so that ties spread
            for i in range(n):
                slot = slots[(start + i) % n]
                if ok(slot) and (best is None or slot.inflight < best.inflight):
                    best = slot
            return best
        first, second = _two_choices(slots, ok, rng)
        if first is None or second is None:
            return first
        return first if first.inflight <= second.inflight else second


class PeakEwmaP2C:
    """Power of two choices on peak-EWMA latency x (in-flight + 1) (Finagle's ``p2cPeakEwma``).

    An instance without a latency sample yet costs 0 (so it gets tried) while no
    request is in flight on it, and infinity while its first request is: a new
    instance receives one probe at a time until it has a measurement.
    """

    name = "p2c_ewma"

    def __init__(self, decay_time: float) -> None:
        self.decay_time = decay_time

    def cost(self, slot: Load, now: float) -> float:
        """What the P2C comparison uses for ``slot`` at ``now``."""
        if not slot.samples:
            return math.inf if slot.inflight else 0.0
        elapsed = now - slot.stamp
        ewma = slot.ewma * math.exp(-elapsed / self.decay_time) if elapsed > 0 else slot.ewma
        return ewma * (slot.inflight + 1)

    def pick(self, slots: Sequence[L], ok: Ok[L], rng: random.Random, now: float) -> L | None:
        first, second = _two_choices(slots, ok, rng)
        if first is None or second is None:
            return first
        return first if self.cost(first, now) <= self.cost(second, now) else second


STRATEGIES = ("p2c_ewma", "round_robin", "weighted_round_robin", "least_requests", "random")


def make_strategy(name: str, *, decay_time: float) -> Strategy:
    """A fresh strategy object by name (one of :data:`STRATEGIES`)."""
    if name == "p2c_ewma":
        return PeakEwmaP2C(decay_time)
    if name == "round_robin":
        return RoundRobin()
    if name == "weighted_round_robin":
        return SmoothWeightedRoundRobin()
    if name == "least_requests":
        return LeastRequests()
    if name == "random":
        return RandomStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
