"""Telemetry captures shared by the test suite (the fixtures in ``tests/conftest.py`` are built on these)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

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


@contextlib.contextmanager
def instrumented(instrumentor: BaseInstrumentor) -> Iterator[TelemetryCapture]:
    """Only ``instrumentor``, into in-memory providers (agentotel itself not instrumented)."""
    _telemetry.set_enabled(True)  # an earlier test's uninstrument() must not silence this one
    capture = TelemetryCapture()
    instrumentor.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    try:
        yield capture
    finally:
        instrumentor.uninstrument()
        capture.shutdown()


class RecordingExporter(MetricExporter):
    """Keeps every export, so what one collection delivered stays readable after the next one
    (the SDK ships no in-memory metric exporter; its in-memory reader keeps the last collection only)."""

    def __init__(self) -> None:
        super().__init__()
        self.exported: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None

    def points(self, index: int, name: str, **attributes: Any) -> list[Any]:
        """Data points of metric ``name`` in export ``index`` whose attributes include ``attributes``."""
        return [
            point
            for resource in self.exported[index].resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
            if all(point.attributes.get(key) == value for key, value in attributes.items())
        ]
