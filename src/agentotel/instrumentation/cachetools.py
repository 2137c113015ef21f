"""Hits and misses of `cachetools <https://github.com/tkem/cachetools>`_ caches, and a span around each load.

Usage::

    from agentotel.instrumentation.cachetools import CachetoolsInstrumentor, name_cache

    CachetoolsInstrumentor().instrument(meter_provider=..., tracer_provider=...)

    prompts = name_cache(cachetools.TTLCache(maxsize=1024, ttl=600), "prompts")

    @cachetools.cached(cachetools.LRUCache(256))
    def landuse(region: str) -> dict: ...      # reported as cache.name "mymodule.landuse"

What is reported
    * ``agentotel.cache.lookups`` {cache.name, cache.result=hit|miss, cache.level=l1}:
      every ``cache[key]`` and ``cache.get(key)`` on ``cachetools.Cache`` and every
      subclass (LRU, TTL, LFU, TLRU, FIFO, RR and your own), which includes the
      lookups made by ``@cached`` / ``@cachedmethod`` functions. A lookup that ends in
      ``__missing__`` (also a subclass's own ``__missing__``) is a miss.
    * ``agentotel.cache.entries``: entries held (expired entries a TTL cache has not
      purged yet included: we never mutate your cache to count).
    * ``agentotel.cache.loads`` and ``agentotel.cache.load.duration``, plus a span
      ``cache.load {cache.name}`` around each call of a decorated function's body
      after a miss (cachetools >= 6; the miss is recognised in ``__missing__``, so a
      subclass whose ``__getitem__`` raises ``KeyError`` without it is not traced).

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
"""

from __future__ import annotations

import sys
import threading
import time
import types
import weakref
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentotel import _telemetry, semconv
from agentotel._handle import Binding
from agentotel.instrumentation._patching import PatchSet, require_installed
from agentotel.resilience._cache_telemetry import CACHETOOLS, CacheCounts, load_span

if TYPE_CHECKING:  # pragma: no cover
    import cachetools

__all__ = ["CachetoolsInstrumentor", "name_cache"]

_instruments = ("cachetools >= 5.3, < 9",)

C = TypeVar("C", bound="cachetools.Cache[Any, Any]")

_NAME_ATTR = "_agentotel_name"
_LOOKUPS_ATTR = "_agentotel_lookups"
_MISSES_ATTR = "_agentotel_misses"
_ABSENT: Any = object()


def _decorated_call_codes(decorator: types.ModuleType) -> dict[Any, str]:
    """Code of each ``__call__`` that runs ``@cached``/``@cachedmethod`` functions -> the
    attribute holding the decorated function (``self.__func``, name-mangled).

    cachetools >= 6 implements the decorators with these mixins (``cachetools._decorator``,
    imported by cachetools on the first use of a decorator); older versions use
    closures, whose lookups are still counted but whose loads are not traced.
    """
    return {
        vars(cls)["__call__"].__code__: f"_{cls.__name__.lstrip('_')}__func"
        for cls in vars(decorator).values()
        if isinstance(cls, type) and cls.__name__.endswith("Mixin") and "__call__" in vars(cls)
    }


#: Filled when cachetools imports its decorator module (see :func:`_decorated_call_codes`).
_DECORATED_CALLS: dict[Any, str] = {}
_MAX_FRAMES = 8  # from __missing__ up to the decorator's __call__: 4-6 frames in practice


def name_cache(cache: C, name: str) -> C:
    """Give ``cache`` the ``cache.name`` it is reported under; returns the cache."""
    setattr(cache, _NAME_ATTR, name)
    return cache


def _cache_name(cache: Any) -> str:
    return getattr(cache, _NAME_ATTR, None) or f"cachetools.{type(cache).__name__}"


class _State:
    """What one ``instrument()`` call set up: the tracked caches, load counts and where they report."""

    name = "cachetools"

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self.lock = threading.Lock()
        self.caches: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()  # caches are unhashable
        self.loads: dict[str, list[int]] = {}  # name -> [successes, failures]

    def track(self, cache: Any) -> None:
        with self.lock:
            self.caches[id(cache)] = cache

    def count_load(self, name: str, failed: bool) -> None:
        with self.lock:
            self.loads.setdefault(name, [0, 0])[1 if failed else 0] += 1

    def cache_counts(self) -> Iterable[CacheCounts]:
        with self.lock:
            caches = list(self.caches.values())
            loads = {name: tuple(pair) for name, pair in self.loads.items()}
        seen: set[str] = set()
        for cache in caches:
            name = _cache_name(cache)
            lookups = getattr(cache, _LOOKUPS_ATTR, 0)
            misses = getattr(cache, _MISSES_ATTR, 0)
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
            return cls.__len__(cache)  # type: ignore[no-any-return]
    return len(cache)


