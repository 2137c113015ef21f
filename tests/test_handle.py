"""The telemetry handle: late binding, instruments made once, no count lost, capture_telemetry restores."""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cachetools
import duckdb
import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentotel
from agentotel import Cache, CircuitBreaker, LoadBalancer, RateLimiter, _handle, _telemetry, semconv
from agentotel.instrumentation.cachetools import name_cache
from agentotel.testing import TelemetryCapture, capture_telemetry
from tests.support.telemetry import RecordingExporter

# Made at import, before any instrument(): what an application's module-level components are.
MODULE_CACHE = Cache("module-cache")
MODULE_BREAKER = CircuitBreaker("module-breaker")
MODULE_BALANCER = LoadBalancer("module-lb", ["a"])
MODULE_LIMITER = RateLimiter("module-limiter", requests_per_minute=6000)


@pytest.fixture(autouse=True)
def uninstrumented() -> Iterator[None]:
    agentotel.uninstrument()
    _telemetry.set_enabled(True)
    yield
    agentotel.uninstrument()
    _telemetry.set_enabled(True)


def _use_components() -> None:
    MODULE_CACHE.get_or_load("k", lambda: 1)
    MODULE_CACHE.get("k")
    MODULE_BREAKER.call(lambda: None)
    MODULE_BALANCER.call(lambda instance: instance)
    MODULE_LIMITER.acquire()


def _points(data: Any, name: str, **attributes: Any) -> list[Any]:
    found = []
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found += [
                        p
                        for p in metric.data.data_points
                        if all(p.attributes.get(k) == v for k, v in attributes.items())
                    ]
    return found


def _assert_components_reported(capture: TelemetryCapture) -> None:
    assert capture.metric_value(semconv.CACHE_LOOKUPS, **{semconv.CACHE_NAME: "module-cache"}) >= 2
    assert capture.metric_points(semconv.CIRCUIT_BREAKER_CALLS, **{semconv.CIRCUIT_BREAKER_NAME: "module-breaker"})
    assert capture.metric_points(semconv.LB_REQUEST_DURATION, **{semconv.LB_NAME: "module-lb"})
    assert capture.metric_points(semconv.LB_PICKS, **{semconv.LB_NAME: "module-lb"})
    assert capture.metric_points(semconv.RATE_LIMITER_ADMITTED, **{semconv.RATE_LIMITER_NAME: "module-limiter"})


def test_module_level_components_report_to_providers_given_later() -> None:
    capture = TelemetryCapture()
    try:
        agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
        MODULE_CACHE.delete("k")
        _use_components()
        _assert_components_reported(capture)
        assert capture.spans("cache.load module-cache")
    finally:
        agentotel.uninstrument()
        capture.shutdown()


def test_module_level_components_report_into_capture_telemetry() -> None:
    with capture_telemetry() as capture:
        MODULE_CACHE.delete("k")
        _use_components()
        _assert_components_reported(capture)
        assert capture.spans("cache.load module-cache")


def test_a_components_own_providers_win() -> None:
    own, other = TelemetryCapture(), TelemetryCapture()
    try:
        cache = Cache("own", tracer_provider=own.tracer_provider, meter_provider=own.meter_provider)
        agentotel.instrument(tracer_provider=other.tracer_provider, meter_provider=other.meter_provider)
        cache.get_or_load("k", lambda: 1)
        assert own.spans("cache.load own") and not other.spans("cache.load own")
        assert own.metric_points(semconv.CACHE_LOOKUPS, **{semconv.CACHE_NAME: "own"})
        assert not other.metric_points(semconv.CACHE_LOOKUPS, **{semconv.CACHE_NAME: "own"})
    finally:
        agentotel.uninstrument()
        own.shutdown()
        other.shutdown()


def test_each_instrument_is_made_once_per_provider(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    capture = TelemetryCapture()
    try:
        for cycle in range(3):
            agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
            caches = [Cache(f"c{cycle}-{i}", meter_provider=capture.meter_provider) for i in range(3)]
            breakers = [CircuitBreaker(f"b{cycle}-{i}", meter_provider=capture.meter_provider) for i in range(3)]
            for cache in caches:
                cache.get_or_load("k", lambda: 1)
            for breaker in breakers:
                breaker.call(lambda: None)
            duckdb.connect().execute("SELECT 1").fetchall()
            capture.metrics()
            agentotel.uninstrument()
        handle = _handle.handle_for(capture.tracer_provider, capture.meter_provider)
        assert handle is _handle.handle_for(capture.tracer_provider, capture.meter_provider)
    finally:
        capture.shutdown()
    duplicates = [r.getMessage() for r in caplog.records if "has been created already" in r.getMessage()]
    assert duplicates == []


def test_uninstrument_exports_what_was_not_yet_collected() -> None:
    exporter = RecordingExporter()
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)  # never, in this test
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    try:
        agentotel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        _use_components()
        tools = name_cache(cachetools.LRUCache(4), "tools")
        tools.get("x")
        duckdb.connect().execute("SELECT 42").fetchall()
        assert exporter.exported == []  # nothing collected yet
        agentotel.uninstrument()
        (data,) = exporter.exported
        assert _points(data, semconv.CACHE_LOOKUPS, **{semconv.CACHE_NAME: "module-cache"})
        assert _points(data, semconv.CACHE_LOOKUPS, **{semconv.CACHE_NAME: "tools"})
        assert _points(data, semconv.CIRCUIT_BREAKER_CALLS, **{semconv.CIRCUIT_BREAKER_NAME: "module-breaker"})
        assert _points(data, semconv.LB_PICKS, **{semconv.LB_NAME: "module-lb"})
        assert _points(data, semconv.RATE_LIMITER_ADMITTED, **{semconv.RATE_LIMITER_NAME: "module-limiter"})
        assert _points(data, semconv.DB_CLIENT_OPERATION_DURATION)  # the batched DuckDB durations too
    finally:
        meter_provider.shutdown()
        tracer_provider.shutdown()


