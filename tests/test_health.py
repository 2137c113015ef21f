"""agentotel.health(): live components, status rules, process info, a JSON-ready dict."""

from __future__ import annotations

import gc
import json
import random

import pytest

import agentotel
from agentotel import CircuitBreaker, LoadBalancer, RateLimiter, RateLimitExceeded
from agentotel.resilience import _registry
from agentotel.resilience.balancer import OutlierPolicy
from tests.support.clock import FakeClock


@pytest.fixture(autouse=True)
def _only_this_tests_components() -> None:
    gc.collect()  # components of earlier tests are held weakly: let them go


def find(report: dict, kind: str, name: str) -> dict:
    (found,) = [c for c in report["components"][kind] if c["name"] == name]
    return found


def test_healthy_report_is_plain_json() -> None:
    breaker = CircuitBreaker("h-breaker")
    lb = LoadBalancer("h-lb", ["a", "b"])
    limiter = RateLimiter("h-limiter", requests_per_minute=60)
    report = agentotel.health()
    assert json.loads(json.dumps(report)) == report
    assert set(report) == {"status", "reasons", "components", "process"}
    assert set(report["components"]) >= {"cache", "circuit_breaker", "load_balancer", "rate_limiter"}
    assert find(report, "circuit_breaker", "h-breaker")["state"] == "closed"
    assert [i["name"] for i in find(report, "load_balancer", "h-lb")["instances"]] == ["a", "b"]
    assert find(report, "rate_limiter", "h-limiter")["requests_available"] == 60
    assert report["process"]["memory_rss_bytes"] > 0 and report["process"]["threads"] >= 1
    if all(c["status"] == "healthy" for kind in report["components"].values() for c in kind):
        assert report["status"] == "healthy" and report["reasons"] == []
    del breaker, lb, limiter


def test_open_breaker_degrades() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("h-open", minimum_calls=1, window_size=1, open_duration=5, clock=clock)
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    report = agentotel.health()
    assert report["status"] in ("degraded", "unhealthy")
    assert "circuit_breaker h-open is degraded" in report["reasons"]
    assert find(report, "circuit_breaker", "h-open")["retry_after"] == 5
    breaker.reset()
    assert "circuit_breaker h-open is degraded" not in agentotel.health()["reasons"]


def test_every_instance_ejected_is_unhealthy() -> None:
    policy = OutlierPolicy(consecutive_failures=1, max_ejection_percent=100.0)
    lb = LoadBalancer(
        "h-ejected", ["a", "b"], outliers=policy, strategy="round_robin", rng=random.Random(1), clock=FakeClock()
    )
    lease = lb.acquire()
    lease.release("failure")
    assert find(agentotel.health(), "load_balancer", "h-ejected")["status"] == "degraded"
    lease = lb.acquire()
    lease.release("failure")
    report = agentotel.health()
    assert report["status"] == "unhealthy"
    assert "load_balancer h-ejected is unhealthy" in report["reasons"]


def test_rate_limiter_rejection_degrades() -> None:
    clock = FakeClock()
    limiter = RateLimiter("h-limited", requests_per_minute=1, clock=clock)
    limiter.acquire()
    with pytest.raises(RateLimitExceeded):
        limiter.acquire(timeout=0)
    assert "rate_limiter h-limited is degraded" in agentotel.health()["reasons"]


def test_failing_snapshot_is_reported_not_raised() -> None:
    class Broken:
        name = "h-broken"

        def health_snapshot(self) -> dict:
            raise RuntimeError("boom")

    broken = Broken()
    _registry.register("cache", broken)
    report = agentotel.health()
    assert find(report, "cache", "h-broken") == {"name": "h-broken", "status": "unhealthy", "error": "RuntimeError"}
    assert report["status"] == "unhealthy"
    del broken


def test_dropped_components_disappear() -> None:
    breaker = CircuitBreaker("h-gone")
    assert any(c["name"] == "h-gone" for c in agentotel.health()["components"]["circuit_breaker"])
    del breaker
    gc.collect()
    assert not any(c["name"] == "h-gone" for c in agentotel.health()["components"]["circuit_breaker"])


def test_health_is_the_function_whichever_import_came_first() -> None:
    import subprocess
    import sys

    code = (
        "import agentotel._health, agentotel; from agentotel._health import STATUSES; "
        "assert agentotel.health()['status'] in STATUSES; "
        "from agentotel import health; assert health()['status'] in STATUSES"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
