"""agentotel.instrument()/uninstrument(): idempotent, one layer of hooks, options, disabled list."""

from __future__ import annotations

import duckdb
import pytest

import agentotel
from agentotel import _telemetry
from agentotel.testing import TelemetryCapture


@pytest.fixture
def capture():
    captured = TelemetryCapture()
    agentotel.uninstrument()
    yield captured
    agentotel.uninstrument()
    captured.shutdown()


def _query_spans(capture: TelemetryCapture) -> list:
    return [s for s in capture.spans() if s.attributes.get("db.system.name") == "duckdb"]


def test_instrument_twice_leaves_one_layer_of_hooks(capture):
    for _ in range(3):
        agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    duckdb.connect().execute("SELECT 42").fetchall()
    assert len(_query_spans(capture)) == 1
    assert agentotel.instrumented()["duckdb"] is True


def test_instrument_uninstrument_cycles_leave_exactly_one_layer(capture):
    for _ in range(20):
        agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
        agentotel.uninstrument()
    agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    duckdb.connect().execute("SELECT 1").fetchall()
    assert len(_query_spans(capture)) == 1


def test_uninstrument_emits_nothing_and_is_idempotent(capture):
    agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    agentotel.uninstrument()
    agentotel.uninstrument()
    duckdb.connect().execute("SELECT 1").fetchall()
    assert capture.spans() == []
    assert not any(agentotel.instrumented().values())
    assert _telemetry.is_enabled() is False


def test_reinstrument_with_other_providers_moves_telemetry(capture):
    other = TelemetryCapture()
    try:
        agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
        agentotel.instrument(tracer_provider=other.tracer_provider, meter_provider=other.meter_provider)
        duckdb.connect().execute("SELECT 1").fetchall()
        assert _query_spans(capture) == []
        assert len(_query_spans(other)) == 1
    finally:
        other.shutdown()


def test_disabled_instrumentations_are_skipped(capture):
    agentotel.instrument(
        tracer_provider=capture.tracer_provider,
        meter_provider=capture.meter_provider,
        disabled_instrumentations={"duckdb"},
    )
    duckdb.connect().execute("SELECT 1").fetchall()
    assert _query_spans(capture) == []
    assert agentotel.instrumented()["duckdb"] is False


def test_disabled_instrumentations_from_environment(capture, monkeypatch):
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "duckdb")
    agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    duckdb.connect().execute("SELECT 1").fetchall()
    assert _query_spans(capture) == []


def test_options_reach_current_settings(capture):
    agentotel.instrument(
        tracer_provider=capture.tracer_provider,
        meter_provider=capture.meter_provider,
        capture_sql_parameters=True,
        max_attribute_length=100,
    )
    settings = _telemetry.current_settings()
    assert settings.capture_sql_parameters is True
    assert settings.max_attribute_length == 100


def test_unknown_option_is_a_clear_type_error(capture):
    with pytest.raises(TypeError, match="unknown option"):
        agentotel.instrument(capture_everything=True)
