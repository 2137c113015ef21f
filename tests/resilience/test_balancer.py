"""LoadBalancer strategies, leases, latency handling, ejection, panic mode and membership.

Failure modes of naive balancers that the tests rule out:
* "in-flight count leaks +1 per request" -> test_inflight_returns_to_zero_after_mixed_outcomes
  (and the cancellation cases in test_balancer_async.py)
* "least response time sends traffic to a failing instance because it has no latency data"
  -> test_failing_fast_instance_is_not_preferred, test_cold_instance_gets_one_probe_at_a_time
* "an ejected instance never comes back" -> test_ejected_instance_is_readmitted_with_one_probe
* "when all are ejected, nothing is served" -> test_panic_mode_serves_when_everything_is_ejected
"""

from __future__ import annotations

import collections
import heapq
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentotel import CircuitBreaker, CircuitOpenError, LoadBalancer, NoInstanceAvailable
from agentotel.resilience.balancer import OutlierPolicy
from tests.support.clock import FakeClock


class Boom(Exception):
    pass


def make(instances: Any, **options: Any) -> LoadBalancer:
    options.setdefault("rng", random.Random(42))
    options.setdefault("clock", FakeClock())
    return LoadBalancer("test", instances, **options)


def pick_counts(lb: LoadBalancer, n: int) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for _ in range(n):
        with lb.lease() as instance:
            counts[instance] += 1
    return counts


def simulate(
    lb: LoadBalancer, clock: FakeClock, latency: dict[str, float], clients: int, requests: int
) -> collections.Counter:
    """Closed loop with ``clients`` concurrent callers; each request takes its instance's latency."""
    counts: collections.Counter = collections.Counter()
    pending: list[tuple[float, int, Any]] = []
    for seq in range(clients):
        lease = lb.acquire()
        heapq.heappush(pending, (clock.now + latency[lease.instance], seq, lease))
    for seq in range(clients, clients + requests):
        done_at, _, lease = heapq.heappop(pending)
        clock.now = done_at
        lease.release()
        lease = lb.acquire()
        counts[lease.instance] += 1
        heapq.heappush(pending, (clock.now + latency[lease.instance], seq, lease))
    return counts


# ------------------------------------------------------------------ strategies
def test_round_robin_is_exactly_even() -> None:
    lb = make(["a", "b", "c"], strategy="round_robin")
    assert pick_counts(lb, 300) == {"a": 100, "b": 100, "c": 100}


@pytest.mark.parametrize("strategy", ["random", "p2c_ewma", "least_requests"])
def test_distribution_is_even_for_equal_instances(strategy: str) -> None:
    instances = [f"i{n}" for n in range(10)]
    lb = make(instances, strategy=strategy)
    counts = pick_counts(lb, 5000)
    assert set(counts) == set(instances)
    assert max(counts.values()) < 1.3 * 500 and min(counts.values()) > 0.7 * 500


def test_smooth_weighted_round_robin_interleaves() -> None:
    lb = make(["a", "b", "c"], strategy="weighted_round_robin", weights={"a": 5, "b": 1, "c": 1})
    order = [lb.acquire() for _ in range(7)]
    for lease in order:
        lease.release()
    assert [lease.instance for lease in order] == ["a", "a", "b", "a", "c", "a", "a"]
    assert pick_counts(lb, 700) == {"a": 500, "b": 100, "c": 100}


def test_least_requests_avoids_busy_instances() -> None:
    lb = make(["a", "b", "c"], strategy="least_requests")
    held = [lb.acquire() for _ in range(6)]
    assert [lb.inflight(i) for i in "abc"] == [2, 2, 2]
    held[0].release()
    busy = {lease.instance for lease in held[1:]}
    freed = held[0].instance
    nxt = lb.acquire()
    assert nxt.instance == freed and len(busy) == 3


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="p2c_ewma"):
        make(["a"], strategy="fastest")


