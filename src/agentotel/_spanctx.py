"""Spans whose lifetime is longer than one call: fail-safe attach/detach and iterator proxies.

A span that covers a generator, a stream or an async stream must be *current*
while the producer runs (so that spans opened inside nest under it) but never
while the consumer runs. Holding an attached context across a ``yield`` breaks
as soon as the iterator is finished in another context (closed by the garbage
collector, by another task, after ``break``): OpenTelemetry then logs "Failed to
detach context". The proxies here attach the span's context around each step of
the wrapped iterator only, in the same frame, and end the span exactly once:

* exhausted: :meth:`Operation.finish` with no error;
* raised: :meth:`Operation.finish` with the exception (re-raised unchanged);
* ``close()`` / ``aclose()`` / garbage collection before the end:
  :meth:`Operation.abandon`.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, ClassVar, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import Histogram
from opentelemetry.trace import Span

from agentotel import semconv
from agentotel._errors import record_exception
from agentotel._telemetry import log_internal_error

__all__ = [
    "Operation",
    "SpanOperation",
    "SpanIterator",
    "AsyncSpanIterator",
    "attach",
    "detach",
    "run_in",
    "arun_in",
    "iterate_in",
    "current_context",
]

#: The key under which OpenTelemetry keeps the current span in a context (found through the public API).
_SPAN_KEY = next(iter(trace.set_span_in_context(trace.INVALID_SPAN, Context())))
#: The context variable behind OpenTelemetry's default (contextvars) runtime context, when that is in use:
#: reading and setting it directly saves three calls per attach and per lookup on hot paths.
_CURRENT: contextvars.ContextVar[Context] | None = getattr(
    getattr(otel_context, "_RUNTIME_CONTEXT", None), "_current_context", None
)
if not isinstance(_CURRENT, contextvars.ContextVar):  # pragma: no cover - another runtime context
    _CURRENT = None  # pyright: ignore[reportConstantRedefinition]


def current_context() -> Context:
    """The current OpenTelemetry context (:func:`opentelemetry.context.get_current`)."""
    if _CURRENT is not None:
        return _CURRENT.get()
    return otel_context.get_current()


def attach(ctx: Context) -> object:
    """Make ``ctx`` current; returns the token for :func:`detach`."""
    if _CURRENT is not None:
        return _CURRENT.set(ctx)
    return otel_context.attach(ctx)


def detach(token: object) -> None:
    """Restore the context before :func:`attach`; silently skip if we are in another context.

    Finalisers (``close()`` from the garbage collector, a cancelled task) may run
    in a context other than the one that attached: there is then nothing of ours
    to restore, and OpenTelemetry's ``detach`` would log an error for it.
    """
    var = getattr(token, "var", None)
    if var is None:  # a runtime context other than contextvars
        otel_context.detach(token)  # type: ignore[arg-type]
        return
    try:
        var.reset(token)
    except (ValueError, RuntimeError):
        pass


class Operation(Protocol):
    """What the proxies drive: a started span and how to end it."""

    context: Context

    def finish(self, exc: BaseException | None = None) -> None:
        """End normally (``exc is None``) or with the exception the producer raised; idempotent."""

    def abandon(self) -> None:
        """End because the consumer stopped early; idempotent, a no-op once finished."""


OnResult = Callable[[Any, Any], None] | None


def run_in(
    operation: Operation,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    on_result: OnResult = None,
) -> Any:
    """Call ``func(*args, **kwargs)`` with ``operation`` current, then end ``operation`` with the outcome.

    An exception ends the operation as failed and is re-raised unchanged. On
    success, ``on_result(operation, result)`` (which must not raise) runs before
    the operation ends.
    """
    token = attach(operation.context)
    try:
        result = func(*args, **kwargs)
    except BaseException as exc:
        operation.finish(exc)
        raise
    finally:
        detach(token)
    if on_result is not None:
        on_result(operation, result)
    operation.finish()
    return result


async def arun_in(
    operation: Operation,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    on_result: OnResult = None,
) -> Any:
    """:func:`run_in` for a coroutine function: awaits ``func(*args, **kwargs)`` with ``operation`` current."""
    token = attach(operation.context)
    try:
        result = await func(*args, **kwargs)
    except BaseException as exc:
        operation.finish(exc)
        raise
    finally:
        detach(token)
    if on_result is not None:
        on_result(operation, result)
    operation.finish()
    return result


class SpanOperation:
    """A started span, the context that makes it current, and the duration histogram to feed.

    ``finish`` / ``abandon`` end the span once and record the duration with the
    metric attributes given at start (plus ``error.type`` on failure). Subclasses
    override :meth:`_failed` to treat some exceptions as control flow. A subclass that sets
    ``context_key`` is also found in its context under that key.
    """

    __slots__ = ("span", "context", "metric_attributes", "_histogram", "_start", "_done")
    context_key: ClassVar[str | None] = None

    def __init__(
        self,
        span: Span,
        histogram: Histogram | None,
        metric_attributes: Mapping[str, Any],
        parent: Context | None = None,
    ) -> None:
        self.span = span
        base = parent if parent is not None else current_context()
        key = self.context_key
        # one copy of the parent context, where set_span_in_context + set_value would make two
        self.context = Context({**base, _SPAN_KEY: span, key: self} if key else {**base, _SPAN_KEY: span})
        self.metric_attributes = metric_attributes
        self._histogram = histogram
        self._start = time.perf_counter()
        self._done = False

    @property
    def elapsed(self) -> float:
        """Seconds since the operation started."""
        return time.perf_counter() - self._start

    @property
    def done(self) -> bool:
        """True once the span has ended."""
        return self._done

    def finish(self, exc: BaseException | None = None) -> None:
        """End the span; with ``exc``, as a failure (unless :meth:`_failed` says otherwise)."""
        if self._done:
            return
        self._done = True
        try:
            attributes = self.metric_attributes
            if exc is not None:
                failure = self._failed(exc)
                if failure is not None:
                    attributes = {**attributes, semconv.ERROR_TYPE: failure}
            self._end(attributes)
        except Exception as error:  # never let our bug replace the caller's outcome
            log_internal_error(f"{type(self).__name__}.finish", error)
            self._end_anyway()

    def abandon(self) -> None:
        """End because the consumer stopped early: status UNSET, ``langgraph.stream.abandoned=true``."""
        if self._done:
            return
        self._done = True
        try:
            self.span.set_attribute(semconv.LANGGRAPH_STREAM_ABANDONED, True)
            self._end(self.metric_attributes)
        except Exception as error:
            log_internal_error(f"{type(self).__name__}.abandon", error)
            self._end_anyway()

    def _end_anyway(self) -> None:
        """After a failure of ours while ending: still end the span, so it is exported, not lost."""
        try:
            if self.span.is_recording():
                self.span.end()
        except Exception:  # already reported by the caller
            pass

    def _failed(self, exc: BaseException) -> str | None:
        """Mark the span failed by ``exc``; return its ``error.type`` (``None``: not a failure)."""
        return record_exception(self.span, exc)

    def _end(self, metric_attributes: Mapping[str, Any]) -> None:
        if self._histogram is not None:
            self._histogram.record(time.perf_counter() - self._start, metric_attributes)
        self.span.end()


OnItem = Callable[[Any], None] | None
_OWN_SLOTS = frozenset({"_iterator", "_operation", "_on_item"})


class _IteratorProxy:
    """What both proxies share: the wrapped iterator, its operation, attribute forwarding, end on collection."""

    __slots__ = ("_iterator", "_operation", "_on_item", "__weakref__")

    def __init__(self, iterator: Any, operation: Operation, on_item: OnItem = None) -> None:
        self._iterator = iterator
        self._operation = operation
        self._on_item = on_item

    def __getattr__(self, name: str) -> Any:
        if name in _OWN_SLOTS:  # not set yet: __init__ did not run to the end
            raise AttributeError(name)
        return getattr(self._iterator, name)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105  # pyright: ignore[reportIncompatibleMethodOverride]
        # ``isinstance`` falls back to ``__class__`` when ``type()`` does not match, so the proxy
        # passes ``inspect.isgenerator`` / ``isasyncgen`` (and any ``isinstance`` check) exactly as
        # the iterator it wraps; ``type(proxy)`` stays the proxy. Costs nothing on iteration.
        return self._iterator.__class__

    def __del__(self) -> None:
        try:
            self._operation.abandon()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class SpanIterator(_IteratorProxy):
    """Iterator proxy: the operation's context is current only while the wrapped iterator runs."""

    __slots__ = ()
    _iterator: Iterator[Any]

    def __iter__(self) -> SpanIterator:
        return self

    def __next__(self) -> Any:
        return self._step(self._iterator.__next__)

    def send(self, value: Any) -> Any:
        """Generator ``send``, forwarded."""
        return self._step(self._iterator.send, value)  # type: ignore[attr-defined]

    def throw(self, *exc_info: Any) -> Any:
        """Generator ``throw``, forwarded."""
        return self._step(self._iterator.throw, *exc_info)  # type: ignore[attr-defined]

    def _step(self, advance: Callable[..., Any], *args: Any) -> Any:
        operation = self._operation
        token = attach(operation.context)
        try:
            item = advance(*args)
        except StopIteration:
            operation.finish()
            raise
        except BaseException as exc:
            operation.finish(exc)
            raise
        finally:
            detach(token)
        if self._on_item is not None:
            self._on_item(item)
        return item

    def close(self) -> None:
        """Close the wrapped iterator (its clean-up runs inside the span), then end as abandoned."""
        close = getattr(self._iterator, "close", None)
        if close is not None:
            token = attach(self._operation.context)
            try:
                close()
            except BaseException as exc:
                self._operation.finish(exc)
                raise
            finally:
                detach(token)
        self._operation.abandon()


