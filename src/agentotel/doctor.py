"""``agentotel doctor``: is everything in place to see this app's telemetry?

Prints the versions of agentotel, OpenTelemetry and the target libraries; which
instrumentors can be active here and, when one cannot, why (library missing,
version conflict, switched off); where telemetry goes (exporter, protocol, endpoint,
headers with their values masked, queue settings); then sends one test span and one
test metric to that endpoint and says what to fix when that fails. Exits 1 when the
live check fails or an instrumentor's target has a version conflict, else 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import PackageNotFoundError, entry_points, version

from agentotel import _sdk, semconv

__all__ = ["InstrumentorStatus", "LiveCheck", "instrumentor_statuses", "live_check", "main"]

COMPOSE_HINT = "start the stack with `docker compose -f collector/docker-compose.yaml up`"
DISTRIBUTIONS = (
    "agentotel",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation",
    "opentelemetry-exporter-otlp-proto-grpc",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-distro",
    "duckdb",
    "langgraph",
    "langchain-core",
    "cachetools",
    "pydantic-ai-slim",
    "redis",
)
# Setting -> agentotel's default when we set up the SDK (``import agentotel.auto``).
EXPORT_SETTINGS = (
    ("OTEL_BSP_MAX_QUEUE_SIZE", _sdk.DEFAULT_BSP_MAX_QUEUE_SIZE),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", _sdk.DEFAULT_BSP_MAX_EXPORT_BATCH_SIZE),
    ("OTEL_BSP_SCHEDULE_DELAY", _sdk.DEFAULT_BSP_SCHEDULE_DELAY_MS),
    ("OTEL_BSP_EXPORT_TIMEOUT", _sdk.DEFAULT_BSP_EXPORT_TIMEOUT_MS),
    ("OTEL_METRIC_EXPORT_INTERVAL", _sdk.DEFAULT_METRIC_EXPORT_INTERVAL_MS),
    ("AGENTOTEL_SHUTDOWN_TIMEOUT", _sdk.DEFAULT_SHUTDOWN_TIMEOUT_MS),
)


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- instrumentors
@dataclass(frozen=True)
class InstrumentorStatus:
    """Whether one of our instrumentors can work in this environment, and why not."""

    name: str
    state: str  # active | available | disabled | missing | conflict | broken
    detail: str
    entry_point: bool  # registered for ``opentelemetry-instrument``

    @property
    def failed(self) -> bool:
        return self.state in ("conflict", "broken")


def instrumentor_statuses(try_instrument: bool = True) -> list[InstrumentorStatus]:
    """One status per name in ``agentotel.INSTRUMENTORS``.

    With ``try_instrument`` every available instrumentor is switched on against
    throw-away in-memory providers and off again, so "active" means it really hooked in.
    """
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    import agentotel
    from agentotel._config import load_settings

    registered = {
        entry.name for entry in entry_points(group="opentelemetry_instrumentor") if entry.value.startswith("agentotel.")
    }
    disabled = load_settings().disabled_instrumentations  # as the environment says now
    hooked: dict[str, bool] = {}
    if try_instrument:
        hooked = _instrument_trial()
    statuses = []
    for name, target in agentotel.INSTRUMENTORS.items():
        module_name, _, class_name = target.partition(":")
        listed = name in registered
        if name in disabled:
            statuses.append(
                InstrumentorStatus(name, "disabled", "listed in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", listed)
            )
            continue
        try:
            instrumentor = getattr(import_module(module_name), class_name)()
        except ImportError as exc:
            statuses.append(
                InstrumentorStatus(
                    name,
                    "missing",
                    f"target library not installed ({exc}); pip install 'agentotel[instruments-any]'",
                    listed,
                )
            )
            continue
        except Exception as exc:  # a broken module must not stop the report
            statuses.append(InstrumentorStatus(name, "broken", f"{type(exc).__name__}: {exc}", listed))
            continue
        requirements = list(instrumentor.instrumentation_dependencies())
        conflict = get_dependency_conflicts(requirements)
        if conflict is not None:
            statuses.append(InstrumentorStatus(name, "conflict", str(conflict), listed))
            continue
        wanted = ", ".join(requirements)
        if not try_instrument:
            statuses.append(InstrumentorStatus(name, "available", f"needs {wanted}", listed))
        elif hooked.get(name):
            statuses.append(InstrumentorStatus(name, "active", f"hooks installed ({wanted})", listed))
        else:
            statuses.append(
                InstrumentorStatus(name, "broken", "instrument() did not hook in; see the warning above", listed)
            )
    return statuses


def _instrument_trial() -> dict[str, bool]:
    import agentotel
    from agentotel import _telemetry
    from agentotel.testing import TelemetryCapture

    capture = TelemetryCapture()
    was = agentotel.instrumented()
    if any(was.values()):  # already on in this process: report, do not disturb
        return was
    enabled = _telemetry.is_enabled()
    try:
        agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
        return agentotel.instrumented()
    finally:
        agentotel.uninstrument()
        _telemetry.set_enabled(enabled)  # leave the process as we found it
        capture.shutdown()


# --------------------------------------------------------------------------- live check
@dataclass(frozen=True)
class LiveCheck:
    """The outcome of sending one span or one metric to the configured endpoint."""

    signal: str  # traces | metrics
    ok: bool
    message: str


def _reachability_problem(target: _sdk.OtlpTarget, timeout: float) -> str | None:
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        where = f"{target.host}:{target.port}"
        if target.host in ("localhost", "127.0.0.1", "::1"):
            return (
                f"nothing listening on {where} — {COMPOSE_HINT}, or point OTEL_EXPORTER_OTLP_ENDPOINT at your collector"
            )
        return f"nothing listening on {where} — is the collector running there, and is the port right?"
    except socket.gaierror as exc:
        return f"cannot resolve {target.host!r} ({exc}) — check OTEL_EXPORTER_OTLP_ENDPOINT"
    except OSError as exc:
        return (
            f"cannot connect to {target.host}:{target.port} ({exc}) — check the address and that a firewall "
            "lets you through"
        )


class _Captured(logging.Handler):
    """Collects the exporters' own messages during the check (they explain failures)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage().split(" [agentotel:")[0])


