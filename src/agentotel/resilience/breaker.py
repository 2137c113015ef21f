"""A circuit breaker that is correct under threads and asyncio, and reports through OpenTelemetry.

Example::

    from agentotel import CircuitBreaker, CircuitOpenError

    llm_breaker = CircuitBreaker("llm", failure_rate_threshold=0.5, minimum_calls=10,
                                 open_duration=30.0, slow_call_duration=20.0)

    @llm_breaker
    async def ask(prompt: str) -> str: ...

    try:
        answer = await ask("hello")
    except CircuitOpenError as exc:
        answer = f"model unavailable, retry in {exc.retry_after:.0f}s"

States and transitions (:data:`TRANSITIONS` is the table the code enforces):

============  ============  ======================================================
from          to            when
============  ============  ======================================================
closed        open          failure or slow-call rate >= threshold over the window,
                            once the window holds ``minimum_calls`` outcomes
open          half_open     the break duration has elapsed (computed on read)
half_open     closed        all ``half_open_calls`` probes done, rates below threshold
half_open     open          probes done with a rate >= threshold, or a probe is
                            stuck longer than ``probe_timeout``
any           forced_open   :meth:`CircuitBreaker.force_open`
any           disabled      :meth:`CircuitBreaker.disable`
any           closed        :meth:`CircuitBreaker.reset`
============  ============  ======================================================

Every transition starts a new *generation*; a result that arrives from an earlier
generation (a slow call admitted before the breaker opened) is counted in the
metrics but cannot change the state. Cancellation (``asyncio.CancelledError``,
``GeneratorExit``, ``KeyboardInterrupt``) is neither a success nor a failure and
gives a half-open permit back. One plain lock guards the bookkeeping; it is never
held while user code, listeners or telemetry run.
"""

from __future__ import annotations

import contextvars
import enum
import functools
import inspect
import itertools
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, ParamSpec, TypedDict, TypeVar, cast

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider, Observation

from agentotel import _telemetry, semconv
from agentotel._handle import Binding, Observed
from agentotel.resilience import _registry
from agentotel.resilience._windows import FAILURES, SLOW_CALLS, CountWindow, Outcome, TimeWindow, Window

__all__ = ["CircuitBreaker", "CircuitOpenError", "CircuitState", "Counters", "Listener", "Outcome", "TRANSITIONS"]

T = TypeVar("T")
P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])


