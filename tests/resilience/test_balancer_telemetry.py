"""LoadBalancer telemetry, checked with agentotel.testing."""

from __future__ import annotations

import random

import pytest

import agentotel
from agentotel import LoadBalancer, NoInstanceAvailable, semconv
from agentotel.resilience.balancer import OutlierPolicy
from agentotel.testing import TelemetryCapture, capture_telemetry
from tests.support.clock import FakeClock


def make(instances, **options) -> LoadBalancer:
    options.setdefault("rng", random.Random(5))
    options.setdefault("clock", FakeClock())
    return LoadBalancer("models", instances, **options)


def at(instance: str, **extra: str) -> dict[str, str]:
    return {semconv.LB_NAME: "models", semconv.LB_INSTANCE: instance, **extra}


def test_picks_inflight_and_durations(telemetry: TelemetryCapture) -> None:
    clock = FakeClock()
    lb = make(["a", "b"], clock=clock, strategy="round_robin", outliers=None)
    held = lb.acquire()  # a, still in flight
    for _ in range(3):
        with lb.lease():
            clock.advance(0.2)
    with pytest.raises(ValueError):
        with lb.lease():
            raise ValueError()
    assert telemetry.metric_value(semconv.LB_PICKS, **at("a")) == 3
    assert telemetry.metric_value(semconv.LB_PICKS, **at("b")) == 2
    assert telemetry.metric_value(semconv.LB_INFLIGHT, **at("a")) == 1
    assert telemetry.metric_value(semconv.LB_INFLIGHT, **at("b")) == 0
    (success_b,) = telemetry.metric_points(semconv.LB_REQUEST_DURATION, **at("b", **{semconv.LB_OUTCOME: "success"}))
    assert success_b.count == 2 and success_b.sum == pytest.approx(0.4)
    assert telemetry.metric_value(semconv.LB_REQUEST_DURATION, **at("a", **{semconv.LB_OUTCOME: "failure"})) == 1
    held.release()
    assert telemetry.metric_value(semconv.LB_INFLIGHT, **at("a")) == 0


def test_ejections_and_bulkhead_counters(telemetry: TelemetryCapture) -> None:
    policy = OutlierPolicy(consecutive_failures=2, jitter=0.0)
    lb = make(["a", "b"], strategy="round_robin", outliers=policy, max_inflight=1)
    for _ in range(4):
        lease = lb.acquire()
        lease.release("failure" if lease.instance == "a" else "success")
    reason = {semconv.LB_EJECTION_REASON: "consecutive_failures"}
    assert telemetry.metric_value(semconv.LB_EJECTIONS, **at("a", **reason)) == 1
    assert telemetry.metric_value(semconv.LB_EJECTED, **{semconv.LB_NAME: "models"}) == 1
    held = [lb.acquire(), lb.acquire()]  # b; then b is full, so panic mode picks the ejected a
    with pytest.raises(NoInstanceAvailable):
        lb.acquire(timeout=0.01)
    assert telemetry.metric_value(semconv.LB_WAITS, **{semconv.LB_NAME: "models"}) == 1
    assert telemetry.metric_value(semconv.LB_REJECTED, **{semconv.LB_NAME: "models"}) == 1
    for lease in held:
        lease.release()


def test_chosen_instance_on_the_current_span(telemetry: TelemetryCapture) -> None:
    lb = make(["gpu-1"], name_of=lambda inst: f"host:{inst}")
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("chat"):
        with lb.lease():
            pass
    assert telemetry.span("chat").attributes[semconv.LB_INSTANCE] == "host:gpu-1"


def test_nothing_emitted_after_uninstrument() -> None:
    with capture_telemetry() as telemetry:
        lb = make(["a"])
        agentotel.uninstrument()
        telemetry.metrics()  # the last collection, made by uninstrument()
        tracer = telemetry.tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("chat"):
            with lb.lease():
                pass
        assert semconv.LB_INSTANCE not in telemetry.span("chat").attributes
        assert telemetry.metrics() == {}
    assert lb.inflight("a") == 0
