"""The suite's shared fixtures: one telemetry capture, in-memory providers, one fake clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from agentotel.testing import TelemetryCapture
from tests.support import telemetry as shared
from tests.support.clock import FakeClock


@pytest.fixture
def telemetry(agentotel_telemetry: TelemetryCapture) -> TelemetryCapture:
    """agentotel instrumented into in-memory providers (the public ``agentotel_telemetry`` fixture)."""
    return agentotel_telemetry


@pytest.fixture
def providers() -> Iterator[TelemetryCapture]:
    """In-memory providers for components given them explicitly; agentotel itself not instrumented."""
    with shared.providers() as capture:
        yield capture


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`~tests.support.clock.FakeClock` (starts at 1000 s)."""
    return FakeClock()


@pytest.fixture
def no_context_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if OpenTelemetry logged a context detached out of order (a span left attached)."""
    caplog.set_level(logging.WARNING)
    yield
    assert not [r for r in caplog.records if "Failed to detach context" in r.getMessage()]
