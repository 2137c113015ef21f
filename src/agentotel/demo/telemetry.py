"""The demo's OpenTelemetry setup: in-memory capture for the report, a local trace file, optional OTLP.

The report reads what the run emitted from an in-memory span exporter and metric
reader that sit next to the real exporters, so the numbers in the terminal are
the numbers a collector receives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentotel
from agentotel import _sdk
from agentotel._export import endpoint_reachable
from agentotel.demo.otlp_file import OtlpJsonLinesSpanExporter

__all__ = ["DEFAULT_SERVICE_NAME", "DemoTelemetry", "OtlpSettings"]

DEFAULT_SERVICE_NAME = "agentotel-demo"


@dataclass(frozen=True)
class OtlpSettings:
    """Where to export over OTLP: ``endpoint`` (None: from ``OTEL_EXPORTER_OTLP_*``) and protocol."""

    endpoint: str | None = None
    protocol: str = "grpc"  # grpc | http/protobuf

    def describe(self) -> str:
        """``endpoint (protocol)`` for messages."""
        target = _sdk.otlp_target("TRACES")
        return f"{self.endpoint or target.url} ({self.protocol})"

    def address(self) -> tuple[str, int]:
        """``(host, port)`` the exporters connect to."""
        if self.endpoint:
            parsed = urlparse(self.endpoint if "://" in self.endpoint else f"http://{self.endpoint}")
            return parsed.hostname or "localhost", parsed.port or (4317 if self.protocol == "grpc" else 4318)
        target = _sdk.otlp_target("TRACES")
        return target.host, target.port

    def reachable(self) -> bool:
        """True when something accepts connections at :meth:`address`."""
        return endpoint_reachable(*self.address())


def _otlp_exporters(settings: OtlpSettings) -> tuple[SpanExporter, Any, tuple[str, int] | None]:
    """Span exporter, metric exporter and ``(host, port)`` for ``settings``."""
    if settings.protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = settings.endpoint.rstrip("/") if settings.endpoint else None
        spans = OTLPSpanExporter(endpoint=f"{base}/v1/traces" if base else None)
        metrics = OTLPMetricExporter(endpoint=f"{base}/v1/metrics" if base else None)
    else:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        spans = OTLPSpanExporter(endpoint=settings.endpoint)
        metrics = OTLPMetricExporter(endpoint=settings.endpoint)
    address = settings.address()
    return spans, metrics, address


@dataclass
class DemoTelemetry:
    """Providers for one demo run, with agentotel instrumented into them."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    trace_file: Path
    service_name: str
    otlp: OtlpSettings | None = None
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def start(
        cls,
        trace_file: Path,
        *,
        service_name: str | None = None,
        otlp: OtlpSettings | None = None,
    ) -> DemoTelemetry:
        """Create the providers, instrument agentotel into them, and start process metrics."""
        service_name = service_name or os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
        resource = Resource.create({SERVICE_NAME: service_name})
        spans = InMemorySpanExporter()
        metrics = InMemoryMetricReader()
        readers: list[MetricReader] = [metrics]
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        tracer_provider.add_span_processor(_sdk.make_batch_processor(OtlpJsonLinesSpanExporter(trace_file)))
        if otlp is not None:
            span_exporter, metric_exporter, address = _otlp_exporters(otlp)
            tracer_provider.add_span_processor(_sdk.make_batch_processor(span_exporter, endpoint=address))
            readers.append(PeriodicExportingMetricReader(metric_exporter, export_interval_millis=5000))
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        agentotel.uninstrument()
        from agentotel.demo.model import DEMO_PRICES

        # The demo's local models get demo prices, unless the user gave prices of their own.
        prices = None if os.environ.get("AGENTOTEL_PRICES") else DEMO_PRICES
        agentotel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, prices=prices)
        metrics.collect()  # first collection: CPU utilization is measured from here
        return cls(tracer_provider, meter_provider, spans, metrics, trace_file, service_name, otlp)

    def finished_spans(self) -> list[ReadableSpan]:
        """Every span ended so far."""
        return list(self.spans.get_finished_spans())

    def metric_data(self) -> Any:
        """Collect now (``MetricsData``)."""
        return self.metrics.get_metrics_data()

    def close(self) -> None:
        """Flush and shut both providers down, then uninstrument (idempotent).

        The final metric export collects the observable instruments, which report
        nothing once agentotel is uninstrumented.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self.tracer_provider.shutdown()
            self.meter_provider.shutdown(timeout_millis=5000)
        finally:
            agentotel.uninstrument()
