"""Hits and misses of `cachetools <https://github.com/tkem/cachetools>`_ caches, and a span around each load.

Usage::

    from agentotel.instrumentation.cachetools import CachetoolsInstrumentor, name_cache

    CachetoolsInstrumentor().instrument(meter_provider=..., tracer_provider=...)

    prompts = name_cache(cachetools.TTLCache(maxsize=1024, ttl=600), "prompts")

    @cachetools.cached(cachetools.LRUCache(256))
    def landuse(region: str) -> dict: ...      # reported as cache.name "mymodule.landuse"

What is reported (cachetools 5.3 to 8.x, the same on each)
    * ``agentotel.cache.lookups`` {cache.name, cache.result=hit|miss, cache.level=l1}:
      every ``cache[key]`` and ``cache.get(key)`` on ``cachetools.Cache`` and every
      subclass (LRU, TTL, LFU, TLRU, FIFO, RR and your own), which includes the
      lookups made by ``@cached`` / ``@cachedmethod`` functions. A lookup that ends in
      ``__missing__`` (also a subclass's own ``__missing__``) is a miss.
    * ``agentotel.cache.entries``: entries held (expired entries a TTL cache has not
      purged yet included: we never mutate your cache to count).
    * ``agentotel.cache.loads`` and ``agentotel.cache.load.duration``, plus a span
      ``cache.load {cache.name}`` around each call of a decorated function's body
      after a miss, whether the function was decorated before or after instrumenting.
      The miss is recognised in ``__missing__``, so a subclass whose ``__getitem__``
      raises ``KeyError`` without it is not traced. On cachetools before 8 the
      decorated function sits in a closure of the decorator's wrapper, which is looked
      for where a program keeps a decorated function: under its own name as a module
      global, a class attribute (methods) or a local variable of the caller. A
      decorated function kept only elsewhere (under another name, in a container) has
      its cache named and counted, but its loads are not traced.

How a cache is named (``cache.name``)
    1. explicitly, with :func:`name_cache`;
    2. else, on its first miss inside a ``@cached`` / ``@cachedmethod`` function, by
       that function: ``module.qualname`` (all instances' caches of a ``@cachedmethod``
       share that name);
    3. else ``cachetools.<class name>`` (all unnamed caches of one class add up).
    Caches that share a name are summed.

Cost
    Counting is plain integer arithmetic on the cache object, read by observable
    instruments at collection time: no SDK call per lookup. A hit pays one small
    Python function around the class's ``__getitem__`` (see ``docs/performance.md``);
    decorated functions get nothing more on a hit. Counts are updated without a
    lock, like cachetools itself, so unsynchronised concurrent use may undercount
    slightly.

``uninstrument()`` restores cachetools' classes and every decorated function's wrapper.
"""

from __future__ import annotations

import inspect
import threading
import time
import types
import weakref
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentotel import _telemetry, semconv
from agentotel._cache_telemetry import READERS, CacheCounts, load_span
from agentotel._handle import Binding, Observed
from agentotel.instrumentation import _cachetools_calls
from agentotel.instrumentation._patching import PatchSet, require_installed

if TYPE_CHECKING:  # pragma: no cover
    import cachetools

__all__ = ["CachetoolsInstrumentor", "name_cache"]

_instruments = ("cachetools >= 5.3, < 9",)

C = TypeVar("C", bound="cachetools.Cache[Any, Any]")

#: cachetools caches, while instrumented (bound to the cachetools scope).
CACHETOOLS = Observed("cachetools", READERS)

_NAME_ATTR = "_agentotel_name"
_LOOKUPS_ATTR = "_agentotel_lookups"
_MISSES_ATTR = "_agentotel_misses"
_ABSENT: Any = object()


def name_cache(cache: C, name: str) -> C:
    """Give ``cache`` the ``cache.name`` it is reported under; returns the cache."""
    setattr(cache, _NAME_ATTR, name)
    return cache


def _cache_name(cache: object) -> str:
    return getattr(cache, _NAME_ATTR, None) or f"cachetools.{type(cache).__name__}"


def _qualified_name(function: object) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', '?')}"


