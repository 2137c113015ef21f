"""Cache telemetry: observable instruments per meter, the load span, ``cache.hit`` on the current span.

Lookups are counted by the caches themselves with plain integers; the SDK sees them
only when a metric reader collects, through one set of observable instruments per
meter. Each set reads every *source* registered for its meter: the live
:class:`agentotel.Cache` objects using that meter (found through
:mod:`agentotel.resilience._registry`) and, when instrumented, cachetools caches.
Counts of caches that share a name are summed, so every attribute set is reported once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace import propagation as trace_propagation

from agentotel import _telemetry, semconv
from agentotel.resilience import _registry

__all__ = [
    "CacheCounts",
    "CacheInstruments",
    "current_context",
    "instruments_for",
    "load_span",
    "mark_span",
]

L1 = "l1"
L2 = "l2"


@dataclass(frozen=True)
class CacheCounts:
    """Cumulative counts of one cache at one moment, as the observable instruments report them."""

    name: str
    hits: int = 0
    misses: int = 0
    l2_hits: int = 0
    l2_misses: int = 0
    l2_errors: int = 0
    has_l2: bool = False
    load_successes: int = 0
    load_failures: int = 0
    removals: Mapping[str, int] = field(default_factory=dict)
    entries: int = 0


Source = Callable[[], Iterable[CacheCounts]]


def _agentotel_caches(meter: Meter) -> Source:
    # Weakly: this source lives in the value of the weak map keyed by ``meter`` (see instruments_for).
    meter_ref = weakref.ref(meter)

    def source() -> Iterable[CacheCounts]:
        meter = meter_ref()
        for cache in _registry.components("cache"):
            if meter is not None and getattr(cache, "_meter", None) is meter:
                yield cache._counts()

    return source


class CacheInstruments:
    """The cache instruments of one meter: observable counters fed by sources, and the load histogram."""

    def __init__(self, meter: Meter) -> None:
        self._lock = threading.Lock()
        self._sources: list[Source] = [_agentotel_caches(meter)]
        self.load_duration = meter.create_histogram(
            semconv.CACHE_LOAD_DURATION,
            unit="s",
            description="Loader run time.",
            explicit_bucket_boundaries_advisory=list(semconv.CACHE_LOAD_DURATION_BUCKETS),
        )
        meter.create_observable_counter(
            semconv.CACHE_LOOKUPS,
            [self._observe_lookups],
            unit="{lookup}",
            description="Cache lookups, counted in process.",
        )
        meter.create_observable_counter(
            semconv.CACHE_LOADS,
            [self._observe_loads],
            unit="{load}",
            description="Loader runs after a miss.",
        )
        meter.create_observable_counter(
            semconv.CACHE_EVICTIONS,
            [self._observe_evictions],
            unit="{eviction}",
            description="Entries removed, by cause.",
        )
        meter.create_observable_up_down_counter(
            semconv.CACHE_ENTRIES,
            [self._observe_entries],
            unit="{entry}",
            description="Entries held.",
        )
        meter.create_observable_counter(
            semconv.CACHE_L2_ERRORS,
            [self._observe_l2_errors],
            unit="{error}",
            description="Second-level (Redis) failures that fell back.",
        )

    def add_source(self, source: Source) -> None:
        """Report ``source``'s caches through this meter too."""
        with self._lock:
            self._sources.append(source)

    def remove_source(self, source: Source) -> None:
        """Stop reporting ``source``."""
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)

    def _by_name(self) -> dict[str, list[CacheCounts]]:
        if not _telemetry.is_enabled():
            return {}
        with self._lock:
            sources = list(self._sources)
        grouped: dict[str, list[CacheCounts]] = defaultdict(list)
        for source in sources:
            try:
                for counts in source():
                    grouped[counts.name].append(counts)
            except Exception as exc:  # a broken source must not break collection
                _telemetry.log_internal_error("cache metrics source", exc)
        return grouped

    def _observe_lookups(self, options: CallbackOptions) -> Iterator[Observation]:
        for name, group in self._by_name().items():
            yield _point(sum(c.hits for c in group), name, semconv.CACHE_RESULT, "hit", L1)
            yield _point(sum(c.misses for c in group), name, semconv.CACHE_RESULT, "miss", L1)
            if any(c.has_l2 for c in group):
                yield _point(sum(c.l2_hits for c in group), name, semconv.CACHE_RESULT, "hit", L2)
                yield _point(sum(c.l2_misses for c in group), name, semconv.CACHE_RESULT, "miss", L2)

    def _observe_loads(self, options: CallbackOptions) -> Iterator[Observation]:
        for name, group in self._by_name().items():
            successes = sum(c.load_successes for c in group)
            failures = sum(c.load_failures for c in group)
            if successes or failures:
                yield _point(successes, name, semconv.CACHE_LOAD_OUTCOME, "success")
                yield _point(failures, name, semconv.CACHE_LOAD_OUTCOME, "failure")

    def _observe_evictions(self, options: CallbackOptions) -> Iterator[Observation]:
        for name, group in self._by_name().items():
            totals: dict[str, int] = defaultdict(int)
            for counts in group:
                for cause, count in counts.removals.items():
                    totals[cause] += count
            for cause, count in totals.items():
                if count:
                    yield _point(count, name, semconv.CACHE_EVICTION_CAUSE, cause)

    def _observe_entries(self, options: CallbackOptions) -> Iterator[Observation]:
        for name, group in self._by_name().items():
            yield Observation(sum(c.entries for c in group), {semconv.CACHE_NAME: name, semconv.CACHE_LEVEL: L1})

    def _observe_l2_errors(self, options: CallbackOptions) -> Iterator[Observation]:
        for name, group in self._by_name().items():
            if any(c.has_l2 for c in group):
                yield Observation(sum(c.l2_errors for c in group), {semconv.CACHE_NAME: name})


