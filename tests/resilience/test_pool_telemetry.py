"""DuckDBPool telemetry: the database client connection metrics, exact counts, and nothing after uninstrument."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

import agentotel
from agentotel import DuckDBPool, semconv
from agentotel.resilience.pool import PoolTimeoutError
from agentotel.testing import TelemetryCapture, capture_telemetry
from tests.support.clock import FakeClock

POOL = {semconv.DB_CLIENT_CONNECTION_POOL_NAME: "landuse"}


def state(name: str) -> dict[str, str]:
    return {**POOL, semconv.DB_CLIENT_CONNECTION_STATE: name}


def test_connection_counts_by_state_max_and_pending(telemetry: TelemetryCapture) -> None:
    with DuckDBPool(":memory:", size=3, name="landuse", timeout=None) as pool:
        assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_MAX, **POOL) == 3
        with pool.connection(), pool.connection():
            assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_COUNT, **state("used")) == 2
            assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_COUNT, **state("idle")) == 0
            with pool.connection():
                done = threading.Event()

                def wait() -> None:
                    with pool.connection():
                        done.set()

                waiter = threading.Thread(target=wait)
                waiter.start()
                while pool.stats()["pending"] == 0:
                    done.wait(0.001)
                assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_PENDING_REQUESTS, **POOL) == 1
            waiter.join(10)
            assert done.is_set()
            assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_PENDING_REQUESTS, **POOL) == 0
        assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_COUNT, **state("used")) == 0
        assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_COUNT, **state("idle")) == 3


def test_wait_use_and_create_times_and_timeouts(telemetry: TelemetryCapture) -> None:
    clock = FakeClock()
    with DuckDBPool(":memory:", size=1, name="landuse", timeout=0, clock=clock) as pool:
        for _ in range(3):
            with pool.connection():
                clock.advance(0.25)
            clock.advance(1.0)  # idle time is not use time
        with pool.connection(), pytest.raises(PoolTimeoutError), pool.connection():
            pass
        (wait,) = telemetry.metric_points(semconv.DB_CLIENT_CONNECTION_WAIT_TIME, **POOL)
        (use,) = telemetry.metric_points(semconv.DB_CLIENT_CONNECTION_USE_TIME, **POOL)
        (create,) = telemetry.metric_points(semconv.DB_CLIENT_CONNECTION_CREATE_TIME, **POOL)
        assert wait.count == 4 and wait.sum == 0.0  # every acquisition, none waited on this clock
        assert use.count == 4 and use.sum == pytest.approx(0.75)
        assert create.count == 1  # one connection, opened once and reused
        assert tuple(use.explicit_bounds) == semconv.DB_CLIENT_CONNECTION_TIME_BUCKETS
        assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_TIMEOUTS, **POOL) == 1


def test_counts_are_exact_under_threads(telemetry: TelemetryCapture) -> None:
    threads, rounds = 16, 100
    with DuckDBPool(":memory:", size=4, name="landuse", timeout=30) as pool:

        def work() -> None:
            for _ in range(rounds):
                with pool.connection() as con:
                    con.execute("SELECT 1").fetchall()

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(60)
        (wait,) = telemetry.metric_points(semconv.DB_CLIENT_CONNECTION_WAIT_TIME, **POOL)
        (use,) = telemetry.metric_points(semconv.DB_CLIENT_CONNECTION_USE_TIME, **POOL)
        assert wait.count == use.count == threads * rounds
        assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_COUNT, **state("used")) == 0
        assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_COUNT, **state("idle")) == 4
        assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_PENDING_REQUESTS, **POOL) == 0
        # The statements themselves are traced as usual.
        assert len(telemetry.spans("SELECT")) == threads * rounds


def test_pools_report_separately_by_name(telemetry: TelemetryCapture) -> None:
    with DuckDBPool(":memory:", size=2, name="a") as a, DuckDBPool(":memory:", size=5, name="b") as b:
        with a.connection(), b.connection(), b.connection():
            used = {semconv.DB_CLIENT_CONNECTION_STATE: "used"}
            assert (
                telemetry.metric_value(
                    semconv.DB_CLIENT_CONNECTION_COUNT, **used, **{semconv.DB_CLIENT_CONNECTION_POOL_NAME: "a"}
                )
                == 1
            )
            assert (
                telemetry.metric_value(
                    semconv.DB_CLIENT_CONNECTION_COUNT, **used, **{semconv.DB_CLIENT_CONNECTION_POOL_NAME: "b"}
                )
                == 2
            )
            assert telemetry.metric_value(semconv.DB_CLIENT_CONNECTION_MAX) == 7


def test_nothing_emitted_after_uninstrument() -> None:
    with capture_telemetry() as telemetry:
        pool = DuckDBPool(":memory:", size=1, name="landuse")
        agentotel.uninstrument()
        telemetry.metrics()  # the last collection, made by uninstrument()
        with pool.connection():
            pass
        pool.close()
        assert telemetry.metrics() == {}


def test_a_failing_histogram_never_reaches_the_caller(telemetry: TelemetryCapture, caplog) -> None:
    class Broken:
        def record(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("sdk bug")

    with DuckDBPool(":memory:", size=1, name="landuse") as pool:
        pool._telemetry.binding = SimpleNamespace(
            current=lambda: {  # type: ignore[assignment]
                semconv.DB_CLIENT_CONNECTION_WAIT_TIME: Broken(),
                semconv.DB_CLIENT_CONNECTION_USE_TIME: Broken(),
                semconv.DB_CLIENT_CONNECTION_CREATE_TIME: Broken(),
            }
        )
        with pool.connection() as con:
            assert con.execute("SELECT 1").fetchall() == [(1,)]
        assert pool.stats()["idle"] == 1
    assert any("duckdb pool histogram" in r.getMessage() for r in caplog.records)