class _State:
    """What one ``instrument()`` call set up: the tracked caches, load counts, traced loads, where they report."""

    name = "cachetools"

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self.lock = threading.Lock()
        self.caches: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()  # caches are unhashable
        self.loads: dict[str, list[int]] = {}  # name -> [successes, failures]
        self.traced: weakref.WeakSet[_TracedLoad] = weakref.WeakSet()  # put into decorators' wrappers

    def track(self, cache: object) -> None:
        with self.lock:
            self.caches[id(cache)] = cache

    def count_load(self, name: str, failed: bool) -> None:
        with self.lock:
            self.loads.setdefault(name, [0, 0])[1 if failed else 0] += 1

    def cache_counts(self) -> Iterator[CacheCounts]:
        with self.lock:
            caches = list(self.caches.values())
            loads = {name: (pair[0], pair[1]) for name, pair in self.loads.items()}
        seen: set[str] = set()
        for cache in caches:
            name = _cache_name(cache)
            lookups: int = getattr(cache, _LOOKUPS_ATTR, 0)
            misses: int = getattr(cache, _MISSES_ATTR, 0)
            successes, failures = loads.get(name, (0, 0)) if name not in seen else (0, 0)
            seen.add(name)
            yield CacheCounts(
                name=name,
                hits=max(lookups - misses, 0),
                misses=misses,
                load_successes=successes,
                load_failures=failures,
                entries=_base_length(cache),  # no expiry pass
            )
        for name, (successes, failures) in loads.items():
            if name not in seen:
                yield CacheCounts(name=name, load_successes=successes, load_failures=failures)


def _base_length(cache: Any) -> int:
    """``cachetools.Cache.__len__``: the entries held, without the expiry pass of a TTL cache's own ``__len__``."""
    for cls in type(cache).__mro__:
        if cls.__name__ == "Cache" and cls.__module__ == "cachetools":
            length: Callable[[Any], int] = vars(cls)["__len__"]
            return length(cache)
    return len(cache)


_state: _State | None = None
# Per thread: the stand-in of the decorated call that just missed, and the cache it missed in.
_missed = threading.local()


def _count_first_lookup(cache: object, missed: bool) -> None:
    """First lookup of a cache since instrumenting: start its counters and track it."""
    state = _state
    try:
        setattr(cache, _LOOKUPS_ATTR, 1)
        setattr(cache, _MISSES_ATTR, 1 if missed else 0)
        if state is not None:
            state.track(cache)
    except Exception as exc:  # e.g. a subclass that forbids attributes
        _telemetry.log_internal_error("cachetools lookup count", exc)


