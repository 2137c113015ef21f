"""``Cache.memoize``: cache a sync or async function's results, keyed by :func:`stable_key`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from agentotel.resilience.keys import stable_key

if TYPE_CHECKING:  # pragma: no cover
    from agentotel.resilience.cache import Cache

__all__ = ["memoize"]

F = TypeVar("F", bound=Callable[..., Any])


def memoize(cache: Cache, func: F, *, ttl: float | None = None, key: Callable[..., Hashable] | None = None) -> F:
    """``func`` with its results cached in ``cache`` (see :meth:`agentotel.Cache.memoize`).

    An ``async def`` goes through ``aget_or_load``, so its *result* is cached (a
    coroutine can be awaited only once) and concurrent calls share one run.
    """
    prefix = f"{func.__module__}.{func.__qualname__}"
    make_key = key if key is not None else functools.partial(stable_key, prefix)

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await cache.aget_or_load(make_key(*args, **kwargs), lambda: func(*args, **kwargs), ttl=ttl)

        async_wrapper.cache = cache  # type: ignore[attr-defined]
        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return cache.get_or_load(make_key(*args, **kwargs), lambda: func(*args, **kwargs), ttl=ttl)

    wrapper.cache = cache  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
