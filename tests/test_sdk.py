"""SDK setup used by ``import agentotel.auto``: endpoint resolution, bounded queue, drop reporting,
throttled export logs and bounded shutdown."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agentotel import _sdk, semconv
from agentotel._export import BoundedBatchSpanProcessor, ExportLogThrottle, register_dropped_spans_metric
from tests.support.servers import free_port

OTLP_VARS = [name for name in os.environ if name.startswith(("OTEL_EXPORTER_OTLP", "OTEL_BSP_", "AGENTOTEL_SHUTDOWN"))]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in OTLP_VARS:
        monkeypatch.delenv(name, raising=False)


class GatedExporter(SpanExporter):
    """Blocks every export until released (or shut down); remembers what it got."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(30)
        self.exported.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def make_processor(exporter: SpanExporter, **overrides) -> BoundedBatchSpanProcessor:
    options = dict(
        max_queue_size=8,
        max_export_batch_size=4,
        schedule_delay_millis=60_000,
        export_timeout_millis=1000,
        shutdown_timeout_millis=5000,
    )
    options.update(overrides)
    return BoundedBatchSpanProcessor(exporter, **options)


def end_spans(provider: TracerProvider, count: int) -> None:
    tracer = provider.get_tracer("test")
    for i in range(count):
        tracer.start_span(f"s{i}").end()


# --------------------------------------------------------------------------- endpoint resolution
def test_default_target_is_local_grpc():
    target = _sdk.otlp_target("TRACES")
    assert (target.protocol, target.host, target.port, target.url) == (
        "grpc",
        "localhost",
        4317,
        "http://localhost:4317",
    )


