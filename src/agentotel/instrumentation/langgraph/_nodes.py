"""Node spans: one per node execution, around LangGraph's ``run_with_retry`` / ``arun_with_retry``.

Every node task of every graph (and every ``@task`` of the functional API) goes
through these two functions, in the thread pool for sync nodes and in asyncio
tasks for async ones, each time in a context copied from the run. Making the
node span current there makes it the parent of everything the node does (chat,
tools, DuckDB, HTTP, the user's own spans). Routing functions and LangChain
plumbing run inside a node's task and so get no span of their own; LangGraph's
internal tasks (``__start__`` and other names starting with ``__``) are skipped.
The function of an ``@entrypoint`` (functional API) is its run: it gets no node
span of its own, and its ``@task`` spans nest directly under the run's span.
"""

from __future__ import annotations

from typing import Any

from langgraph.constants import START
from opentelemetry.trace import SpanKind

from agentotel import _telemetry, semconv
from agentotel._spanctx import current_context
from agentotel.instrumentation.langgraph._calls import acall_wrapper, call_wrapper
from agentotel.instrumentation.langgraph._control import LangGraphOperation
from agentotel.instrumentation.langgraph._runs import RUN_KEY, GraphRun
from agentotel.instrumentation.langgraph._setup import Hooks

__all__ = ["NodeOperation", "run_with_retry_wrapper", "arun_with_retry_wrapper"]


class NodeOperation(LangGraphOperation):
    """A node span: bubble-up signals and cancellation by LangGraph are control flow, not errors."""

    __slots__ = ()


def _start_node(hooks: Hooks, task: Any) -> NodeOperation | None:
    name = task.name
    if name.startswith("__"):
        return None
    parent = current_context()
    run: GraphRun | None = parent.get(RUN_KEY)  # pyright: ignore[reportAssignmentType]
    if run is not None and run.entry_node == name and START in task.triggers:
        return None  # an @entrypoint function: its run's span is its span; its @task spans nest there
    metadata: dict[str, Any] = task.config.get("metadata") or {}
    attributes: dict[str, Any] = {semconv.LANGGRAPH_NODE: name}
    step = metadata.get("langgraph_step")
    if step is not None:
        attributes[semconv.LANGGRAPH_STEP] = step
    namespace = metadata.get("langgraph_checkpoint_ns")
    if namespace:
        attributes[semconv.LANGGRAPH_CHECKPOINT_NS] = namespace
    span = hooks.tracer.start_span(
        semconv.NODE_SPAN.render(name), context=parent, kind=SpanKind.INTERNAL, attributes=attributes
    )
    return NodeOperation(span, None, {}, parent)


def _safe_start(hooks: Hooks, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> NodeOperation | None:
    try:
        return _start_node(hooks, args[0] if args else kwargs["task"])
    except Exception as exc:
        _telemetry.log_internal_error("langgraph node", exc)
        return None


#: Wrapper for ``langgraph.pregel._runner.run_with_retry`` (sync node tasks).
run_with_retry_wrapper = call_wrapper(_safe_start)
#: Wrapper for ``langgraph.pregel._runner.arun_with_retry`` (async node tasks).
arun_with_retry_wrapper = acall_wrapper(_safe_start)
