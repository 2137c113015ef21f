"""Graph run spans: ``invoke_workflow {graph}`` / ``invoke_agent {agent}`` around ``Pregel`` runs.

``invoke`` runs through ``stream`` (``ainvoke`` through ``astream``): the span is
started by the outermost call only. ``invoke`` marks the run as delegated to the
graph's own ``stream`` call, which then adds nothing. A run started while
another run is current (a subgraph, or a graph called from inside a node) gets a
nested span in the same trace.

For ``invoke``/``ainvoke`` the run's context is current for the whole call; for
``stream``/``astream`` it is current only while LangGraph computes the next
chunk (see :mod:`agentotel._spanctx`), so a caller who stops early, closes the
stream or drops it ends the span as abandoned, without any context error.

Interrupts: a top-level run that stops at an interrupt gets a
``langgraph.interrupt`` event and is remembered by ``thread_id``; the next run on
that thread that resumes it (input ``Command(...)`` or ``None``) links to its
root span and carries ``langgraph.resumed=true``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from langgraph.errors import GraphInterrupt
from langgraph.types import Command
from opentelemetry import context as otel_context
from opentelemetry.trace import Link, SpanKind

from agentotel import _telemetry, semconv
from agentotel._cost import settle
from agentotel._spanctx import AsyncSpanIterator, SpanIterator, arun_in, current_context, iterate_in, run_in
from agentotel.instrumentation.langgraph._calls import Wrapper
from agentotel.instrumentation.langgraph._control import LangGraphOperation
from agentotel.instrumentation.langgraph._resume import INTERRUPTED_RUNS
from agentotel.instrumentation.langgraph._runscope import enter_run
from agentotel.instrumentation.langgraph._setup import Hooks

__all__ = [
    "GraphRun",
    "GraphProfile",
    "RUN_KEY",
    "graph_profile",
    "current_run",
    "is_agent_graph",
    "invoke_wrapper",
    "ainvoke_wrapper",
    "stream_wrapper",
    "astream_wrapper",
    "loop_exit_wrapper",
]

#: Context key holding the :class:`GraphRun` in progress.
RUN_KEY = otel_context.create_key("agentotel.langgraph.run")


class GraphRun(LangGraphOperation):
    """One graph run: its span, its duration metric, and what interrupts and resumes need."""

    __slots__ = ("thread_id", "top_level", "delegated_to", "entry_node")
    context_key = RUN_KEY

    def __init__(
        self,
        span: Any,
        histogram: Any,
        metric_attributes: dict[str, Any],
        parent: Any,
        thread_id: str | None,
        top_level: bool,
        entry_node: str | None = None,
    ) -> None:
        super().__init__(span, histogram, metric_attributes, parent)
        self.thread_id = thread_id
        self.top_level = top_level
        self.delegated_to: Any = None
        #: The ``@entrypoint`` function's node: the run's span stands for it (it gets no node span).
        self.entry_node = entry_node

    def interrupted(self) -> None:
        """The run stopped at an interrupt: add the event, remember the run for its resume."""
        self.span.add_event(semconv.LANGGRAPH_INTERRUPT_EVENT)
        if self.top_level and self.thread_id is not None:
            INTERRUPTED_RUNS.remember(self.thread_id, self.span.get_span_context())

    def _end(self, metric_attributes: Any) -> None:
        settle(self.span, self.context)  # the cost of the chat calls inside
        super()._end(metric_attributes)

    def _failed(self, exc: BaseException) -> str | None:
        if isinstance(exc, GraphInterrupt):
            self.interrupted()
            return None
        return super()._failed(exc)


def current_run() -> GraphRun | None:
    """The run whose context is current, if any."""
    return current_context().get(RUN_KEY)  # type: ignore[return-value]


# --------------------------------------------------------------------------- #
# Agent or workflow
# --------------------------------------------------------------------------- #
class GraphProfile(NamedTuple):
    """What a compiled graph is, for naming its runs."""

    #: It has a ``ToolNode``: ``create_react_agent``, ``create_agent``, hand-made ReAct loops.
    agent: bool
    #: For an ``@entrypoint`` (functional API) graph, the name of its one node: the function's.
    entrypoint: str | None


#: Compiled graph -> :class:`GraphProfile` (weak keys, so graphs are not kept alive).
_agent_graphs: weakref.WeakKeyDictionary[Any, GraphProfile] = weakref.WeakKeyDictionary()
_ENTRYPOINT_CHANNEL = "__previous__"  # the channel only ``@entrypoint`` graphs have (``entrypoint.final`` saves)


def _is_tool_node(runnable: Any) -> bool:
    return any(cls.__name__ == "ToolNode" for cls in type(runnable).__mro__)


def graph_profile(graph: Any) -> GraphProfile:
    """The graph's :class:`GraphProfile`, computed once per compiled graph."""
    try:
        return _agent_graphs[graph]
    except KeyError:
        pass
    except TypeError:  # not hashable or not weak-referenceable
        return _compute_profile(graph)
    found = _compute_profile(graph)
    try:
        _agent_graphs[graph] = found
    except TypeError:
        pass
    return found


