"""Shared fixtures: an in-memory telemetry capture with agentotel instrumented into it."""

from __future__ import annotations

import pytest

from agentotel.testing import TelemetryCapture, capture_telemetry


@pytest.fixture
def telemetry() -> TelemetryCapture:
    """agentotel instrumented into in-memory providers; uninstrumented afterwards."""
    with capture_telemetry() as captured:
        yield captured
