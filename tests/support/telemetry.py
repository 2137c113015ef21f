"""Telemetry captures shared by the test suite (the fixtures in ``tests/conftest.py`` are built on these)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from agentotel import _telemetry
from agentotel._config import load_settings
from agentotel.instrumentation.duckdb import DuckDBInstrumentor
from agentotel.testing import TelemetryCapture


@contextlib.contextmanager
def traced_duckdb(**options: Any) -> Iterator[TelemetryCapture]:
    """Only the DuckDB instrumentor, into in-memory providers, with settings ``options``."""
    capture = TelemetryCapture()
    _telemetry.configure(None, None, load_settings(**options))
    instrumentor = DuckDBInstrumentor()
    instrumentor.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    try:
        yield capture
    finally:
        instrumentor.uninstrument()
        _telemetry.configure(None, None, load_settings())
        capture.shutdown()


@contextlib.contextmanager
def providers() -> Iterator[TelemetryCapture]:
    """In-memory providers for components given them explicitly (agentotel itself not instrumented)."""
    _telemetry.set_enabled(True)  # an earlier test's uninstrument() must not silence these
    capture = TelemetryCapture()
    try:
        yield capture
    finally:
        capture.shutdown()
