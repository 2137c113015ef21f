"""The tracer base shared by agentotel's tracer wrappers: ``start_as_current_span`` made from ``start_span``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from opentelemetry.util._decorator import _agnosticcontextmanager  # pyright: ignore[reportPrivateUsage]


class CurrentSpanTracer(trace.Tracer):
    """A tracer whose :meth:`start_as_current_span` is its own :meth:`start_span`, made current for the block.

    Subclasses implement :meth:`start_span` only; like the SDK's tracer, the block form also decorates
    coroutine functions.
    """

    __slots__ = ()

    @_agnosticcontextmanager
    def start_as_current_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Any = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        """:meth:`start_span`, made current for the block."""
        span = self.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current_span:
            yield current_span
