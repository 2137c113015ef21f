"""Telemetry shared by every cache we report on: counts read at collection, the load span, ``cache.hit``.

Used by :class:`agentotel.Cache` and by the cachetools instrumentation, which report
the same ``agentotel.cache.*`` metrics and spans.

Lookups are counted by the caches themselves with plain integers; the SDK sees them
only when a metric reader collects, through observable instruments that read
:data:`READERS` over the live reporters (see :class:`agentotel._handle.Observed`).
A reporter offers ``binding`` and ``cache_counts()``; counts of caches that share a
name are summed, so every attribute set is reported once.
"""

from __future__ import annotations

import contextlib
import sys
import weakref
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import Observation
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace import propagation as trace_propagation

from agentotel import _telemetry, semconv
from agentotel._errors import record_exception
from agentotel._handle import Reader

__all__ = ["L1", "L2", "READERS", "CacheCounts", "CacheReporter", "current_context", "load_span", "mark_span"]

#: ``cache.level`` values.
L1: Final = "l1"
L2: Final = "l2"


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
    removals: Mapping[str, int] = field(default_factory=dict[str, int])
    entries: int = 0


class CacheReporter(Protocol):
    """What the cache metrics read from each live reporter."""

    def cache_counts(self) -> Iterable[CacheCounts]:
        """The counts to report now (several caches may share one reporter)."""
        ...


def _by_name(reporters: list[CacheReporter]) -> dict[str, list[CacheCounts]]:
    grouped: dict[str, list[CacheCounts]] = defaultdict(list)
    for reporter in reporters:
        for counts in reporter.cache_counts():
            grouped[counts.name].append(counts)
    return grouped


def _point(value: int, name: str, key: str, label: str, level: str | None = None) -> Observation:
    attributes: dict[str, str] = {semconv.CACHE_NAME: name, key: label}
    if level is not None:
        attributes[semconv.CACHE_LEVEL] = level
    return Observation(value, attributes)


def _lookups(reporters: list[CacheReporter]) -> Iterator[Observation]:
    for name, group in _by_name(reporters).items():
        yield _point(sum(c.hits for c in group), name, semconv.CACHE_RESULT, "hit", L1)
        yield _point(sum(c.misses for c in group), name, semconv.CACHE_RESULT, "miss", L1)
        if any(c.has_l2 for c in group):
            yield _point(sum(c.l2_hits for c in group), name, semconv.CACHE_RESULT, "hit", L2)
            yield _point(sum(c.l2_misses for c in group), name, semconv.CACHE_RESULT, "miss", L2)


def _loads(reporters: list[CacheReporter]) -> Iterator[Observation]:
    for name, group in _by_name(reporters).items():
        successes = sum(c.load_successes for c in group)
        failures = sum(c.load_failures for c in group)
        if successes or failures:
            yield _point(successes, name, semconv.CACHE_LOAD_OUTCOME, "success")
            yield _point(failures, name, semconv.CACHE_LOAD_OUTCOME, "failure")


def _evictions(reporters: list[CacheReporter]) -> Iterator[Observation]:
    for name, group in _by_name(reporters).items():
        totals: dict[str, int] = defaultdict(int)
        for counts in group:
            for cause, count in counts.removals.items():
                totals[cause] += count
        for cause, count in totals.items():
            if count:
                yield _point(count, name, semconv.CACHE_EVICTION_CAUSE, cause)


def _entries(reporters: list[CacheReporter]) -> Iterator[Observation]:
    for name, group in _by_name(reporters).items():
        yield Observation(sum(c.entries for c in group), {semconv.CACHE_NAME: name, semconv.CACHE_LEVEL: L1})


def _l2_errors(reporters: list[CacheReporter]) -> Iterator[Observation]:
    for name, group in _by_name(reporters).items():
        if any(c.has_l2 for c in group):
            yield Observation(sum(c.l2_errors for c in group), {semconv.CACHE_NAME: name})


#: The cache metrics and how each is read from the live reporters (for :class:`agentotel._handle.Observed`).
READERS: Final[Mapping[semconv.Metric, Reader]] = {
    semconv.CACHE_LOOKUPS: _lookups,
    semconv.CACHE_LOADS: _loads,
    semconv.CACHE_EVICTIONS: _evictions,
    semconv.CACHE_ENTRIES: _entries,
    semconv.CACHE_L2_ERRORS: _l2_errors,
}


def _context_getter() -> Callable[[], Context]:
    """The fastest way to read the current OpenTelemetry context.

    With the default contextvars runtime this is the ``ContextVar.get`` behind it (one
    C call); an empty context is falsy, so a lookup outside any span stops there.
    """
    variable = getattr(getattr(otel_context, "_RUNTIME_CONTEXT", None), "_current_context", None)
    getter = getattr(variable, "get", None)
    return cast("Callable[[], Context]", getter) if callable(getter) else otel_context.get_current


#: The current OpenTelemetry context (a mapping; empty, hence falsy, outside any span).
current_context: Final = _context_getter()
_SPAN_KEY: str | None = getattr(trace_propagation, "_SPAN_KEY", None)
# The last (span, value) we set, the span held weakly: repeated lookups in one span
# skip the SDK's locked, validating set_attribute.
_last_mark: tuple[Callable[[], object], bool | None] = (lambda: None, None)


def mark_span(context: Context, hit: bool) -> None:
    """Set ``cache.hit`` on the span current in ``context``, if it records (and telemetry is on)."""
    global _last_mark
    try:
        span = cast("Span | None", context.get(_SPAN_KEY) if _SPAN_KEY is not None else trace.get_current_span(context))
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


def _cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is asyncio's cancellation (asyncio is not imported for this: without it, it cannot be)."""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


class Joined(Protocol):
    """A load others may join: ``joined`` is how many callers did (``cache.coalesced``)."""

    @property
    def joined(self) -> int:
        """Callers that joined the load after it started."""
        ...


@contextlib.contextmanager
def load_span(
    tracer: Tracer, cache_name: str, key: object = None, flight: Joined | None = None
) -> Generator[Span | None, None, None]:
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
    except BaseException as exc:
        if not _cancelled(exc):
            record_exception(span, exc)
        raise
    finally:
        try:
            if flight is not None and span.is_recording():
                span.set_attribute(semconv.CACHE_COALESCED, flight.joined)
            span.end()
        except Exception as exc:
            _telemetry.log_internal_error("cache.load span", exc)


def _start_load_span(tracer: Tracer, cache_name: str, key: object) -> Span | None:
    if not _telemetry.is_enabled():
        return None
    try:
        attributes: dict[str, str] = {semconv.CACHE_NAME: cache_name}
        if key is not None:
            settings = _telemetry.current_settings()
            if settings.capture_cache_keys:
                attributes[semconv.CACHE_KEY] = str(key)[: settings.max_attribute_length]
        return tracer.start_span(
            semconv.CACHE_LOAD_SPAN.render(cache_name), kind=SpanKind.INTERNAL, attributes=attributes
        )
    except Exception as exc:
        _telemetry.log_internal_error("cache.load span", exc)
        return None
