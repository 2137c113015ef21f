"""CircuitBreaker state machine, windows, thresholds and the ways to use it.

Failure modes of naive breakers that the tests rule out:
* "never resets its failure count on success" -> test_successes_slide_failures_out
* "reports a stale state" -> test_state_is_current_when_read
* "lets every concurrent call through in half-open" -> test_breaker_concurrency.py
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentotel import CircuitBreaker, CircuitOpenError, CircuitState
from agentotel.resilience.breaker import TRANSITIONS, Outcome
from tests.support.clock import FakeClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
FORCED_OPEN, DISABLED = CircuitState.FORCED_OPEN, CircuitState.DISABLED


class Boom(Exception):
    pass


def fail() -> None:
    raise Boom("down")


def ok() -> str:
    return "ok"


def make(clock: FakeClock, **options) -> CircuitBreaker:
    defaults = dict(minimum_calls=4, window_size=4, open_duration=10.0, clock=clock)
    defaults.update(options)
    return CircuitBreaker("test", **defaults)


def trip(breaker: CircuitBreaker, failures: int = 4) -> None:
    for _ in range(failures):
        with pytest.raises(Boom):
            breaker.call(fail)


def recorder(breaker: CircuitBreaker) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    breaker.add_listener(lambda b, frm, to: seen.append((frm.value, to.value)))
    return seen


# ------------------------------------------------------------------ transitions
def test_state_is_a_str_enum() -> None:
    assert CircuitState.HALF_OPEN == "half_open"
    assert str(CircuitState.OPEN) == "open"
    assert {s.value for s in CircuitState} == {"closed", "open", "half_open", "forced_open", "disabled"}


def test_automatic_cycle_closed_open_half_open_closed() -> None:
    clock = FakeClock()
    breaker = make(clock)
    seen = recorder(breaker)
    trip(breaker)
    assert breaker.state is OPEN
    clock.advance(9.99)
    assert breaker.state is OPEN
    clock.advance(0.01)
    assert breaker.state is HALF_OPEN
    assert breaker.call(ok) == "ok"
    assert breaker.state is CLOSED
    assert seen == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_half_open_failed_probe_reopens() -> None:
    clock = FakeClock()
    breaker = make(clock)
    seen = recorder(breaker)
    trip(breaker)
    clock.advance(10)
    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.state is OPEN
    assert seen[-1] == ("half_open", "open")


def test_half_open_decides_after_all_probes() -> None:
    clock = FakeClock()
    breaker = make(clock, half_open_calls=3, failure_rate_threshold=0.5)
    trip(breaker)
    clock.advance(10)
    breaker.call(ok)
    breaker.call(ok)
    assert breaker.state is HALF_OPEN  # 2 of 3 verdicts in
    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.state is CLOSED  # 1/3 failed < 0.5


def test_manual_transitions_from_every_state() -> None:
    """force_open / disable / reset are legal from every other state, and nothing else is."""
    clock = FakeClock()
    reach = {
        CLOSED: lambda b: None,
        OPEN: lambda b: trip(b),
        HALF_OPEN: lambda b: (trip(b), clock.advance(10), b.state),
        FORCED_OPEN: lambda b: b.force_open(),
        DISABLED: lambda b: b.disable(),
    }
    actions = {FORCED_OPEN: "force_open", DISABLED: "disable", CLOSED: "reset"}
    for start, target in itertools.product(CircuitState, actions):
        breaker = make(clock)
        reach[start](breaker)
        assert breaker.state is start
        seen = recorder(breaker)
        getattr(breaker, actions[target])()
        assert breaker.state is target
        assert seen == ([] if start is target else [(start.value, target.value)])
        assert start is target or actions[target] in TRANSITIONS[(start, target)]


def test_transition_table_is_exactly_the_documented_one() -> None:
    automatic = {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED), (HALF_OPEN, OPEN)}
    manual = {(s, t) for s in CircuitState for t in (FORCED_OPEN, DISABLED, CLOSED) if s is not t}
    assert set(TRANSITIONS) == automatic | manual
    # Illegal by construction: time never closes an open breaker, a closed one never goes half-open.
    for pair in [(CLOSED, HALF_OPEN), (OPEN, CLOSED), (FORCED_OPEN, HALF_OPEN), (DISABLED, OPEN)]:
        assert not ({"threshold", "timer", "probes", "probe_timeout"} & TRANSITIONS.get(pair, frozenset()))


def test_illegal_transition_raises_internally() -> None:
    breaker = make(FakeClock())
    with pytest.raises(RuntimeError, match="illegal"):
        breaker._set(HALF_OPEN, "timer", 0.0, [])
    with pytest.raises(RuntimeError, match="illegal"):
        breaker._set(CLOSED, "probes", 0.0, [])


def test_random_operations_only_make_legal_transitions() -> None:
    """Seeded random mix of calls, time and manual actions: every observed transition is in the table."""
    rng = random.Random(7)
    clock = FakeClock()
    breaker = make(clock, half_open_calls=2, probe_timeout=5.0)
    observed: list[tuple[CircuitState, CircuitState]] = []
    breaker.add_listener(lambda b, frm, to: observed.append((frm, to)))
    for _ in range(3000):
        roll = rng.random()
        if roll < 0.45:
            try:
                breaker.call(ok)
            except CircuitOpenError:
                pass
        elif roll < 0.85:
            with pytest.raises((Boom, CircuitOpenError)):
                breaker.call(fail)
        elif roll < 0.97:
            clock.advance(rng.choice([0.5, 3.0, 11.0]))
            _ = breaker.state
        else:
            rng.choice([breaker.reset, breaker.force_open, breaker.disable, breaker.reset])()
    assert {pair for pair in observed} <= set(TRANSITIONS)
    assert {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED), (HALF_OPEN, OPEN)} <= set(observed)


# ---------------------------------------------------------------- window rules
def test_minimum_calls_gate() -> None:
    breaker = CircuitBreaker("gate", minimum_calls=10, window_size=100, clock=FakeClock())
    for _ in range(9):
        with pytest.raises(Boom):
            breaker.call(fail)
    assert breaker.state is CLOSED  # 100% failures, but only 9 calls
    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.state is OPEN


def test_minimum_calls_reached_by_a_success_trips() -> None:
    breaker = CircuitBreaker("gate", minimum_calls=10, window_size=100, clock=FakeClock())
    for _ in range(9):
        with pytest.raises(Boom):
            breaker.call(fail)
    breaker.call(ok)  # 9/10 failed >= 0.5
    assert breaker.state is OPEN


def test_successes_slide_failures_out() -> None:
    """Successes slide failures out of the window, so rare failures never open the breaker."""
    breaker = CircuitBreaker("sliding", minimum_calls=10, window_size=10, clock=FakeClock())
    for _ in range(200):  # 1 failure in 3 calls: 33% < 50% in every window of 10
        with pytest.raises(Boom):
            breaker.call(fail)
        breaker.call(ok)
        breaker.call(ok)
    assert breaker.state is CLOSED
    assert breaker.counters()["calls"]["failure"] == 200
    assert breaker.health_snapshot()["failure_rate"] < 0.5


def test_time_window_forgets_old_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("timed", sliding_window="time", window_size=10, minimum_calls=4, clock=clock)
    for _ in range(3):
        with pytest.raises(Boom):
            breaker.call(fail)
    clock.advance(11)  # those three slid out
    with pytest.raises(Boom):
        breaker.call(fail)
    breaker.call(ok)
    breaker.call(ok)
    breaker.call(ok)
    assert breaker.state is CLOSED  # 1 failure of 4 within 10 s
    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.state is CLOSED  # 2 of 5
    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.state is OPEN  # 3 of 6 within 10 s


def test_slow_calls_open_the_breaker() -> None:
    clock = FakeClock()
    breaker = make(clock, slow_call_duration=2.0, slow_call_rate_threshold=0.5)

    def slow() -> str:
        clock.advance(2.5)
        return "late"

    breaker.call(ok)
    breaker.call(ok)
    breaker.call(slow)
    assert breaker.state is CLOSED
    breaker.call(slow)  # 2 slow of 4
    assert breaker.state is OPEN
    assert breaker.counters()["calls"] == {"success": 2, "failure": 0, "slow": 2, "ignored": 0, "cancelled": 0}


def test_slow_probe_in_half_open_reopens() -> None:
    clock = FakeClock()
    breaker = make(clock, slow_call_duration=1.0)
    trip(breaker)
    clock.advance(10)
    breaker.call(lambda: clock.advance(5))
    assert breaker.state is OPEN


def test_failure_classification_by_types_and_predicate() -> None:
    clock = FakeClock()
    by_type = make(clock, failure_exceptions=(Boom,), ignore_exceptions=(KeyError,))
    for exc in (KeyError("k"), ValueError("v")):
        for _ in range(4):
            with pytest.raises(type(exc)):
                by_type.call(lambda exc=exc: (_ for _ in ()).throw(exc))
    assert by_type.state is CLOSED
    assert by_type.counters()["calls"]["ignored"] == 8

    by_predicate = make(clock, is_failure=lambda e: "fatal" in str(e))
    for _ in range(4):
        with pytest.raises(Boom):
            by_predicate.call(fail)  # "down": not fatal
    assert by_predicate.state is CLOSED
    for _ in range(4):
        with pytest.raises(Boom):
            by_predicate.call(lambda: (_ for _ in ()).throw(Boom("fatal")))
    assert by_predicate.state is OPEN


# ----------------------------------------------------------------- open state
def test_rejection_carries_name_state_retry_after() -> None:
    clock = FakeClock()
    breaker = make(clock)
    trip(breaker)
    clock.advance(4)
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(ok)
    assert (info.value.name, info.value.state, info.value.retry_after) == ("test", OPEN, pytest.approx(6.0))
    breaker.force_open()
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(ok)
    assert info.value.state is FORCED_OPEN and math.isinf(info.value.retry_after)
    assert breaker.counters()["rejected"] == {"open": 1, "forced_open": 1}


def test_state_is_current_when_read() -> None:
    """The state is computed when read, so an idle breaker does not report 'open' forever."""
    clock = FakeClock()
    breaker = make(clock)
    trip(breaker)
    clock.advance(10)
    assert breaker.state is HALF_OPEN  # no call needed
    assert breaker.health_snapshot()["state"] == "half_open"


def test_exponential_backoff_capped() -> None:
    clock = FakeClock()
    breaker = make(clock, backoff_multiplier=2.0, max_open_duration=35.0)
    trip(breaker)
    durations = []
    for _ in range(4):
        with pytest.raises(CircuitOpenError) as info:
            breaker.call(ok)
        durations.append(info.value.retry_after)
        clock.advance(info.value.retry_after)
        with pytest.raises(Boom):
            breaker.call(fail)  # the probe fails: open again, longer
    assert durations == [10.0, 20.0, 35.0, 35.0]
    clock.advance(35)
    breaker.call(ok)  # closes: backoff starts over
    trip(breaker)
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(ok)
    assert info.value.retry_after == 10.0


def test_jitter_is_seeded_and_bounded() -> None:
    def durations(seed: int) -> list[float]:
        clock = FakeClock()
        breaker = make(clock, jitter=0.2, rng=random.Random(seed))
        found = []
        for _ in range(20):
            breaker.reset()
            trip(breaker)
            with pytest.raises(CircuitOpenError) as info:
                breaker.call(ok)
            found.append(info.value.retry_after)
        return found

    first = durations(3)
    assert first == durations(3)
    assert all(8.0 <= d <= 12.0 for d in first) and len(set(first)) > 10


# ------------------------------------------------------- generations, probes
def test_late_result_from_closed_cannot_close_half_open() -> None:
    clock = FakeClock()
    breaker = make(clock)
    old = breaker._admit()  # a slow call admitted while closed
    trip(breaker)
    clock.advance(10)
    assert breaker.state is HALF_OPEN
    breaker._succeed(*old)  # arrives now
    assert breaker.state is HALF_OPEN
    assert breaker.counters()["calls"]["success"] == 1  # still counted as a call


def test_late_failure_from_before_reset_does_not_count() -> None:
    clock = FakeClock()
    breaker = make(clock, minimum_calls=1, window_size=1)
    old = breaker._admit()
    breaker.reset()
    breaker._record(old[0], Outcome.FAILURE, old[1])  # a failure from the previous generation
    assert breaker.state is CLOSED


def test_stuck_probe_times_out_and_its_late_result_is_ignored() -> None:
    clock = FakeClock()
    breaker = make(clock, probe_timeout=5.0)
    seen = recorder(breaker)
    trip(breaker)
    clock.advance(10)
    probe = breaker._admit()
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(ok)  # the single permit is out
    assert info.value.state is HALF_OPEN and info.value.retry_after == 5.0
    clock.advance(5)
    assert breaker.state is OPEN
    assert seen[-1] == ("half_open", "open")
    breaker._succeed(*probe)  # the stuck call finally returns
    assert breaker.state is OPEN


def test_ignored_error_and_cancellation_return_the_permit() -> None:
    clock = FakeClock()
    breaker = make(clock, ignore_exceptions=(KeyError,))
    trip(breaker)
    clock.advance(10)
    with pytest.raises(KeyError):
        breaker.call(lambda: {}["missing"])
    assert breaker.state is HALF_OPEN
    with pytest.raises(KeyboardInterrupt):
        breaker.call(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert breaker.state is HALF_OPEN
    assert breaker.call(ok) == "ok"  # the permit came back both times
    assert breaker.state is CLOSED
    assert breaker.counters()["calls"]["cancelled"] == 1


async def test_async_cancellation_returns_the_permit() -> None:
    clock = FakeClock()
    breaker = make(clock)
    trip(breaker)
    clock.advance(10)
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(breaker.acall(hang))
    await asyncio.wait_for(started.wait(), 5)
    with pytest.raises(CircuitOpenError):
        await breaker.acall(asyncio.sleep, 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is HALF_OPEN
    await breaker.acall(asyncio.sleep, 0)
    assert breaker.state is CLOSED
    assert breaker.counters()["calls"]["cancelled"] == 1


def test_generator_closed_early_is_cancellation() -> None:
    clock = FakeClock()
    breaker = make(clock)

    @breaker
    def numbers():
        yield 1
        yield 2

    trip(breaker)
    clock.advance(10)
    stream = numbers()
    assert next(stream) == 1
    stream.close()  # GeneratorExit: neither success nor failure
    assert breaker.state is HALF_OPEN
    assert list(numbers()) == [1, 2]
    assert breaker.state is CLOSED


# ------------------------------------------------------------------ ways to use
async def test_decorator_and_context_manager_forms() -> None:
    clock = FakeClock()
    breaker = make(clock, minimum_calls=100, window_size=100)

    @breaker
    def sync(x: int) -> int:
        return x + 1

    @breaker
    async def coro(x: int) -> int:
        return x * 2

    @breaker
    def gen(n: int):
        yield from range(n)

    @breaker
    async def agen(n: int):
        for i in range(n):
            yield i

    assert sync(1) == 2 and sync.__name__ == "sync"
    assert await coro(3) == 6  # the result, never a coroutine
    assert list(gen(3)) == [0, 1, 2]
    assert [i async for i in agen(2)] == [0, 1]
    with breaker:
        pass
    async with breaker:
        pass
    with pytest.raises(Boom):
        with breaker:
            raise Boom()
    with pytest.raises(Boom):
        async with breaker:
            raise Boom()
    calls = breaker.counters()["calls"]
    assert (calls["success"], calls["failure"]) == (6, 2)


def test_decorated_generator_is_rejected_at_first_next() -> None:
    clock = FakeClock()
    breaker = make(clock)

    @breaker
    def gen():
        yield 1

    trip(breaker)
    stream = gen()  # creating it is not a call
    with pytest.raises(CircuitOpenError):
        next(stream)


def test_disabled_admits_everything_and_records_nothing() -> None:
    breaker = make(FakeClock())
    breaker.disable()
    trip(breaker, failures=20)
    assert breaker.state is DISABLED
    breaker.reset()
    assert breaker.state is CLOSED and breaker.health_snapshot()["window_calls"] == 0


def test_listeners_run_outside_the_lock_and_may_call_back() -> None:
    clock = FakeClock()
    breaker = make(clock)
    inside: list[object] = []

    def listener(b: CircuitBreaker, frm: CircuitState, to: CircuitState) -> None:
        inside.append(b.state)  # takes the breaker's lock: would deadlock if we held it
        inside.append(b.health_snapshot()["state"])
        if to is OPEN:
            b.force_open()

    breaker.add_listener(listener)
    worker = threading.Thread(target=trip, args=(breaker,))
    worker.start()
    worker.join(10)
    assert not worker.is_alive()
    assert breaker.state is FORCED_OPEN
    assert inside[:2] == [OPEN, "open"]


def test_a_failing_listener_does_not_break_the_call(caplog: pytest.LogCaptureFixture) -> None:
    breaker = make(FakeClock())
    breaker.add_listener(lambda *a: 1 / 0)
    trip(breaker)
    assert breaker.state is OPEN
    assert "agentotel: internal error" in caplog.text


def test_invalid_configuration() -> None:
    for bad in (
        {"failure_rate_threshold": 0},
        {"minimum_calls": 0},
        {"half_open_calls": 0},
        {"sliding_window": "sessions"},
        {"jitter": 1.0},
        {"backoff_multiplier": 0.5},
    ):
        with pytest.raises(ValueError):
            CircuitBreaker("bad", **bad)


def test_pickled_error_keeps_its_fields() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(CircuitOpenError("b", OPEN, 3.0)))
    assert (error.name, error.state, error.retry_after) == ("b", OPEN, 3.0)


# ------------------------------------------------------------ reference model
class _Model:
    """The documented count-window semantics, written plainly (single caller, no slow calls)."""

    def __init__(self, size: int, minimum: int, threshold: float, duration: float, probes: int) -> None:
        self.size, self.minimum, self.threshold = size, minimum, threshold
        self.duration, self.probes = duration, probes
        self.state, self.window, self.results, self.open_until = "closed", [], [], 0.0

    def refresh(self, now: float) -> None:
        if self.state == "open" and now >= self.open_until:
            self.state, self.results = "half_open", []

    def call(self, failed: bool, now: float) -> bool:
        """Whether the call was admitted."""
        self.refresh(now)
        if self.state == "open":
            return False
        if self.state == "closed":
            self.window = (self.window + [failed])[-self.size :]
            if len(self.window) >= self.minimum and sum(self.window) >= self.threshold * len(self.window):
                self.state, self.open_until = "open", now + self.duration
        else:
            self.results.append(failed)
            if len(self.results) == self.probes:
                if sum(self.results) >= self.threshold * self.probes:
                    self.state, self.open_until = "open", now + self.duration
                else:
                    self.state, self.window = "closed", []
        return True


@given(
    st.lists(st.sampled_from(["ok", "ok", "fail", "tick", "wait"]), max_size=120),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=3),
)
@settings(max_examples=150, deadline=None)
def test_breaker_matches_the_reference_model(ops: list[str], size: int, probes: int) -> None:
    clock = FakeClock()
    minimum = max(1, size - 1)
    breaker = CircuitBreaker(
        "model",
        window_size=size,
        minimum_calls=minimum,
        failure_rate_threshold=0.5,
        open_duration=10.0,
        half_open_calls=probes,
        clock=clock,
    )
    model = _Model(size, minimum, 0.5, 10.0, probes)
    for op in ops:
        if op in ("tick", "wait"):
            clock.advance(1.0 if op == "tick" else 10.0)
        else:
            admitted = model.call(op == "fail", clock.now)
            try:
                breaker.call(fail if op == "fail" else ok)
                assert admitted
            except Boom:
                assert admitted
            except CircuitOpenError:
                assert not admitted
        model.refresh(clock.now)
        assert breaker.state.value == model.state