class CircuitState(str, enum.Enum):
    """A breaker's state; compares equal to its string value (``"closed"`` ...)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"

    def __str__(self) -> str:
        return self.value


CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
FORCED_OPEN, DISABLED = CircuitState.FORCED_OPEN, CircuitState.DISABLED
SUCCESS, FAILURE, SLOW = Outcome.SUCCESS, Outcome.FAILURE, Outcome.SLOW
IGNORED, CANCELLED = Outcome.IGNORED, Outcome.CANCELLED
Transition = tuple[CircuitState, CircuitState]


def _legal_transitions() -> dict[Transition, frozenset[str]]:
    """The automatic transitions with their triggers, plus the manual ones from every other state."""
    triggers: dict[Transition, set[str]] = {
        (CLOSED, OPEN): {"threshold"},
        (OPEN, HALF_OPEN): {"timer"},
        (HALF_OPEN, CLOSED): {"probes"},
        (HALF_OPEN, OPEN): {"probes", "probe_timeout"},
    }
    manual = {FORCED_OPEN: "force_open", DISABLED: "disable", CLOSED: "reset"}
    for target, trigger in manual.items():
        for state in CircuitState:
            if state is not target:
                triggers.setdefault((state, target), set()).add(trigger)
    return {pair: frozenset(names) for pair, names in triggers.items()}


#: Legal transitions and the triggers that may cause each. Anything else is a bug and raises.
TRANSITIONS: Mapping[Transition, frozenset[str]] = _legal_transitions()

Listener = Callable[["CircuitBreaker", CircuitState, CircuitState], None]


class Counters(TypedDict):
    """What :meth:`CircuitBreaker.counters` returns: cumulative counts since the breaker was made."""

    calls: dict[str, int]
    """Calls let through, by ``circuit_breaker.outcome`` (:attr:`Outcome.label`)."""
    rejected: dict[str, int]
    """Calls refused with :class:`CircuitOpenError`, by the state that refused them."""
    transitions: dict[tuple[str, str], int]
    """Transitions, by (from, to) state."""


class CircuitOpenError(Exception):
    """Raised instead of running the call when the breaker does not admit it."""

    def __init__(self, name: str, state: CircuitState, retry_after: float) -> None:
        self.name = name
        self.state = state
        #: Seconds until a call may be admitted (``math.inf`` while forced open).
        self.retry_after = retry_after
        super().__init__(f"circuit breaker {name!r} is {state.value}; retry after {retry_after:.3g}s")

    def __reduce__(self) -> tuple[type[CircuitOpenError], tuple[str, CircuitState, float]]:
        return (type(self), (self.name, self.state, self.retry_after))


class CircuitBreaker:
    """Count- or time-based sliding-window circuit breaker (resilience4j semantics).

    Args:
        name: Reported as ``circuit_breaker.name``.
        failure_rate_threshold: Open when failures / calls in the window reach this (0 < x <= 1).
        minimum_calls: Outcomes the window must hold before rates are evaluated
            (capped at ``window_size`` for a count window).
        window_size: Calls (``sliding_window="count"``) or seconds (``"time"``).
        open_duration: Seconds the breaker stays open before admitting probes.
        half_open_calls: Exactly this many calls are admitted in half-open.
        clock: Monotonic seconds.
        sliding_window: ``"count"`` or ``"time"``.
        slow_call_duration: Calls taking at least this long are slow (``None``: never).
        slow_call_rate_threshold: Open when slow calls / calls reach this.
        failure_exceptions: Exception types that count as failures (others are ignored).
        ignore_exceptions: Exception types that never count (checked first).
        is_failure: Predicate deciding instead of the two type lists.
        backoff_multiplier: Each consecutive re-open multiplies the break duration by this.
        max_open_duration: Cap for the backed-off break duration.
        jitter: Break duration varies by up to +/- this fraction (0 <= x < 1).
        rng: Source of jitter.
        probe_timeout: A half-open probe without a result after this many seconds
            re-opens the breaker (so a stuck call cannot keep it half-open).
        listeners: Called as ``listener(breaker, from_state, to_state)`` after each
            transition, outside the lock (they may call the breaker).
        meter_provider: Where metrics go (default: the one in force when they are recorded).
    """

    TRANSITIONS = TRANSITIONS

    def __init__(
        self,
        name: str,
        *,
        failure_rate_threshold: float = 0.5,
        minimum_calls: int = 10,
        window_size: int | float = 100,
        open_duration: float = 30.0,
        half_open_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sliding_window: str = "count",
        slow_call_duration: float | None = None,
        slow_call_rate_threshold: float = 1.0,
        failure_exceptions: tuple[type[BaseException], ...] = (Exception,),
        ignore_exceptions: tuple[type[BaseException], ...] = (),
        is_failure: Callable[[BaseException], bool] | None = None,
        backoff_multiplier: float = 1.0,
        max_open_duration: float | None = None,
        jitter: float = 0.0,
        rng: random.Random | None = None,
        probe_timeout: float = 60.0,
        listeners: Iterable[Listener] = (),
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if not 0.0 < failure_rate_threshold <= 1.0 or not 0.0 < slow_call_rate_threshold <= 1.0:
            raise ValueError("rate thresholds must be in (0, 1]")
        if minimum_calls < 1 or half_open_calls < 1:
            raise ValueError("minimum_calls and half_open_calls must be >= 1")
        if open_duration < 0 or probe_timeout <= 0 or backoff_multiplier < 1.0 or not 0.0 <= jitter < 1.0:
            raise ValueError("need open_duration >= 0, probe_timeout > 0, backoff_multiplier >= 1, 0 <= jitter < 1")
        if sliding_window == "count":
            self._window: Window = CountWindow(int(window_size))
            minimum_calls = min(minimum_calls, int(window_size))
        elif sliding_window == "time":
            self._window = TimeWindow(float(window_size))
        else:
            raise ValueError("sliding_window must be 'count' or 'time'")
        self.name = name
        self.failure_rate_threshold = failure_rate_threshold
        self.slow_call_rate_threshold = slow_call_rate_threshold
        self.minimum_calls = minimum_calls
        self.half_open_calls = half_open_calls
        self.open_duration = open_duration
        self.slow_call_duration = slow_call_duration
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._needs_clock = slow_call_duration is not None or sliding_window == "time"
        self._slow_limit = math.inf if slow_call_duration is None else slow_call_duration
        self._failure_types = tuple(failure_exceptions)
        self._ignore_types = tuple(ignore_exceptions)
        self._is_failure = is_failure
        self._backoff = backoff_multiplier
        self._max_open = max_open_duration
        self._jitter = jitter
        self._rng = rng or random.Random()
        self._listeners: list[Listener] = list(listeners)
        self._scope: contextvars.ContextVar[tuple[tuple[int, float], ...]] = contextvars.ContextVar(
            f"agentotel.circuit_breaker.{name}", default=()
        )

        self._lock = threading.Lock()
        self._phase: tuple[CircuitState, int] = (CLOSED, 0)  # one attribute: read atomically without the lock
        self._open_until = 0.0
        self._opens = 0  # consecutive opens without closing in between (backoff exponent)
        self._permits = 0  # half-open permits not yet handed out
        self._probing = 0  # half-open permits handed out without a result yet
        self._probe_deadline = math.inf
        self._probe_total = self._probe_failures = self._probe_slow = 0
        self._calls = [0] * (max(Outcome) + 1)  # indexed by Outcome
        self._rejected: dict[CircuitState, int] = {}
        self._transitions: dict[Transition, int] = {}
        # Admission without the lock: the generation while closed or disabled, else -1.
        self._free_gen = 0
        # Counting without the lock: while a count window holds only successes, a success that
        # is not slow cannot trip the breaker, so it is counted on an itertools.count (next() on
        # it is atomic) and folded into the window by _flush() before anything else reads the
        # window. _fast_gen is the generation this holds for, else -1. A success racing with a
        # transition lands in the counts (at worst in a later closed window as one more success);
        # it can never open or close the breaker.
        self._fast_capable = sliding_window == "count"
        self._fast_gen = 0 if self._fast_capable else -1
        self._successes = itertools.count()
        self._successes_seen = 0

        #: Where the breaker reports: its meter provider, else the one in force when metrics are collected.
        self.binding = Binding(semconv.SCOPE_COMPONENTS, meter_provider=meter_provider)
        BREAKERS.add(self)
        _registry.register("circuit_breaker", self)

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> CircuitState:
        """The current state, computed from the clock (an elapsed break reads as half-open)."""
        state = self._phase[0]
        if state is not OPEN and state is not HALF_OPEN:
            return state
        events: list[Transition] = []
        with self._lock:
            self._advance(self._clock(), events)
            state = self._phase[0]
        self._emit(events)
        return state

    def rejects_now(self) -> bool:
        """Whether a call made now would most likely be rejected (read without the lock; a load
        balancer uses it to skip the instance)."""
        state = self._phase[0]
        if state is CLOSED or state is DISABLED:
            return False
        if state is OPEN:
            return self._clock() < self._open_until
        if state is HALF_OPEN:
            return self._permits <= 0
        return True

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(breaker, from_state, to_state)`` after every transition."""
        self._listeners.append(listener)

    def force_open(self) -> None:
        """Reject every call until :meth:`reset` (``retry_after`` is ``inf``)."""
        self._manual(FORCED_OPEN, "force_open")

    def disable(self) -> None:
        """Admit every call and record nothing until :meth:`reset`."""
        self._manual(DISABLED, "disable")

    def reset(self) -> None:
        """Back to closed with an empty window and no backoff."""
        self._manual(CLOSED, "reset")

    def _manual(self, to: CircuitState, trigger: str) -> None:
        events: list[Transition] = []
        with self._lock:
            now = self._clock()
            if self._phase[0] is not to:
                self._set(to, trigger, now, events)
            elif to is CLOSED:  # reset while closed: forget the window and calls still running
                self._flush()
                self._window.clear()
                self._enter(CLOSED, self._phase[1] + 1)
            self._opens = 0
        self._emit(events)

    # ------------------------------------------------------------ using it
    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` if admitted, else raise :class:`CircuitOpenError`."""
        # _admit() and _succeed() written out: through them a closed-state call costs about
        # twice the overhead (a tuple and two calls). The decorated function's wrapper below
        # is the only other copy.
        gen = self._free_gen
        if gen < 0:
            gen = self._acquire_slow()
        start = self._clock() if self._needs_clock else 0.0
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self._fail(gen, exc, start)
            raise
        if gen == self._fast_gen and (not self._needs_clock or self._clock() - start < self._slow_limit):
            next(self._successes)
        else:
            self._record(gen, SUCCESS, start)
        return result

    async def acall(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` if admitted, else raise :class:`CircuitOpenError`."""
        gen, start = self._admit()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self._fail(gen, exc, start)
            raise
        self._succeed(gen, start)
        return result

    def __call__(self, fn: F) -> F:
        """Decorate a sync, async, generator or async-generator function."""
        if inspect.isasyncgenfunction(fn):
            return cast(F, self._wrap_asyncgen(fn))
        if inspect.iscoroutinefunction(fn):
            acall = self.acall

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await acall(fn, *args, **kwargs)

            return cast(F, async_wrapper)
        if inspect.isgeneratorfunction(fn):
            return cast(F, self._wrap_generator(fn))

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # call()'s body once more: delegating to it re-packs the arguments, which costs
            # about 0.8x the whole overhead of a decorated call (benchmarks/breaker_overhead.py).
            gen = self._free_gen
            if gen < 0:
                gen = self._acquire_slow()
            start = self._clock() if self._needs_clock else 0.0
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self._fail(gen, exc, start)
                raise
            if gen == self._fast_gen and (not self._needs_clock or self._clock() - start < self._slow_limit):
                next(self._successes)
            else:
                self._record(gen, SUCCESS, start)
            return result

        return cast(F, wrapper)

    def _wrap_generator(self, fn: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Generator[Any, Any, Any]]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            gen, start = self._admit()  # at the first next(): that is when the call starts
            try:
                result = yield from fn(*args, **kwargs)
            except BaseException as exc:
                self._fail(gen, exc, start)
                raise
            self._succeed(gen, start)
            return result

        return wrapper

    def _wrap_asyncgen(self, fn: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            gen, start = self._admit()
            try:
                async for item in fn(*args, **kwargs):
                    yield item
            except BaseException as exc:
                self._fail(gen, exc, start)
                raise
            self._succeed(gen, start)

        return wrapper

    def __enter__(self) -> CircuitBreaker:
        entry = self._admit()
        self._scope.set((*self._scope.get(), entry))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack = self._scope.get()
        (gen, start), rest = stack[-1], stack[:-1]
        self._scope.set(rest)
        if exc is None:
            self._succeed(gen, start)
        else:
            self._fail(gen, exc, start)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -------------------------------------------------------------- internals
    def _admit(self) -> tuple[int, float]:
        """Admit one call (or raise :class:`CircuitOpenError`): its generation and start time."""
        gen = self._free_gen
        if gen < 0:
            gen = self._acquire_slow()
        return gen, (self._clock() if self._needs_clock else 0.0)

    def _succeed(self, gen: int, start: float) -> None:
        """Count a success of a call admitted in generation ``gen`` at ``start``."""
        if gen == self._fast_gen and (not self._needs_clock or self._clock() - start < self._slow_limit):
            next(self._successes)
        else:
            self._record(gen, SUCCESS, start)

    def _fail(self, gen: int, exc: BaseException, start: float) -> None:
        """Count a call that raised ``exc``."""
        self._record(gen, self._classify(exc), start)

    def _acquire_slow(self) -> int:
        events: list[Transition] = []
        rejected: CircuitOpenError | None = None
        with self._lock:
            now = self._clock()
            self._advance(now, events)
            state, gen = self._phase
            if state is HALF_OPEN and self._permits > 0:
                self._permits -= 1
                if self._probing == 0:
                    self._probe_deadline = now + self.probe_timeout
                self._probing += 1
            elif state is not CLOSED and state is not DISABLED:
                self._rejected[state] = self._rejected.get(state, 0) + 1
                rejected = CircuitOpenError(self.name, state, self._retry_after(now))
        self._emit(events)
        if rejected is not None:
            raise rejected
        return gen

    def _classify(self, exc: BaseException) -> Outcome:
        if not isinstance(exc, Exception):  # CancelledError, GeneratorExit, KeyboardInterrupt, SystemExit
            return CANCELLED
        if self._is_failure is not None:
            try:
                return FAILURE if self._is_failure(exc) else IGNORED
            except Exception as err:
                _telemetry.log_internal_error(f"circuit breaker {self.name} is_failure", err)
                return FAILURE
        if isinstance(exc, self._ignore_types):
            return IGNORED
        return FAILURE if isinstance(exc, self._failure_types) else IGNORED

    def _flush(self) -> None:
        """Fold the lock-free successes into the counts and the window (under the lock)."""
        if not self._fast_capable:
            return
        mark = next(self._successes)
        count = mark - self._successes_seen
        self._successes_seen = mark + 1
        if count:
            self._calls[SUCCESS] += count
            if self._phase[0] is CLOSED:
                self._window.add_successes(count, 0.0)

    def _enter(self, state: CircuitState, gen: int) -> None:
        """Make ``(state, gen)`` the phase and update what the lock-free paths read (under the lock)."""
        self._phase = (state, gen)
        admits = state is CLOSED or state is DISABLED
        self._free_gen = gen if admits else -1
        self._update_fast_path()

    def _update_fast_path(self) -> None:
        state, gen = self._phase
        window = self._window
        clean = state is DISABLED or (state is CLOSED and not window.failures and not window.slow)
        self._fast_gen = gen if clean and self._fast_capable else -1

    def _record(self, gen: int, outcome: Outcome, start: float) -> None:
        events: list[Transition] | None = None
        with self._lock:
            if self._fast_capable:
                self._flush()
            now = 0.0
            if self._needs_clock:
                now = self._clock()
                if outcome < IGNORED and now - start >= self._slow_limit:
                    outcome |= SLOW  # a flag operation, on slow calls only
            self._calls[outcome] += 1
            state, current = self._phase
            if gen != current:
                return  # a late result from an earlier generation cannot change the state
            if state is CLOSED:
                if outcome < IGNORED:
                    window = self._window
                    window.record(outcome, now)
                    total = window.total
                    if total >= self.minimum_calls and (
                        window.failures >= self.failure_rate_threshold * total
                        or window.slow >= self.slow_call_rate_threshold * total
                    ):
                        events = []
                        self._set(OPEN, "threshold", self._clock(), events)
            elif state is HALF_OPEN:
                events = []
                self._probe_result(outcome, self._clock(), events)
            if self._fast_capable:
                self._update_fast_path()
        if events:
            self._emit(events)

    def _probe_result(self, outcome: Outcome, now: float, events: list[Transition]) -> None:
        self._probing -= 1
        if outcome >= IGNORED:
            self._permits += 1  # not a verdict: let another call probe
            return
        self._probe_total += 1
        self._probe_failures += FAILURES[outcome]
        self._probe_slow += SLOW_CALLS[outcome]
        if self._probe_total < self.half_open_calls:
            return
        total = self._probe_total
        reopen = (
            self._probe_failures >= self.failure_rate_threshold * total
            or self._probe_slow >= self.slow_call_rate_threshold * total
        )
        self._set(OPEN if reopen else CLOSED, "probes", now, events)

    def _advance(self, now: float, events: list[Transition]) -> None:
        state = self._phase[0]
        if state is OPEN and now >= self._open_until:
            self._set(HALF_OPEN, "timer", now, events)
        elif state is HALF_OPEN and self._probing and now >= self._probe_deadline:
            self._set(OPEN, "probe_timeout", now, events)

    def _set(self, to: CircuitState, trigger: str, now: float, events: list[Transition]) -> None:
        frm, gen = self._phase
        if trigger not in TRANSITIONS.get((frm, to), ()):
            raise RuntimeError(f"illegal circuit breaker transition {frm} -> {to} ({trigger})")
        self._flush()
        if to is OPEN:
            self._open_until = now + self._break_duration()
            self._opens += 1
        elif to is HALF_OPEN:
            self._permits = self.half_open_calls
            self._probing = 0
            self._probe_deadline = math.inf
            self._probe_total = self._probe_failures = self._probe_slow = 0
        elif to is CLOSED:
            self._window.clear()
            self._opens = 0
        self._enter(to, gen + 1)
        self._transitions[(frm, to)] = self._transitions.get((frm, to), 0) + 1
        events.append((frm, to))

    def _break_duration(self) -> float:
        duration = self.open_duration * self._backoff**self._opens
        if self._max_open is not None:
            duration = min(duration, self._max_open)
        if self._jitter:
            duration *= 1.0 + self._jitter * (2.0 * self._rng.random() - 1.0)
        return duration

    def _retry_after(self, now: float) -> float:
        state = self._phase[0]
        if state is OPEN:
            return max(0.0, self._open_until - now)
        if state is HALF_OPEN:  # permits all out: the earliest a verdict (or the probe timeout) can come
            return max(0.0, self._probe_deadline - now) if self._probing else 0.0
        return math.inf if state is FORCED_OPEN else 0.0

    def _emit(self, events: list[Transition]) -> None:
        if not events:
            return
        if _telemetry.is_enabled():
            try:
                span = trace.get_current_span()
                if span.is_recording():
                    for frm, to in events:
                        span.add_event(
                            semconv.CIRCUIT_BREAKER_TRANSITION_EVENT,
                            {
                                semconv.CIRCUIT_BREAKER_NAME: self.name,
                                semconv.CIRCUIT_BREAKER_FROM: frm.value,
                                semconv.CIRCUIT_BREAKER_TO: to.value,
                            },
                        )
            except Exception as exc:  # the application's span must not fail its call
                _telemetry.log_internal_error(f"circuit breaker {self.name} transition event", exc)
        for frm, to in events:
            for listener in list(self._listeners):
                try:
                    listener(self, frm, to)
                except Exception as exc:
                    _telemetry.log_internal_error(f"circuit breaker {self.name} listener", exc)

    # ------------------------------------------------------------- reporting
    def counters(self) -> Counters:
        """Cumulative counts: ``calls`` by outcome, ``rejected`` by state, ``transitions`` by (from, to)."""
        with self._lock:
            self._flush()
            calls = dict.fromkeys(_OUTCOME_LABELS, 0)
            for outcome in _OUTCOMES:
                calls[outcome.label] += self._calls[outcome]
            return Counters(
                calls=calls,
                rejected={state.value: n for state, n in self._rejected.items()},
                transitions={(frm.value, to.value): n for (frm, to), n in self._transitions.items()},
            )

    def health_snapshot(self) -> dict[str, Any]:
        """State, window rates, retry-after and counts, as a plain dict for :func:`agentotel.health`."""
        state = self.state
        with self._lock:
            self._flush()
            window = self._window
            window.refresh(self._clock())
            total = window.total
            retry_after = self._retry_after(self._clock())
            snapshot: dict[str, Any] = {
                "name": self.name,
                "state": state.value,
                "status": "healthy" if state in (CLOSED, DISABLED) else "degraded",
                "retry_after": None if math.isinf(retry_after) else retry_after,
                "window_calls": total,
                "failure_rate": window.failures / total if total else 0.0,
                "slow_call_rate": window.slow / total if total else 0.0,
            }
        counters = self.counters()
        snapshot["calls"] = counters["calls"]
        snapshot["rejected"] = counters["rejected"]
        snapshot["transitions"] = {f"{a}->{b}": n for (a, b), n in counters["transitions"].items()}
        return snapshot

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._phase[0].value!r})"


#: Every outcome a call can have (a slow failure included), and the labels they are reported under.
_OUTCOMES = (SUCCESS, FAILURE, SLOW, FAILURE | SLOW, IGNORED, CANCELLED)
_OUTCOME_LABELS = tuple(dict.fromkeys(outcome.label for outcome in _OUTCOMES))


def _states(breakers: list[CircuitBreaker]) -> Iterator[Observation]:
    for breaker in breakers:
        current = breaker.state
        for state in CircuitState:
            yield Observation(
                1 if state is current else 0,
                {semconv.CIRCUIT_BREAKER_NAME: breaker.name, semconv.CIRCUIT_BREAKER_STATE_ATTR: state.value},
            )


def _transitions(breakers: list[CircuitBreaker]) -> Iterator[Observation]:
    for breaker in breakers:
        for (frm, to), n in breaker.counters()["transitions"].items():
            yield Observation(
                n,
                {
                    semconv.CIRCUIT_BREAKER_NAME: breaker.name,
                    semconv.CIRCUIT_BREAKER_FROM: frm,
                    semconv.CIRCUIT_BREAKER_TO: to,
                },
            )


def _calls(breakers: list[CircuitBreaker]) -> Iterator[Observation]:
    for breaker in breakers:
        for outcome, n in breaker.counters()["calls"].items():
            yield Observation(n, {semconv.CIRCUIT_BREAKER_NAME: breaker.name, semconv.CIRCUIT_BREAKER_OUTCOME: outcome})


def _rejections(breakers: list[CircuitBreaker]) -> Iterator[Observation]:
    for breaker in breakers:
        for state, n in breaker.counters()["rejected"].items():
            yield Observation(
                n, {semconv.CIRCUIT_BREAKER_NAME: breaker.name, semconv.CIRCUIT_BREAKER_STATE_ATTR: state}
            )


#: The breakers' observable instruments: each live breaker, through its binding.
BREAKERS = Observed(
    "circuit_breaker",
    {
        semconv.CIRCUIT_BREAKER_STATE: _states,
        semconv.CIRCUIT_BREAKER_TRANSITIONS: _transitions,
        semconv.CIRCUIT_BREAKER_CALLS: _calls,
        semconv.CIRCUIT_BREAKER_REJECTED: _rejections,
    },
)
