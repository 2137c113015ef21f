"""``agentotel.Cache``: an LRU + TTL cache with single-flight loads, an optional Redis second level, and telemetry.

Example::

    from agentotel import Cache, stable_key

    answers = Cache("answers", max_entries=10_000, ttl=600)

    @answers.memoize                      # key: stable_key(function, args, kwargs)
    async def answer(prompt: str, model: str) -> str:
        return await llm(prompt, model)   # ten identical concurrent prompts: one call

    answers.get_or_load(stable_key("landuse", 2024), lambda: query_landuse(2024))

Semantics (see ``docs/cache.md``):

* ``ttl=None`` never expires, ``ttl=0`` expires at once (the value is not kept, but
  concurrent callers still share one load), negative TTLs raise ``ValueError``;
  ``set(..., ttl=math.inf)`` keeps one entry forever in a cache with a default TTL.
* A cached ``None`` is a hit. Expired entries never push out live ones. Overwriting a
  key replaces it in place and evicts nothing else.
* One load per key at a time, shared by threads and asyncio tasks on any event loop;
  a cancelled waiter leaves the others waiting; when every waiter is cancelled the
  load is cancelled; a loader's exception reaches every waiter and is not cached.
* With ``l2=`` (a ``redis.Redis`` or a URL): L1 -> L2 -> loader inside the single
  flight; an L2 hit is copied to L1; Redis failures are counted and fall back.

Telemetry: lookups, loads and evictions are counted with plain integers and read by
observable instruments (``agentotel.cache.*``); a ``cache.load {name}`` span covers
each miss that goes to L2 or the loader; lookups inside a recording span set
``cache.hit`` on it. Nothing is emitted after ``agentotel.uninstrument()``.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import math
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, TypeVar, overload

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, Tracer, TracerProvider

from agentotel import _telemetry, semconv
from agentotel._cache_telemetry import L2, READERS, CacheCounts, current_context, load_span, mark_span
from agentotel._handle import Binding, Observed
from agentotel.resilience import _registry
from agentotel.resilience._cache_stats import CacheStats
from agentotel.resilience._lru import NEVER, LruTtlStore, estimate_size
from agentotel.resilience._memoize import Memoizer, memoizer
from agentotel.resilience._redis_l2 import RedisL2, Serializer
from agentotel.resilience._singleflight import Flight

__all__ = ["Cache", "CacheStats"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
TTL = float | int | _dt.timedelta | None

_MISS: Any = object()  # nothing live under the key: a stored None is a value like any other
_FOR_LOAD: Any = object()  # get()'s default when a load asks: a miss returns at once, uncounted


@dataclass
class _Loaded:
    value: Any
    weight: int
    ttl: float | None  # None: the cache default
    from_l2: bool = False
    load_time: float | None = None  # set when the loader ran


def _check_ttl(ttl: object, what: str = "ttl") -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, _dt.timedelta):
        ttl = ttl.total_seconds()
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, a timedelta or None; got {ttl!r}")
    seconds = float(ttl)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{what} must be >= 0 seconds (0 expires at once, None or math.inf never); got {ttl!r}")
    return seconds


def _check_positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int; got {value!r}")
    return value


def _check_weight(weight: object, cache: str) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
        raise ValueError(f"Cache {cache!r}: weigher returned {weight!r}; it must be an int >= 0")
    return weight


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str; got {name!r}")
    return name


class Cache:
    """An in-process LRU + TTL cache with single-flight loads, an optional Redis L2 and telemetry.

    Args:
        name: reported as ``cache.name`` and in ``agentotel.health()``.
        max_entries: most entries held; the least recently used go first.
        ttl: default seconds to live (``None`` never expires, ``0`` expires at once).
        max_bytes: optional bound on the total weight of the values.
        clock: monotonic seconds; inject a fake one in tests.
        weigher: ``weigher(key, value) -> int`` weight of an entry, computed once at
            insert; default :func:`~agentotel.resilience._lru.estimate_size` of the value.
        l2: a ``redis.Redis`` client or a ``redis://`` URL for a shared second level.
        l2_serializer: ``"json"`` (default), ``"pickle"`` (opt-in: trusts the Redis
            contents) or an object with ``dumps``/``loads``.
        l2_namespace: Redis key prefix (default ``agentotel:cache:{name}:``).
        l2_retry_after: seconds to bypass Redis after it failed.
        tracer_provider / meter_provider: else those in force when the cache records (given
            to ``agentotel.instrument()``, else the global ones), whenever it was created.
    """

    def __init__(
        self,
        name: str,
        *,
        max_entries: int = 1024,
        ttl: TTL = None,
        max_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        weigher: Callable[[Hashable, Any], int] | None = None,
        l2: Any = None,
        l2_serializer: str | Serializer = "json",
        l2_namespace: str | None = None,
        l2_retry_after: float = 5.0,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.name = _check_name(name)
        self.max_entries = _check_positive_int(max_entries, "max_entries")
        self.max_bytes = None if max_bytes is None else _check_positive_int(max_bytes, "max_bytes")
        self.ttl = _check_ttl(ttl)
        if not callable(clock):
            raise TypeError(f"clock must be callable; got {clock!r}")
        self._clock = clock
        self._weigher = weigher
        self._lock = threading.Lock()
        self._store = LruTtlStore(self.max_entries, self.max_bytes)
        self._data = self._store.data  # read directly on the hit path
        self._flights: dict[Hashable, Flight] = {}
        # Counters (Caffeine-style stats), read by stats() and the observable instruments.
        self._hits = self._misses = self._coalesced = 0
        self._load_successes = self._load_failures = 0
        self._load_time = 0.0
        self._l2: RedisL2 | None = None
        if l2 is not None:
            self._l2 = RedisL2(
                l2,
                namespace=l2_namespace if l2_namespace is not None else f"agentotel:cache:{name}:",
                serializer=l2_serializer,
                retry_after=l2_retry_after,
                clock=clock,
            )
        #: Where the cache reports: its own providers, else those in force when it records.
        self.binding = Binding(semconv.SCOPE_COMPONENTS, tracer_provider, meter_provider)
        CACHES.add(self)
        _registry.register("cache", self)

    def __repr__(self) -> str:
        return f"Cache({self.name!r}, entries={len(self._data)}, max_entries={self.max_entries})"

    def __len__(self) -> int:
        """Live entries (expired ones are dropped first)."""
        now = self._clock()
        with self._lock:
            self._store.expire(now)
            return len(self._data)

    # ------------------------------------------------------------------ lookups
    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value cached for ``key`` (L1, then L2), else ``default``."""
        # The hit path (aget_or_load comes through here too, as _get; get_or_load has the only
        # other copy). It takes no lock: one atomic dict.get of an immutable
        # entry, and every change to the store is made under the lock in single C-level dict
        # operations, so a reader sees an entry or its absence, never a torn one. A miss is
        # checked again under the lock. Only the hit counter is updated without the lock (it
        # may undercount under heavy thread contention).
        data = self._data
        entry = data.get(key)
        if entry is not None and entry[1] > self._clock():  # entry: (value, expires, weight)
            try:
                data.move_to_end(key)
            except KeyError:  # removed since we read it: still a hit on what we read
                pass
            self._hits += 1
            context = current_context()
            if context:
                mark_span(context, True)
            return entry[0]
        if default is _FOR_LOAD:  # a load looks again under the lock, where it joins the key's flight
            return _FOR_LOAD
        now = self._clock()
        with self._lock:
            value = self._lookup_locked(key, now)
        if value is not _MISS:
            self._mark(True)
            return value
        return self._get_from_l2(key, default)

    _get = get  # the hit path for aget_or_load, whatever a subclass makes of get()

    def _lookup_locked(self, key: Hashable, now: float) -> Any:
        """The lookup under the lock: counts a hit or a miss and drops an expired entry."""
        entry = self._store.lookup(key, now)
        if entry is not None:
            self._hits += 1
            return entry.value
        self._misses += 1
        return _MISS

    @staticmethod
    def _mark(hit: bool) -> None:
        context = current_context()
        if context:
            mark_span(context, hit)

    def _get_from_l2(self, key: Hashable, default: Any) -> Any:
        found, value = False, None
        if self._l2 is not None:
            found, value, left = self._l2.get(key)
            if found:
                self._store_value(key, value, self._l2_ttl(left), self._weigh(key, value))
        self._mark(found)
        return value if found else default

    def set(self, key: Hashable, value: Any, ttl: TTL = None) -> None:
        """Store ``value`` (``ttl`` None: the cache default; 0: expires at once); also in L2."""
        seconds = _check_ttl(ttl)
        self._store_value(key, value, seconds, self._weigh(key, value))
        if self._l2 is not None:
            self._l2.set(key, value, self._effective_ttl(seconds))

    def delete(self, key: Hashable) -> bool:
        """Remove ``key`` from L1 (and L2); True if L1 held a live entry."""
        now = self._clock()
        with self._lock:
            removed = self._store.delete(key, now)
        if self._l2 is not None:
            self._l2.delete(key)
        return removed

    def clear(self) -> None:
        """Remove every L1 entry (L2 entries stay until they expire or are deleted)."""
        with self._lock:
            self._store.clear()

    # -------------------------------------------------------------------- loads
    def get_or_load(self, key: Hashable, loader: Callable[[], T], *, ttl: TTL = None) -> T:
        """The cached value, else ``loader()``'s result (cached) — one load per key at a time."""
        # get()'s hit path once more: through _get() a hit costs a sixth more (one call,
        # measured in one process; a memoized function's hit goes this way).
        data = self._data
        entry = data.get(key)
        if entry is not None and entry[1] > self._clock():
            try:
                data.move_to_end(key)
            except KeyError:
                pass
            self._hits += 1
            context = current_context()
            if context:
                mark_span(context, True)
            return entry[0]
        seconds = _check_ttl(ttl)
        now = self._clock()
        with self._lock:
            value = self._lookup_locked(key, now)
            turn = self._join_sync_locked(key) if value is _MISS else None
        if turn is None:
            self._mark(True)
            return value
        self._mark(False)
        flight, leads = turn
        if not leads:
            return flight.wait()
        if flight.loop is not None:  # an async load on this thread's own event loop: do not block it
            return self._load_and_complete_sync(key, loader, seconds, None)
        return self._load_and_complete_sync(key, loader, seconds, flight)

    def _join_sync_locked(self, key: Hashable) -> tuple[Flight, bool]:
        """The key's flight and whether this caller runs the load (else it waits for it)."""
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = Flight()
            return flight, True
        if flight.thread == threading.get_ident():
            if flight.loop is None:
                raise RuntimeError(f"Cache {self.name!r}: the loader for {key!r} asked for its own key")
            return flight, True  # see get_or_load: load without coalescing
        flight.add_sync_waiter_locked()
        self._coalesced += 1
        return flight, False

    def _load_and_complete_sync(
        self, key: Hashable, loader: Callable[[], T], ttl: float | None, flight: Flight | None
    ) -> T:
        try:
            loaded = self._load_sync(key, loader, ttl, flight)
        except BaseException as exc:
            self._complete(key, flight, None, exc)
            raise
        self._complete(key, flight, loaded, None)
        if self._l2 is not None and not loaded.from_l2:
            self._l2.set(key, loaded.value, self._effective_ttl(loaded.ttl))
        return loaded.value

    def _load_sync(self, key: Hashable, loader: Callable[[], Any], ttl: float | None, flight: Flight | None) -> _Loaded:
        with load_span(self._tracer(), self.name, key, flight) as span:
            found = self._from_l2(key, self._l2.get(key), ttl, span) if self._l2 is not None else None
            if found is not None:
                return found
            with _LoaderRun(self._clock, self._record_failure) as run:
                value = loader()
            return self._loaded(key, value, ttl, run)

    async def aget_or_load(self, key: Hashable, async_loader: Callable[[], Awaitable[T]], *, ttl: TTL = None) -> T:
        """Async :meth:`get_or_load`: ``await async_loader()`` runs once per key, in its own task.

        Cancelling this call leaves other waiters waiting; the load is cancelled only
        when every waiter has gone.
        """
        value = self._get(key, _FOR_LOAD)
        if value is not _FOR_LOAD:
            return value
        seconds = _check_ttl(ttl)
        loop = asyncio.get_running_loop()
        now = self._clock()
        with self._lock:
            value = self._lookup_locked(key, now)
            turn = self._join_async_locked(key, loop) if value is _MISS else None
        if turn is None:
            self._mark(True)
            return value
        self._mark(False)
        flight, future, leads = turn
        if leads:
            try:
                flight.task = loop.create_task(self._run_async_load(key, async_loader, seconds, flight))
            except BaseException as exc:  # e.g. a closing loop: no waiter may be left hanging
                self._complete(key, flight, None, exc)
                raise
        try:
            return await future
        except asyncio.CancelledError:
            self._leave(key, flight, future)
            raise

    def _join_async_locked(
        self, key: Hashable, loop: asyncio.AbstractEventLoop
    ) -> tuple[Flight, asyncio.Future[Any], bool]:
        """The key's flight, this caller's future on ``loop``, and whether this caller starts the load."""
        flight = self._flights.get(key)
        leads = flight is None
        if flight is None:
            flight = self._flights[key] = Flight(loop)
        elif flight.loop is None and flight.thread == threading.get_ident():
            raise RuntimeError(f"Cache {self.name!r}: the loader for {key!r} asked for its own key")
        else:
            self._coalesced += 1
        return flight, flight.add_async_waiter_locked(loop, joined=not leads), leads

    async def _run_async_load(
        self, key: Hashable, async_loader: Callable[[], Awaitable[Any]], ttl: float | None, flight: Flight
    ) -> None:
        try:
            loaded = await self._load_async(key, async_loader, ttl, flight)
        except asyncio.CancelledError as exc:
            self._complete(key, flight, None, exc)
            raise
        except BaseException as exc:  # delivered to every waiter through its future
            self._complete(key, flight, None, exc)
            return
        self._complete(key, flight, loaded, None)
        if self._l2 is not None and not loaded.from_l2:
            await asyncio.to_thread(self._l2.set, key, loaded.value, self._effective_ttl(loaded.ttl))

    async def _load_async(
        self, key: Hashable, async_loader: Callable[[], Awaitable[Any]], ttl: float | None, flight: Flight
    ) -> _Loaded:
        with load_span(self._tracer(), self.name, key, flight) as span:
            if self._l2 is not None:
                found = self._from_l2(key, await asyncio.to_thread(self._l2.get, key), ttl, span)
                if found is not None:
                    return found
            with _LoaderRun(self._clock, self._record_failure) as run:
                value = await async_loader()
            return self._loaded(key, value, ttl, run)

    def _from_l2(
        self, key: Hashable, lookup: tuple[bool, Any, float | None], ttl: float | None, span: Span | None
    ) -> _Loaded | None:
        """What a second-level lookup found for a load, or ``None`` (the loader runs then)."""
        found, value, left = lookup
        if not found:
            return None
        if span is not None:
            span.set_attribute(semconv.CACHE_LEVEL, L2)
        return _Loaded(value, self._weigh(key, value), self._l2_ttl(left, ttl), from_l2=True)

    def _loaded(self, key: Hashable, value: Any, ttl: float | None, run: _LoaderRun) -> _Loaded:
        seconds = run.seconds()  # the loader's time, before the weigher runs
        return _Loaded(value, self._weigh(key, value), ttl, load_time=seconds)

    def _leave(self, key: Hashable, flight: Flight, future: asyncio.Future[Any]) -> None:
        with self._lock:
            abandoned = flight.remove_async_waiter_locked(future)
            if abandoned and self._flights.get(key) is flight:
                del self._flights[key]  # a caller arriving now starts a fresh load
        task = flight.task
        if abandoned and task is not None and flight.loop is not None:
            try:
                running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if flight.loop is running:
                task.cancel()
            else:
                try:
                    flight.loop.call_soon_threadsafe(task.cancel)
                except RuntimeError:
                    pass

    def _complete(
        self, key: Hashable, flight: Flight | None, loaded: _Loaded | None, error: BaseException | None
    ) -> None:
        """Store the value and retire the flight in one locked step, then wake the waiters."""
        now = self._clock()
        futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []
        with self._lock:
            current = flight is None or self._flights.get(key) is flight
            if flight is not None and current:
                del self._flights[key]
            if loaded is not None:
                if loaded.load_time is not None:
                    self._load_successes += 1
                    self._load_time += loaded.load_time
                if current:
                    self._put_locked(key, loaded.value, loaded.ttl, loaded.weight, now)
            if flight is not None:
                futures = flight.finish_locked(loaded.value if loaded is not None else None, error)
        if flight is not None:
            flight.notify(futures)
        if loaded is not None and loaded.load_time is not None:
            self._record_duration(loaded.load_time, failed=False)

    def _record_failure(self, seconds: float) -> None:
        with self._lock:
            self._load_failures += 1
            self._load_time += seconds
        self._record_duration(seconds, failed=True)

    def _record_duration(self, seconds: float, *, failed: bool) -> None:
        if not _telemetry.is_enabled():
            return
        try:
            self.binding.current()[semconv.CACHE_LOAD_DURATION].record(
                max(seconds, 0.0),
                {semconv.CACHE_NAME: self.name, semconv.CACHE_LOAD_OUTCOME: "failure" if failed else "success"},
            )
        except Exception as exc:
            _telemetry.log_internal_error("cache load duration", exc)

    def _tracer(self) -> Tracer:
        return self.binding.current().tracer

    # --------------------------------------------------------------- decorator
    @overload
    def memoize(self, fn: F) -> F: ...

    @overload
    def memoize(self, fn: None = None, *, ttl: TTL = None, key: Callable[..., Hashable] | None = None) -> Memoizer: ...

    def memoize(
        self, fn: F | None = None, *, ttl: TTL = None, key: Callable[..., Hashable] | None = None
    ) -> F | Memoizer:
        """Decorate a sync or ``async def`` function so its results are cached (an async
        function's *result* is cached, never its coroutine), one call per key at a time.

        The key is ``stable_key(module.qualname, *args, **kwargs)`` unless ``key(*args, **kwargs)``
        is given (needed when an argument, such as ``self``, has no stable encoding).
        Usable bare (``@cache.memoize``) or with options (``@cache.memoize(ttl=60)``).
        """
        decorate = memoizer(self, ttl=_check_ttl(ttl), key=key)
        return decorate(fn) if fn is not None else decorate

    # -------------------------------------------------------------- reporting
    def stats(self) -> CacheStats:
        """Counters since the cache was created."""
        now = self._clock()
        with self._lock:
            self._store.expire(now)
            snapshot = CacheStats(
                hits=self._hits,
                misses=self._misses,
                load_successes=self._load_successes,
                load_failures=self._load_failures,
                total_load_time=self._load_time,
                evictions_by_cause=dict(self._store.removals),
                coalesced=self._coalesced,
                entries=len(self._data),
                weight=self._store.weight,
            )
        l2 = self._l2
        if l2 is None:
            return snapshot
        return replace(snapshot, l2_hits=l2.hits, l2_misses=l2.misses, l2_errors=l2.errors)

    def cache_counts(self) -> tuple[CacheCounts]:
        """The counts the ``agentotel.cache.*`` observable instruments report for this cache."""
        s = self.stats()
        return (
            CacheCounts(
                name=self.name,
                hits=s.hits,
                misses=s.misses,
                l2_hits=s.l2_hits,
                l2_misses=s.l2_misses,
                l2_errors=s.l2_errors,
                has_l2=self._l2 is not None,
                load_successes=s.load_successes,
                load_failures=s.load_failures,
                removals=s.evictions_by_cause,
                entries=s.entries,
            ),
        )

    def health_snapshot(self) -> dict[str, Any]:
        """A JSON-serialisable summary for ``agentotel.health()``.

        ``status`` is ``healthy``, or ``degraded`` while a failed Redis second level is
        bypassed (the cache still serves from L1 and its loaders).
        """
        s = self.stats()
        l2: dict[str, Any] | None = None
        if self._l2 is not None:
            l2 = {"status": self._l2.status, "errors": s.l2_errors, "last_error": self._l2.last_error}
        return {
            "name": self.name,
            "status": "healthy" if l2 is None or l2["status"] == "ok" else "degraded",
            "entries": s.entries,
            "max_entries": self.max_entries,
            "bytes": s.weight if self.max_bytes is not None else None,
            "max_bytes": self.max_bytes,
            "hit_rate": round(s.hit_rate, 4),
            "hits": s.hits,
            "misses": s.misses,
            "evictions": s.evictions,
            "loads_in_flight": len(self._flights),
            "l2": l2,
        }

    # ---------------------------------------------------------------- helpers
    def _weigh(self, key: Hashable, value: Any) -> int:
        if self.max_bytes is None:
            return 0
        if self._weigher is None:
            return estimate_size(value)
        return _check_weight(self._weigher(key, value), self.name)

    def _effective_ttl(self, ttl: float | None) -> float | None:
        seconds = self.ttl if ttl is None else ttl
        return None if seconds is None or seconds == NEVER else seconds

    def _expires(self, ttl: float | None, now: float) -> float:
        seconds = self.ttl if ttl is None else ttl
        return NEVER if seconds is None else now + seconds  # now + inf is inf: never

    def _l2_ttl(self, left: float | None, ttl: float | None = None) -> float | None:
        """L1 TTL for a value found in L2: the shorter of what Redis has left and our own TTL."""
        own = self._effective_ttl(ttl)
        if left is None:
            return ttl
        return left if own is None else min(left, own)

    def _store_value(self, key: Hashable, value: Any, ttl: float | None, weight: int) -> None:
        now = self._clock()
        with self._lock:
            self._put_locked(key, value, ttl, weight, now)

    def _put_locked(self, key: Hashable, value: Any, ttl: float | None, weight: int, now: float) -> None:
        self._store.put(key, value, self._expires(ttl, now), weight, now, default_ttl=ttl is None)


class _LoaderRun:
    """Times one run of a loader; a failure (not a cancellation) is reported to ``failed`` when it leaves."""

    __slots__ = ("_clock", "_failed", "_started")

    def __init__(self, clock: Callable[[], float], failed: Callable[[float], None]) -> None:
        self._clock = clock
        self._failed = failed
        self._started = 0.0

    def __enter__(self) -> _LoaderRun:
        self._started = self._clock()
        return self

    def seconds(self) -> float:
        """Seconds since the loader started."""
        return self._clock() - self._started

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and not isinstance(exc, asyncio.CancelledError):  # cancelled: every waiter left
            self._failed(self.seconds())


#: The caches' observable instruments: each live cache, through its binding.
CACHES = Observed("cache", READERS)
