"""agentotel.testing: the capture helper users assert with."""

from __future__ import annotations

import pytest
from opentelemetry import trace

import agentotel
from agentotel.testing import TelemetryCapture, capture_telemetry


def test_capture_finds_spans_children_and_renders_a_tree():
    captured = TelemetryCapture()
    tracer = captured.tracer_provider.get_tracer("t")
    with tracer.start_as_current_span("root") as root:
        root.set_attribute("k", "v")
        with tracer.start_as_current_span("child", kind=trace.SpanKind.CLIENT):
            pass
    assert [s.name for s in captured.spans()] == ["child", "root"]
    root_span = captured.span("root")
    assert [c.name for c in captured.children(root_span)] == ["child"]
    assert captured.roots() == [root_span]
    assert captured.tree(attributes=["k"]) == "root [INTERNAL] k='v'\n  child [CLIENT]"
    with pytest.raises(AssertionError, match="expected exactly one span 'missing'"):
        captured.span("missing")
    captured.clear()
    assert captured.spans() == []
    captured.shutdown()


def test_capture_reads_metric_points_filtered_by_attributes():
    captured = TelemetryCapture()
    counter = captured.meter_provider.get_meter("t").create_counter("requests")
    counter.add(2, {"route": "a"})
    counter.add(3, {"route": "b"})
    assert captured.metric_value("requests") == 5
    assert captured.metric_value("requests", route="b") == 3
    assert captured.metric_points("absent") == []
    histogram = captured.meter_provider.get_meter("t").create_histogram("latency")
    histogram.record(0.5, {"route": "a"})
    histogram.record(1.5, {"route": "a"})
    assert captured.metric_value("latency", route="a") == 2  # histogram: count of points
    captured.shutdown()


def test_capture_telemetry_instruments_and_uninstruments():
    with capture_telemetry(capture_sql_parameters=True) as captured:
        assert any(agentotel.instrumented().values())
        assert agentotel._telemetry.current_settings().capture_sql_parameters is True  # pyright: ignore[reportPrivateImportUsage]
    assert not any(agentotel.instrumented().values())
    assert captured.spans() == []


def test_pytest_fixture_is_registered(agentotel_telemetry):
    assert isinstance(agentotel_telemetry, TelemetryCapture)
    assert any(agentotel.instrumented().values())
