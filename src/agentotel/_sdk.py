"""Set up the OpenTelemetry SDK from the standard ``OTEL_*`` variables, unless the app already has.

Used by ``import agentotel.auto``. Never replaces providers that the application
or ``opentelemetry-instrument`` installed. Exporters are looked up by name through
the SDK's own ``opentelemetry_traces_exporter`` / ``opentelemetry_metrics_exporter``
entry points, so ``OTEL_TRACES_EXPORTER=console`` and friends work as the spec says.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from agentotel._config import parse_bool, report_bad_value

__all__ = ["SdkSetup", "sdk_disabled", "setup_sdk", "tracer_provider_is_configured", "meter_provider_is_configured"]

_logger = logging.getLogger("agentotel")

# Sized for bursts of agent spans: the SDK's 2048 lost 7-9% of a 36k-span burst.
DEFAULT_BSP_MAX_QUEUE_SIZE = 32768
DEFAULT_BSP_MAX_EXPORT_BATCH_SIZE = 2048
DEFAULT_BSP_SCHEDULE_DELAY_MS = 1000
DEFAULT_BSP_EXPORT_TIMEOUT_MS = 10000
DEFAULT_METRIC_EXPORT_INTERVAL_MS = 60000


@dataclass
class SdkSetup:
    """What :func:`setup_sdk` installed (``None`` where the app's own provider was kept)."""

    tracer_provider: Optional[TracerProvider]
    meter_provider: Optional[MeterProvider]


def sdk_disabled() -> bool:
    """``OTEL_SDK_DISABLED`` as the spec defines it (only ``true`` disables)."""
    raw = os.environ.get("OTEL_SDK_DISABLED", "")
    try:
        return parse_bool(raw)
    except ValueError:
        report_bad_value("OTEL_SDK_DISABLED", raw, "true, false", False)
        return False


def tracer_provider_is_configured() -> bool:
    """True when someone already set a global TracerProvider."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def meter_provider_is_configured() -> bool:
    """True when someone already set a global MeterProvider."""
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    return not isinstance(metrics.get_meter_provider(), _ProxyMeterProvider)


def env_int(name: str, default: int, minimum: int = 1) -> int:
    """An integer variable; a malformed value is reported once and ``default`` used."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
        if value < minimum:
            raise ValueError(raw)
        return value
    except ValueError:
        report_bad_value(name, raw, f"an integer >= {minimum}", default)
        return default


def _exporter_names(variable: str) -> list[str]:
    raw = os.environ.get(variable, "otlp")
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    return [] if "none" in names else names or ["otlp"]


def _protocol(signal: str) -> str:
    raw = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    protocol = raw.strip().lower()
    if protocol not in ("grpc", "http/protobuf"):
        report_bad_value("OTEL_EXPORTER_OTLP_PROTOCOL", raw, "grpc, http/protobuf", "grpc")
        return "grpc"
    return protocol


def _load_exporter(group: str, name: str, signal: str):
    """The exporter class registered as ``name`` in the SDK's entry-point ``group``."""
    from importlib.metadata import entry_points

    if name == "otlp":
        name = "otlp_proto_http" if _protocol(signal) == "http/protobuf" else "otlp_proto_grpc"
    for entry in entry_points(group=group):
        if entry.name == name:
            return entry.load()
    known = sorted({entry.name for entry in entry_points(group=group)} | {"otlp", "none"})
    report_bad_value(f"OTEL_{signal}_EXPORTER", name, ", ".join(known), "otlp")
    return None


def make_span_exporters() -> list[SpanExporter]:
    """Span exporters named by ``OTEL_TRACES_EXPORTER`` (default ``otlp``)."""
    exporters = []
    for name in _exporter_names("OTEL_TRACES_EXPORTER"):
        cls = _load_exporter("opentelemetry_traces_exporter", name, "TRACES")
        if cls is not None:
            exporters.append(cls())
    return exporters


def make_metric_readers() -> list[MetricReader]:
    """Metric readers for ``OTEL_METRICS_EXPORTER`` (default ``otlp``), periodic where they push."""
    readers: list[MetricReader] = []
    interval = env_int("OTEL_METRIC_EXPORT_INTERVAL", DEFAULT_METRIC_EXPORT_INTERVAL_MS)
    timeout = env_int("OTEL_METRIC_EXPORT_TIMEOUT", 30000)
    for name in _exporter_names("OTEL_METRICS_EXPORTER"):
        cls = _load_exporter("opentelemetry_metrics_exporter", name, "METRICS")
        if cls is None:
            continue
        exporter = cls()
        if isinstance(exporter, MetricReader):  # e.g. the Prometheus reader pulls
            readers.append(exporter)
        else:
            readers.append(PeriodicExportingMetricReader(
                exporter, export_interval_millis=interval, export_timeout_millis=timeout))
    return readers


def make_batch_processor(exporter: SpanExporter) -> BatchSpanProcessor:
    """A BatchSpanProcessor sized for agent bursts; ``OTEL_BSP_*`` variables still win."""
    queue = env_int("OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_BSP_MAX_QUEUE_SIZE)
    batch = min(env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_BSP_MAX_EXPORT_BATCH_SIZE), queue)
    return BatchSpanProcessor(
        exporter,
        max_queue_size=queue,
        max_export_batch_size=batch,
        schedule_delay_millis=env_int("OTEL_BSP_SCHEDULE_DELAY", DEFAULT_BSP_SCHEDULE_DELAY_MS),
        export_timeout_millis=env_int("OTEL_BSP_EXPORT_TIMEOUT", DEFAULT_BSP_EXPORT_TIMEOUT_MS),
    )


def setup_sdk() -> SdkSetup:
    """Install SDK providers for whichever signal has none yet; return what was installed."""
    if sdk_disabled():
        return SdkSetup(None, None)
    resource = Resource.create()
    tracer_provider = meter_provider = None
    if not tracer_provider_is_configured():
        tracer_provider = TracerProvider(resource=resource)
        for exporter in make_span_exporters():
            tracer_provider.add_span_processor(make_batch_processor(exporter))
        trace.set_tracer_provider(tracer_provider)
    if not meter_provider_is_configured():
        meter_provider = MeterProvider(resource=resource, metric_readers=make_metric_readers())
        metrics.set_meter_provider(meter_provider)
    return SdkSetup(tracer_provider, meter_provider)
