"""Every LangGraph test also proves that no context was detached in the wrong place and no hook failed."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanProcessor

from agentotel.testing import TelemetryCapture
from tests.instrumentation.langgraph import graphs


@pytest.fixture
def telemetry(telemetry: TelemetryCapture) -> Iterator[TelemetryCapture]:
    """The root capture, also receiving the spans the test graphs' nodes open themselves."""
    graphs.user_tracer_provider[0] = telemetry.tracer_provider
    yield telemetry
    graphs.user_tracer_provider[0] = None


@pytest.fixture(autouse=True)
def no_context_or_hook_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if OpenTelemetry logged "Failed to detach context" or agentotel an internal error."""
    caplog.set_level(logging.WARNING)
    yield
    bad = [
        record.getMessage()
        for record in caplog.records
        if "Failed to detach context" in record.getMessage() or "internal error" in record.getMessage()
    ]
    assert not bad, bad


class OpenSpans(SpanProcessor):
    """Names of the spans started and not yet ended (the in-memory exporter sees ended spans only)."""

    def __init__(self) -> None:
        super().__init__()
        self._open: dict[int, str] = {}

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self._open[span.context.span_id] = span.name

    def on_end(self, span: Any) -> None:
        self._open.pop(span.context.span_id, None)

    def names(self) -> list[str]:
        """Spans still open, after a collection (dropped streams end when collected)."""
        gc.collect()
        return sorted(self._open.values())


@pytest.fixture
def open_spans(telemetry: TelemetryCapture) -> OpenSpans:
    """Tracks the spans of the test's capture that are still open."""
    tracker = OpenSpans()
    telemetry.tracer_provider.add_span_processor(tracker)
    return tracker
