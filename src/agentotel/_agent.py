"""``agentotel.agent``, ``agentotel.workflow``, ``agentotel.tool``: GenAI spans for hand-written code.

Each works as a decorator on sync and async functions and methods, generators and
async generators, and as a (sync or async) context manager::

    import agentotel

    class LanduseAgent:
        @agentotel.agent(name="landuse")
        def query(self, question: str) -> str:
            ...                         # DuckDB, cache, tool and chat spans nest here

    @agentotel.workflow                 # name defaults to the function's qualified name
    async def nightly_report(day: str) -> str: ...

    @agentotel.tool(name="run_sql", description="Run a read-only SQL query")
    def run_sql(query: str, tool_call_id: str | None = None) -> list[tuple]: ...

    with agentotel.agent(name="ad-hoc", conversation_id=session_id) as span:
        span.set_attribute("app.step", 3)
        ...

What each call gives (one span, kind INTERNAL, and one duration point recorded for
failures too, with ``error.type``):

* ``agent`` → ``invoke_agent {name}``: ``gen_ai.operation.name=invoke_agent``,
  ``gen_ai.agent.name`` (and ``gen_ai.agent.id``, ``gen_ai.agent.description``,
  ``gen_ai.conversation.id`` when given); ``gen_ai.invoke_agent.duration``.
* ``workflow`` → ``invoke_workflow {name}``: ``gen_ai.operation.name=invoke_workflow``,
  ``gen_ai.workflow.name`` (``gen_ai.conversation.id`` when given);
  ``gen_ai.invoke_workflow.duration``.
* ``tool`` → ``execute_tool {name}``: ``gen_ai.operation.name=execute_tool``,
  ``gen_ai.tool.name``, ``gen_ai.tool.type=function``, ``gen_ai.tool.description``
  when given, and ``gen_ai.tool.call.id`` when the caller passes one (``call_id=`` to
  the context manager, or a ``tool_call_id`` keyword argument in the call, which the
  function still receives); ``gen_ai.execute_tool.duration``. With content capture on
  (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``), the call's arguments and its
  return value as ``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result``, never
  otherwise. A function that is also a LangChain tool gets one span, not two: inside the
  ``execute_tool`` span of the same name, the decorator adds none.

Agent and workflow spans are roots (or children, when nested) and carry the cost of
the chat calls inside them (``agentotel.usage.cost_usd``, when a price is known).
An exception is recorded on the span and re-raised unchanged. A generator's span
covers its whole iteration and is current only while the generator body runs; one the
caller stops early (``break``, ``close()``, garbage collection) ends with status UNSET
and ``langgraph.stream.abandoned=true``. Nothing is emitted after ``agentotel.uninstrument()``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind

from agentotel import _cost, _telemetry, semconv
from agentotel._handle import Binding, Instruments
from agentotel._spanctx import (
    AsyncSpanIterator,
    SpanIterator,
    SpanOperation,
    arun_in,
    attach,
    current_context,
    detach,
    iterate_in,
    run_in,
)

__all__ = ["agent", "workflow", "tool", "AgentSpan", "WorkflowSpan", "ToolSpan"]

F = TypeVar("F", bound=Callable[..., Any])

#: Where these spans and durations go: the providers in force when a span starts.
_BINDING = Binding(semconv.SCOPE_AGENT)


# Blocks entered and not yet left, per thread / asyncio task (blocks nest, so a stack): one
# decorator object may be entered by many threads and tasks at once, each leaving its own block.
_ACTIVE: contextvars.ContextVar[tuple[tuple[SpanOperation | None, object], ...]] = contextvars.ContextVar(
    "agentotel.agent.active", default=()
)


class _RootOperation(SpanOperation):
    """An agent or workflow span: carries the cost of the chat calls inside when it ends."""

    __slots__ = ()

    def _end(self, metric_attributes: Any) -> None:
        _cost.settle(self.span, self.context)
        super()._end(metric_attributes)


class _ToolOperation(SpanOperation):
    """A tool span: records the captured arguments and result (content capture only) when it ends."""

    __slots__ = ("captured",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.captured: dict[str, Any] | None = None

    def on_result(self, result: Any) -> None:
        if self.captured is not None:
            self.captured[semconv.GEN_AI_TOOL_CALL_RESULT] = result

    def _end(self, metric_attributes: Any) -> None:
        if self.captured is not None:
            try:
                from agentotel.instrumentation.langgraph._content import record_content

                settings = _telemetry.current_settings()
                record_content(
                    self.span,
                    settings.capture_message_content,
                    self.captured,
                    settings.max_attribute_length,
                    semconv.LANGGRAPH_TOOL_CONTENT_EVENT,
                )
            except Exception as exc:
                _telemetry.log_internal_error("agentotel.tool content", exc)
        super()._end(metric_attributes)


def _on_result(operation: Any, result: Any) -> None:
    if isinstance(operation, _ToolOperation):
        operation.on_result(result)


class _Traced:
    """What the three decorators share: start a span per call or block, as decorator or context manager."""

    default_name = "operation"

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    # ------------------------------------------------------------ operations
    def _start(self, name: str, func: Callable[..., Any] | None, args: Any, kwargs: Any) -> SpanOperation | None:
        if not _telemetry.is_enabled():
            return None
        try:
            return self._begin(_BINDING.current(), name, func, args, kwargs)
        except Exception as exc:  # the function runs untraced rather than fail
            _telemetry.log_internal_error(f"agentotel.{type(self).__name__}", exc)
            return None

    def _begin(
        self, instruments: Instruments, name: str, func: Callable[..., Any] | None, args: Any, kwargs: Any
    ) -> SpanOperation | None:
        raise NotImplementedError

    # ------------------------------------------------------ context manager
    def __enter__(self) -> Span:
        operation = self._start(self.name or self.default_name, None, (), {})
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
                operation = start(name, func, args, kwargs)
                if operation is None:
                    return func(*args, **kwargs)
                return iterate_in(operation, func, args, kwargs, AsyncSpanIterator)  # the body runs on iteration

            return async_generator_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                operation = start(name, func, args, kwargs)
                if operation is None:
                    return func(*args, **kwargs)
                return iterate_in(operation, func, args, kwargs, SpanIterator)  # the body runs on iteration

            return generator_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def coroutine_wrapper(*args: Any, **kwargs: Any) -> Any:
                operation = start(name, func, args, kwargs)
                if operation is None:
                    return await func(*args, **kwargs)
                return await arun_in(operation, func, args, kwargs, _on_result)

            return coroutine_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            operation = start(name, func, args, kwargs)
            if operation is None:
                return func(*args, **kwargs)
            return run_in(operation, func, args, kwargs, _on_result)

        return wrapper  # type: ignore[return-value]


class AgentSpan(_Traced):
    """Decorator and context manager made by :func:`agent`; see the module documentation."""

    default_name = "agent"

    def __init__(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        agent_id: str | None = None,
        conversation_id: str | None = None,
    ) -> None:
        super().__init__(name)
        self.description = description
        self.agent_id = agent_id
        self.conversation_id = conversation_id

    def _begin(self, instruments: Instruments, name: str, func: Any, args: Any, kwargs: Any) -> SpanOperation:
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
        metric_attributes = {
            semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_INVOKE_AGENT,
            semconv.GEN_AI_AGENT_NAME: name,
        }
        return _root(
            instruments,
            semconv.INVOKE_AGENT_SPAN.render(name),
            attributes,
            instruments[semconv.GEN_AI_INVOKE_AGENT_DURATION],
            metric_attributes,
        )


class WorkflowSpan(_Traced):
    """Decorator and context manager made by :func:`workflow`; see the module documentation."""

    default_name = "workflow"

    def __init__(self, name: str | None = None, *, conversation_id: str | None = None) -> None:
        super().__init__(name)
        self.conversation_id = conversation_id

    def _begin(self, instruments: Instruments, name: str, func: Any, args: Any, kwargs: Any) -> SpanOperation:
        metric_attributes = {
            semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_INVOKE_WORKFLOW,
            semconv.GEN_AI_WORKFLOW_NAME: name,
        }
        attributes = dict(metric_attributes)
        if self.conversation_id is not None:
            attributes[semconv.GEN_AI_CONVERSATION_ID] = self.conversation_id
        return _root(
            instruments,
            semconv.INVOKE_WORKFLOW_SPAN.render(name),
            attributes,
            instruments[semconv.GEN_AI_INVOKE_WORKFLOW_DURATION],
            metric_attributes,
        )


def _root(
    instruments: Instruments,
    span_name: str,
    attributes: Mapping[str, Any],
    histogram: Any,
    metric_attributes: Mapping[str, Any],
) -> SpanOperation:
    parent = _cost.open_tally(current_context())
    span = instruments.tracer.start_span(span_name, context=parent, kind=SpanKind.INTERNAL, attributes=attributes)
    return _RootOperation(span, histogram, metric_attributes, parent)


class ToolSpan(_Traced):
    """Decorator and context manager made by :func:`tool`; see the module documentation."""

    default_name = "tool"

    def __init__(self, name: str | None = None, *, description: str | None = None, call_id: str | None = None) -> None:
        super().__init__(name)
        self.description = description
        self.call_id = call_id

    def _begin(self, instruments: Instruments, name: str, func: Any, args: Any, kwargs: Any) -> SpanOperation | None:
        span_name = semconv.EXECUTE_TOOL_SPAN.render(name)
        current = trace.get_current_span()
        if getattr(current, "name", None) == span_name and current.is_recording():
            return None  # already inside this tool's span (a LangChain tool made from this function)
        metric_attributes = {
            semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_EXECUTE_TOOL,
            semconv.GEN_AI_TOOL_NAME: name,
        }
        attributes: dict[str, Any] = {**metric_attributes, semconv.GEN_AI_TOOL_TYPE: "function"}
        description = self.description
        if description is not None:
            attributes[semconv.GEN_AI_TOOL_DESCRIPTION] = description
        call_id = kwargs.get("tool_call_id") if kwargs else None
        call_id = call_id if isinstance(call_id, str) and call_id else self.call_id
        if call_id is not None:
            attributes[semconv.GEN_AI_TOOL_CALL_ID] = call_id
        span = instruments.tracer.start_span(span_name, kind=SpanKind.INTERNAL, attributes=attributes)
        operation = _ToolOperation(span, instruments[semconv.GEN_AI_EXECUTE_TOOL_DURATION], metric_attributes)
        if func is not None and span.is_recording() and _telemetry.current_settings().capture_message_content.enabled:
            operation.captured = {semconv.GEN_AI_TOOL_CALL_ARGUMENTS: _arguments(func, args, kwargs)}
        return operation


def _arguments(func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """The call's arguments by parameter name (``self``/``cls`` left out), or as given when they do not bind."""
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return {"args": list(args), "kwargs": dict(kwargs)}
    values = dict(bound.arguments)
    for skipped in ("self", "cls"):
        values.pop(skipped, None)
    return values


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


@overload
def workflow(name: F) -> F: ...


@overload
def workflow(name: str | None = None, *, conversation_id: str | None = None) -> WorkflowSpan: ...


def workflow(name: str | Callable[..., Any] | None = None, *, conversation_id: str | None = None) -> Any:
    """Trace a function, method, generator or block as an ``invoke_workflow {name}`` span.

    The same forms and rules as :func:`agent`: bare, with a name, or as a (sync or
    async) context manager yielding the span.
    """
    if callable(name):
        return WorkflowSpan()(name)
    return WorkflowSpan(name, conversation_id=conversation_id)


@overload
def tool(name: F) -> F: ...


@overload
def tool(name: str | None = None, *, description: str | None = None, call_id: str | None = None) -> ToolSpan: ...


def tool(
    name: str | Callable[..., Any] | None = None,
    *,
    description: str | None = None,
    call_id: str | None = None,
) -> Any:
    """Trace a function, method, generator or block as an ``execute_tool {name}`` span.

    The same forms and rules as :func:`agent`. ``gen_ai.tool.call.id`` comes from a
    ``tool_call_id`` keyword argument of the call, else from ``call_id=``.
    """
    if callable(name):
        return ToolSpan()(name)
    return ToolSpan(name, description=description, call_id=call_id)
