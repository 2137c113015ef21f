"""Every LangGraph test also proves that no context was detached in the wrong place and no hook failed."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

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