# ------------------------------------------------------------- latency (p2c)
def test_load_is_inversely_proportional_to_latency() -> None:
    clock = FakeClock()
    latency = {f"fast{i}": 0.01 for i in range(5)} | {f"slow{i}": 0.03 for i in range(5)}
    lb = make(list(latency), clock=clock)
    counts = simulate(lb, clock, latency, clients=20, requests=10_000)
    fast = sum(n for name, n in counts.items() if name.startswith("fast"))
    slow = sum(n for name, n in counts.items() if name.startswith("slow"))
    assert 2.4 < fast / slow < 3.9  # 3x faster -> about 3x the requests

    rr_clock = FakeClock()
    rr = make(list(latency), clock=rr_clock, strategy="round_robin")
    rr_counts = simulate(rr, rr_clock, latency, clients=20, requests=10_000)
    assert sum(n for name, n in rr_counts.items() if name.startswith("fast")) == 5000  # the contrast


def test_failing_fast_instance_is_not_preferred() -> None:
    """'Least response time' must not prefer an instance that fails in 1 ms."""
    clock = FakeClock()
    lb = make(["good", "bad"], clock=clock, outliers=None)  # the latency penalty alone must do it
    counts: collections.Counter = collections.Counter()
    for _ in range(300):
        lease = lb.acquire()
        counts[lease.instance] += 1
        if lease.instance == "bad":
            clock.advance(0.001)
            lease.release("failure")
        else:
            clock.advance(0.05)
            lease.release("success")
    assert counts["bad"] <= 3
    assert counts["good"] >= 297


def test_cold_instance_gets_one_probe_at_a_time() -> None:
    """An instance without latency data does not look fastest and take the whole rush: it gets
    one probe at a time until it has a measurement."""
    clock = FakeClock()
    lb = make([f"warm{i}" for i in range(4)], clock=clock)
    for _ in range(40):  # warm up: every instance has a latency sample
        lease = lb.acquire()
        clock.advance(0.1)
        lease.release()
    lb.add("cold")
    held = [lb.acquire() for _ in range(50)]  # 50 concurrent picks
    assert sum(lease.instance == "cold" for lease in held) == 1
    probe = next(lease for lease in held if lease.instance == "cold")
    clock.advance(0.01)
    probe.release()  # fast: now it is a good choice
    more = [lb.acquire() for _ in range(20)]
    assert sum(lease.instance == "cold" for lease in more) >= 5
    for lease in held + more:
        lease.release()


def test_no_pile_up_for_concurrent_picks() -> None:
    """K picks before any release spread out (in-flight is part of the cost), not onto one 'fastest' instance."""
    clock = FakeClock()
    instances = [f"i{n}" for n in range(10)]
    lb = make(instances, clock=clock)
    for _ in range(100):
        lease = lb.acquire()
        clock.advance(0.05)
        lease.release()
    held = [lb.acquire() for _ in range(100)]  # K = 100 picks before any returns
    loads = [lb.inflight(i) for i in instances]
    assert sum(loads) == 100
    assert max(loads) <= 10 + 3 and min(loads) >= 10 - 3
    for lease in held:
        lease.release()


# ---------------------------------------------------------------------- leases
def test_inflight_returns_to_zero_after_mixed_outcomes() -> None:
    """In-flight returns to zero whatever the outcomes (also on errors)."""
    lb = make(["a", "b"], outliers=None)

    def work(instance: str, outcome: str) -> str:
        if outcome == "error":
            raise Boom()
        if outcome == "interrupt":
            raise KeyboardInterrupt()
        return instance

    for i in range(60):
        outcome = ("ok", "error", "interrupt")[i % 3]
        try:
            lb.call(work, outcome)
        except (Boom, KeyboardInterrupt):
            pass
    for _ in range(5):
        with pytest.raises(Boom):
            with lb.lease():
                raise Boom()

    def stream():
        with lb.lease() as instance:
            yield instance
            yield instance

    gen = stream()
    next(gen)
    assert sum(lb.inflight(i) for i in "ab") == 1
    gen.close()  # GeneratorExit inside the lease
    lease = lb.acquire()
    lease.release()
    lease.release()  # a second release does nothing
    assert lb.inflight("a") == lb.inflight("b") == 0