def test_http_protocol_appends_signal_path_to_the_generic_endpoint(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert _sdk.otlp_target("METRICS").url == "http://collector:4318/v1/metrics"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://gw.example/custom")
    traces = _sdk.otlp_target("TRACES")
    assert (traces.url, traces.host, traces.port) == ("https://gw.example/custom", "gw.example", 443)


def test_signal_specific_protocol_and_bare_grpc_endpoint(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "10.0.0.7:14317")
    target = _sdk.otlp_target("TRACES")
    assert (target.protocol, target.host, target.port) == ("grpc", "10.0.0.7", 14317)


def test_headers_are_parsed_and_masked(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20s3cret,x-tenant=acme")
    target = _sdk.otlp_target("TRACES")
    assert target.headers == {"authorization": "Bearer s3cret", "x-tenant": "acme"}
    assert target.masked_headers() == {"authorization": "****", "x-tenant": "****"}


def test_bad_protocol_warns_once_and_falls_back_to_grpc(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        assert _sdk.otlp_target("TRACES").protocol == "grpc"
        assert _sdk.otlp_target("TRACES").protocol == "grpc"
    assert sum("carrier-pigeon" in r.getMessage() for r in caplog.records) == 1


# --------------------------------------------------------------------------- processor sizing
def test_defaults_are_sized_for_bursts():
    processor = _sdk.make_batch_processor(GatedExporter())
    try:
        assert processor.capacity == 32768 >= 16 * 2048
        assert processor._batch_processor._max_export_batch_size == 2048
        assert processor.shutdown_timeout_millis == 5000
    finally:
        processor.shutdown()


def test_bsp_variables_win_and_bad_values_fall_back(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500")  # capped to the queue
    monkeypatch.setenv("AGENTOTEL_SHUTDOWN_TIMEOUT", "soon")
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        processor = _sdk.make_batch_processor(GatedExporter())
    try:
        assert processor.capacity == 100
        assert processor._batch_processor._max_export_batch_size == 100
        assert processor.shutdown_timeout_millis == 5000
        assert any("AGENTOTEL_SHUTDOWN_TIMEOUT='soon'" in r.getMessage() for r in caplog.records)
    finally:
        processor.shutdown()


# --------------------------------------------------------------------------- drops made visible
@pytest.fixture
def telemetry_enabled():
    """agentotel's emit switch on (``uninstrument()`` in an earlier test may have turned it off)."""
    from agentotel import _telemetry

    was = _telemetry.is_enabled()
    _telemetry.set_enabled(True)
    yield _telemetry
    _telemetry.set_enabled(was)


def dropped_points(reader: InMemoryMetricReader) -> list:
    data = reader.get_metrics_data()
    return [
        p
        for rm in (data.resource_metrics if data else ())
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == semconv.EXPORT_SPANS_DROPPED
        for p in m.data.data_points
    ]


def test_full_queue_drops_are_counted_reported_once_and_exposed_as_a_metric(caplog, telemetry_enabled):
    exporter = GatedExporter()
    processor = make_processor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    reader = InMemoryMetricReader()
    register_dropped_spans_metric([processor], MeterProvider(metric_readers=[reader]))

    end_spans(provider, 4)  # reaches the batch size: the worker takes them and blocks in export
    assert exporter.entered.wait(10)
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        end_spans(provider, 8 + 5)  # 8 fill the queue, 5 are dropped
    assert (processor.queued, processor.dropped) == (8, 5)
    warnings = [r.getMessage() for r in caplog.records if "dropping spans" in r.getMessage()]
    assert len(warnings) == 1 and "1 so far: the queue is full (8 spans)" in warnings[0]

    assert [p.value for p in dropped_points(reader)] == [5]
    telemetry_enabled.set_enabled(False)  # after agentotel.uninstrument() nothing of ours is reported
    assert dropped_points(reader) == []
    telemetry_enabled.set_enabled(True)

    exporter.release.set()
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        provider.shutdown()
    assert len(exporter.exported) == 12
    assert any("5 spans were dropped in total" in r.getMessage() for r in caplog.records)


def test_unsampled_spans_are_not_counted_as_dropped():
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = GatedExporter()
    processor = make_processor(exporter, max_queue_size=1, max_export_batch_size=1)
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(processor)
    end_spans(provider, 5)
    assert processor.dropped == 0
    exporter.release.set()
    provider.shutdown()


class ResultExporter(SpanExporter):
    """Returns a result the test chooses and records how many spans it got."""

    def __init__(self) -> None:
        self.result = SpanExportResult.FAILURE
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return self.result

    def shutdown(self) -> None:
        pass


def test_an_unreachable_collector_shrinks_what_is_held_until_it_is_back(caplog):
    import socket

    exporter = ResultExporter()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    processor = make_processor(
        exporter, max_queue_size=64, max_export_batch_size=32, outage_queue_size=8, endpoint=("127.0.0.1", port)
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    assert (processor.limit, processor.outage_capacity) == (64, 8)

    with caplog.at_level(logging.WARNING, logger="agentotel"):
        processor.force_flush()  # nothing queued: no export, no probe
        end_spans(provider, 3)
        processor.force_flush()  # first export: probe says unreachable, the export fails
        assert processor.limit == 8
        end_spans(provider, 20)
    assert (processor.queued, processor.dropped) == (8, 12)
    assert any(
        "dropping spans, 1 so far: the collector at 127.0.0.1:" in r.getMessage()
        and "is unreachable, so at most 8 spans are held" in r.getMessage()
        for r in caplog.records
    )

    with socket.create_server(("127.0.0.1", port)):  # the collector is back
        exporter.result = SpanExportResult.SUCCESS
        processor.force_flush()
        assert processor.limit == 64 and processor.queued == 0
        end_spans(provider, 40)
        assert processor.dropped == 12  # the full queue is available again
        provider.shutdown()
    assert exporter.exported == 3 + 8 + 40


# --------------------------------------------------------------------------- bounded shutdown
def test_shutdown_does_not_wait_when_nothing_listens(caplog):
    exporter = GatedExporter()
    processor = make_processor(exporter, endpoint=("127.0.0.1", free_port()), shutdown_timeout_millis=60_000)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    end_spans(provider, 4)
    assert exporter.entered.wait(10)
    end_spans(provider, 3)
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        provider.shutdown()  # would block for 60 s on the stuck export if it waited
    # The exporter was told to shut down (which released the stuck export) without waiting.
    assert exporter.release.is_set()
    assert any("3 spans were not exported: nothing listens on 127.0.0.1:" in r.getMessage() for r in caplog.records)


def test_shutdown_gives_up_after_its_budget(caplog):
    exporter = GatedExporter()
    processor = make_processor(exporter, shutdown_timeout_millis=50)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    end_spans(provider, 4)
    assert exporter.entered.wait(10)
    end_spans(provider, 2)
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        provider.shutdown()
    assert any(
        "2 spans were not exported within the shutdown budget of 50 ms" in r.getMessage() for r in caplog.records
    )


# --------------------------------------------------------------------------- throttled export logs
def test_export_log_throttle_passes_one_message_per_interval():
    now = [100.0]
    throttle = ExportLogThrottle(interval=60, clock=lambda: now[0])
    logger = logging.getLogger("tests.sdk.throttle")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    logger.addFilter(throttle)
    try:
        for _attempt in range(5):
            logger.error("Failed to export %s to %s", "traces", "localhost:4317")
            now[0] += 10
        logger.debug("debug records are not throttled")
        assert [r.levelno for r in records] == [logging.ERROR, logging.DEBUG]
        assert throttle.suppressed == 4
        now[0] += 20  # 70 s after the first
        logger.warning("Transient error UNAVAILABLE")
        assert len(records) == 3
        message = records[-1].getMessage()
        assert message.startswith("Transient error UNAVAILABLE [agentotel:")
        assert "4 similar messages were held back" in message and "agentotel doctor" in message
    finally:
        logger.removeFilter(throttle)
        logger.removeHandler(handler)


# --------------------------------------------------------------------------- setup_sdk, in a fresh process
SETUP_SCRIPT = r"""
import json, logging
from opentelemetry import metrics, trace
from agentotel import _sdk, _export
setup = _sdk.setup_sdk()
with trace.get_tracer("t").start_as_current_span("hello"):
    pass
print(json.dumps({
    "same_tracer": trace.get_tracer_provider() is setup.tracer_provider,
    "same_meter": metrics.get_meter_provider() is setup.meter_provider,
    "processors": [type(p).__name__ for p in setup.span_processors],
    "capacity": setup.span_processors[0].capacity,
    "throttled": any(isinstance(f, _export.ExportLogThrottle) for f in
                     logging.getLogger("opentelemetry.exporter.otlp.proto.grpc.exporter").filters),
    "current": _sdk.current_setup() is setup,
}))
"""


def run_setup_script(env_overrides: dict[str, str], script: str = SETUP_SCRIPT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)


def test_setup_sdk_installs_hardened_providers_and_the_console_exporter_works():
    done = run_setup_script(
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none", "OTEL_SERVICE_NAME": "sdk-test"}
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[0])
    assert report == {
        "same_tracer": True,
        "same_meter": True,
        "processors": ["BoundedBatchSpanProcessor"],
        "capacity": 32768,
        "throttled": True,
        "current": True,
    }
    printed = "\n".join(lines[1:])  # the console exporter's output, flushed by the atexit shutdown
    assert '"name": "hello"' in printed and '"service.name": "sdk-test"' in printed


def test_setup_sdk_keeps_the_applications_providers():
    script = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "mine = TracerProvider(); trace.set_tracer_provider(mine)\n"
        "from agentotel import _sdk\n"
        "setup = _sdk.setup_sdk()\n"
        "print(setup.tracer_provider is None, trace.get_tracer_provider() is mine, setup.meter_provider is not None)\n"
    )
    done = run_setup_script({"OTEL_METRICS_EXPORTER": "none"}, script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]


def test_sdk_disabled_installs_nothing():
    script = "from agentotel import _sdk\ns = _sdk.setup_sdk()\nprint(s.tracer_provider, s.meter_provider)\n"
    done = run_setup_script({"OTEL_SDK_DISABLED": "true"}, script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None"]


def test_the_sampler_variables_are_honoured() -> None:
    """OTEL_TRACES_SAMPLER / _ARG (documented in configuration.md) reach the provider import agentotel.auto makes."""
    env = dict(
        os.environ,
        OTEL_TRACES_SAMPLER="parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG="0.25",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    code = (
        "import agentotel.auto\n"
        "from opentelemetry import trace\n"
        "print(trace.get_tracer_provider().sampler.get_description())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "TraceIdRatioBased{0.25}" in done.stdout
