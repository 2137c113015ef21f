"""A client-side load balancer with leases that cannot leak, outlier ejection and panic mode.

Example::

    from agentotel import LoadBalancer

    lb = LoadBalancer("llm", ["http://gpu-a:8000", "http://gpu-b:8000"], max_inflight=8)

    with lb.lease() as base_url:          # chosen and counted in flight together
        reply = post(base_url, prompt)    # released exactly once, also on errors

    reply = await lb.acall(lambda url: apost(url, prompt))   # or lb.call(fn) for sync fn

Instances can be any objects; ``name_of`` (default ``str``) names them in telemetry.
Strategies and their cost per pick are listed in
:mod:`agentotel.resilience._strategies`; the default, ``p2c_ewma``, is O(1).

* A failed request is observed with at least ``failure_penalty`` seconds of
  latency, so an instance that fails fast does not look fast.
* Outlier ejection (:class:`~agentotel.resilience._outliers.OutlierPolicy`):
  ejected instances come back after a growing, capped, jittered time, on
  probation with one probe at a time.
* Panic mode: when no healthy instance is available (or more than
  ``1 - panic_threshold`` of them are ejected), picks ignore health, so a pick
  never fails while instances exist; only the bulkhead (``max_inflight``) can
  make a caller wait (up to ``wait_timeout``) and then raise
  :class:`NoInstanceAvailable`.
* With ``breakers=`` or ``breaker_factory=`` each instance gets a
  :class:`~agentotel.resilience.breaker.CircuitBreaker`; an instance whose
  breaker rejects calls is skipped like an ejected one, and :meth:`LoadBalancer.call`
  runs the call through it.

Telemetry: picks, in-flight, ejections, waits and rejections are plain ints
reported through observable instruments; ``agentotel.lb.request.duration`` is a
histogram, the one SDK call per request; the chosen instance is set as
``lb.instance`` on the current span when it is recording.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Concatenate, Generic, NamedTuple, ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider, Observation

from agentotel import _telemetry, semconv
from agentotel._handle import Binding, Observed
from agentotel.resilience import _registry
from agentotel.resilience._outliers import Ejections, OutlierPolicy, OutlierState
from agentotel.resilience._strategies import Load, make_strategy
from agentotel.resilience.breaker import CircuitBreaker, CircuitOpenError

__all__ = ["LoadBalancer", "Lease", "NoInstanceAvailable", "OutlierPolicy"]

T = TypeVar("T")
P = ParamSpec("P")
InstanceT = TypeVar("InstanceT")

SUCCESS, FAILURE, CANCELLED = "success", "failure", "cancelled"
_NO_WAITERS: list[Any] = []  # shared, never mutated
_DEFAULT_POLICY = OutlierPolicy()


class NoInstanceAvailable(RuntimeError):
    """No instance can take the request: there are none, or all are at ``max_inflight`` past the timeout."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"load balancer {name!r}: {message}")


class _Slot(Load):
    """One instance in a balancer: what the strategy reads (:class:`Load`), its membership, and its
    outlier state (touched only under the balancer's lock)."""

    __slots__ = (
        "instance",
        "key",
        "name",
        "max_inflight",
        "breaker",
        "picks",
        "draining",
        "removed",
        "outlier",
        "duration_attrs",
    )

    def __init__(
        self,
        instance: Any,
        key: Hashable,
        name: str,
        weight: int,
        max_inflight: int | None,
        breaker: CircuitBreaker | None,
        lb_name: str,
        now: float,
    ) -> None:
        super().__init__(weight, now)
        self.instance = instance
        self.key = key
        self.name = name
        self.max_inflight = max_inflight
        self.breaker = breaker
        self.picks = 0
        self.draining = False  # no new requests; removed once the last one in flight is released
        self.removed = False
        self.outlier = OutlierState(now)
        #: The request-duration attributes of each outcome (made once: recorded on every release).
        self.duration_attrs = {
            outcome: {semconv.LB_NAME: lb_name, semconv.LB_INSTANCE: name, semconv.LB_OUTCOME: outcome}
            for outcome in (SUCCESS, FAILURE, CANCELLED)
        }