def test_release_outcomes_are_classified() -> None:
    lb = make(["a"], is_failure=lambda e: not isinstance(e, KeyError))
    with pytest.raises(KeyError):
        with lb.lease():
            raise KeyError("not the instance's fault")
    assert lb._slots[0].outlier.consecutive_failures == 0
    with pytest.raises(Boom):
        with lb.lease():
            raise Boom()
    assert lb._slots[0].outlier.consecutive_failures == 1


def test_retry_goes_to_another_instance() -> None:
    lb = make(["a", "b", "c"], strategy="round_robin", retries=2, outliers=None)
    tried: list[str] = []

    def flaky(instance: str) -> str:
        tried.append(instance)
        if instance != "c":
            raise Boom(instance)
        return instance

    assert lb.call(flaky) == "c"
    assert tried == ["a", "b", "c"]
    assert all(lb.inflight(i) == 0 for i in "abc")


def test_retries_exhausted_raise_the_last_error() -> None:
    lb = make(["a", "b"], retries=1, outliers=None)
    with pytest.raises(Boom):
        lb.call(lambda instance: (_ for _ in ()).throw(Boom(instance)))
    assert lb._slots[0].picks + lb._slots[1].picks == 2


def test_unhashable_instances_and_name_of() -> None:
    a, b = {"url": "http://a"}, {"url": "http://b"}
    lb = make([a, b], name_of=lambda inst: inst["url"], strategy="round_robin")
    with lb.lease() as first:
        assert first is a
        assert lb.inflight(a) == 1
    assert [row["name"] for row in lb.health_snapshot()["instances"]] == ["http://a", "http://b"]


# ------------------------------------------------------------------- ejection
POLICY = OutlierPolicy(
    consecutive_failures=3, base_ejection_time=10.0, max_ejection_time=25.0, max_ejection_percent=50.0, jitter=0.0
)


def fail_on(lb: LoadBalancer, instance: str, times: int) -> None:
    done = 0
    while done < times:
        lease = lb.acquire()
        if lease.instance == instance:
            lease.release("failure")
            done += 1
        else:
            lease.release("success")


def test_consecutive_failures_eject() -> None:
    clock = FakeClock()
    lb = make(["a", "b", "c"], clock=clock, outliers=POLICY, strategy="round_robin")
    fail_on(lb, "b", 3)
    assert lb.health_snapshot()["ejected"] == 1
    assert set(pick_counts(lb, 30)) == {"a", "c"}
    assert lb._slots[1].outlier.ejection_counts == {"consecutive_failures": 1}


def test_failure_rate_ejects() -> None:
    clock = FakeClock()
    policy = OutlierPolicy(consecutive_failures=100, failure_rate=0.5, min_requests=10, jitter=0.0)
    lb = make(["a", "b"], clock=clock, outliers=policy, strategy="round_robin")
    for i in range(20):
        lease = lb.acquire()
        failed = lease.instance == "a" and i % 4 == 0  # a: fails every other request of its own
        lease.release("failure" if failed else "success")
    assert lb._slots[0].outlier.ejection_counts == {"failure_rate": 1}


def test_ejection_cap() -> None:
    """Even when every instance fails, at most max_ejection_percent of them are ejected."""
    clock = FakeClock()
    lb = make(["a", "b", "c", "d"], clock=clock, outliers=POLICY, strategy="round_robin")
    for _ in range(40):  # everything fails
        lease = lb.acquire()
        lease.release("failure")
    assert lb.health_snapshot()["ejected"] == 2  # 50% of 4
    assert len(set(pick_counts(lb, 20))) == 2


