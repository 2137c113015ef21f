"""The telemetry handle: tracers, meters and instruments of one provider pair, each made once.

Every span and metric agentotel emits goes through here:

* :class:`Telemetry` - one per (tracer provider, meter provider) pair. ``None``
  stands for the global providers and is resolved through the OpenTelemetry API
  each time, so a provider installed later is used.
* :class:`Instruments` - one scope of a handle: its tracer, its meter, and every
  instrument of that scope, made from its :class:`agentotel.semconv.Metric` the
  first time it is needed.
* :class:`Binding` - where one component or instrumentor reports: the providers
  it was given, else the handle in force *when it records* (late binding). Its
  :meth:`Binding.current` is one module-global read and an identity check.
* :class:`Observed` - observable instruments for one kind of reporter (caches,
  breakers, ...): each reporter counts in plain Python; at collection the
  callbacks walk the live reporters bound to that handle.

:func:`use` makes a handle current (``agentotel.instrument()`` calls it through
:func:`agentotel._telemetry.configure`); the handle it replaces is flushed first
(:meth:`Telemetry.flush`) while its callbacks still report, so no count is lost.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
from opentelemetry.trace import Tracer, TracerProvider

from agentotel import semconv
from agentotel._attributes import AttributedTracer
from agentotel._telemetry import is_enabled, log_internal_error, package_version

__all__ = [
    "Binding",
    "Instruments",
    "Observed",
    "Telemetry",
    "current",
    "handle_for",
    "on_use",
    "use",
]

Reader = Callable[[list[Any]], Iterable[Observation]]

_NOOP_METER = metrics.NoOpMeter("agentotel")


class _Metering:
    """The meter of one (meter provider, scope) and every instrument made on it, each made once.

    Shared by every handle with that meter provider, so that a provider paired with
    several tracer providers still gets each instrument (and each callback) once.
    """

    __slots__ = ("meter", "_made", "_shared", "_observed", "_lock")

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self._made: dict[str, Any] = {}
        self._shared: dict[Any, Any] = {}
        self._observed: set[str] = set()
        self._lock = threading.RLock()  # shared() may make instruments while holding it

    def instrument(self, metric: semconv.Metric) -> Any:
        try:
            return self._made[metric]
        except KeyError:
            pass
        with self._lock:
            found = self._made.get(metric)
            if found is None:
                found = self._made[metric] = _create(metric, self.meter)
        return found

    def shared(self, key: Any, make: Callable[[], Any]) -> Any:
        found = self._shared.get(key)
        if found is None:
            with self._lock:
                found = self._shared.get(key)
                if found is None:
                    found = self._shared[key] = make()
        return found

    def observe(self, kind: Observed) -> None:
        with self._lock:
            if kind.name in self._observed:
                return
            self._observed.add(kind.name)
        for metric, read in kind.readers.items():
            _create(metric, self.meter, [_callback(self, kind, metric, read)])


class Instruments:
    """One scope of a :class:`Telemetry` handle: its tracer, its meter and instruments, each made once."""

    __slots__ = ("handle", "scope", "tracer", "_metering")

    def __init__(self, handle: Telemetry, scope: semconv.Scope) -> None:
        self.handle = handle
        self.scope = scope
        # Every span of ours carries the attributes of the `agentotel.attributes()` blocks it starts in.
        self.tracer: Tracer = AttributedTracer(
            trace.get_tracer(scope.name, package_version(), handle._tracer_ref(), scope.schema_url)  # pyright: ignore[reportPrivateUsage]
        )
        self._metering = _metering_for(handle._meter_ref(), scope)  # pyright: ignore[reportPrivateUsage]

    @property
    def meter(self) -> Meter:
        """The scope's meter."""
        return self._metering.meter

    def __getitem__(self, metric: semconv.Metric) -> Any:
        """The synchronous instrument ``metric`` of this scope (a no-op one if the SDK refused it)."""
        return self._metering.instrument(metric)

    def shared(self, key: Any, make: Callable[[Instruments], Any]) -> Any:
        """An object built once per scope and meter provider by ``make(self)`` (e.g. a batching front)."""
        return self._metering.shared(key, lambda: make(self))

    def observe(self, kind: Observed) -> None:
        """Create ``kind``'s observable instruments on this scope's meter (once per meter provider)."""
        self._metering.observe(kind)

    def __repr__(self) -> str:
        return f"Instruments({self.scope.name!r}, {self.handle!r})"


def _create(metric: semconv.Metric, meter: Meter, callbacks: list[Any] | None = None) -> Any:
    try:
        return metric.create(meter, callbacks or ())
    except Exception as exc:  # a provider that refuses an instrument must not break the caller
        log_internal_error(f"instrument {metric.name}", exc)
        return metric.create(_NOOP_METER, callbacks or ())