def is_agent_graph(graph: Any) -> bool:
    """True for graphs with a ``ToolNode`` node: ``create_react_agent``, ``create_agent``, hand-made ReAct loops."""
    return graph_profile(graph).agent


def _compute_profile(graph: Any) -> GraphProfile:
    nodes: dict[str, Any] = getattr(graph, "nodes", None) or {}
    agent = any(_is_tool_node(getattr(node, "bound", None)) for node in nodes.values())
    channels: dict[str, Any] = getattr(graph, "channels", None) or {}
    entrypoint = next(iter(nodes)) if len(nodes) == 1 and _ENTRYPOINT_CHANNEL in channels else None
    return GraphProfile(agent, entrypoint)


# --------------------------------------------------------------------------- #
# Starting a run
# --------------------------------------------------------------------------- #
def _thread_id(config: Any, graph: Any, outer: GraphRun | None) -> str | None:
    for candidate in (config, getattr(graph, "config", None)):
        if candidate:
            configurable = candidate.get("configurable")
            if configurable:
                thread_id = configurable.get("thread_id")
                if thread_id is not None:
                    return str(thread_id)
    return outer.thread_id if outer is not None else None


def _start_run(hooks: Hooks, graph: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> GraphRun:
    parent = current_context()
    outer: GraphRun | None = parent.get(RUN_KEY)  # type: ignore[assignment]
    run_input = args[0] if args else kwargs.get("input")
    config = args[1] if len(args) > 1 else kwargs.get("config")
    profile = graph_profile(graph)
    graph_config = getattr(graph, "config", None)
    graph_name = getattr(graph, "name", None)
    if profile.entrypoint is not None and graph_name in (None, "LangGraph"):
        graph_name = profile.entrypoint
    name = (
        (config.get("run_name") if config else None)
        or (graph_config.get("run_name") if graph_config else None)
        or graph_name
        or "LangGraph"
    )
    thread_id = _thread_id(config, graph, outer)
    parent, run_attributes = enter_run(hooks, parent, config, graph, top_level=outer is None)

    if profile.agent:
        operation, name_key, histogram = (
            semconv.GEN_AI_OPERATION_INVOKE_AGENT,
            semconv.GEN_AI_AGENT_NAME,
            hooks.agent_duration,
        )
    else:
        operation, name_key, histogram = (
            semconv.GEN_AI_OPERATION_INVOKE_WORKFLOW,
            semconv.GEN_AI_WORKFLOW_NAME,
            hooks.workflow_duration,
        )
    metric_attributes = {semconv.GEN_AI_OPERATION_NAME: operation, name_key: name}
    attributes: dict[str, Any] = dict(metric_attributes)
    if thread_id is not None:
        attributes[semconv.GEN_AI_CONVERSATION_ID] = thread_id
    attributes.update(run_attributes)

    links = None
    if outer is None and thread_id is not None:
        interrupted = INTERRUPTED_RUNS.pop(thread_id)
        if interrupted is not None and (run_input is None or isinstance(run_input, Command)):
            links = (Link(interrupted),)
            attributes[semconv.LANGGRAPH_RESUMED] = True

    span_name = (
        semconv.INVOKE_AGENT_SPAN
        if operation == semconv.GEN_AI_OPERATION_INVOKE_AGENT
        else semconv.INVOKE_WORKFLOW_SPAN
    )
    span = hooks.tracer.start_span(
        span_name.render(name), context=parent, kind=SpanKind.INTERNAL, attributes=attributes, links=links
    )
    return GraphRun(
        span, histogram, metric_attributes, parent, thread_id, top_level=outer is None, entry_node=profile.entrypoint
    )


def _safe_start(hooks: Hooks, graph: Any, args: Any, kwargs: Any) -> GraphRun | None:
    try:
        return _start_run(hooks, graph, args, kwargs)
    except Exception as exc:
        _telemetry.log_internal_error("langgraph run", exc)
        return None


def _delegated(graph: Any) -> bool:
    """True when this ``stream``/``astream`` call is the one ``invoke``/``ainvoke`` makes for its run."""
    run: GraphRun | None = current_context().get(RUN_KEY)  # type: ignore[assignment]
    if run is not None and run.delegated_to is graph:
        run.delegated_to = None
        return True
    return False


# --------------------------------------------------------------------------- #
# Wrappers
# --------------------------------------------------------------------------- #
def invoke_wrapper(hooks: Hooks) -> Wrapper:
    """Wrapper for ``Pregel.invoke``."""

    def invoke(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        run = _safe_start(hooks, instance, args, kwargs)
        if run is None:
            return wrapped(*args, **kwargs)
        run.delegated_to = instance
        return run_in(run, wrapped, args, kwargs)

    return invoke


def ainvoke_wrapper(hooks: Hooks) -> Wrapper:
    """Wrapper for ``Pregel.ainvoke``."""

    async def ainvoke(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        run = _safe_start(hooks, instance, args, kwargs)
        if run is None:
            return await wrapped(*args, **kwargs)
        run.delegated_to = instance
        return await arun_in(run, wrapped, args, kwargs)

    return ainvoke


def _stream_wrapper(proxy: type[SpanIterator] | type[AsyncSpanIterator]) -> Callable[[Hooks], Wrapper]:
    """Wrapper factory for ``Pregel.stream`` / ``astream`` (``proxy``: the iterator proxy)."""

    def make(hooks: Hooks) -> Wrapper:
        def stream(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            if _delegated(instance):
                return wrapped(*args, **kwargs)
            run = _safe_start(hooks, instance, args, kwargs)
            if run is None:
                return wrapped(*args, **kwargs)
            return iterate_in(run, wrapped, args, kwargs, proxy)

        return stream

    return make


#: Wrapper for ``Pregel.stream``.
stream_wrapper = _stream_wrapper(SpanIterator)
#: Wrapper for ``Pregel.astream``.
astream_wrapper = _stream_wrapper(AsyncSpanIterator)


def loop_exit_wrapper(hooks: Hooks) -> Wrapper:
    """Wrapper for ``PregelLoop._suppress_interrupt``: where a top-level run swallows its interrupt."""

    def suppress_interrupt(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        suppressed = wrapped(*args, **kwargs)
        if suppressed:
            try:
                exc = args[1] if len(args) > 1 else kwargs.get("exc_value")
                run = current_run()
                if run is not None and isinstance(exc, GraphInterrupt) and not instance.is_nested:
                    run.interrupted()
            except Exception as error:
                _telemetry.log_internal_error("langgraph interrupt", error)
        return suppressed

    return suppress_interrupt
