"""The one exception-recording path: error.type, the exception event and the status, SQL literals cleaned."""

from __future__ import annotations

import sqlite3
from typing import Any

import duckdb
import pytest
from opentelemetry.trace import StatusCode

from agentotel import _errors, semconv
from agentotel.testing import TelemetryCapture, capture_telemetry

SECRET = "S3cretValue"


def _recorded(capture: TelemetryCapture, exc: BaseException) -> Any:
    tracer = capture.tracer_provider.get_tracer("test")
    span = tracer.start_span("work")
    _errors.record_exception(span, exc)
    span.end()
    return capture.span("work")


def _raised(fn: Any) -> BaseException:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - the test wants the exception object
        return exc
    raise AssertionError("did not raise")


def _duckdb_error() -> BaseException:
    return _raised(lambda: duckdb.connect().execute(f"SELECT CAST('{SECRET}' AS INTEGER)"))


def _everything(span: Any) -> str:
    texts = [span.status.description or ""]
    for event in span.events:
        texts.extend(str(value) for value in event.attributes.values())
    return "\n".join(texts)


@pytest.mark.parametrize(
    "make",
    [
        _duckdb_error,
        lambda: _raised(lambda: sqlite3.connect(":memory:").execute(f"SELECT 'a' 'b' '{SECRET}'")),
        lambda: RuntimeError(f"tool failed: {_duckdb_error()}"),  # copied text, no chain
        lambda: RuntimeError(
            f"(sqlite3.IntegrityError) UNIQUE constraint failed\n[SQL: INSERT INTO t VALUES (?)]\n"
            f"[parameters: ('{SECRET}',)]"
        ),  # SQLAlchemy's StatementError text
        lambda: RuntimeError(f'invalid input syntax for type integer: "{SECRET}"'),  # PostgreSQL
        lambda: RuntimeError(f"duplicate key\nDETAIL:  Key (email)=({SECRET}@example.com) already exists."),
    ],
    ids=["duckdb", "sqlite3", "copied", "sqlalchemy", "postgres-value", "postgres-key"],
)
def test_known_sql_errors_are_cleaned_everywhere_on_the_span(make: Any) -> None:
    with capture_telemetry() as capture:
        span = _recorded(capture, make())
    assert span.status.status_code is StatusCode.ERROR
    (event,) = span.events
    assert event.name == semconv.EXCEPTION_EVENT
    assert SECRET not in _everything(span)
    assert span.attributes[semconv.ERROR_TYPE] == event.attributes[semconv.EXCEPTION_TYPE]


def test_a_chained_sql_error_is_cleaned_in_the_stack_trace() -> None:
    def wrap() -> None:
        try:
            duckdb.connect().execute(f"SELECT CAST('{SECRET}' AS INTEGER)")
        except duckdb.Error as exc:
            raise ValueError("lookup failed") from exc

    exc = _raised(wrap)
    with capture_telemetry() as capture:
        span = _recorded(capture, exc)
    (event,) = span.events
    trace = event.attributes[semconv.EXCEPTION_STACKTRACE]
    assert "The above exception was the direct cause of the following exception" in trace
    assert "Could not convert string ? to INT32" in trace and SECRET not in trace
    assert trace.rstrip().endswith("ValueError: lookup failed")
    assert span.status.description == "ValueError: lookup failed"
    assert span.attributes[semconv.ERROR_TYPE] == "ValueError"


def test_other_errors_keep_their_message() -> None:
    with capture_telemetry() as capture:
        span = _recorded(capture, KeyError(f"no parcel 42 for {SECRET}"))
    assert SECRET in span.status.description and "42" in span.status.description


def test_opting_in_keeps_sql_literals() -> None:
    with capture_telemetry(capture_sql_parameters=True) as capture:
        span = _recorded(capture, _duckdb_error())
    assert SECRET in span.events[0].attributes[semconv.EXCEPTION_MESSAGE]


def test_an_unprintable_exception_is_recorded_by_type() -> None:
    class Hostile(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    with capture_telemetry() as capture:
        span = _recorded(capture, Hostile())
    assert span.events[0].attributes[semconv.EXCEPTION_MESSAGE] == "<unprintable Hostile>"
    assert span.status.status_code is StatusCode.ERROR
