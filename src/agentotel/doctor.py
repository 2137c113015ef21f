"""``agentotel doctor``: is everything in place to see this app's telemetry?

Prints the versions of agentotel, OpenTelemetry and the target libraries; which
instrumentors can be active here and, when one cannot, why (library missing,
version conflict, switched off); where telemetry goes (exporter, protocol, endpoint,
headers with their values masked, queue settings), failing an endpoint that is not a
URL; then sends one test span and one test metric to that endpoint and says what to
fix when that fails. With ``--jaeger-url`` it also checks that Jaeger answers and
holds traces of the service. Exits 1 when a check fails or an instrumentor's target
has a version conflict, else 0. Versions and requirements come from package
metadata: ``--no-live`` imports no target library.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, entry_points, version
from importlib.metadata import requires as distribution_requires
from typing import Any
from urllib.parse import urlparse

from packaging.requirements import Requirement

from agentotel import _sdk, semconv

__all__ = [
    "InstrumentorStatus",
    "JaegerCheck",
    "LiveCheck",
    "endpoint_problem",
    "instrumentor_statuses",
    "jaeger_check",
    "live_check",
    "main",
    "target_requirements",
]

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


def target_requirements(name: str) -> list[str] | None:
    """What instrumentor ``name`` needs installed, from agentotel's package metadata.

    Read from the per-target extra (``agentotel[duckdb]``, ``agentotel[pydantic-ai]`` ...),
    so no target library and no instrumentor module is imported. None when the extra
    is not in the metadata (agentotel not installed as a package).
    """
    extra = install_extra(name)
    try:
        requirements = distribution_requires("agentotel") or []
    except PackageNotFoundError:
        return None
    wanted: list[str] = []
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker is not None and requirement.marker.evaluate({"extra": extra}):
            if not requirement.marker.evaluate({"extra": ""}):  # only in this extra, not unconditional
                wanted.append(str(requirement).split(";")[0].strip())
    return wanted or None


def install_extra(name: str) -> str:
    """The pip extra that installs instrumentor ``name``'s target: ``pydantic_ai`` -> ``pydantic-ai``."""
    return name.replace("_", "-")


def _installed_problem(name: str, requirements: Sequence[str]) -> tuple[str, str] | None:
    """``(state, detail)`` when a requirement is not installed (missing) or not satisfied (conflict)."""
    for line in requirements:
        requirement = Requirement(line)
        installed = _version(requirement.name)
        if installed is None:
            return (
                "missing",
                f"{requirement.name} not installed; pip install 'agentotel[{install_extra(name)}]'",
            )
        if not requirement.specifier.contains(installed, prereleases=True):
            return "conflict", f"needs {line}, found {requirement.name} {installed}"
    return None


