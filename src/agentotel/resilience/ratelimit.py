"""A token-bucket rate limiter for model calls: requests per minute and, optionally, tokens per minute.

Example::

    from agentotel import RateLimiter, RateLimitExceeded

    limiter = RateLimiter("openai", requests_per_minute=500, tokens_per_minute=200_000)

    await limiter.aacquire(tokens=estimated_prompt_tokens, timeout=10)   # waits, or raises
    reply = await client.chat(...)
    limiter.adjust(reply.usage.total_tokens - estimated_prompt_tokens)    # settle the estimate

    @limiter                    # one request, no tokens, default timeout
    def call_model(prompt): ...

Each bucket holds up to a minute's worth (``burst`` overrides the request
bucket's size) and refills continuously. A caller that has to wait *reserves*
its share at once and then sleeps, so waiters are served in arrival order and
no one is starved; a caller whose wait would exceed its timeout reserves nothing
and gets :class:`RateLimitExceeded` with ``retry_after``. A cancelled wait gives
its reservation back. One plain lock guards the buckets; sleeping happens
outside it. Telemetry (every counter only counts what happened): ``admitted``
(the permit was granted, at once or after waiting), ``rejected`` (the wait would
exceed the timeout), ``cancelled`` (a wait was cancelled and its reservation
given back), ``waiting`` (an up-down counter: callers holding a reservation now),
and the wait-time histogram, recorded for admitted callers that waited.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from opentelemetry.metrics import MeterProvider, Observation

from agentotel import _telemetry, semconv
from agentotel._handle import Binding, Observed
from agentotel.resilience import _registry

__all__ = ["RateLimiter", "RateLimitExceeded"]

F = TypeVar("F", bound=Callable[..., Any])
Tokens = int | Callable[..., int]


class RateLimitExceeded(Exception):
    """The wait for a permit would exceed the caller's timeout."""

    def __init__(self, name: str, retry_after: float, tokens: int = 0) -> None:
        self.name = name
        #: Seconds after which the same request would be admitted without waiting (if nobody else comes).
        self.retry_after = retry_after
        self.tokens = tokens
        super().__init__(f"rate limiter {name!r}: limit reached; retry after {retry_after:.3g}s")

    def __reduce__(self) -> Any:
        return (type(self), (self.name, self.retry_after, self.tokens))


class _Bucket:
    """``capacity`` units refilled at ``rate`` per second; the level may go negative (reservations)."""

    __slots__ = ("capacity", "rate", "level", "stamp")

    def __init__(self, per_minute: float, capacity: float, now: float) -> None:
        self.capacity = capacity
        self.rate = per_minute / 60.0
        self.level = capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_for(self, amount: float) -> float:
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate


