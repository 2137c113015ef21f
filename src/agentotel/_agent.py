"""``agentotel.agent``: trace a hand-written agent as an ``invoke_agent {name}`` span.

Works as a decorator on sync and async functions and methods, generators and
async generators, and as a (sync or async) context manager::

    import agentotel

    class LanduseAgent:
        @agentotel.agent(name="landuse")
        def query(self, question: str) -> str:
            ...                         # DuckDB, cache and chat spans nest here

    @agentotel.agent                    # name defaults to the function's qualified name
    async def plan(goal: str) -> list[str]: ...

    with agentotel.agent(name="ad-hoc", conversation_id=session_id) as span:
        span.set_attribute("app.step", 3)
        ...

Each call gives one span (kind INTERNAL) with ``gen_ai.operation.name=invoke_agent``,
``gen_ai.agent.name`` (and ``gen_ai.agent.id``, ``gen_ai.agent.description``,
``gen_ai.conversation.id`` when given) and one ``gen_ai.invoke_agent.duration``
point, recorded for failures too with ``error.type``. An exception is recorded on
the span and re-raised unchanged. A generator's span covers its whole iteration
and is current only while the generator body runs; one the caller stops early
(``break``, ``close()``, garbage collection) ends with status UNSET and
``langgraph.stream.abandoned=true``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from opentelemetry.trace import INVALID_SPAN, Span, SpanKind

from agentotel import _telemetry, semconv
from agentotel._handle import Binding
from agentotel._spanctx import (
    AsyncSpanIterator,
    SpanIterator,
    SpanOperation,
    arun_in,
    attach,
    detach,
    iterate_in,
    run_in,
)

__all__ = ["agent", "AgentSpan"]

F = TypeVar("F", bound=Callable[..., Any])

#: Where ``@agentotel.agent`` spans and durations go: the providers in force when a span starts.
_BINDING = Binding(semconv.SCOPE_AGENT)


# Blocks entered and not yet left, per thread / asyncio task (blocks nest, so a stack): one
# AgentSpan may be entered by many threads and tasks at once, each leaving its own block.
_ACTIVE: contextvars.ContextVar[tuple[tuple[SpanOperation | None, object], ...]] = contextvars.ContextVar(
    "agentotel.agent.active", default=()
)


class AgentSpan:
    """Decorator and context manager made by :func:`agent`; see the module documentation."""

    def __init__(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        agent_id: str | None = None,
        conversation_id: str | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.agent_id = agent_id
        self.conversation_id = conversation_id

    # ------------------------------------------------------------ operations
    def _start(self, name: str) -> SpanOperation | None:
        if not _telemetry.is_enabled():
            return None
        try:
            return self._start_span(name)
        except Exception as exc:  # the function runs untraced rather than fail
            _telemetry.log_internal_error("agentotel.agent", exc)
            return None

    def _start_span(self, name: str) -> SpanOperation:
        instruments = _BINDING.current()
        attributes: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_INVOKE_AGENT,
            semconv.GEN_AI_AGENT_NAME: name,
        }
        if self.agent_id is not None:
            attributes[semconv.GEN_AI_AGENT_ID] = self.agent_id
        if self.description is not None:
            attributes[semconv.GEN_AI_AGENT_DESCRIPTION] = self.description
        if self.conversation_id is not None:
            attributes[semconv.GEN_AI_CONVERSATION_ID] = self.conversation_id
        span = instruments.tracer.start_span(
            semconv.INVOKE_AGENT_SPAN.render(name), kind=SpanKind.INTERNAL, attributes=attributes
        )
        metric_attributes = {
            semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_INVOKE_AGENT,
            semconv.GEN_AI_AGENT_NAME: name,
        }
        return SpanOperation(span, instruments[semconv.GEN_AI_INVOKE_AGENT_DURATION], metric_attributes)

    # ------------------------------------------------------ context manager
    def __enter__(self) -> Span:
        operation = self._start(self.name or "agent")
        if operation is None:
            _ACTIVE.set((*_ACTIVE.get(), (None, None)))
            return INVALID_SPAN
        token = attach(operation.context)
        _ACTIVE.set((*_ACTIVE.get(), (operation, token)))
        return operation.span

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        *outer, (operation, token) = _ACTIVE.get()
        _ACTIVE.set(tuple(outer))
        if operation is None:
            return
        detach(token)
        operation.finish(exc)

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    # ------------------------------------------------------------- decorator
    def __call__(self, func: F) -> F:
        name = self.name or getattr(func, "__qualname__", None) or repr(func)
        start = self._start

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            def async_generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                operation = start(name)
                if operation is None:
                    return func(*args, **kwargs)
                return iterate_in(operation, func, args, kwargs, AsyncSpanIterator)  # the body runs on iteration

            return async_generator_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                operation = start(name)
                if operation is None:
                    return func(*args, **kwargs)
                return iterate_in(operation, func, args, kwargs, SpanIterator)  # the body runs on iteration

            return generator_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def coroutine_wrapper(*args: Any, **kwargs: Any) -> Any:
                operation = start(name)
                if operation is None:
                    return await func(*args, **kwargs)
                return await arun_in(operation, func, args, kwargs)

            return coroutine_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            operation = start(name)
            if operation is None:
                return func(*args, **kwargs)
            return run_in(operation, func, args, kwargs)

        return wrapper  # type: ignore[return-value]


@overload
def agent(name: F) -> F: ...


@overload
def agent(
    name: str | None = None,
    *,
    description: str | None = None,
    agent_id: str | None = None,
    conversation_id: str | None = None,
) -> AgentSpan: ...


def agent(
    name: str | Callable[..., Any] | None = None,
    *,
    description: str | None = None,
    agent_id: str | None = None,
    conversation_id: str | None = None,
) -> Any:
    """Trace a function, method, generator or block as an ``invoke_agent {name}`` span.

    ``@agentotel.agent`` (bare) names the agent after the function's qualified name;
    ``@agentotel.agent(name="landuse")`` or ``agentotel.agent("landuse")`` names it
    explicitly. ``with agentotel.agent(name=...) as span:`` (or ``async with``)
    traces a block and yields the span. Nothing is emitted after
    ``agentotel.uninstrument()``.
    """
    if callable(name):
        return AgentSpan()(name)
    return AgentSpan(name, description=description, agent_id=agent_id, conversation_id=conversation_id)
