"""Redis as the second level of :class:`agentotel.Cache` (the ``redis`` extra).

Every failure (connection refused, timeout, a value that does not serialise) is
counted and turned into a miss: the cache then falls back to its loader and the
application never sees a Redis error. After a failure, Redis is left alone for
``retry_after`` seconds (on the cache's clock) so that a dead server does not add
its connect timeout to every miss.

Values are stored as JSON by default. ``serializer="pickle"`` stores any picklable
value, but unpickling runs code chosen by whoever can write to that Redis: opt in
only when nobody else can. Any object with ``dumps(value) -> bytes`` and
``loads(bytes) -> value`` can be passed instead.
"""

from __future__ import annotations

import json
import logging
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from agentotel.resilience.keys import stable_key

__all__ = ["RedisL2", "Serializer", "resolve_serializer"]

_logger = logging.getLogger("agentotel")


class Serializer(Protocol):
    """Turns values into bytes for Redis and back."""

    def dumps(self, value: Any) -> bytes:
        """Encode ``value``."""
        ...

    def loads(self, data: bytes) -> Any:
        """Decode what :meth:`dumps` produced."""
        ...


class _Json:
    @staticmethod
    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), allow_nan=True).encode("utf-8")

    @staticmethod
    def loads(data: bytes) -> Any:
        return json.loads(data)


class _Pickle:
    @staticmethod
    def dumps(value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(data: bytes) -> Any:
        return pickle.loads(data)  # noqa: S301 - opt-in only, see the module docstring


def resolve_serializer(serializer: str | Serializer) -> Serializer:
    """``"json"`` (default), ``"pickle"`` (opt-in) or an object with ``dumps``/``loads``."""
    if serializer == "json":
        return _Json()
    if serializer == "pickle":
        return _Pickle()
    if isinstance(serializer, str) or not (hasattr(serializer, "dumps") and hasattr(serializer, "loads")):
        raise ValueError(f"l2_serializer must be 'json', 'pickle' or have dumps()/loads(); got {serializer!r}")
    return serializer


class RedisL2:
    """A namespaced view of one Redis database that never raises: failures become misses and are counted."""

    def __init__(
        self,
        client: Any,
        *,
        namespace: str,
        serializer: str | Serializer = "json",
        retry_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(client, str):
            import redis  # the `redis` extra

            client = redis.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]  (redis types **kwargs loosely)
                client, socket_timeout=0.5, socket_connect_timeout=0.5
            )
        self.client = client
        self.namespace = namespace
        self.serializer = resolve_serializer(serializer)
        self.retry_after = retry_after
        self._clock = clock
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.errors = 0
        self.last_error: str | None = None
        self._down_until = float("-inf")
        self._last_logged = float("-inf")

    def redis_key(self, key: Any) -> str:
        """The Redis key for a cache key: the namespace plus the key (or its :func:`stable_key`)."""
        return self.namespace + (key if isinstance(key, str) else stable_key(key))

    @property
    def status(self) -> str:
        """``"ok"``, or ``"down"`` while failures keep Redis bypassed."""
        return "down" if self._clock() < self._down_until else "ok"

    def get(self, key: Any) -> tuple[bool, Any, float | None]:
        """``(found, value, seconds left or None)``; a failure is a miss."""
        if self._clock() < self._down_until:
            return False, None, None
        try:
            pipe = self.client.pipeline(transaction=False)
            name = self.redis_key(key)
            pipe.get(name)
            pipe.pttl(name)
            data, pttl = pipe.execute()
            if data is None:
                self._count(hit=False)
                return False, None, None
            value = self.serializer.loads(data)
        except Exception as exc:
            self._failed("get", exc)
            return False, None, None
        self._count(hit=True)
        return True, value, (pttl / 1000.0 if pttl is not None and pttl >= 0 else None)

    def set(self, key: Any, value: Any, ttl: float | None) -> None:
        """Store ``value`` (``ttl`` None: no expiry); failures are counted, never raised."""
        if ttl is not None and ttl < 0.001 or self._clock() < self._down_until:
            return
        try:
            data = self.serializer.dumps(value)
        except Exception as exc:  # the value, not Redis, is the problem: keep using Redis
            self._failed("serialise", exc, outage=False)
            return
        try:
            if ttl is None:
                self.client.set(self.redis_key(key), data)
            else:
                self.client.set(self.redis_key(key), data, px=int(ttl * 1000))
        except Exception as exc:
            self._failed("set", exc)

    def delete(self, key: Any) -> None:
        """Remove ``key``; failures are counted, never raised."""
        if self._clock() < self._down_until:
            return
        try:
            self.client.delete(self.redis_key(key))
        except Exception as exc:
            self._failed("delete", exc)

    def _count(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def _failed(self, operation: str, exc: Exception, outage: bool = True) -> None:
        now = self._clock()
        with self._lock:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:200]
            if outage:
                self._down_until = now + self.retry_after
        wall = time.monotonic()
        if wall - self._last_logged >= 60.0:  # at most one warning a minute per cache
            self._last_logged = wall
            _logger.warning(
                "agentotel: cache second level (Redis) %s failed (%s: %s); the in-process cache and "
                "the loader serve instead",
                operation,
                type(exc).__name__,
                exc,
            )