def instrumentor_statuses(try_instrument: bool = True) -> list[InstrumentorStatus]:
    """One status per name in ``agentotel.INSTRUMENTORS``.

    Whether each target is installed in a supported version is read from package
    metadata, importing nothing. With ``try_instrument`` every available instrumentor is
    then switched on against throw-away in-memory providers and off again, so "active"
    means it really hooked in (this imports the instrumentors and their targets).
    """
    import agentotel
    from agentotel._config import load_settings

    registered = {
        entry.name for entry in entry_points(group="opentelemetry_instrumentor") if entry.value.startswith("agentotel.")
    }
    disabled = load_settings().disabled_instrumentations  # as the environment says now
    checked: dict[str, tuple[str, str]] = {}
    for name in agentotel.INSTRUMENTORS:
        if name in disabled:
            checked[name] = ("disabled", "listed in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS")
            continue
        requirements = target_requirements(name)
        if requirements is None:
            checked[name] = ("broken", "agentotel's package metadata names no target for it; reinstall agentotel")
            continue
        problem = _installed_problem(name, requirements)
        wanted = ", ".join(f"{r} (installed {_version(Requirement(r).name)})" for r in requirements)
        checked[name] = problem or ("available", f"needs {wanted}")
    hooked: dict[str, bool] = {}
    if try_instrument and any(state == "available" for state, _ in checked.values()):
        hooked = _instrument_trial()
    statuses: list[InstrumentorStatus] = []
    for name, (state, detail) in checked.items():
        if state == "available" and try_instrument:
            if hooked.get(name):
                state, detail = "active", f"hooks installed; {detail}"
            else:
                state, detail = "broken", "instrument() did not hook in; see the warning above"
        statuses.append(InstrumentorStatus(name, state, detail, name in registered))
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


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)$")


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` cannot be an OTLP endpoint (scheme, host, port), or None when it can."""
    text = url.strip()
    example = "a URL such as http://collector:4317"
    parsed = urlparse(text if "://" in text else f"http://{text}")
    if parsed.scheme not in ("http", "https"):
        return f"endpoint {url!r} has scheme {parsed.scheme!r}; expected {example} (http or https)"
    authority = parsed.netloc.rsplit("@", 1)[-1]
    host, port_text = authority, ""
    if ":" in authority and not authority.endswith("]"):
        host, _, port_text = authority.rpartition(":")
    if not host:
        return f"endpoint {url!r} names no host; expected {example}"
    if not _HOST.match(host):
        return f"endpoint {url!r} is not a URL: {host!r} is not a host name or address; expected {example}"
    if port_text:
        if not port_text.isdigit():
            return f"endpoint {url!r} has port {port_text!r}, not a number; expected {example}"
        if not 1 <= int(port_text) <= 65535:
            return f"endpoint {url!r} has port {port_text}, out of range (1-65535); expected {example}"
    return None


class _Captured(logging.Handler):
    """Collects the exporters' own messages during the check (they explain failures)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage().split(" [agentotel:")[0])


def _exporters(target: _sdk.OtlpTarget, timeout: float) -> Any:  # a span or a metric exporter, as target.signal says
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


# --------------------------------------------------------------------------- Jaeger
_TRACE_LIMIT = 100  # traces counted by the Jaeger check
JAEGER_HINT = "start Jaeger (`collector/local.sh up`, or `docker compose -f collector/docker-compose.yaml up`)"


@dataclass(frozen=True)
class JaegerCheck:
    """Whether Jaeger answers at a URL and holds traces of a service."""

    ok: bool
    message: str


def _get_json(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def jaeger_check(base_url: str, service: str | None, timeout: float = 5.0) -> JaegerCheck:
    """Ask Jaeger's query API at ``base_url`` (the UI's address) which services it holds traces of.

    Fails when nothing answers, when what answers is not Jaeger's query API, or when
    ``service`` is given and Jaeger holds no trace of it.
    """
    base = base_url.strip().rstrip("/")
    problem = endpoint_problem(base)
    if problem is not None:
        return JaegerCheck(False, problem.replace("endpoint", "Jaeger URL", 1).replace(":4317", ":16686"))
    try:
        services: list[str] = _get_json(f"{base}/api/services", timeout).get("data") or []
    except urllib.error.HTTPError as exc:
        return JaegerCheck(False, f"{base} answers HTTP {exc.code} to /api/services — is it Jaeger's UI/query address?")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return JaegerCheck(False, f"nothing answers at {base} ({reason}) — {JAEGER_HINT}, or pass --jaeger-url")
    except (ValueError, AttributeError):
        return JaegerCheck(
            False, f"{base}/api/services did not return Jaeger's JSON — is it Jaeger's UI/query address?"
        )
    known = ", ".join(sorted(services)) or "none yet"
    if not service:
        return JaegerCheck(
            True, f"Jaeger answers at {base}; services with traces: {known} (set OTEL_SERVICE_NAME to check yours)"
        )
    if service not in services:
        return JaegerCheck(
            False,
            f"Jaeger at {base} holds no trace of service {service!r} (services with traces: {known}) — does the app "
            "export to the collector that feeds this Jaeger, with this OTEL_SERVICE_NAME? Spans arrive a few "
            "seconds after they end",
        )
    query = urllib.parse.urlencode({"service": service, "lookback": "1h", "limit": _TRACE_LIMIT})
    try:
        traces: list[Any] = _get_json(f"{base}/api/traces?{query}", timeout).get("data") or []
    except (OSError, ValueError, AttributeError) as exc:
        return JaegerCheck(False, f"Jaeger at {base} lists {service!r} but /api/traces failed ({exc})")
    search = f"{base}/search?{urllib.parse.urlencode({'service': service})}"
    if not traces:
        return JaegerCheck(True, f"Jaeger at {base} knows {service!r}, no trace in the last hour; {search}")
    count = f"{len(traces)}{'+' if len(traces) >= _TRACE_LIMIT else ''}"
    return JaegerCheck(True, f"Jaeger at {base} holds {count} traces of {service!r} from the last hour: {search}")


def _service_name() -> str | None:
    from opentelemetry.sdk.resources import Resource

    name = Resource.create().attributes.get("service.name")
    return None if not name or str(name).startswith("unknown_service") else str(name)


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
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="skip sending the test span and metric (and the instrumentation trial: imports no target library)",
    )
    parser.add_argument(
        "--jaeger-url",
        metavar="URL",
        help="also check that Jaeger answers at URL (its UI address, e.g. http://localhost:16686) and holds "
        "traces of the service",
    )
    parser.add_argument("--service", help="service name for the Jaeger check (default: OTEL_SERVICE_NAME)")
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
    for status in instrumentor_statuses(try_instrument=not args.no_live):
        failed |= status.failed
        mark = "yes" if status.entry_point else "no "
        print(f"  {status.name:<12} {status.state:<9} {mark}  {status.detail}")

    print("\nExport")
    targets: dict[str, _sdk.OtlpTarget] = {}
    for signal, variable in (("TRACES", "OTEL_TRACES_EXPORTER"), ("METRICS", "OTEL_METRICS_EXPORTER")):
        names = _sdk.exporter_names(variable)
        line = f"  {signal.lower():<8} exporter={','.join(names) or 'none'}"
        if "otlp" in names:
            target = _sdk.otlp_target(signal, environ)
            headers = ", ".join(f"{k}={v}" for k, v in target.masked_headers().items()) or "none"
            line += f"  protocol={target.protocol}  endpoint={target.url}  headers: {headers}"
            problem = endpoint_problem(target.url)
            if problem is None:
                targets[signal] = target
            else:
                failed = True
                line += f"\n  {'':<8} FAIL {problem}"
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
        print(
            "  skipped: the OTLP endpoint is not valid (see FAIL above)"
            if failed
            else "  skipped: no OTLP exporter configured (OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER)"
        )
    for target in () if args.no_live else targets.values():
        check = live_check(target, args.timeout)
        failed |= not check.ok
        print(f"  {check.signal:<8} {'ok  ' if check.ok else 'FAIL'} {check.message}")
    if args.jaeger_url:
        jaeger = jaeger_check(args.jaeger_url, args.service or _service_name(), args.timeout)
        failed |= not jaeger.ok
        print(f"  {'jaeger':<8} {'ok  ' if jaeger.ok else 'FAIL'} {jaeger.message}")
    print("\nResult: " + ("problems found (see FAIL / conflict / broken above)" if failed else "all checks passed"))
    return 1 if failed else 0