class _InstanceCounts(NamedTuple):
    """What the metric callbacks read of one instance, copied under the lock."""

    name: str
    picks: int
    inflight: int
    ejections: dict[str, int]


class Lease(Generic[InstanceT]):
    """One pick: the chosen ``instance``, counted in flight until :meth:`release` (exactly once)."""

    __slots__ = ("_lb", "_slot", "_start", "_released", "instance", "panic")

    def __init__(self, lb: LoadBalancer[InstanceT], slot: _Slot, start: float, panic: bool) -> None:
        self._lb = lb
        self._slot = slot
        self._start = start
        self._released = False
        self.instance: InstanceT = slot.instance
        self.panic = panic

    def release(self, outcome: str = SUCCESS) -> None:
        """Give the instance back with ``outcome`` (``success``/``failure``/``cancelled``); later calls do nothing."""
        self._lb._release(self, outcome)  # pyright: ignore[reportPrivateUsage]

    def _succeeded(self, result: T) -> T:
        """Release as a success and hand ``result`` on (what :meth:`LoadBalancer.call` returns)."""
        self._lb._release(self, SUCCESS)  # pyright: ignore[reportPrivateUsage]
        return result

    def release_for(self, exc: BaseException | None) -> None:
        """Give the instance back, classifying ``exc`` (``None`` is success)."""
        self._lb._release(self, self._lb._classify(exc))  # pyright: ignore[reportPrivateUsage]

    def __enter__(self) -> InstanceT:
        return self.instance

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release_for(exc)