def test_panic_mode_serves_when_everything_is_ejected() -> None:
    """When every instance is ejected, requests are still served (panic mode)."""
    clock = FakeClock()
    policy = OutlierPolicy(consecutive_failures=1, max_ejection_percent=100.0, jitter=0.0)
    lb = make(["a", "b"], clock=clock, outliers=policy)
    fail_on(lb, "a", 1)
    fail_on(lb, "b", 1)
    assert lb.health_snapshot()["ejected"] == 2
    lease = lb.acquire()  # never fails while instances exist
    assert lease.panic and lease.instance in ("a", "b")
    lease.release()
    assert lb.health_snapshot()["status"] == "unhealthy"


def test_ejected_instance_is_readmitted_with_one_probe() -> None:
    """An ejected instance comes back after its ejection, one probe at a time."""
    clock = FakeClock()
    lb = make(["a", "b", "c"], clock=clock, outliers=POLICY, strategy="round_robin")
    fail_on(lb, "b", 3)
    clock.advance(10)  # first ejection: base_ejection_time
    held = [lb.acquire() for _ in range(9)]
    assert sum(lease.instance == "b" for lease in held) == 1  # on probation: one request at a time
    for lease in held:
        lease.release()  # the probe succeeds
    assert pick_counts(lb, 30)["b"] == 10  # back in full rotation


def test_failed_probe_ejects_again_for_longer() -> None:
    clock = FakeClock()
    lb = make(["a", "b", "c"], clock=clock, outliers=POLICY, strategy="round_robin")
    fail_on(lb, "b", 3)
    ejected_for = []
    for _ in range(3):
        ejected_for.append(lb.health_snapshot()["instances"][1]["ejected_for"])
        clock.advance(ejected_for[-1])
        fail_on(lb, "b", 1)  # the single probe fails
    assert ejected_for == [10.0, 20.0, 25.0]  # grows, capped


def test_ejection_time_jitter_is_seeded() -> None:
    def ejection(seed: int) -> float:
        clock = FakeClock()
        policy = OutlierPolicy(consecutive_failures=1, jitter=0.2)
        lb = make(["a", "b"], clock=clock, outliers=policy, rng=random.Random(seed), strategy="round_robin")
        fail_on(lb, "a", 1)
        return lb.health_snapshot()["instances"][0]["ejected_for"]

    assert ejection(1) == ejection(1)
    values = [ejection(seed) for seed in range(10)]
    assert all(24.0 <= v <= 36.0 for v in values)  # 30 s +/- 20%
    assert len(set(values)) > 5


# ----------------------------------------------------------------- membership
def test_remove_and_drain_while_in_flight() -> None:
    lb = make(["a", "b", "c"], strategy="round_robin")
    lease_a, lease_b = lb.acquire(), lb.acquire()
    assert (lease_a.instance, lease_b.instance) == ("a", "b")
    lb.remove("a")
    lb.drain("b")
    assert set(pick_counts(lb, 10)) == {"c"}
    assert sorted(lb.instances()) == ["b", "c"]  # b stays until its request finishes
    lease_a.release()
    lease_b.release()
    assert lb.instances() == ["c"]  # drained b left once idle
    assert lb.inflight("a") == lb.inflight("b") == 0
    lb.add("d")
    assert set(pick_counts(lb, 10)) == {"c", "d"}


def test_empty_balancer_raises_clearly() -> None:
    lb = make([])
    with pytest.raises(NoInstanceAvailable, match="no instances"):
        lb.acquire()
    lb.add("a")
    with lb.lease() as instance:
        assert instance == "a"
    with pytest.raises(ValueError, match="already"):
        lb.add("a")


# ------------------------------------------------------------------- bulkhead
def test_bulkhead_skips_full_instances_and_rejects_when_all_full() -> None:
    lb = make(["a", "b"], max_inflight=2, strategy="round_robin")
    held = [lb.acquire() for _ in range(4)]
    assert [lb.inflight(i) for i in "ab"] == [2, 2]
    with pytest.raises(NoInstanceAvailable, match="max_inflight=2"):
        lb.acquire()
    held[0].release()
    assert lb.acquire().instance == held[0].instance
    assert lb.health_snapshot()["rejected"] == 1


