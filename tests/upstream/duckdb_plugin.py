"""A pytest plugin that runs DuckDB's own Python tests with agentotel instrumented.

Loaded with ``-p duckdb_plugin`` (this folder on ``PYTHONPATH``) by
``tests/upstream/duckdb_diff.py``. It instruments when pytest loads it, before
DuckDB's ``conftest.py`` imports duckdb, with real SDK providers whose spans go
to a counting processor, so every hook runs its full recording path.

``AGENTOTEL_UPSTREAM_MODE``: ``instrument`` (``agentotel.instrument()``), ``auto``
(``import agentotel.auto`` with exporters ``none``) or ``off`` (the baseline).
At the end it prints one line, ``agentotel-upstream: spans=N mode=M``, so the
diff script can tell that the instrumented run really emitted.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

MODE = os.environ.get("AGENTOTEL_UPSTREAM_MODE", "instrument")


class _CountingProcessor(SpanProcessor):
    """Counts ended spans; keeps none (DuckDB's suite runs hundreds of thousands of statements)."""

    def __init__(self) -> None:
        self.ended = 0
        self._lock = threading.Lock()

    def on_end(self, span: Any) -> None:
        with self._lock:
            self.ended += 1


_counter = _CountingProcessor()

if MODE == "instrument":
    import agentotel

    _tracer_provider = TracerProvider()
    _tracer_provider.add_span_processor(_counter)
    agentotel.instrument(
        tracer_provider=_tracer_provider,
        meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
        process_metrics=False,
    )
elif MODE == "auto":
    os.environ.setdefault("OTEL_TRACES_EXPORTER", "none")
    os.environ.setdefault("OTEL_METRICS_EXPORTER", "none")
    os.environ.setdefault("OTEL_LOGS_EXPORTER", "none")
    from opentelemetry import trace

    import agentotel.auto  # noqa: F401

    provider = trace.get_tracer_provider()
    if hasattr(provider, "add_span_processor"):
        provider.add_span_processor(_counter)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print how many spans the run emitted (0 for the baseline)."""
    terminalreporter.write_line(f"agentotel-upstream: spans={_counter.ended} mode={MODE}")