def _callback(
    metering: _Metering, kind: Observed, metric: semconv.Metric, read: Reader
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(options: CallbackOptions) -> Iterable[Observation]:
        if not is_enabled():
            return ()
        try:
            live = [r for r in kind.reporters() if r.binding.current()._metering is metering]
            return list(read(live)) if live else ()
        except Exception as exc:
            log_internal_error(f"metric {metric.name}", exc)
            return ()

    return callback


# Guards _meterings and _handles. Re-entrant: a provider's finalizer (_forget) runs when the
# garbage collector frees it, which can be during an allocation made while this thread holds it.
_handles_lock = threading.RLock()
_meterings: dict[tuple[int, str], _Metering] = {}


def _metering_for(meter_provider: MeterProvider | None, scope: semconv.Scope) -> _Metering:
    key = (id(meter_provider), scope.name)
    with _handles_lock:
        found = _meterings.get(key)
        if found is not None:
            return found
        meter = metrics.get_meter(scope.name, package_version(), meter_provider, scope.schema_url)
        found = _meterings[key] = _Metering(meter)
    _forget_with(meter_provider, _meterings, key, found)
    return found


def _reference(provider: Any) -> Callable[[], Any]:
    """A weak reference to ``provider`` (a strong one for objects that refuse weak references)."""
    if provider is None:
        return lambda: None
    try:
        return weakref.ref(provider)
    except TypeError:
        return lambda: provider


class Telemetry:
    """The tracers, meters and instruments of one (tracer provider, meter provider) pair.

    Obtain it with :func:`handle_for` (or :func:`current`): there is one per pair for
    as long as its providers live, so every instrument is created once per provider.
    The providers are held weakly: a handle never keeps a provider the application dropped.
    """

    __slots__ = ("_tracer_ref", "_meter_ref", "_scopes", "_lock", "__weakref__")

    def __init__(self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> None:
        self._tracer_ref = _reference(tracer_provider)
        self._meter_ref = _reference(meter_provider)
        self._scopes: dict[str, Instruments] = {}
        self._lock = threading.Lock()

    @property
    def tracer_provider(self) -> TracerProvider:
        """The tracer provider (the global one where this handle was given none)."""
        return self._tracer_ref() or trace.get_tracer_provider()

    @property
    def meter_provider(self) -> MeterProvider:
        """The meter provider (the global one where this handle was given none)."""
        return self._meter_ref() or metrics.get_meter_provider()

    def _holds(self, tracer_provider: Any, meter_provider: Any) -> bool:
        return self._tracer_ref() is tracer_provider and self._meter_ref() is meter_provider

    def scope(self, scope: semconv.Scope) -> Instruments:
        """The :class:`Instruments` of ``scope`` on this handle."""
        found = self._scopes.get(scope.name)
        if found is None:
            with self._lock:
                found = self._scopes.get(scope.name)
                if found is None:
                    found = self._scopes[scope.name] = Instruments(self, scope)
        return found

    def flush(self, timeout_millis: float = 5_000) -> None:
        """Collect and export what the meter provider's readers hold now (while our callbacks still report).

        Skipped for the providers ``import agentotel.auto`` set up while nothing listens on
        the collector's port (the export could only wait and fail).
        """
        provider = self.meter_provider
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is None:
            return
        sdk_setup = sys.modules.get("agentotel._sdk")
        if sdk_setup is not None and not sdk_setup.metrics_deliverable(provider):
            return
        try:
            force_flush(timeout_millis=timeout_millis)
        except Exception as exc:  # an exporter's failure is not the application's
            log_internal_error("metrics flush", exc)

    def __repr__(self) -> str:
        tp = "global" if self._tracer_ref() is None else type(self._tracer_ref()).__name__
        mp = "global" if self._meter_ref() is None else type(self._meter_ref()).__name__
        return f"Telemetry(tracer_provider={tp}, meter_provider={mp})"


# By the providers' ids; an entry lives as long as both its providers (see _forget).
_handles: dict[tuple[int, int], Telemetry] = {}
_GLOBAL = Telemetry(None, None)


def _forget(table: dict[Any, Any], key: Any, value: Any) -> None:
    with _handles_lock:
        if table.get(key) is value:
            del table[key]


def _forget_with(provider: object | None, table: dict[Any, Any], key: Any, value: Any) -> None:
    """Drop ``table[key]`` (if still ``value``) once ``provider`` is collected."""
    if provider is None:
        return
    try:
        weakref.finalize(provider, _forget, table, key, value)
    except TypeError:  # kept for the life of the process, like the provider itself
        pass


def handle_for(tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> Telemetry:
    """The one handle of this provider pair (``None``, or the global provider itself: the global one)."""
    if tracer_provider is not None and tracer_provider is trace.get_tracer_provider():
        tracer_provider = None
    if meter_provider is not None and meter_provider is metrics.get_meter_provider():
        meter_provider = None
    if tracer_provider is None and meter_provider is None:
        return _GLOBAL
    key = (id(tracer_provider), id(meter_provider))
    with _handles_lock:
        found = _handles.get(key)
        if found is not None and found._holds(tracer_provider, meter_provider):  # pyright: ignore[reportPrivateUsage]
            return found
        found = _handles[key] = Telemetry(tracer_provider, meter_provider)
    _forget_with(tracer_provider, _handles, key, found)
    _forget_with(meter_provider, _handles, key, found)
    return found


# The handle in force: read on hot paths (one module-global read), replaced only by use().
_current: Telemetry = _GLOBAL


def current() -> Telemetry:
    """The handle in force: the providers given to ``agentotel.instrument()``, else the global ones."""
    return _current


class Binding:
    """Where one component or instrumentor reports (one scope).

    With both providers given, always through them; otherwise through the handle
    in force when it records, the missing provider taken from that handle.
    """

    __slots__ = ("scope", "tracer_provider", "meter_provider", "_pinned", "_last")

    def __init__(
        self,
        scope: semconv.Scope,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.scope = scope
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        both = tracer_provider is not None and meter_provider is not None
        self._pinned: Telemetry | None = handle_for(tracer_provider, meter_provider) if both else None
        self._last: Instruments | None = None

    @property
    def late(self) -> bool:
        """True when this binding follows the handle in force (no provider of its own)."""
        return self.tracer_provider is None and self.meter_provider is None

    def current(self) -> Instruments:
        """The instruments to record with now."""
        last = self._last
        if last is not None and last.handle is (self._pinned or _current):
            return last
        return self._resolve()

    def _resolve(self) -> Instruments:
        handle = self._pinned
        if handle is None:
            if self.late:
                handle = _current
            else:  # one provider of its own: the other one follows the handle in force
                handle = handle_for(
                    self.tracer_provider or _current._tracer_ref(),  # pyright: ignore[reportPrivateUsage]
                    self.meter_provider or _current._meter_ref(),  # pyright: ignore[reportPrivateUsage]
                )
        found = self._last = handle.scope(self.scope)
        return found


class Observed:
    """The observable instruments of one kind of reporter, reporting each live reporter through its binding.

    A reporter is any object with a ``binding`` (:class:`Binding`); it is held
    weakly, so one the application drops stops being reported by itself.
    ``readers`` maps each metric to a function turning the live reporters bound
    to one handle into observations.
    """

    def __init__(self, name: str, readers: Mapping[semconv.Metric, Reader]) -> None:
        self.name = name
        self.readers = dict(readers)
        self._lock = threading.Lock()
        self._reporters: weakref.WeakSet[Any] = weakref.WeakSet()
        with _kinds_lock:
            _kinds.append(self)

    def add(self, reporter: Any) -> None:
        """Report ``reporter`` from now on (creating the instruments on its handle if needed)."""
        with self._lock:
            self._reporters.add(reporter)
        try:
            reporter.binding.current().observe(self)
        except Exception as exc:  # telemetry must never break construction
            log_internal_error(f"{self.name} instruments", exc)

    def discard(self, reporter: Any) -> None:
        """Stop reporting ``reporter``."""
        with self._lock:
            self._reporters.discard(reporter)

    def reporters(self) -> list[Any]:
        """The live reporters, sorted by name where they have one."""
        with self._lock:
            found = list(self._reporters)
        return sorted(found, key=lambda r: str(getattr(r, "name", "")))


_kinds_lock = threading.Lock()
_kinds: list[Observed] = []
_listeners: list[Callable[[], None]] = []


def on_use(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener()`` after each :func:`use` (for objects that keep a tracer on a hot path); returns
    the function that removes it."""
    with _kinds_lock:
        _listeners.append(listener)

    def remove() -> None:
        with _kinds_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def use(handle: Telemetry) -> Telemetry:
    """Make ``handle`` the one in force; returns the one it replaces.

    While telemetry is on, the replaced handle is flushed first: the reporters that
    follow the handle in force stop reporting through it, so what they counted since
    its last collection is exported now. Observable instruments of every kind are
    created on the new handle, so components made before this call report there.
    """
    global _current
    previous = _current
    if previous is not handle and is_enabled():
        previous.flush()
    _current = handle
    with _kinds_lock:
        kinds = list(_kinds)
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener()
        except Exception as exc:
            log_internal_error("telemetry rebind", exc)
    for kind in kinds:
        for reporter in kind.reporters():
            try:
                reporter.binding.current().observe(kind)
            except Exception as exc:
                log_internal_error(f"{kind.name} instruments", exc)
    return previous