# ---------------------------------------------------------- circuit breakers
def test_instance_with_open_breaker_is_skipped() -> None:
    clock = FakeClock()
    lb = make(
        ["a", "b"],
        clock=clock,
        outliers=None,
        breaker_factory=lambda inst: CircuitBreaker(f"lb-{inst}", minimum_calls=2, window_size=2, clock=clock),
    )
    for _ in range(2):
        with pytest.raises(Boom):
            lb.breaker("a").call(lambda: (_ for _ in ()).throw(Boom()))
    assert lb.breaker("a").state == "open"
    assert set(pick_counts(lb, 20)) == {"b"}
    assert lb.health_snapshot()["status"] == "degraded"


def test_call_goes_through_the_breaker_and_retries_elsewhere() -> None:
    clock = FakeClock()
    breakers = {name: CircuitBreaker(f"lb-{name}", minimum_calls=2, window_size=2, clock=clock) for name in "ab"}
    lb = make(["a", "b"], clock=clock, outliers=None, breakers=breakers, retries=1, strategy="round_robin")

    def only_b(instance: str) -> str:
        if instance == "a":
            raise Boom()
        return instance

    for _ in range(4):
        assert lb.call(only_b) == "b"
    assert breakers["a"].state == "open"
    breakers["b"].force_open()  # both breakers reject now: panic picks one, its breaker refuses
    lb.retries = 0
    with pytest.raises(CircuitOpenError):
        lb.call(only_b)
    assert lb.inflight("a") == lb.inflight("b") == 0


def test_only_draining_instances_raise_clearly() -> None:
    lb = make(["a"])
    held = lb.acquire()
    lb.drain("a")
    with pytest.raises(NoInstanceAvailable, match="all 1 instances are draining"):
        lb.acquire()
    held.release()
    assert lb.instances() == []


# -------------------------------------------------------------- invariants
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["acquire", "ok", "fail", "cancel", "add", "remove", "drain", "wait"]),
            st.integers(min_value=0, max_value=7),
        ),
        max_size=80,
    ),
    st.sampled_from(["p2c_ewma", "round_robin", "weighted_round_robin", "least_requests", "random"]),
)
@settings(max_examples=120, deadline=None)
def test_invariants_under_random_operations(ops: list[tuple[str, int]], strategy: str) -> None:
    """In-flight equals open leases, ejections respect the cap, a pick never fails while instances exist."""
    clock = FakeClock()
    policy = OutlierPolicy(consecutive_failures=2, base_ejection_time=5.0, max_ejection_time=20.0)
    lb = make(["i0", "i1", "i2"], clock=clock, strategy=strategy, outliers=policy)
    open_leases: list[Any] = []
    names = iter(range(3, 10_000))
    shrunk = False
    for op, n in ops:
        if op == "acquire":
            pickable = [s for s in lb._slots if not s.draining]
            if pickable:
                open_leases.append(lb.acquire())
            else:
                with pytest.raises(NoInstanceAvailable):
                    lb.acquire()
        elif op in ("ok", "fail", "cancel") and open_leases:
            lease = open_leases.pop(n % len(open_leases))
            lease.release({"ok": "success", "fail": "failure", "cancel": "cancelled"}[op])
        elif op == "add":
            lb.add(f"i{next(names)}")
        elif op in ("remove", "drain") and lb.instances():
            shrunk = True
            target = lb.instances()[n % len(lb.instances())]
            (lb.remove if op == "remove" else lb.drain)(target)
        elif op == "wait":
            clock.advance(n * 2.0)
        expected: collections.Counter = collections.Counter(id(lease._slot) for lease in open_leases)
        for slot in lb._slots:
            assert slot.inflight == expected[id(slot)]
        snapshot = lb.health_snapshot()
        assert snapshot["ejected"] == sum(row["ejected"] for row in snapshot["instances"])
        if not shrunk:  # the cap is applied when ejecting; removals can raise the share afterwards
            assert snapshot["ejected"] <= policy.max_ejected(len(lb._slots))
    for lease in open_leases:
        lease.release()
    assert all(slot.inflight == 0 for slot in lb._slots)
