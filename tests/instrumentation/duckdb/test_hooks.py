"""The hooks call DuckDB once and give back exactly what DuckDB gave; failures of lazy relations are spanned."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import pytest
from opentelemetry.trace import StatusCode

from tests.support.telemetry import traced_duckdb


class CountingCalls:
    """Counts the calls DuckDB receives: installed under the instrumentation, in place of a DuckDB attribute."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
        self.calls = 0
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


def _message(exc: BaseException) -> str:
    """The message without the native stack trace duckdb 1.x adds to internal errors (it lists C frames)."""
    return str(exc).split("\n\nStack Trace:")[0]


def _failure(run: Callable[[], Any]) -> BaseException:
    try:
        run()
    except BaseException as exc:  # noqa: BLE001 - whatever DuckDB raises is the subject
        return exc
    raise AssertionError("the call should fail")


INVALID_CALLS: dict[str, tuple[Any, str, Callable[[], Any]]] = {
    "con.execute(123)": (duckdb.DuckDBPyConnection, "execute", lambda: duckdb.connect().execute(123)),
    "con.executemany(None)": (duckdb.DuckDBPyConnection, "executemany", lambda: duckdb.connect().executemany(None)),
    "con.sql(['x'])": (duckdb.DuckDBPyConnection, "sql", lambda: duckdb.connect().sql(["x"])),
    "duckdb.execute(None)": (duckdb, "execute", lambda: duckdb.execute(None)),
    "duckdb.sql(None)": (duckdb, "sql", lambda: duckdb.sql(None)),
    "rel.query('x')": (duckdb.DuckDBPyRelation, "query", lambda: duckdb.connect().sql("SELECT 1").query("x")),
}


@pytest.fixture
def agentotel_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        yield caplog


@pytest.mark.parametrize("case", sorted(INVALID_CALLS))
def test_invalid_arguments_reach_duckdb_once_and_fail_as_without_us(
    case: str, monkeypatch: pytest.MonkeyPatch, agentotel_warnings: pytest.LogCaptureFixture
) -> None:
    owner, name, run = INVALID_CALLS[case]
    plain = _failure(run)
    counter = CountingCalls(monkeypatch, owner, name)
    with traced_duckdb():
        traced = _failure(run)
    assert counter.calls == 1
    assert type(traced) is type(plain)
    assert _message(traced) == _message(plain)
    assert traced.__context__ is None and plain.__context__ is None
    assert type(traced.__cause__) is type(plain.__cause__)
    assert not [r for r in agentotel_warnings.records if r.name.startswith("agentotel")]


def test_a_lazy_relation_that_fails_to_bind_gets_an_error_span() -> None:
    with traced_duckdb() as telemetry:
        with pytest.raises(duckdb.CatalogException):
            duckdb.sql("SELECT * FROM no_table_by_this_name WHERE a = 'x'")
        with pytest.raises(duckdb.Error):
            duckdb.connect().sql("SELECT 'abc'::INTEGER + missing_column")
        spans = telemetry.spans()
    assert [s.name for s in spans] == ["SELECT no_table_by_this_name", "SELECT"]
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"].startswith(("duckdb.", "_duckdb."))
        assert span.end_time >= span.start_time


def test_a_lazy_relation_that_binds_gets_its_span_at_the_terminal_only() -> None:
    with traced_duckdb() as telemetry:
        relation = duckdb.sql("SELECT 42 AS answer")
        assert telemetry.spans() == []
        assert relation.fetchall() == [(42,)]
    assert [s.name for s in telemetry.spans()] == ["SELECT"]


def test_hooks_show_no_attribute_of_their_own() -> None:
    """Code that lists a function's attributes (duckdb's own tests do) sees what it sees without us."""

    def public(value: Any) -> set[str]:
        return {name for name in dir(value) if not (name.startswith("__") and name.endswith("__"))}

    names = ["execute", "sql", "connect", "default_connection", "cursor", "fetchall", "close"]
    plain = {name: public(getattr(duckdb, name)) for name in names if hasattr(duckdb, name)}
    with traced_duckdb():
        traced = {name: public(getattr(duckdb, name)) for name in plain}
        assert all(getattr(duckdb, name) is not None for name in plain)
    for name in plain:
        assert traced[name] <= plain[name] | public(lambda: None), name


def test_a_late_bound_instrumentation_reports_to_the_providers_in_force() -> None:
    """Instrumented without providers (as by opentelemetry-instrument), the hooks follow the handle in force."""
    from agentotel import _handle
    from agentotel.instrumentation.duckdb import DuckDBInstrumentor
    from agentotel.testing import TelemetryCapture

    first, second = TelemetryCapture(), TelemetryCapture()
    previous = _handle.use(_handle.handle_for(first.tracer_provider, first.meter_provider))
    instrumentor = DuckDBInstrumentor()
    instrumentor.instrument()
    try:
        con = duckdb.connect()
        con.execute("SELECT 1").fetchall()
        _handle.use(_handle.handle_for(second.tracer_provider, second.meter_provider))
        con.execute("SELECT 2").fetchall()
        con.sql("SELECT 3").fetchall()
    finally:
        instrumentor.uninstrument()
        _handle.use(previous)
    assert [s.attributes["db.query.text"] for s in first.spans()] == ["SELECT ?"]
    assert [s.attributes["db.query.text"] for s in second.spans()] == ["SELECT ?", "SELECT ?"]
    assert second.metric_points("db.client.operation.duration")