def _exporters(target: _sdk.OtlpTarget, timeout: float):
    headers = target.headers or None
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        insecure = not target.url.startswith("https://")
        endpoint = target.url.split("://", 1)[-1]
        if target.signal == "TRACES":
            return OTLPSpanExporter(endpoint=endpoint, insecure=insecure, headers=headers, timeout=timeout)
        return OTLPMetricExporter(endpoint=endpoint, insecure=insecure, headers=headers, timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if target.signal == "TRACES":
        return OTLPSpanExporter(endpoint=target.url, headers=headers, timeout=timeout)
    return OTLPMetricExporter(endpoint=target.url, headers=headers, timeout=timeout)


def _send(target: _sdk.OtlpTarget, timeout: float) -> bool:
    """Export one span or one metric point to ``target``; True when the endpoint accepted it."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult

    resource = Resource.create({"agentotel.doctor": True})
    exporter = _exporters(target, timeout)
    try:
        if target.signal == "TRACES":
            scope = semconv.SCOPE_COMPONENTS
            tracer = TracerProvider(resource=resource).get_tracer(scope.name, schema_url=scope.schema_url)
            span = tracer.start_span(
                semconv.DOCTOR_SPAN.name, attributes={semconv.AGENTOTEL_VERSION: _version("agentotel") or ""}
            )
            span.end()
            return exporter.export([span]) is SpanExportResult.SUCCESS
        reader = InMemoryMetricReader()
        provider = MeterProvider(resource=resource, metric_readers=[reader])
        scope = semconv.SCOPE_COMPONENTS
        semconv.DOCTOR_CHECKS.create(provider.get_meter(scope.name, schema_url=scope.schema_url)).add(1)
        data = reader.get_metrics_data()
        provider.shutdown()
        return exporter.export(data, timeout_millis=timeout * 1000) is MetricExportResult.SUCCESS
    finally:
        exporter.shutdown()


def live_check(target: _sdk.OtlpTarget, timeout: float = 5.0) -> LiveCheck:
    """Send one test span (``TRACES``) or metric (``METRICS``) to ``target`` and explain a failure."""
    signal = target.signal.lower()
    problem = _reachability_problem(target, timeout)
    if problem is not None:
        return LiveCheck(signal, False, problem)
    captured = _Captured()
    exporter_logger = logging.getLogger("opentelemetry.exporter")
    exporter_logger.addHandler(captured)
    propagate, exporter_logger.propagate = exporter_logger.propagate, False
    started = time.monotonic()
    try:
        accepted = _send(target, timeout)
    except Exception as exc:
        accepted, captured.messages = False, [*captured.messages, f"{type(exc).__name__}: {exc}"]
    finally:
        exporter_logger.removeHandler(captured)
        exporter_logger.propagate = propagate
    elapsed_ms = (time.monotonic() - started) * 1000
    what = "1 span" if signal == "traces" else "1 metric point"
    if accepted:
        return LiveCheck(signal, True, f"{what} accepted by {target.url} in {elapsed_ms:.0f} ms")
    other_protocol, other_port = ("http/protobuf", 4318) if target.protocol == "grpc" else ("grpc", 4317)
    detail = f" ({captured.messages[-1]})" if captured.messages else ""
    return LiveCheck(
        signal,
        False,
        (
            f"{target.url} accepts connections but did not accept {what} over {target.protocol}{detail} — is it an "
            f"OTLP receiver for this protocol? The collector's defaults are gRPC on 4317 and HTTP on 4318 (try "
            f"OTEL_EXPORTER_OTLP_PROTOCOL={other_protocol} with port {other_port}); if it requires authentication, "
            "check OTEL_EXPORTER_OTLP_HEADERS"
        ),
    )


# --------------------------------------------------------------------------- report
def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="agentotel doctor",
        description="Check versions, instrumentors and the OTLP endpoint; send one test span and one metric.",
    )
    parser.add_argument("--endpoint", help="OTLP endpoint to check (default: from OTEL_EXPORTER_OTLP_* variables)")
    parser.add_argument(
        "--protocol", choices=("grpc", "http/protobuf"), help="OTLP protocol (default: from the environment)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds allowed per live check (default 5)")
    parser.add_argument("--no-live", action="store_true", help="skip sending the test span and metric")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the checks and print the report; returns the exit code (0 all good, 1 a check failed)."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    environ = dict(os.environ)  # command-line overrides apply to this report only
    for option, variable in ((args.endpoint, "ENDPOINT"), (args.protocol, "PROTOCOL")):
        if option:
            environ[f"OTEL_EXPORTER_OTLP_{variable}"] = option
            for signal in ("TRACES", "METRICS"):
                environ.pop(f"OTEL_EXPORTER_OTLP_{signal}_{variable}", None)
    failed = False

    print("agentotel doctor\n\nVersions")
    print(f"  {'python':<40} {platform.python_version()} ({sys.executable})")
    for distribution in DISTRIBUTIONS:
        print(f"  {distribution:<40} {_version(distribution) or 'not installed'}")

    print("\nInstrumentors (state, entry point for opentelemetry-instrument, detail)")
    for status in instrumentor_statuses():
        failed |= status.failed
        mark = "yes" if status.entry_point else "no "
        print(f"  {status.name:<12} {status.state:<9} {mark}  {status.detail}")

    print("\nExport")
    targets = {}
    for signal, variable in (("TRACES", "OTEL_TRACES_EXPORTER"), ("METRICS", "OTEL_METRICS_EXPORTER")):
        names = _sdk.exporter_names(variable)
        line = f"  {signal.lower():<8} exporter={','.join(names) or 'none'}"
        if "otlp" in names:
            target = targets[signal] = _sdk.otlp_target(signal, environ)
            headers = ", ".join(f"{k}={v}" for k, v in target.masked_headers().items()) or "none"
            line += f"  protocol={target.protocol}  endpoint={target.url}  headers: {headers}"
        print(line)
    print(
        "  export settings (agentotel's defaults apply when `import agentotel.auto` sets up the SDK; "
        "under opentelemetry-instrument the SDK's own):"
    )
    for variable, default in EXPORT_SETTINGS:
        value = os.environ.get(variable)
        print(f"    {variable:<32} {value if value else default}{'' if value else ' (agentotel default)'}")

    print("\nLive check")
    if args.no_live:
        print("  skipped (--no-live)")
    elif not targets:
        print("  skipped: no OTLP exporter configured (OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER)")
    for target in [] if args.no_live else targets.values():
        check = live_check(target, args.timeout)
        failed |= not check.ok
        print(f"  {check.signal:<8} {'ok  ' if check.ok else 'FAIL'} {check.message}")
    print("\nResult: " + ("problems found (see FAIL / conflict / broken above)" if failed else "all checks passed"))
    return 1 if failed else 0