class RateLimiter:
    """Requests-per-minute (and optionally tokens-per-minute) token buckets.

    Args:
        name: Reported as ``rate_limiter.name``.
        requests_per_minute: Sustained request rate.
        tokens_per_minute: Sustained model-token rate (``None``: not limited).
        burst: Request bucket size (default: ``requests_per_minute``).
        timeout: Default longest wait in seconds for :meth:`acquire`/:meth:`aacquire`.
        clock: Monotonic seconds.
        sleep / async_sleep: How waiting is done (inject with a fake clock in tests).
        meter_provider: Where metrics go (default: the one in force when they are recorded).
    """

    def __init__(
        self,
        name: str,
        *,
        requests_per_minute: float,
        tokens_per_minute: float | None = None,
        burst: float | None = None,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if requests_per_minute <= 0 or (tokens_per_minute is not None and tokens_per_minute <= 0):
            raise ValueError("rates must be > 0")
        if (burst is not None and burst < 1) or timeout < 0:
            raise ValueError("need burst >= 1 and timeout >= 0")
        self.name = name
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._lock = threading.Lock()
        now = clock()
        self._requests = _Bucket(requests_per_minute, burst if burst is not None else requests_per_minute, now)
        self._tokens = _Bucket(tokens_per_minute, tokens_per_minute, now) if tokens_per_minute else None
        # Monotonic counts, plus the callers holding a reservation while they wait.
        self._admitted = 0
        self._waited = 0
        self._rejected = 0
        self._cancelled = 0
        self._waiting = 0
        self._last_rejection: float | None = None
        self._attrs = {semconv.RATE_LIMITER_NAME: name}
        #: Where the limiter reports: its meter provider, else the one in force when it records.
        self.binding = Binding(semconv.SCOPE_COMPONENTS, meter_provider=meter_provider)
        LIMITERS.add(self)
        _registry.register("rate_limiter", self)

    # --------------------------------------------------------------- acquire
    def acquire(self, tokens: int = 0, *, timeout: float | None = None) -> float:
        """Take one request (and ``tokens``), sleeping if needed; returns the seconds waited.

        Raises :class:`RateLimitExceeded` without taking anything when the wait
        would exceed ``timeout`` (default: the limiter's ``timeout``).
        """
        wait = self._reserve(tokens, timeout)
        if wait > 0:
            try:
                self._sleep(wait)
            except BaseException:
                self._refund(tokens)
                raise
            self._granted(wait)
        return wait

    async def aacquire(self, tokens: int = 0, *, timeout: float | None = None) -> float:
        """:meth:`acquire` for asyncio; a cancelled wait gives the reservation back."""
        wait = self._reserve(tokens, timeout)
        if wait > 0:
            try:
                await self._async_sleep(wait)
            except BaseException:
                self._refund(tokens)
                raise
            self._granted(wait)
        return wait

    def adjust(self, tokens: int) -> None:
        """Settle a token estimate: take ``tokens`` more (or give ``-tokens`` back) without waiting."""
        if self._tokens is None or not tokens:
            return
        with self._lock:
            self._tokens.refill(self._clock())
            self._tokens.level = min(self._tokens.capacity, self._tokens.level - tokens)

    def _reserve(self, tokens: int, timeout: float | None) -> float:
        if tokens < 0:
            raise ValueError("tokens must be >= 0")
        if tokens and self._tokens is not None and tokens > self._tokens.capacity:
            raise ValueError(f"{tokens} tokens can never fit in {self._tokens.capacity:g} tokens per minute")
        limit = self.timeout if timeout is None else timeout
        with self._lock:
            now = self._clock()
            requests, model_tokens = self._requests, self._tokens
            requests.refill(now)
            wait = requests.wait_for(1)
            if model_tokens is not None and tokens:
                model_tokens.refill(now)
                wait = max(wait, model_tokens.wait_for(tokens))
            if wait > limit:
                self._rejected += 1
                self._last_rejection = now
                raise RateLimitExceeded(self.name, wait, tokens)
            requests.level -= 1
            if model_tokens is not None:
                model_tokens.level -= tokens
            if wait > 0:
                self._waiting += 1  # admitted (or cancelled) when the wait ends
            else:
                self._admitted += 1
        return wait

    def _refund(self, tokens: int) -> None:
        """A wait was cancelled: give the reservation back; the request was never admitted."""
        with self._lock:
            self._waiting -= 1
            self._cancelled += 1
            self._requests.level = min(self._requests.capacity, self._requests.level + 1)
            if self._tokens is not None:
                self._tokens.level = min(self._tokens.capacity, self._tokens.level + tokens)

    def _granted(self, wait: float) -> None:
        """A wait ended: the request is admitted."""
        with self._lock:
            self._waiting -= 1
            self._admitted += 1
            self._waited += 1
        if _telemetry.is_enabled():
            try:
                self.binding.current()[semconv.RATE_LIMITER_WAIT_DURATION].record(wait, self._attrs)
            except Exception as exc:
                _telemetry.log_internal_error("rate limiter wait histogram", exc)

    # ------------------------------------------------- decorator and context
    def limit(self, tokens: Tokens = 0, *, timeout: float | None = None) -> Callable[[F], F]:
        """Decorator: acquire before each call; ``tokens`` may be a function of the call's arguments."""

        def decorate(fn: F) -> F:
            def count(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
                return tokens(*args, **kwargs) if callable(tokens) else tokens

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    await self.aacquire(count(args, kwargs), timeout=timeout)
                    return await fn(*args, **kwargs)

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                self.acquire(count(args, kwargs), timeout=timeout)
                return fn(*args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorate

    def __call__(self, fn: F) -> F:
        """``@limiter``: one request per call, default timeout."""
        return self.limit()(fn)

    def __enter__(self) -> RateLimiter:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    async def __aenter__(self) -> RateLimiter:
        await self.aacquire()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    # ------------------------------------------------------------- reporting
    def health_snapshot(self) -> dict[str, Any]:
        """Bucket levels and counts; ``degraded`` if a request was rejected in the last minute."""
        with self._lock:
            now = self._clock()
            self._requests.refill(now)
            snapshot: dict[str, Any] = {
                "name": self.name,
                "requests_available": self._requests.level,
                "requests_per_minute": self._requests.rate * 60.0,
                "admitted": self._admitted,
                "waited": self._waited,
                "rejected": self._rejected,
                "cancelled": self._cancelled,
                "waiting": self._waiting,
            }
            if self._tokens is not None:
                self._tokens.refill(now)
                snapshot["tokens_available"] = self._tokens.level
                snapshot["tokens_per_minute"] = self._tokens.rate * 60.0
            recent = self._last_rejection is not None and now - self._last_rejection < 60.0
        snapshot["status"] = "degraded" if recent else "healthy"
        return snapshot

    def __repr__(self) -> str:
        return f"RateLimiter({self.name!r}, requests_per_minute={self._requests.rate * 60.0:g})"


def _count(value: Callable[[RateLimiter], int]) -> Callable[[list[RateLimiter]], Iterable[Observation]]:
    def read(limiters: list[RateLimiter]) -> Iterable[Observation]:
        return [Observation(value(limiter), limiter._attrs) for limiter in limiters]  # pyright: ignore[reportPrivateUsage]

    return read


#: The limiters' observable instruments: each live limiter, through its binding.
LIMITERS = Observed(
    "rate_limiter",
    {
        semconv.RATE_LIMITER_ADMITTED: _count(lambda limiter: limiter._admitted),  # pyright: ignore[reportPrivateUsage]
        semconv.RATE_LIMITER_REJECTED: _count(lambda limiter: limiter._rejected),  # pyright: ignore[reportPrivateUsage]
        semconv.RATE_LIMITER_CANCELLED: _count(lambda limiter: limiter._cancelled),  # pyright: ignore[reportPrivateUsage]
        semconv.RATE_LIMITER_WAITING: _count(lambda limiter: limiter._waiting),  # pyright: ignore[reportPrivateUsage]
    },
)
