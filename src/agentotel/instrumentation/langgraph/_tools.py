"""Tool spans: ``execute_tool {tool}`` around ``BaseTool.run`` / ``BaseTool.arun``.

``invoke`` / ``ainvoke`` (what ``ToolNode`` calls) end in ``run`` / ``arun``, and
so does a direct ``tool.run(...)``: wrapping these two gives exactly one span
per tool execution whichever entry the caller used. The tool body runs in a
context LangChain copies from the current one, so spans it opens (DuckDB, HTTP,
caches) nest under the tool span.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from agentotel import _telemetry, semconv
from agentotel._spanctx import current_context
from agentotel.instrumentation.langgraph._calls import acall_wrapper, call_wrapper
from agentotel.instrumentation.langgraph._content import record_content
from agentotel.instrumentation.langgraph._control import LangGraphOperation
from agentotel.instrumentation.langgraph._setup import Hooks

__all__ = ["ToolOperation", "run_wrapper", "arun_wrapper", "TOOL_CONTENT_EVENT", "HANDLED_TOOL_ERROR"]

#: Span event carrying tool arguments and result in ``EVENT_ONLY`` / ``SPAN_AND_EVENT`` modes.
TOOL_CONTENT_EVENT = semconv.LANGGRAPH_TOOL_CONTENT_EVENT
#: ``error.type`` of a tool error that LangChain turned into an error ``ToolMessage``.
HANDLED_TOOL_ERROR = "tool_error"


class ToolOperation(LangGraphOperation):
    """A tool execution: span, ``gen_ai.execute_tool.duration``, optional content.

    A tool that calls ``interrupt()``, hands off to its parent (``ParentCommand``) or is
    drained is not failing: no ERROR status and no ``error.type`` on the duration.
    """

    __slots__ = ("hooks", "captured")

    def __init__(self, hooks: Hooks, span: Any, metric_attributes: dict[str, Any], parent: Any) -> None:
        super().__init__(span, hooks.tool_duration, metric_attributes, parent)
        self.hooks = hooks
        self.captured: dict[str, Any] | None = None

    def on_result(self, result: Any) -> None:
        """Inspect the tool's return value: handled errors, captured result."""
        status = getattr(result, "status", None)
        if status == "error":
            self.metric_attributes = {**self.metric_attributes, semconv.ERROR_TYPE: HANDLED_TOOL_ERROR}
            if self.span.is_recording():
                self.span.set_status(Status(StatusCode.ERROR, "the tool returned an error result"))
                self.span.set_attribute(semconv.ERROR_TYPE, HANDLED_TOOL_ERROR)
        if self.captured is not None:
            self.captured[semconv.GEN_AI_TOOL_CALL_RESULT] = getattr(result, "content", result)

    def _end(self, metric_attributes: Any) -> None:
        if self.captured is not None:
            record_content(
                self.span, self.hooks.content, self.captured, self.hooks.max_content_length, TOOL_CONTENT_EVENT
            )
        super()._end(metric_attributes)


def _start_tool(hooks: Hooks, tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ToolOperation:
    name = getattr(tool, "name", None) or type(tool).__name__
    attributes: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_EXECUTE_TOOL,
        semconv.GEN_AI_TOOL_NAME: name,
        semconv.GEN_AI_TOOL_TYPE: "function",
    }
    call_id = kwargs.get("tool_call_id")
    if call_id:
        attributes[semconv.GEN_AI_TOOL_CALL_ID] = call_id
    parent = current_context()
    span = hooks.tracer.start_span(
        semconv.EXECUTE_TOOL_SPAN.render(name), context=parent, kind=SpanKind.INTERNAL, attributes=attributes
    )
    operation = ToolOperation(
        hooks,
        span,
        {semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_EXECUTE_TOOL, semconv.GEN_AI_TOOL_NAME: name},
        parent,
    )
    if hooks.content.enabled and span.is_recording():
        operation.captured = {semconv.GEN_AI_TOOL_CALL_ARGUMENTS: args[0] if args else kwargs.get("tool_input")}
    return operation


def _safe_start(hooks: Hooks, tool: Any, args: Any, kwargs: Any) -> ToolOperation | None:
    try:
        return _start_tool(hooks, tool, args, kwargs)
    except Exception as exc:
        _telemetry.log_internal_error("langgraph tool", exc)
        return None


def _inspect(operation: ToolOperation, result: Any) -> None:
    try:
        operation.on_result(result)
    except Exception as exc:
        _telemetry.log_internal_error("langgraph tool result", exc)


#: Wrapper for ``BaseTool.run``.
run_wrapper = call_wrapper(_safe_start, _inspect)
#: Wrapper for ``BaseTool.arun``.
arun_wrapper = acall_wrapper(_safe_start, _inspect)