class _PendingLease(Generic[InstanceT]):
    """What :meth:`LoadBalancer.lease` returns: picks on enter (waiting if the bulkhead is full)."""

    __slots__ = ("_lb", "_timeout", "_lease")

    def __init__(self, lb: LoadBalancer[InstanceT], timeout: float | None) -> None:
        self._lb = lb
        self._timeout = timeout
        self._lease: Lease[InstanceT] | None = None

    def __enter__(self) -> InstanceT:
        self._lease = self._lb.acquire(timeout=self._timeout)
        return self._lease.instance

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._lease is not None:
            self._lease.release_for(exc)

    async def __aenter__(self) -> InstanceT:
        self._lease = await self._lb.aacquire(timeout=self._timeout)
        return self._lease.instance

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class LoadBalancer(Generic[InstanceT]):
    """Spreads requests over ``instances`` (any objects) with the chosen strategy.

    Args:
        name: Reported as ``lb.name``.
        instances: Initial instances.
        strategy: ``p2c_ewma`` (default), ``round_robin``, ``weighted_round_robin``,
            ``least_requests`` or ``random``.
        weights: Per-instance weights for ``weighted_round_robin`` (default 1).
        rng, clock: Randomness and monotonic time used for every decision.
        name_of: Names instances for telemetry and health (default ``str``).
        max_inflight: Per-instance bulkhead; ``None`` for no limit.
        wait_timeout: Seconds a pick waits for a free instance when all are full
            (real time, not ``clock``); then :class:`NoInstanceAvailable`.
        retries: Extra attempts :meth:`call`/:meth:`acall` make on other instances after a failure.
        is_failure: Which exceptions count against an instance (default: any ``Exception``).
        failure_penalty: Minimum latency observed for a failed request, in seconds.
        decay_time: Peak-EWMA time constant, in seconds.
        outliers: Ejection policy, or ``None`` to never eject.
        panic_threshold: Ignore health once fewer than this share of instances is un-ejected.
        breakers / breaker_factory: A circuit breaker per instance (mapping or factory).
        meter_provider: Where metrics go (default: the one in force when they are recorded).
    """

    def __init__(
        self,
        name: str,
        instances: Iterable[InstanceT],
        *,
        strategy: str = "p2c_ewma",
        weights: Mapping[Any, int] | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        name_of: Callable[[InstanceT], str] = str,
        max_inflight: int | None = None,
        wait_timeout: float = 0.0,
        retries: int = 0,
        is_failure: Callable[[BaseException], bool] | None = None,
        failure_penalty: float = 1.0,
        decay_time: float = 10.0,
        outliers: OutlierPolicy | None = _DEFAULT_POLICY,
        panic_threshold: float = 0.5,
        breakers: Mapping[Any, CircuitBreaker] | None = None,
        breaker_factory: Callable[[InstanceT], CircuitBreaker] | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if max_inflight is not None and max_inflight < 1:
            raise ValueError("max_inflight must be >= 1 or None")
        if retries < 0 or wait_timeout < 0 or failure_penalty < 0 or decay_time <= 0:
            raise ValueError("need retries >= 0, wait_timeout >= 0, failure_penalty >= 0, decay_time > 0")
        if not 0.0 <= panic_threshold <= 1.0:
            raise ValueError("panic_threshold must be within [0, 1]")
        self.name = name
        self.strategy = strategy
        self._strategy = make_strategy(strategy, decay_time=decay_time)
        self._decay_time = decay_time
        self._rng = rng or random.Random()
        self._clock = clock
        self._name_of = name_of
        self._max_inflight = max_inflight
        self.wait_timeout = wait_timeout
        self.retries = retries
        self._is_failure = is_failure
        self.failure_penalty = failure_penalty
        self._outliers = Ejections(outliers)
        self.panic_threshold = panic_threshold
        self._breakers = breakers
        self._breaker_factory = breaker_factory

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # bulkhead waiters (threads)
        self._sync_waiters = 0
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._slots: list[_Slot] = []
        self._by_key: dict[Hashable, _Slot] = {}
        self._waits = 0
        self._rejected = 0
        self._panics = 0

        #: Where the balancer reports: its meter provider, else the one in force when it records.
        self.binding = Binding(semconv.SCOPE_COMPONENTS, meter_provider=meter_provider)
        self._duration: tuple[Any, Any] = (None, None)  # (instruments, histogram) last recorded with
        for instance in instances:
            self.add(instance, weight=(weights or {}).get(_key_of(instance), 1))
        BALANCERS.add(self)
        _registry.register("load_balancer", self)

    # ------------------------------------------------------------ membership
    def add(self, instance: InstanceT, *, weight: int = 1, max_inflight: int | None = None) -> None:
        """Start sending requests to ``instance`` (a new one is probed one request at a time)."""
        if weight < 1:
            raise ValueError("weight must be >= 1")
        key = _key_of(instance)
        breaker = None
        if self._breakers is not None:
            breaker = self._breakers.get(key)
        if breaker is None and self._breaker_factory is not None:
            breaker = self._breaker_factory(instance)
        slot = _Slot(
            instance,
            key,
            self._name_of(instance),
            weight,
            max_inflight if max_inflight is not None else self._max_inflight,
            breaker,
            self.name,
            self._clock(),
        )
        with self._lock:
            if key in self._by_key:
                raise ValueError(f"instance {slot.name!r} is already in load balancer {self.name!r}")
            slot.index = len(self._slots)
            self._slots.append(slot)
            self._by_key[key] = slot
            waiters = self._wake_locked()  # a new instance has room for bulkhead waiters
        for loop, future in waiters:
            _wake(loop, future)

    def remove(self, instance: InstanceT) -> None:
        """Stop sending requests to ``instance`` now; requests in flight finish and are released normally."""
        with self._lock:
            slot = self._by_key.get(_key_of(instance))
            if slot is not None:
                self._remove_locked(slot)

    def drain(self, instance: InstanceT) -> None:
        """Send no new requests to ``instance`` and remove it once its in-flight requests finish."""
        with self._lock:
            slot = self._by_key.get(_key_of(instance))
            if slot is None:
                return
            slot.draining = True
            if slot.inflight == 0:
                self._remove_locked(slot)

    def instances(self) -> list[InstanceT]:
        """The current instances (draining ones included until removed)."""
        with self._lock:
            return [slot.instance for slot in self._slots]

    def inflight(self, instance: InstanceT) -> int:
        """Requests in flight on ``instance`` (0 for an unknown one)."""
        slot = self._by_key.get(_key_of(instance))
        return slot.inflight if slot is not None else 0

    def breaker(self, instance: InstanceT) -> CircuitBreaker | None:
        """The circuit breaker attached to ``instance``, if any."""
        slot = self._by_key.get(_key_of(instance))
        return slot.breaker if slot is not None else None

    def _remove_locked(self, slot: _Slot) -> None:
        if slot.removed:
            return
        slot.removed = True
        self._outliers.forget(slot.outlier)
        last = self._slots.pop()
        if last is not slot:
            last.index = slot.index
            self._slots[slot.index] = last
        del self._by_key[slot.key]

    # ----------------------------------------------------------------- picks
    def lease(self, *, timeout: float | None = None) -> _PendingLease[InstanceT]:
        """``with lb.lease() as instance`` (or ``async with``): pick, then release on exit.

        An exception leaving the block counts as the instance's failure (see
        ``is_failure``); cancellation and ``GeneratorExit`` count as neither.
        """
        return _PendingLease(self, timeout)

    def acquire(self, *, timeout: float | None = None, exclude: Iterable[InstanceT] = ()) -> Lease[InstanceT]:
        """Pick and count an instance now; call ``release()`` on the :class:`Lease` when done.

        Waits up to ``timeout`` (default ``wait_timeout``) seconds when every
        instance is at ``max_inflight``, then raises :class:`NoInstanceAvailable`.
        """
        excluded = self._slots_of(exclude)
        lease = self._try_acquire(excluded)
        if lease is not None:
            return lease
        deadline = self._wait_deadline(timeout)
        with self._lock:
            self._sync_waiters += 1
        try:
            while True:
                remaining = deadline - time.monotonic()
                with self._lock:
                    lease = self._acquire_locked(excluded)
                    if lease is None and remaining > 0:
                        self._changed.wait(remaining)
                        lease = self._acquire_locked(excluded)
                if lease is not None:
                    self._after_pick(lease)
                    return lease
                if remaining <= 0:
                    raise self._full_error(timeout)
        finally:
            with self._lock:
                self._sync_waiters -= 1

    async def aacquire(self, *, timeout: float | None = None, exclude: Iterable[InstanceT] = ()) -> Lease[InstanceT]:
        """:meth:`acquire` for asyncio: waits without blocking the loop (works across event loops)."""
        excluded = self._slots_of(exclude)
        lease = self._try_acquire(excluded)
        if lease is not None:
            return lease
        loop = asyncio.get_running_loop()
        deadline = self._wait_deadline(timeout)
        while True:
            remaining = deadline - time.monotonic()
            waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
            with self._lock:
                lease = self._acquire_locked(excluded)
                if lease is None and remaining > 0:
                    waiter = (loop, loop.create_future())
                    self._async_waiters.append(waiter)
            if lease is not None:
                self._after_pick(lease)
                return lease
            if waiter is None:
                raise self._full_error(timeout)
            try:
                await asyncio.wait_for(waiter[1], remaining)
            except asyncio.TimeoutError:
                pass
            finally:
                with self._lock:
                    if waiter in self._async_waiters:
                        self._async_waiters.remove(waiter)

    def _wait_deadline(self, timeout: float | None) -> float:
        """When a pick that found every instance full stops waiting (counted as a wait); raises
        :class:`NoInstanceAvailable` when it may not wait."""
        wait = self.wait_timeout if timeout is None else timeout
        if wait <= 0:
            raise self._full_error(timeout)
        with self._lock:
            self._waits += 1
        return time.monotonic() + wait

    def _try_acquire(self, excluded: tuple[_Slot, ...]) -> Lease[InstanceT] | None:
        with self._lock:
            lease = self._acquire_locked(excluded)
        if lease is not None:
            self._after_pick(lease)
        return lease

    def _acquire_locked(self, excluded: tuple[_Slot, ...]) -> Lease[InstanceT] | None:
        """Choose and count in one critical section; ``None`` when every instance is full."""
        slots = self._slots
        if not slots:
            raise NoInstanceAvailable(self.name, "it has no instances")
        now = self._clock()
        outliers = self._outliers
        if outliers.due(now):
            outliers.readmit_due(now)
        healthy, has_room = _healthy, _has_room
        if excluded:
            healthy, has_room = _excluding(healthy, excluded), _excluding(has_room, excluded)
        pick = self._strategy.pick
        slot = None
        panic = outliers.count > (1.0 - self.panic_threshold) * len(slots)
        if not panic:
            slot = pick(slots, healthy, self._rng, now)
            panic = slot is None
        if slot is None:
            slot = pick(slots, has_room, self._rng, now)
        if slot is None and excluded:  # every other instance was tried: try one again
            slot = pick(slots, _has_room, self._rng, now)
        if slot is None:
            return None
        slot.inflight += 1
        slot.picks += 1
        if panic:
            self._panics += 1
        return Lease(self, slot, now, panic)

    def _after_pick(self, lease: Lease[InstanceT]) -> None:
        if _telemetry.is_enabled():
            try:
                span = trace.get_current_span()
                if span.is_recording():
                    span.set_attribute(semconv.LB_INSTANCE, lease._slot.name)  # pyright: ignore[reportPrivateUsage]
            except Exception as exc:  # the application's span must not fail its call
                _telemetry.log_internal_error("load balancer span attribute", exc)

    def _slots_of(self, instances: Iterable[InstanceT]) -> tuple[_Slot, ...]:
        found: list[_Slot] = []
        for instance in instances:
            slot = self._by_key.get(_key_of(instance))
            if slot is not None:
                found.append(slot)
        return tuple(found)

    def _full_error(self, timeout: float | None) -> NoInstanceAvailable:
        with self._lock:
            self._rejected += 1
            n = len(self._slots)
            draining = sum(1 for slot in self._slots if slot.draining)
        waited = self.wait_timeout if timeout is None else timeout
        if draining == n:
            return NoInstanceAvailable(self.name, f"all {n} instances are draining; waited {waited:g}s")
        extra = f" ({draining} draining)" if draining else ""
        return NoInstanceAvailable(
            self.name, f"all {n} instances are at max_inflight={self._max_inflight}{extra}; waited {waited:g}s"
        )

    # --------------------------------------------------------------- release
    def _classify(self, exc: BaseException | None) -> str:
        if exc is None:
            return SUCCESS
        if not isinstance(exc, Exception) or isinstance(exc, CircuitOpenError):
            return CANCELLED  # cancellation, GeneratorExit, or the instance's breaker refusing the call
        if self._is_failure is None:
            return FAILURE
        try:
            return FAILURE if self._is_failure(exc) else SUCCESS
        except Exception as err:
            _telemetry.log_internal_error(f"load balancer {self.name} is_failure", err)
            return FAILURE

    def _release(self, lease: Lease[InstanceT], outcome: str) -> None:
        slot = lease._slot  # pyright: ignore[reportPrivateUsage]
        with self._lock:
            if lease._released:  # pyright: ignore[reportPrivateUsage]
                return
            lease._released = True  # pyright: ignore[reportPrivateUsage]
            now = self._clock()
            slot.inflight -= 1
            latency = max(0.0, now - lease._start)  # pyright: ignore[reportPrivateUsage]
            if outcome != CANCELLED:
                failed = outcome == FAILURE
                slot.observe_latency(max(latency, self.failure_penalty) if failed else latency, now, self._decay_time)
                if not slot.removed:
                    self._outliers.observe(slot.outlier, failed, now, len(self._slots), self._rng)
            if slot.draining and slot.inflight == 0:
                self._remove_locked(slot)
            waiters = self._wake_locked()
        for loop, future in waiters:
            _wake(loop, future)
        if _telemetry.is_enabled():
            try:
                instruments = self.binding.current()
                bound, histogram = self._duration
                if bound is not instruments:  # the handle changed: take its histogram once
                    histogram = instruments[semconv.LB_REQUEST_DURATION]
                    self._duration = (instruments, histogram)
                histogram.record(latency, slot.duration_attrs[outcome])
            except Exception as exc:
                _telemetry.log_internal_error("load balancer duration", exc)

    def _wake_locked(self) -> list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]:
        if self._sync_waiters:
            self._changed.notify_all()
        if not self._async_waiters:
            return _NO_WAITERS
        waiters, self._async_waiters = self._async_waiters, []
        return waiters

    # ------------------------------------------------------------- call APIs
    def call(self, fn: Callable[Concatenate[InstanceT, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(instance, *args, **kwargs)`` on a picked instance, retrying ``retries`` times elsewhere."""
        tried: list[InstanceT] = []
        while True:
            lease = self.acquire(exclude=tried)
            breaker = lease._slot.breaker  # pyright: ignore[reportPrivateUsage]
            try:
                if breaker is None:
                    result = fn(lease.instance, *args, **kwargs)
                else:
                    result = breaker.call(fn, lease.instance, *args, **kwargs)
            except BaseException as exc:
                if self._retries(lease, exc, tried):
                    continue
                raise
            return lease._succeeded(result)  # pyright: ignore[reportPrivateUsage]

    async def acall(
        self, fn: Callable[Concatenate[InstanceT, P], Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``await fn(instance, *args, **kwargs)`` on a picked instance, retrying ``retries`` times elsewhere."""
        tried: list[InstanceT] = []
        while True:
            lease = await self.aacquire(exclude=tried)
            breaker = lease._slot.breaker  # pyright: ignore[reportPrivateUsage]
            try:
                if breaker is None:
                    result = await fn(lease.instance, *args, **kwargs)
                else:
                    result = await breaker.acall(fn, lease.instance, *args, **kwargs)
            except BaseException as exc:
                if self._retries(lease, exc, tried):
                    continue
                raise
            return lease._succeeded(result)  # pyright: ignore[reportPrivateUsage]

    def _retries(self, lease: Lease[InstanceT], exc: BaseException, tried: list[InstanceT]) -> bool:
        """Release ``lease`` for ``exc``; whether :meth:`call` tries another instance (then ``tried`` has this one)."""
        outcome = self._classify(exc)
        lease.release(outcome)
        if outcome == SUCCESS or len(tried) >= self.retries or not isinstance(exc, Exception):
            return False
        tried.append(lease.instance)
        return True

    # ------------------------------------------------------------- reporting
    def health_snapshot(self) -> dict[str, Any]:
        """Instances with in-flight, ejection, latency and breaker state, as a plain dict.

        ``status``: ``unhealthy`` with no instances or when every instance is ejected
        or behind an open breaker; ``degraded`` when some are; else ``healthy``.
        """
        with self._lock:
            now = self._clock()
            self._outliers.readmit_due(now)
            rows = [(_instance_row(slot, now), slot.breaker) for slot in self._slots]
            totals = {
                "ejected": self._outliers.count,
                "waits": self._waits,
                "rejected": self._rejected,
                "panic_picks": self._panics,
            }
        instances: list[dict[str, Any]] = []
        down = 0
        for row, breaker in rows:  # a breaker's state is read outside the balancer's lock
            row["breaker"] = breaker.state.value if breaker is not None else None
            if row["ejected"] or row["breaker"] in ("open", "forced_open"):
                down += 1
            instances.append(row)
        if not instances or down == len(instances):
            status = "unhealthy"
        elif down:
            status = "degraded"
        else:
            status = "healthy"
        return {"name": self.name, "strategy": self.strategy, "status": status, "instances": instances, **totals}

    def _instance_counts(self) -> list[_InstanceCounts]:
        """Each instance's counts, copied under the lock (for the metric callbacks)."""
        with self._lock:
            return [
                _InstanceCounts(slot.name, slot.picks, slot.inflight, dict(slot.outlier.ejection_counts))
                for slot in self._slots
            ]

    def __repr__(self) -> str:
        return f"LoadBalancer({self.name!r}, strategy={self.strategy!r}, instances={len(self._slots)})"


def _key_of(instance: Any) -> Hashable:
    try:
        hash(instance)
    except TypeError:
        return ("id", id(instance))
    return instance


def _wake(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> None:
    def settle() -> None:
        if not future.done():
            future.set_result(None)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # that loop is closed: its waiter is gone
        pass


def _healthy(slot: _Slot) -> bool:
    """Whether ``slot`` may take a request outside panic mode."""
    outlier = slot.outlier
    if outlier.ejected_until or slot.draining or (outlier.trial and slot.inflight):
        return False
    if slot.max_inflight is not None and slot.inflight >= slot.max_inflight:
        return False
    return slot.breaker is None or not slot.breaker.rejects_now()


def _has_room(slot: _Slot) -> bool:
    """Whether ``slot`` may take a request in panic mode (health ignored; the bulkhead holds)."""
    return not slot.draining and (slot.max_inflight is None or slot.inflight < slot.max_inflight)


def _excluding(ok: Callable[[_Slot], bool], excluded: tuple[_Slot, ...]) -> Callable[[_Slot], bool]:
    """``ok``, but never for the ``excluded`` slots (instances a retry has already tried)."""
    return lambda slot: slot not in excluded and ok(slot)


def _instance_row(slot: _Slot, now: float) -> dict[str, Any]:
    outlier = slot.outlier
    return {
        "name": slot.name,
        "inflight": slot.inflight,
        "picks": slot.picks,
        "ejected": bool(outlier.ejected_until),
        "ejected_for": max(0.0, outlier.ejected_until - now) if outlier.ejected_until else 0.0,
        "ejections": dict(outlier.ejection_counts),
        "probation": outlier.trial,
        "draining": slot.draining,
        "latency_ewma": slot.ewma if slot.samples else None,
        "weight": slot.weight,
    }


def _instance_attributes(lb: LoadBalancer[Any], instance: str) -> dict[str, str]:
    return {semconv.LB_NAME: lb.name, semconv.LB_INSTANCE: instance}


def _picks(balancers: list[LoadBalancer[Any]]) -> Iterator[Observation]:
    for lb in balancers:
        for counts in lb._instance_counts():  # pyright: ignore[reportPrivateUsage]
            yield Observation(counts.picks, _instance_attributes(lb, counts.name))


def _inflight(balancers: list[LoadBalancer[Any]]) -> Iterator[Observation]:
    for lb in balancers:
        for counts in lb._instance_counts():  # pyright: ignore[reportPrivateUsage]
            yield Observation(counts.inflight, _instance_attributes(lb, counts.name))


def _ejections(balancers: list[LoadBalancer[Any]]) -> Iterator[Observation]:
    for lb in balancers:
        for counts in lb._instance_counts():  # pyright: ignore[reportPrivateUsage]
            for reason, n in counts.ejections.items():
                yield Observation(n, {**_instance_attributes(lb, counts.name), semconv.LB_EJECTION_REASON: reason})


def _ejected(balancers: list[LoadBalancer[Any]]) -> Iterator[Observation]:
    for lb in balancers:
        yield Observation(lb._outliers.count, {semconv.LB_NAME: lb.name})  # pyright: ignore[reportPrivateUsage]


def _waits(balancers: list[LoadBalancer[Any]]) -> Iterator[Observation]:
    for lb in balancers:
        yield Observation(lb._waits, {semconv.LB_NAME: lb.name})  # pyright: ignore[reportPrivateUsage]


def _rejected(balancers: list[LoadBalancer[Any]]) -> Iterator[Observation]:
    for lb in balancers:
        yield Observation(lb._rejected, {semconv.LB_NAME: lb.name})  # pyright: ignore[reportPrivateUsage]


#: The balancers' observable instruments: each live balancer, through its binding.
BALANCERS = Observed(
    "load_balancer",
    {
        semconv.LB_PICKS: _picks,
        semconv.LB_INFLIGHT: _inflight,
        semconv.LB_EJECTIONS: _ejections,
        semconv.LB_EJECTED: _ejected,
        semconv.LB_WAITS: _waits,
        semconv.LB_REJECTED: _rejected,
    },
)