def _point(value: int, name: str, key: str, label: str, level: str | None = None) -> Observation:
    attributes: dict[str, Any] = {semconv.CACHE_NAME: name, key: label}
    if level is not None:
        attributes[semconv.CACHE_LEVEL] = level
    return Observation(value, attributes)


_instruments_lock = threading.Lock()
# Values are weak too: through the SDK's storage, a CacheInstruments reaches its meter (the key),
# which would keep every meter and provider alive. The meter's callbacks keep the value alive.
_instruments: weakref.WeakKeyDictionary[Meter, weakref.ref[CacheInstruments]] = weakref.WeakKeyDictionary()


def instruments_for(meter: Meter) -> CacheInstruments:
    """The one :class:`CacheInstruments` of ``meter``, created on first use."""
    with _instruments_lock:
        known = _instruments.get(meter)
        found = known() if known is not None else None
        if found is None:
            found = CacheInstruments(meter)
            _instruments[meter] = weakref.ref(found)
        return found


def _context_getter() -> Callable[[], Any]:
    """The fastest way to read the current OpenTelemetry context.

    With the default contextvars runtime this is the ``ContextVar.get`` behind it (one
    C call); an empty context is falsy, so a lookup outside any span stops there.
    """
    variable = getattr(getattr(otel_context, "_RUNTIME_CONTEXT", None), "_current_context", None)
    return variable.get if variable is not None else otel_context.get_current


current_context = _context_getter()
_SPAN_KEY = getattr(trace_propagation, "_SPAN_KEY", None)
# The last (span, value) we set, the span held weakly: repeated lookups in one span
# skip the SDK's locked, validating set_attribute.
_last_mark: tuple[Callable[[], Any], Any] = (lambda: None, None)


def mark_span(context: Mapping[str, Any], hit: bool) -> None:
    """Set ``cache.hit`` on the span current in ``context``, if it records (and telemetry is on)."""
    global _last_mark
    try:
        span = context.get(_SPAN_KEY) if _SPAN_KEY is not None else trace.get_current_span(context)  # type: ignore[arg-type]
        if span is None or not _telemetry.is_enabled():
            return
        last_span, last_hit = _last_mark
        if span is last_span() and hit is last_hit:
            return
        if span.is_recording():
            span.set_attribute(semconv.CACHE_HIT, hit)
            try:
                _last_mark = (weakref.ref(span), hit)
            except TypeError:  # a span type without weak references: no memo
                pass
    except Exception as exc:
        _telemetry.log_internal_error("cache.hit attribute", exc)


@contextlib.contextmanager
def load_span(tracer: Tracer, cache_name: str, key: Any = None, flight: Any = None) -> Iterator[trace.Span | None]:
    """``cache.load {cache.name}`` as the current span around a load; ``None`` when telemetry is off.

    At the end the span gets ``cache.coalesced``: how many callers joined ``flight``.
    An exception leaving the block sets ``error.type`` and an error status, and is
    re-raised; cancellation (every waiter went away) is not an error of the load.
    """
    span = _start_load_span(tracer, cache_name, key)
    if span is None:
        yield None
        return
    try:
        with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            yield span
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        _record_failure(span, exc)
        raise
    finally:
        try:
            if flight is not None and span.is_recording():
                span.set_attribute(semconv.CACHE_COALESCED, flight.joined)
            span.end()
        except Exception as exc:
            _telemetry.log_internal_error("cache.load span", exc)


def _start_load_span(tracer: Tracer, cache_name: str, key: Any) -> trace.Span | None:
    if not _telemetry.is_enabled():
        return None
    try:
        attributes: dict[str, Any] = {semconv.CACHE_NAME: cache_name}
        if key is not None:
            settings = _telemetry.current_settings()
            if settings.capture_cache_keys:
                attributes[semconv.CACHE_KEY] = str(key)[: settings.max_attribute_length]
        return tracer.start_span(f"cache.load {cache_name}", kind=SpanKind.INTERNAL, attributes=attributes)
    except Exception as exc:
        _telemetry.log_internal_error("cache.load span", exc)
        return None


def _record_failure(span: trace.Span, exc: BaseException) -> None:
    try:
        if span.is_recording():
            span.set_attribute(semconv.ERROR_TYPE, _telemetry.error_type(exc))
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    except Exception as error:
        _telemetry.log_internal_error("cache.load span", error)
