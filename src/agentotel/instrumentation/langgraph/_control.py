"""What is control flow, not failure, for LangGraph spans: bubble-up signals and cancellation by the caller.

LangGraph raises ``GraphBubbleUp`` subclasses to steer a run: ``GraphInterrupt``
(``interrupt()``, static interrupts), ``ParentCommand`` (a ``Command`` for the
parent graph, as handoffs send) and ``GraphDrained`` (a drain the caller
requested). None of them is a failure of the node, tool or run they pass through.

Cancellation: when the consumer stops a stream (or cancels the task driving a
run), LangGraph cancels the sibling tasks still running; they see an
``asyncio.CancelledError`` while their task is being cancelled. That ends their
spans without an error status. A ``CancelledError`` raised by user code itself
(its task is not being cancelled) stays a failure; LangGraph reports it as
``NodeCancelledError``.

Chat and tool spans use this too, and LangChain may be used without LangGraph:
nothing here imports LangGraph (an exception of LangGraph's can only exist once
``langgraph.errors`` has been imported).
"""

from __future__ import annotations

import sys

from agentotel import semconv
from agentotel._spanctx import SpanOperation

__all__ = ["LangGraphOperation", "cancelled_by_caller"]


def cancelled_by_caller(exc: BaseException) -> bool:
    """True for an ``asyncio.CancelledError`` delivered to a task that is being cancelled."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None or not isinstance(exc, asyncio.CancelledError):
        return False
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop: raised by synchronous code itself
        return False
    if task is None:
        return False
    cancelling = getattr(task, "cancelling", None)
    return cancelling() > 0 if cancelling is not None else True  # Python 3.10: no way to tell


class LangGraphOperation(SpanOperation):
    """A span of a LangGraph run (node, tool, chat): control flow and cancellation are not errors."""

    __slots__ = ()

    def _failed(self, exc: BaseException) -> str | None:
        errors = sys.modules.get("langgraph.errors")
        if errors is not None and isinstance(exc, errors.GraphBubbleUp):
            if isinstance(exc, errors.GraphInterrupt):
                self.span.add_event(semconv.LANGGRAPH_INTERRUPT_EVENT)
            return None
        if cancelled_by_caller(exc):
            return None
        return super()._failed(exc)