EXIT_SCRIPT = """
import sys
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

out = open(sys.argv[1], "w")
reader = PeriodicExportingMetricReader(ConsoleMetricExporter(out=out), export_interval_millis=3_600_000)
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

import agentotel
from agentotel import Cache

cache = Cache("at-exit")
agentotel.instrument()
for _ in range(5):
    cache.get("missing")
"""


def test_the_last_interval_is_exported_at_exit(tmp_path: Path) -> None:
    out = tmp_path / "metrics.json"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(EXIT_SCRIPT), str(out)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert '"agentotel.cache.lookups"' in text and '"cache.name": "at-exit"' in text
    assert '"value": 5' in text


def test_capture_telemetry_puts_back_what_was_there() -> None:
    before = TelemetryCapture()  # stands for the providers `import agentotel.auto` installed
    try:
        agentotel.instrument(tracer_provider=before.tracer_provider, meter_provider=before.meter_provider)
        state = agentotel.instrumented()
        assert state["duckdb"]
        with capture_telemetry() as capture:
            duckdb.connect().execute("SELECT 1").fetchall()
            assert capture.spans("SELECT")
        assert agentotel.instrumented() == state
        assert _telemetry.is_enabled()
        duckdb.connect().execute("SELECT 2").fetchall()
        assert before.spans("SELECT")  # reported where it was before the capture
        MODULE_CACHE.get("after")
        assert before.metric_points(semconv.CACHE_LOOKUPS, **{semconv.CACHE_NAME: "module-cache"})
    finally:
        agentotel.uninstrument()
        before.shutdown()


def test_capture_telemetry_leaves_an_uninstrumented_process_as_it_was() -> None:
    agentotel.uninstrument()
    _telemetry.set_enabled(True)  # as in a process that never called instrument()
    with capture_telemetry():
        pass
    assert _telemetry.is_enabled()
    assert not any(agentotel.instrumented().values())
    assert _handle.current() is _handle.handle_for(None, None)


def test_scopes_name_their_target_and_carry_schema_urls(telemetry: TelemetryCapture) -> None:
    MODULE_CACHE.delete("k")
    MODULE_CACHE.get_or_load("k", lambda: 1)
    duckdb.connect().execute("SELECT 1").fetchall()

    @agentotel.agent(name="scoped")
    def act() -> None:
        return None

    act()
    tools = name_cache(cachetools.LRUCache(4), "scoped-tools")

    @cachetools.cached(tools)
    def load(x: int) -> int:
        return x

    load(1)
    scopes = {span.name: span.instrumentation_scope for span in telemetry.spans()}
    expected = {
        "cache.load module-cache": semconv.SCOPE_COMPONENTS,
        "SELECT": semconv.SCOPE_DUCKDB,
        "invoke_agent scoped": semconv.SCOPE_AGENT,
        "cache.load scoped-tools": semconv.SCOPE_CACHETOOLS,
    }
    for name, scope in expected.items():
        assert (scopes[name].name, scopes[name].schema_url) == (scope.name, scope.schema_url), name
    emitted = {
        scope.scope.name: scope.scope.schema_url
        for resource in telemetry.metric_reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
    }
    declared = {scope.name: scope.schema_url for scope in semconv.SCOPES}
    assert emitted.items() <= declared.items()
    assert semconv.SCOPE_PROCESS.name in emitted


def test_a_provider_freed_while_instruments_are_made_does_not_deadlock(monkeypatch: pytest.MonkeyPatch) -> None:
    # A dropped provider's finalizer runs whenever the garbage collector frees it, which may
    # be during an allocation made while the handle table's lock is held.
    dropped = MeterProvider(shutdown_on_exit=False)
    _handle.handle_for(None, dropped).scope(semconv.SCOPE_COMPONENTS)  # registers its finalizer
    dropped.cycle = dropped  # type: ignore[attr-defined]  # freed only by the collector
    del dropped
    real_get_meter = metrics.get_meter

    def get_meter_during_a_collection(*args: Any, **kwargs: Any) -> Any:
        gc.collect()  # the collector frees the dropped provider here, in the locked section
        return real_get_meter(*args, **kwargs)

    monkeypatch.setattr(metrics, "get_meter", get_meter_during_a_collection)
    fresh = MeterProvider(shutdown_on_exit=False)
    worker = threading.Thread(
        target=lambda: _handle.handle_for(None, fresh).scope(semconv.SCOPE_COMPONENTS), daemon=True
    )
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "making instruments deadlocked on the handle table's lock"
    fresh.shutdown()