class AsyncSpanIterator(_IteratorProxy):
    """Async iterator proxy: the operation's context is current only inside each ``__anext__``."""

    __slots__ = ()
    _iterator: AsyncIterator[Any]

    def __aiter__(self) -> AsyncSpanIterator:
        return self

    async def __anext__(self) -> Any:
        return await self._step(self._iterator.__anext__)

    async def asend(self, value: Any) -> Any:
        """Async generator ``asend``, forwarded."""
        return await self._step(self._iterator.asend, value)  # type: ignore[attr-defined]

    async def athrow(self, *exc_info: Any) -> Any:
        """Async generator ``athrow``, forwarded."""
        return await self._step(self._iterator.athrow, *exc_info)  # type: ignore[attr-defined]

    async def _step(self, advance: Callable[..., Any], *args: Any) -> Any:
        operation = self._operation
        token = attach(operation.context)
        try:
            item = await advance(*args)
        except StopAsyncIteration:
            operation.finish()
            raise
        except BaseException as exc:
            operation.finish(exc)
            raise
        finally:
            detach(token)
        if self._on_item is not None:
            self._on_item(item)
        return item

    async def aclose(self) -> None:
        """Close the wrapped iterator (its clean-up runs inside the span), then end as abandoned."""
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            token = attach(self._operation.context)
            try:
                await aclose()
            except BaseException as exc:
                self._operation.finish(exc)
                raise
            finally:
                detach(token)
        self._operation.abandon()


def iterate_in(
    operation: Operation,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    proxy: Callable[[Any, Operation, OnItem], Any],
    on_item: OnItem = None,
) -> Any:
    """Make the iterator ``func(*args, **kwargs)`` and return it wrapped in ``proxy`` (an iterator proxy class).

    The operation then covers the whole iteration; an exception while making the
    iterator ends it as failed and is re-raised unchanged.
    """
    try:
        iterator = func(*args, **kwargs)
    except BaseException as exc:
        operation.finish(exc)
        raise
    return proxy(iterator, operation, on_item)