_state: _State | None = None


def _count_first_lookup(cache: Any, missed: bool) -> None:
    """First lookup of a cache since instrumenting: start its counters and track it."""
    state = _state
    try:
        setattr(cache, _LOOKUPS_ATTR, 1)
        setattr(cache, _MISSES_ATTR, 1 if missed else 0)
        if state is not None:
            state.track(cache)
    except Exception as exc:  # e.g. a subclass that forbids attributes
        _telemetry.log_internal_error("cachetools lookup count", exc)


def _counting_getitem(original: Callable[..., Any]) -> Callable[..., Any]:
    def __getitem__(self: Any, key: Any) -> Any:
        try:
            self._agentotel_lookups += 1
        except AttributeError:
            _count_first_lookup(self, missed=False)
        return original(self, key)

    __getitem__.__wrapped__ = original  # type: ignore[attr-defined]
    return __getitem__


def _counting_missing(original: Callable[..., Any]) -> Callable[..., Any]:
    def __missing__(self: Any, key: Any) -> Any:
        # Count in the most derived __missing__ only: an override calling super() is one miss.
        if type(self).__missing__ is __missing__:
            try:
                self._agentotel_misses += 1
            except AttributeError:
                pass  # not reached through a counted lookup (e.g. called directly)
            if _DECORATED_CALLS:
                _trace_decorated_caller(self)
        return original(self, key)

    __missing__.__wrapped__ = original  # type: ignore[attr-defined]
    return __missing__


def _counting_get(original: Callable[..., Any]) -> Callable[..., Any]:
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

    get.__wrapped__ = original  # type: ignore[attr-defined]
    return get


class _TracedLoad:
    """Stands in for a decorated function inside its cachetools wrapper: runs it in a load span."""

    __slots__ = ("func", "name", "__weakref__")

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self.func = func
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        state = _state
        if state is None or not _telemetry.is_enabled():
            return self.func(*args, **kwargs)
        started = time.perf_counter()
        failed = True
        instruments = state.binding.current()
        try:
            with load_span(instruments.tracer, self.name):
                value = self.func(*args, **kwargs)
            failed = False
            return value
        finally:
            try:
                state.count_load(self.name, failed)
                instruments[semconv.CACHE_LOAD_DURATION].record(
                    time.perf_counter() - started,
                    {semconv.CACHE_NAME: self.name, semconv.CACHE_LOAD_OUTCOME: "failure" if failed else "success"},
                )
            except Exception as exc:  # counting must not replace the function's outcome
                _telemetry.log_internal_error("cachetools load count", exc)


def _trace_decorated_caller(cache: Any) -> None:
    """On a miss inside a ``@cached``/``@cachedmethod`` call, have that call's load traced.

    The decorator's wrapper is found by walking up a few frames to its ``__call__``, and
    its function is swapped, once per wrapper, for a :class:`_TracedLoad` (the wrapper
    reads it after the miss, so this very call is traced). Doing this on misses only
    keeps decorated hits free of any hook; a hook on ``__call__`` cost ~0.4x a hit.
    """
    try:
        frame = sys._getframe(2)
        for _ in range(_MAX_FRAMES):
            if frame is None:
                return
            func_attr = _DECORATED_CALLS.get(frame.f_code)
            if func_attr is not None:
                wrapper = frame.f_locals.get("self")
                if wrapper is not None and type(vars(wrapper).get(func_attr)) is not _TracedLoad:
                    _adopt(wrapper, func_attr, cache)
                return
            frame = frame.f_back
    except Exception as exc:
        _telemetry.log_internal_error("cachetools decorated function", exc)


def _adopt(wrapper: Any, func_attr: str, cache: Any) -> None:
    """Name ``cache`` after the decorated function (unless named) and trace the function's loads."""
    wrapped = getattr(wrapper, "__wrapped__", None)
    name = f"{getattr(wrapped, '__module__', '?')}.{getattr(wrapped, '__qualname__', '?')}"
    if not getattr(cache, _NAME_ATTR, None):
        setattr(cache, _NAME_ATTR, name)
    func = vars(wrapper)[func_attr]
    vars(wrapper)[func_attr] = _TracedLoad(func, getattr(cache, _NAME_ATTR))


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
        patches.when_imported(
            "cachetools._decorator", lambda module: _DECORATED_CALLS.update(_decorated_call_codes(module))
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        global _state
        state, _state = _state, None
        patches, self._patches = self._patches, None
        if patches is not None:
            patches.remove()
        if state is None:
            return
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
    base = cachetools.Cache
    owns_init_subclass = "__init_subclass__" in vars(base)

    def make_init_subclass(original: Any) -> Any:
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
