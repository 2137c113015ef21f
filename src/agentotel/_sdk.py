"""Set up the OpenTelemetry SDK from the standard ``OTEL_*`` variables, unless the app already has.

Used by ``import agentotel.auto``. Never replaces providers that the application
or ``opentelemetry-instrument`` installed. Exporters are looked up by name through
the SDK's own ``opentelemetry_traces_exporter`` / ``opentelemetry_metrics_exporter``
entry points, so ``OTEL_TRACES_EXPORTER=console`` and friends work as the spec says.

What differs from the SDK's defaults, so that export never hurts the application:

* the span queue holds 32768 spans (the SDK's 2048 lost 7-9% of a 36k-span burst),
  two batches only while nothing listens on the collector's port; spans dropped are
  counted (``agentotel.export.spans.dropped``) and reported in one warning per minute;
* the exporters' error messages are logged at most once a minute, not per batch;
* at exit, spans and metrics are flushed within ``AGENTOTEL_SHUTDOWN_TIMEOUT``
  (5000 ms), and not waited for at all when nothing listens on the collector's port.

With nothing configured, telemetry goes over OTLP/gRPC to ``localhost:4317``, the
port of the stack in ``collector/`` (``docker compose -f collector/docker-compose.yaml up``).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from agentotel._config import check_sdk_environment, parse_bool, report_bad_value
from agentotel._export import (
    BoundedBatchSpanProcessor,
    endpoint_reachable,
    install_export_log_throttle,
    register_dropped_spans_metric,
)
from agentotel._telemetry import log_internal_error

__all__ = [
    "OtlpTarget",
    "SdkSetup",
    "current_setup",
    "exporter_names",
    "meter_provider_is_configured",
    "metrics_deliverable",
    "otlp_target",
    "sdk_disabled",
    "setup_sdk",
    "tracer_provider_is_configured",
]

_logger = logging.getLogger("agentotel")

# Sized for bursts of agent spans: the SDK's 2048 lost 7-9% of a 36k-span burst.
DEFAULT_BSP_MAX_QUEUE_SIZE = 32768
DEFAULT_BSP_MAX_EXPORT_BATCH_SIZE = 2048
DEFAULT_BSP_SCHEDULE_DELAY_MS = 1000
DEFAULT_BSP_EXPORT_TIMEOUT_MS = 10000
DEFAULT_METRIC_EXPORT_INTERVAL_MS = 60000
DEFAULT_METRIC_EXPORT_TIMEOUT_MS = 30000
DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000
# What the metrics flush at exit is granted even when the span flush used the whole budget.
_MIN_METRICS_SHUTDOWN_MS = 500

_DEFAULT_PORTS = {"grpc": 4317, "http/protobuf": 4318}
_SIGNAL_PATHS = {"TRACES": "/v1/traces", "METRICS": "/v1/metrics"}


# --------------------------------------------------------------------------- #
# Reading the environment
# --------------------------------------------------------------------------- #
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
    # Until one is set, the API hands out a proxy (the API has no public test for "set").
    from opentelemetry.metrics._internal import _ProxyMeterProvider  # pyright: ignore[reportPrivateUsage]

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


def _signal_env(signal: str, suffix: str, environ: Mapping[str, str] | None = None) -> str | None:
    """``OTEL_EXPORTER_OTLP_{signal}_{suffix}``, else ``OTEL_EXPORTER_OTLP_{suffix}``."""
    env = os.environ if environ is None else environ
    return env.get(f"OTEL_EXPORTER_OTLP_{signal}_{suffix}") or env.get(f"OTEL_EXPORTER_OTLP_{suffix}")


def _protocol(signal: str, environ: Mapping[str, str] | None = None) -> str:
    raw = _signal_env(signal, "PROTOCOL", environ) or "grpc"
    protocol = raw.strip().lower()
    if protocol not in _DEFAULT_PORTS:
        report_bad_value("OTEL_EXPORTER_OTLP_PROTOCOL", raw, "grpc, http/protobuf", "grpc")
        return "grpc"
    return protocol


def _parse_headers(raw: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


@dataclass(frozen=True)
class OtlpTarget:
    """Where the OTLP exporter of one signal sends, resolved from ``OTEL_EXPORTER_OTLP_*`` as the spec says."""

    signal: str  # TRACES | METRICS
    protocol: str  # grpc | http/protobuf
    url: str  # gRPC: scheme://host:port; HTTP: the full URL including /v1/<signal>
    host: str
    port: int
    headers: dict[str, str] = field(default_factory=dict[str, str], repr=False)  # values are often API keys

    def masked_headers(self) -> dict[str, str]:
        """Header names with their values hidden (they often carry API keys)."""
        return {key: "****" for key in self.headers}


def otlp_target(signal: str = "TRACES", environ: Mapping[str, str] | None = None) -> OtlpTarget:
    """The OTLP endpoint, protocol and headers for ``signal`` (``TRACES`` or ``METRICS``).

    Read from ``environ`` (default ``os.environ``) as the OTLP exporter specification says:
    the signal-specific endpoint is used as is, the generic one gets ``/v1/<signal>`` for HTTP.
    """
    env = os.environ if environ is None else environ
    protocol = _protocol(signal, env)
    specific = env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    generic = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    default_port = _DEFAULT_PORTS[protocol]
    if specific:
        url = specific.strip()
    elif generic:
        url = generic.strip()
        if protocol == "http/protobuf":
            url = url.rstrip("/") + _SIGNAL_PATHS[signal]
    else:
        url = f"http://localhost:{default_port}"
        if protocol == "http/protobuf":
            url += _SIGNAL_PATHS[signal]
    parsed = urlparse(url if "://" in url else f"http://{url}")
    scheme_port = 443 if parsed.scheme == "https" else default_port
    try:
        port = parsed.port or scheme_port
    except ValueError:  # e.g. http://collector:43l7
        variable = f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT" if specific else "OTEL_EXPORTER_OTLP_ENDPOINT"
        report_bad_value(variable, url, "a URL such as http://collector:4317", f"port {scheme_port}")
        port = scheme_port
    return OtlpTarget(
        signal=signal,
        protocol=protocol,
        url=url,
        host=parsed.hostname or "localhost",
        port=port,
        headers=_parse_headers(_signal_env(signal, "HEADERS", env) or ""),
    )


# --------------------------------------------------------------------------- #
# Exporters and processors
# --------------------------------------------------------------------------- #
def exporter_names(variable: str) -> list[str]:
    """Exporter names in ``variable`` (``OTEL_TRACES_EXPORTER``...), default ``otlp``; empty for ``none``."""
    raw = os.environ.get(variable, "otlp")
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    return [] if "none" in names else names or ["otlp"]


def _load_exporter(group: str, name: str, signal: str) -> tuple[type | None, str]:
    """The exporter class registered as ``name`` in the SDK's entry-point ``group``, and the name it is known by.

    An unknown name is reported once and the default (``otlp``) used in its place, with
    everything that goes with it (the bounded, quiet exit when nothing listens).
    """
    from importlib.metadata import entry_points

    if name == "otlp":
        name = "otlp_proto_http" if _protocol(signal) == "http/protobuf" else "otlp_proto_grpc"
    for entry in entry_points(group=group):
        if entry.name == name:
            return entry.load(), name
    known = sorted({entry.name for entry in entry_points(group=group)} | {"otlp", "none"})
    report_bad_value(f"OTEL_{signal}_EXPORTER", name, ", ".join(known), "otlp")
    if name.startswith("otlp_proto"):  # the default itself is not installed
        return None, name
    return _load_exporter(group, "otlp", signal)  # what the message says: the default is used


def _otlp_address(name: str, signal: str) -> tuple[str, int] | None:
    """``(host, port)`` of exporter ``name`` when it is an OTLP exporter (used to skip dead flushes)."""
    if name == "otlp" or name.startswith("otlp_proto"):
        target = otlp_target(signal)
        return target.host, target.port
    return None


def make_metric_readers() -> list[MetricReader]:
    """Metric readers for ``OTEL_METRICS_EXPORTER`` (default ``otlp``), periodic where they push."""
    readers: list[MetricReader] = []
    interval = env_int("OTEL_METRIC_EXPORT_INTERVAL", DEFAULT_METRIC_EXPORT_INTERVAL_MS)
    timeout = env_int("OTEL_METRIC_EXPORT_TIMEOUT", DEFAULT_METRIC_EXPORT_TIMEOUT_MS)
    for name in exporter_names("OTEL_METRICS_EXPORTER"):
        cls, _ = _load_exporter("opentelemetry_metrics_exporter", name, "METRICS")
        if cls is None:
            continue
        exporter = cls()
        if isinstance(exporter, MetricReader):  # e.g. the Prometheus reader pulls
            readers.append(exporter)
        else:
            readers.append(
                PeriodicExportingMetricReader(exporter, export_interval_millis=interval, export_timeout_millis=timeout)
            )
    return readers


def make_batch_processor(exporter: SpanExporter, endpoint: tuple[str, int] | None = None) -> BoundedBatchSpanProcessor:
    """A batch processor sized for agent bursts; ``OTEL_BSP_*`` and ``AGENTOTEL_SHUTDOWN_TIMEOUT`` win."""
    queue = env_int("OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_BSP_MAX_QUEUE_SIZE)
    batch = min(env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_BSP_MAX_EXPORT_BATCH_SIZE), queue)
    return BoundedBatchSpanProcessor(
        exporter,
        max_queue_size=queue,
        max_export_batch_size=batch,
        schedule_delay_millis=env_int("OTEL_BSP_SCHEDULE_DELAY", DEFAULT_BSP_SCHEDULE_DELAY_MS),
        export_timeout_millis=env_int("OTEL_BSP_EXPORT_TIMEOUT", DEFAULT_BSP_EXPORT_TIMEOUT_MS),
        shutdown_timeout_millis=env_int("AGENTOTEL_SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT_MS, minimum=0),
        endpoint=endpoint,
    )


# --------------------------------------------------------------------------- #
# Setup and bounded shutdown
# --------------------------------------------------------------------------- #
@dataclass
class SdkSetup:
    """What :func:`setup_sdk` installed (``None`` where the app's own provider was kept)."""

    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None
    span_processors: list[BoundedBatchSpanProcessor] = field(default_factory=list[BoundedBatchSpanProcessor])
    metrics_endpoint: tuple[str, int] | None = None
    shutdown_timeout_millis: int = DEFAULT_SHUTDOWN_TIMEOUT_MS
    _done: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def dropped_spans(self) -> int:
        """Spans dropped so far because an export queue was full."""
        return sum(processor.dropped for processor in self.span_processors)

    def shutdown(self) -> None:
        """Flush and stop what was installed, within ``shutdown_timeout_millis`` overall; idempotent.

        Registered with ``atexit``; spans go first, metrics get what is left (at least
        500 ms when their endpoint listens, nothing when it does not).
        """
        with self._lock:
            if self._done:
                return
            self._done = True
        start = time.monotonic()
        if self.tracer_provider is not None:
            try:
                self.tracer_provider.shutdown()
            except Exception as exc:  # never raise at exit
                log_internal_error("span export shutdown", exc)
        if self.meter_provider is not None:
            left_ms = self.shutdown_timeout_millis - (time.monotonic() - start) * 1000
            if self.metrics_endpoint is not None and not endpoint_reachable(*self.metrics_endpoint):
                left_ms = 0  # the last metrics cannot be delivered: do not wait for the exporter's retries
            else:
                left_ms = max(left_ms, _MIN_METRICS_SHUTDOWN_MS)
            try:
                self.meter_provider.shutdown(timeout_millis=left_ms)
            except Exception as exc:  # e.g. "deadline already exceeded" when nothing listens
                _logger.debug("agentotel: metrics shutdown: %s", exc)


_current: SdkSetup | None = None


def current_setup() -> SdkSetup | None:
    """What the last :func:`setup_sdk` installed, if it ran."""
    return _current


def metrics_deliverable(meter_provider: object) -> bool:
    """False when ``meter_provider`` is the one :func:`setup_sdk` installed and nothing listens on its endpoint."""
    setup = _current
    if setup is None or setup.meter_provider is not meter_provider or setup.metrics_endpoint is None:
        return True
    return endpoint_reachable(*setup.metrics_endpoint)


def setup_sdk() -> SdkSetup:
    """Install SDK providers for whichever signal has none yet; return what was installed."""
    global _current
    if sdk_disabled():
        return SdkSetup(None, None)
    check_sdk_environment()
    install_export_log_throttle()
    resource = Resource.create()
    setup = SdkSetup(
        None,
        None,
        shutdown_timeout_millis=env_int("AGENTOTEL_SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT_MS, minimum=0),
    )
    if not meter_provider_is_configured():
        setup.meter_provider = MeterProvider(
            resource=resource, metric_readers=make_metric_readers(), shutdown_on_exit=False
        )
        names = exporter_names("OTEL_METRICS_EXPORTER")
        if names:
            setup.metrics_endpoint = _otlp_address(
                _load_exporter("opentelemetry_metrics_exporter", names[0], "METRICS")[1], "METRICS"
            )
        metrics.set_meter_provider(setup.meter_provider)
    if not tracer_provider_is_configured():
        setup.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        for name in exporter_names("OTEL_TRACES_EXPORTER"):
            cls, known_as = _load_exporter("opentelemetry_traces_exporter", name, "TRACES")
            if cls is None:
                continue
            processor = make_batch_processor(cls(), _otlp_address(known_as, "TRACES"))
            setup.tracer_provider.add_span_processor(processor)
            setup.span_processors.append(processor)
        trace.set_tracer_provider(setup.tracer_provider)
        register_dropped_spans_metric(setup.span_processors, setup.meter_provider)
    atexit.register(setup.shutdown)
    _current = setup
    return setup
