"""Helpers shared by the DuckDB instrumentation tests (imported explicitly, not a pytest conftest)."""

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


def attributes_of(capture: TelemetryCapture) -> list[str]:
    """Every string value in every span attribute, event attribute and status of ``capture``."""
    found: list[str] = []
    for span in capture.spans():
        found.append(span.name)
        found.extend(str(v) for v in (span.attributes or {}).values())
        for event in span.events:
            found.extend(str(v) for v in (event.attributes or {}).values())
        found.append(span.status.description or "")
    return found
