"""CircuitBreaker telemetry, checked with agentotel.testing.

Guards against "reports a stale state" -> test_state_metric_follows_the_clock.
"""

from __future__ import annotations

import pytest

import agentotel
from agentotel import CircuitBreaker, CircuitOpenError, semconv
from agentotel.testing import TelemetryCapture, capture_telemetry
from tests.support.clock import FakeClock


class Boom(Exception):
    pass


def fail() -> None:
    raise Boom()


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.minimum_calls):
        with pytest.raises(Boom):
            breaker.call(fail)


def state_values(telemetry: TelemetryCapture, name: str) -> dict[str, float]:
    points = telemetry.metric_points(semconv.CIRCUIT_BREAKER_STATE, **{semconv.CIRCUIT_BREAKER_NAME: name})
    return {p.attributes[semconv.CIRCUIT_BREAKER_STATE_ATTR]: p.value for p in points}


def test_state_metric_follows_the_clock(telemetry: TelemetryCapture) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("llm", minimum_calls=2, window_size=2, open_duration=5.0, clock=clock)
    assert state_values(telemetry, "llm") == {"closed": 1, "open": 0, "half_open": 0, "forced_open": 0, "disabled": 0}
    trip(breaker)
    assert state_values(telemetry, "llm")["open"] == 1
    clock.advance(5)  # nobody calls: the metric must still show half_open
    values = state_values(telemetry, "llm")
    assert values["half_open"] == 1 and values["open"] == 0


def test_transitions_calls_and_rejections_are_counted(telemetry: TelemetryCapture) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("db", minimum_calls=2, window_size=2, open_duration=5.0, clock=clock)
    trip(breaker)
    with pytest.raises(CircuitOpenError):
        breaker.call(int)
    clock.advance(5)
    breaker.call(int)  # the probe
    breaker.call(int)
    name = {semconv.CIRCUIT_BREAKER_NAME: "db"}

    def transitions(frm: str, to: str) -> float:
        return telemetry.metric_value(
            semconv.CIRCUIT_BREAKER_TRANSITIONS,
            **name,
            **{semconv.CIRCUIT_BREAKER_FROM: frm, semconv.CIRCUIT_BREAKER_TO: to},
        )

    assert transitions("closed", "open") == 1
    assert transitions("open", "half_open") == 1
    assert transitions("half_open", "closed") == 1
    outcome = semconv.CIRCUIT_BREAKER_OUTCOME
    assert telemetry.metric_value(semconv.CIRCUIT_BREAKER_CALLS, **name, **{outcome: "success"}) == 2
    assert telemetry.metric_value(semconv.CIRCUIT_BREAKER_CALLS, **name, **{outcome: "failure"}) == 2
    assert telemetry.metric_value(semconv.CIRCUIT_BREAKER_REJECTED, **name) == 1


def test_one_instrument_set_for_many_breakers(telemetry: TelemetryCapture) -> None:
    breakers = [CircuitBreaker(f"b{i}") for i in range(3)]
    points = telemetry.metric_points(semconv.CIRCUIT_BREAKER_STATE)
    names = [p.attributes[semconv.CIRCUIT_BREAKER_NAME] for p in points if p.value == 1]
    assert {"b0", "b1", "b2"} <= set(names)  # (breakers other tests keep alive report here too: they bind late)
    del breakers


def test_transition_event_on_the_current_span(telemetry: TelemetryCapture) -> None:
    breaker = CircuitBreaker("api", minimum_calls=2, window_size=2)
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("request"):
        trip(breaker)
    (event,) = telemetry.span("request").events
    assert event.name == semconv.CIRCUIT_BREAKER_TRANSITION_EVENT
    assert dict(event.attributes) == {
        semconv.CIRCUIT_BREAKER_NAME: "api",
        semconv.CIRCUIT_BREAKER_FROM: "closed",
        semconv.CIRCUIT_BREAKER_TO: "open",
    }


def test_nothing_emitted_after_uninstrument() -> None:
    with capture_telemetry() as telemetry:
        breaker = CircuitBreaker("quiet", minimum_calls=2, window_size=2)
        agentotel.uninstrument()
        telemetry.metrics()  # the last collection, made by uninstrument()
        tracer = telemetry.tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("request"):
            trip(breaker)
        assert telemetry.span("request").events == ()
        assert telemetry.metric_points(semconv.CIRCUIT_BREAKER_STATE) == []
        assert telemetry.metric_points(semconv.CIRCUIT_BREAKER_CALLS) == []
    assert breaker.state == "open"  # the breaker itself still works


def test_explicit_meter_provider(telemetry: TelemetryCapture) -> None:
    own = TelemetryCapture()
    try:
        breaker = CircuitBreaker("own", meter_provider=own.meter_provider)
        assert state_values(own, "own")["closed"] == 1
        assert state_values(telemetry, "own") == {}  # not through instrument()'s provider
        assert breaker.state == "closed"
    finally:
        own.shutdown()
