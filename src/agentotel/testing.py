"""Capture the spans and metrics agentotel emits, to assert on them in your own tests.

Example::

    from agentotel.testing import capture_telemetry

    def test_my_agent_queries_duckdb():
        with capture_telemetry() as telemetry:
            run_my_agent()
        span = telemetry.span("SELECT landuse")
        assert span.attributes["db.system.name"] == "duckdb"
        assert telemetry.metric_points("db.client.operation.duration")

With pytest, the ``agentotel_telemetry`` fixture does the same (registered
automatically through the ``pytest11`` entry point).

The capture uses the SDK's in-memory exporter and metric reader with a
``SimpleSpanProcessor``, so spans are visible as soon as they end. It calls
``agentotel.instrument()`` with its own providers, so everything reports there,
components created before the block included; on exit it puts back what was
there before (the instrumentors, providers and settings of an earlier
``instrument()``, ``import agentotel.auto`` or ``opentelemetry-instrument``),
leaving the global providers untouched.

Components bind late: every live ``Cache``, ``CircuitBreaker``, ``LoadBalancer`` and
``RateLimiter`` in the process that was not given providers of its own reports into
the capture, also those made by other tests; select by name (``cache.name``,
``lb.name`` ...) when a test shares its process with others.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["TelemetryCapture", "capture_telemetry"]

_SDK_SCOPE = "opentelemetry-sdk"  # the meter the SDK reports its own metrics through


class TelemetryCapture:
    """Providers wired to in-memory exporters, plus helpers to find what was emitted."""

    def __init__(self) -> None:
        self.span_exporter = InMemorySpanExporter()
        self.metric_reader = InMemoryMetricReader()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])

    # ----------------------------------------------------------------- spans
    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans in end order, optionally only those called ``name``."""
        finished = list(self.span_exporter.get_finished_spans())
        if name is None:
            return finished
        return [span for span in finished if span.name == name]

    def span(self, name: str) -> ReadableSpan:
        """The one finished span called ``name``; fails if there is none or several."""
        found = self.spans(name)
        if len(found) != 1:
            names = sorted({span.name for span in self.spans()})
            raise AssertionError(f"expected exactly one span {name!r}, found {len(found)}; spans: {names}")
        return found[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """Finished spans whose parent is ``parent``, in start order."""
        parent_id = parent.context.span_id  # pyright: ignore[reportOptionalMemberAccess]  # a finished span has one
        kids = [s for s in self.spans() if s.parent is not None and s.parent.span_id == parent_id]
        return sorted(kids, key=lambda s: s.start_time or 0)

    def roots(self) -> list[ReadableSpan]:
        """Finished spans without a parent, in start order."""
        return sorted((s for s in self.spans() if s.parent is None), key=lambda s: s.start_time or 0)

    def tree(self, root: ReadableSpan | None = None, attributes: Sequence[str] = ()) -> str:
        """The span tree as indented text (one line a span), e.g. for snapshot assertions."""
        lines: list[str] = []

        def walk(span: ReadableSpan, depth: int) -> None:
            extra = "".join(
                f" {key}={span.attributes[key]!r}" for key in attributes if span.attributes and key in span.attributes
            )
            lines.append(f"{'  ' * depth}{span.name} [{span.kind.name}]{extra}")
            for child in self.children(span):
                walk(child, depth + 1)

        for top in [root] if root is not None else self.roots():
            walk(top, 0)
        return "\n".join(lines)

    # --------------------------------------------------------------- metrics
    def metrics(self) -> dict[str, Any]:
        """Collect now and return ``{metric name: Metric}`` across every scope but the SDK's own.

        The SDK's own metrics (scope ``opentelemetry-sdk``, such as the reader's
        collection duration on recent SDKs) are left out: they are not agentotel's.
        """
        data = self.metric_reader.get_metrics_data()
        found: dict[str, Any] = {}
        if data is None:
            return found
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                if scope_metrics.scope.name == _SDK_SCOPE:
                    continue
                for metric in scope_metrics.metrics:
                    found[metric.name] = metric
        return found

    def metric_points(self, name: str, **attributes: Any) -> list[Any]:
        """Data points of metric ``name`` (collected now) whose attributes include ``attributes``.

        Keys with dots go through a dict: ``metric_points("m", **{"db.system.name": "duckdb"})``.
        """
        metric = self.metrics().get(name)
        if metric is None:
            return []
        return [
            point
            for point in metric.data.data_points
            if all(point.attributes.get(key) == value for key, value in attributes.items())
        ]

    def metric_value(self, name: str, **attributes: Any) -> float:
        """Sum of the values (counters, gauges) or counts (histograms) of matching points."""
        total = 0.0
        for point in self.metric_points(name, **attributes):
            total += point.value if hasattr(point, "value") else point.count
        return total

    def clear(self) -> None:
        """Forget finished spans (metrics are cumulative and keep their totals)."""
        self.span_exporter.clear()

    def shutdown(self) -> None:
        """Shut both providers down."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@contextlib.contextmanager
def capture_telemetry(*, instrument: bool = True, **options: Any) -> Generator[TelemetryCapture, None, None]:
    """Instrument with in-memory providers for the duration of the block.

    ``options`` go to :func:`agentotel.instrument` (e.g. ``capture_sql_parameters=True``).
    With ``instrument=False`` only the providers are made (useful for components,
    which take ``tracer_provider=``/``meter_provider=`` themselves).
    """
    import agentotel

    captured = TelemetryCapture()
    saved = agentotel._save() if instrument else None  # pyright: ignore[reportPrivateUsage]
    if instrument:
        agentotel.uninstrument()
        agentotel.instrument(
            tracer_provider=captured.tracer_provider,
            meter_provider=captured.meter_provider,
            **options,
        )
    try:
        yield captured
    finally:
        if saved is not None:
            agentotel._restore(saved)  # pyright: ignore[reportPrivateUsage]
        captured.shutdown()


try:  # the pytest fixture, when pytest is there
    import pytest

    @pytest.fixture
    def agentotel_telemetry() -> Iterator[TelemetryCapture]:
        """pytest fixture: a :class:`TelemetryCapture` with agentotel instrumented into it."""
        with capture_telemetry() as captured:
            yield captured

except ImportError:  # pragma: no cover
    pass
