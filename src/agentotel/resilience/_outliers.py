"""Outlier detection for the load balancer (Envoy's model, simplified).

An instance is ejected after ``consecutive_failures`` failures in a row, or when
its failure rate over the current ``interval`` reaches ``failure_rate`` with at
least ``min_requests`` requests. The n-th ejection lasts ``base_ejection_time *
n`` seconds, capped at ``max_ejection_time`` and spread by ``jitter``; an
instance that stays healthy for ``max_ejection_time`` after re-admission starts
again from n = 1. Re-admitted instances get one probe request at a time until
one succeeds; a failed probe ejects them again at once. At most
``max_ejection_percent`` of the instances (but always at least one) are ejected
at any time.

:class:`OutlierState` is what is kept per instance, :class:`Ejections` the
ejections of one balancer (who is out, until when, and bringing them back). The
balancer calls them under its lock.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass

__all__ = ["OutlierPolicy", "OutlierState", "Ejections", "CONSECUTIVE_FAILURES", "FAILURE_RATE", "PROBE_FAILED"]

CONSECUTIVE_FAILURES = "consecutive_failures"
FAILURE_RATE = "failure_rate"
PROBE_FAILED = "probe_failed"


class OutlierState:
    """One instance's results and ejections, as outlier detection keeps them."""

    __slots__ = (
        "ejected_until",
        "ejections",
        "readmitted_at",
        "trial",
        "consecutive_failures",
        "interval_start",
        "interval_ok",
        "interval_failed",
        "ejection_counts",
    )

    def __init__(self, now: float) -> None:
        self.ejected_until = 0.0  # 0: not ejected
        self.ejections = 0  # the n of the next ejection's duration (reset once forgiven)
        self.readmitted_at: float | None = None
        self.trial = False  # on probation: one request at a time until one succeeds
        self.consecutive_failures = 0
        self.interval_start = now
        self.interval_ok = self.interval_failed = 0
        self.ejection_counts: dict[str, int] = {}  # by reason, since the instance was added


@dataclass(frozen=True)
class OutlierPolicy:
    """When instances are ejected and for how long (pass ``outliers=None`` to switch off)."""

    consecutive_failures: int = 5
    failure_rate: float = 0.5
    min_requests: int = 10
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_time: float = 300.0
    max_ejection_percent: float = 50.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1 or self.min_requests < 1:
            raise ValueError("consecutive_failures and min_requests must be >= 1")
        if not 0.0 < self.failure_rate <= 1.0 or not 0.0 <= self.jitter < 1.0:
            raise ValueError("need 0 < failure_rate <= 1 and 0 <= jitter < 1")
        if self.interval <= 0 or self.base_ejection_time <= 0 or self.max_ejection_time < self.base_ejection_time:
            raise ValueError("need interval > 0 and 0 < base_ejection_time <= max_ejection_time")
        if not 0.0 <= self.max_ejection_percent <= 100.0:
            raise ValueError("max_ejection_percent must be within [0, 100]")

    def max_ejected(self, instances: int) -> int:
        """How many of ``instances`` may be ejected at once."""
        return max(1, int(instances * self.max_ejection_percent / 100.0)) if instances else 0

    def observe(self, slot: OutlierState, failed: bool, now: float) -> str | None:
        """Count one result for ``slot``; the ejection reason if it should be ejected now."""
        if now - slot.interval_start >= self.interval:
            slot.interval_start = now
            slot.interval_ok = slot.interval_failed = 0
        if failed:
            slot.consecutive_failures += 1
            slot.interval_failed += 1
            if slot.trial:
                return PROBE_FAILED
            if slot.consecutive_failures >= self.consecutive_failures:
                return CONSECUTIVE_FAILURES
        else:
            slot.consecutive_failures = 0
            slot.interval_ok += 1
        total = slot.interval_ok + slot.interval_failed
        if total >= self.min_requests and slot.interval_failed >= self.failure_rate * total:
            return FAILURE_RATE
        return None

    def ejection_time(self, slot: OutlierState, now: float, rng: random.Random) -> float:
        """Seconds for the ejection about to start (counts it in ``slot.ejections``)."""
        if slot.readmitted_at is not None and now - slot.readmitted_at >= self.max_ejection_time:
            slot.ejections = 0  # healthy long enough: forgive earlier ejections
        slot.ejections += 1
        seconds = min(self.base_ejection_time * slot.ejections, self.max_ejection_time)
        if self.jitter:
            seconds *= 1.0 + self.jitter * (2.0 * rng.random() - 1.0)
        return seconds


class Ejections:
    """The ejections of one balancer's instances under ``policy`` (``None``: nothing is ever ejected)."""

    def __init__(self, policy: OutlierPolicy | None) -> None:
        self.policy = policy
        #: Instances ejected now.
        self.count = 0
        self._readmissions: list[tuple[float, int, OutlierState]] = []  # heap of ejection ends
        self._seq = itertools.count()

    def observe(self, state: OutlierState, failed: bool, now: float, instances: int, rng: random.Random) -> None:
        """Count one result of an instance; eject it when the policy says so (and the cap allows)."""
        policy = self.policy
        if policy is None:
            return
        reason = policy.observe(state, failed, now)
        if reason is not None:
            self._eject(policy, state, reason, now, instances, rng)
        elif not failed:
            state.trial = False

    def _eject(
        self, policy: OutlierPolicy, state: OutlierState, reason: str, now: float, instances: int, rng: random.Random
    ) -> None:
        if state.ejected_until:
            return
        state.trial = False
        if self.count >= policy.max_ejected(instances):
            return  # the cap holds: keep serving from it (panic-free)
        state.ejected_until = now + policy.ejection_time(state, now, rng)
        state.consecutive_failures = 0
        state.ejection_counts[reason] = state.ejection_counts.get(reason, 0) + 1
        self.count += 1
        heapq.heappush(self._readmissions, (state.ejected_until, next(self._seq), state))

    def due(self, now: float) -> bool:
        """Whether an ejection has ended by ``now`` (cheap: checked on every pick)."""
        return bool(self._readmissions) and self._readmissions[0][0] <= now

    def readmit_due(self, now: float) -> None:
        """Bring back every instance whose ejection has ended, on probation."""
        heap = self._readmissions
        while heap and heap[0][0] <= now:
            until, _, state = heapq.heappop(heap)
            if state.ejected_until == until:  # else readmitted or forgotten since
                state.ejected_until = 0.0
                state.trial = True
                state.readmitted_at = now
                state.interval_start = now
                state.interval_ok = state.interval_failed = 0
                self.count -= 1

    def forget(self, state: OutlierState) -> None:
        """An instance left the balancer: it no longer counts as ejected."""
        if state.ejected_until:
            state.ejected_until = 0.0
            self.count -= 1
