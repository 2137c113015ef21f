"""``Cache.memoize``: cache a sync or async function's results, keyed by :func:`stable_key`.

It needs only the two loading calls of a cache (:class:`Loading`), so it does not
depend on :mod:`agentotel.resilience.cache`, which uses it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol, TypeVar, cast

from agentotel.resilience.keys import stable_key

__all__ = ["Loading", "Memoizer", "memoize", "memoizer"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class Loading(Protocol):
    """The calls of a cache that memoized functions use."""

    def get_or_load(self, key: Hashable, loader: Callable[[], T], *, ttl: float | None = None) -> T:
        """The cached value, else ``loader()``'s (cached), one load per key at a time."""
        ...

    async def aget_or_load(
        self, key: Hashable, async_loader: Callable[[], Awaitable[T]], *, ttl: float | None = None
    ) -> T:
        """As :meth:`get_or_load`, awaiting ``async_loader()``."""
        ...


class Memoizer(Protocol):
    """A decorator that returns a function of the same type as the one it is given."""

    def __call__(self, func: F, /) -> F: ...


def memoize(cache: Loading, func: F, *, ttl: float | None = None, key: Callable[..., Hashable] | None = None) -> F:
    """``func`` with its results cached in ``cache`` (see :meth:`agentotel.Cache.memoize`).

    An ``async def`` goes through ``aget_or_load``, so its *result* is cached (a
    coroutine can be awaited only once) and concurrent calls share one run.
    """
    prefix = f"{func.__module__}.{func.__qualname__}"
    make_key: Callable[..., Hashable] = key if key is not None else functools.partial(stable_key, prefix)

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await cache.aget_or_load(make_key(*args, **kwargs), lambda: func(*args, **kwargs), ttl=ttl)

        async_wrapper.cache = cache  # type: ignore[attr-defined]
        return cast(F, async_wrapper)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return cache.get_or_load(make_key(*args, **kwargs), lambda: func(*args, **kwargs), ttl=ttl)

    wrapper.cache = cache  # type: ignore[attr-defined]
    return cast(F, wrapper)


class _Memoizing:
    """The decorator ``cache.memoize(ttl=..., key=...)`` returns."""

    __slots__ = ("_cache", "_ttl", "_key")

    def __init__(self, cache: Loading, ttl: float | None, key: Callable[..., Hashable] | None) -> None:
        self._cache = cache
        self._ttl = ttl
        self._key = key

    def __call__(self, func: F, /) -> F:
        return memoize(self._cache, func, ttl=self._ttl, key=self._key)


def memoizer(cache: Loading, *, ttl: float | None = None, key: Callable[..., Hashable] | None = None) -> Memoizer:
    """A decorator applying :func:`memoize` with ``cache``, ``ttl`` and ``key`` to the function it gets."""
    return _Memoizing(cache, ttl, key)