def _counting_getitem(original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def __getitem__(self: Any, key: Any) -> Any:
        try:
            self._agentotel_lookups += 1
        except AttributeError:
            _count_first_lookup(self, missed=False)
        return original(self, key)

    return __getitem__


def _counting_missing(original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def __missing__(self: Any, key: Any) -> Any:
        # Count in the most derived __missing__ only: an override calling super() is one miss.
        if type(self).__missing__ is __missing__:  # pyright: ignore[reportUnknownMemberType]
            try:
                self._agentotel_misses += 1
            except AttributeError:
                pass  # not reached through a counted lookup (e.g. called directly)
            if _cachetools_calls.known():
                _trace_decorated_caller(self)
        return original(self, key)

    return __missing__


def _counting_get(original: Callable[[Any, Any, Any], Any]) -> Callable[..., Any]:
    def get(self: Any, key: Any, default: Any = None) -> Any:
        value = original(self, key, _ABSENT)  # a hit goes through (counted) __getitem__
        if value is _ABSENT:
            try:
                self._agentotel_lookups += 1
                self._agentotel_misses += 1
            except AttributeError:
                _count_first_lookup(self, missed=True)
            return default
        return value

    return get


class _TracedLoad:
    """Stands in for a decorated function inside its cachetools wrapper: runs it in a load span."""

    __slots__ = ("func", "name", "_slot", "__weakref__")

    def __init__(self, func: Callable[..., Any], slot: _cachetools_calls.Slot) -> None:
        self.func = func
        self.name = _qualified_name(func)
        self._slot = slot

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        missed = getattr(_missed, "call", None)
        _missed.call = None
        state = _state
        if state is None or not _telemetry.is_enabled():
            return self.func(*args, **kwargs)
        name = _cache_name(missed[1]) if missed is not None and missed[0] is self else self.name
        started = time.perf_counter()
        failed = True
        instruments = state.binding.current()
        try:
            with load_span(instruments.tracer, name):
                value = self.func(*args, **kwargs)
            failed = False
            return value
        finally:
            try:
                state.count_load(name, failed)
                instruments[semconv.CACHE_LOAD_DURATION].record(
                    time.perf_counter() - started,
                    {semconv.CACHE_NAME: name, semconv.CACHE_LOAD_OUTCOME: "failure" if failed else "success"},
                )
            except Exception as exc:  # counting must not replace the function's outcome
                _telemetry.log_internal_error("cachetools load count", exc)

    def restore(self) -> None:
        """Put the decorated function back in its wrapper (if this stand-in is still there)."""
        if self._slot.get() is self:
            self._slot.set(self.func)


def _trace_decorated_caller(cache: object) -> None:
    """On a miss inside a ``@cached``/``@cachedmethod`` call: name the cache, trace that call's load.

    The first miss of a decorated function puts a :class:`_TracedLoad` where its wrapper
    reads the function (the wrapper reads it after the miss, so this very call is
    traced). Doing this on misses only keeps decorated hits free of any hook; a hook
    on the wrapper cost ~0.4x a hit.
    """
    try:
        frame = inspect.currentframe()
        miss = frame.f_back.f_back if frame is not None and frame.f_back is not None else None
        call = _cachetools_calls.decorated_call(miss) if miss is not None else None
        if call is None:
            return
        function = call.function
        traced = function if isinstance(function, _TracedLoad) else None
        if not getattr(cache, _NAME_ATTR, None):
            setattr(cache, _NAME_ATTR, traced.name if traced is not None else _qualified_name(function))
        state = _state
        if traced is None and state is not None:
            slot = call.slot()
            if slot is not None:
                traced = _TracedLoad(function, slot)
                slot.set(traced)
                state.traced.add(traced)
        _missed.call = (traced, cache) if traced is not None else None
    except Exception as exc:
        _telemetry.log_internal_error("cachetools decorated function", exc)


class CachetoolsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Counts hits and misses of cachetools caches and traces decorated functions' loads.

    ``instrument(tracer_provider=..., meter_provider=...)``; see the module docstring
    for what is reported and how caches are named. cachetools is patched when the
    application imports it (at once if it already has); instrumenting never imports it.
    """

    _patches: PatchSet | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The cachetools versions supported."""
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        global _state
        require_installed(_instruments)
        state = _State(Binding(semconv.SCOPE_CACHETOOLS, kwargs.get("tracer_provider"), kwargs.get("meter_provider")))
        CACHETOOLS.add(state)
        _state = state
        patches = PatchSet("cachetools")
        self._patches = patches
        patches.when_imported("cachetools", lambda module: _patch_caches(patches, module))
        for module_name in _cachetools_calls.MODULES:
            patches.when_imported(module_name, _cachetools_calls.learn)

    def _uninstrument(self, **kwargs: Any) -> None:
        global _state
        state, _state = _state, None
        patches, self._patches = self._patches, None
        if patches is not None:
            patches.remove()
        if state is None:
            return
        for traced in list(state.traced):
            traced.restore()
        if _telemetry.is_enabled():  # counts since the last collection, while still reported
            state.binding.current().handle.flush()
        CACHETOOLS.discard(state)
        with state.lock:
            caches = list(state.caches.values())
        for cache in caches:  # counting restarts from zero next time
            for attr in (_LOOKUPS_ATTR, _MISSES_ATTR):
                try:
                    delattr(cache, attr)
                except AttributeError:
                    pass


def _patch_caches(patches: PatchSet, cachetools: types.ModuleType) -> None:
    """Count lookups on ``cachetools.Cache`` and every subclass, those defined later included."""
    base: type = cachetools.Cache
    owns_init_subclass = "__init_subclass__" in vars(base)

    def make_init_subclass(original: Any) -> classmethod[Any, ..., None]:
        def __init_subclass__(cls: type, **kwargs: Any) -> None:  # subclasses defined from now on
            if owns_init_subclass:
                original.__get__(None, cls)(**kwargs)
            else:
                super(base, cls).__init_subclass__(**kwargs)
            _patch_class(patches, cls, getitem=False)

        return classmethod(__init_subclass__)

    patches.replace(base, "__init_subclass__", make_init_subclass)  # first: no subclass slips between the two
    for cls in _cache_classes(base):
        _patch_class(patches, cls, getitem=cls.__module__ == cachetools.__name__)
    patches.replace(base, "get", _counting_get)


def _patch_class(patches: PatchSet, cls: type, getitem: bool) -> None:
    # Only a class's own methods: subclasses inherit the patched ones. __getitem__ only
    # on cachetools' classes, which call the base one bound at definition time (never
    # a patched one), so a lookup counts once; an application's override that calls
    # super().__getitem__ is counted by the patched parent.
    own = vars(cls)
    if getitem and "__getitem__" in own:
        patches.replace(cls, "__getitem__", _counting_getitem)
    if "__missing__" in own:
        patches.replace(cls, "__missing__", _counting_missing)


def _cache_classes(base: type) -> list[type]:
    """``base`` (``cachetools.Cache``) and every subclass defined so far (cachetools' and the application's)."""
    found: list[type] = []
    pending = [base]
    while pending:
        cls = pending.pop()
        if cls in found:
            continue
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
