"""Returned rows: a statement's span waits on its connection until its rows are fetched, and never longer."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import duckdb
import pytest

from agentotel import semconv
from agentotel.instrumentation.duckdb._connections import Connections
from tests.support.telemetry import traced_duckdb

ROWS = semconv.DB_RESPONSE_RETURNED_ROWS
TEN = "SELECT range AS n FROM range(10)"


def _connection() -> Any:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS n FROM range(10)")
    return con


@pytest.mark.parametrize(
    "fetch",
    [
        lambda c: c.fetchall(),
        lambda c: c.df(),
        lambda c: c.fetchdf(),
        lambda c: c.fetchnumpy(),
        lambda c: c.fetch_arrow_table() if hasattr(c, "fetch_arrow_table") else c.to_arrow_table(),
    ],
    ids=["fetchall", "df", "fetchdf", "fetchnumpy", "arrow"],
)
def test_execute_then_fetching_the_whole_result_gives_the_row_count(fetch: Callable[[Any], Any]) -> None:
    with traced_duckdb() as telemetry:
        con = duckdb.connect()
        con.execute(TEN)
        assert telemetry.spans() == []  # the span waits for the rows
        fetch(con)
        (span,) = telemetry.spans()
    assert span.name == "SELECT" and span.attributes[ROWS] == 10


def test_the_span_ends_when_the_statement_did_not_fetch() -> None:
    with traced_duckdb() as telemetry:
        con = _connection()
        con.execute("SELECT * FROM t")
        con.execute("SELECT count(*) FROM t WHERE n > 4")
        assert [s.name for s in telemetry.spans()] == ["CREATE TABLE t", "SELECT t"]
        assert ROWS not in telemetry.spans()[-1].attributes
        assert con.fetchall() == [(5,)]
        spans = telemetry.spans()
    assert [s.attributes.get(ROWS) for s in spans] == [None, None, 1]
    assert spans[1].end_time <= spans[2].start_time  # timed at the call, not at the fetch


def test_a_partial_fetch_ends_the_span_and_counts_only_a_result_it_read_to_the_end() -> None:
    with traced_duckdb() as telemetry:
        con = _connection()
        con.execute("SELECT * FROM t")
        assert len(con.fetchmany(3)) == 3
        assert len(telemetry.spans()) == 2  # the first fetch ends the span
        con.execute("SELECT * FROM t WHERE n < 2")
        assert len(con.fetchmany(5)) == 2  # fewer than asked: that was all of it
        con.execute("SELECT count(*) FROM t")
        assert con.fetchone() == (10,)
        spans = telemetry.spans()
    assert [(s.name, s.attributes.get(ROWS)) for s in spans] == [
        ("CREATE TABLE t", None),
        ("SELECT t", None),
        ("SELECT t", 2),
        ("SELECT t", None),
    ]


def test_close_uninstrument_and_collection_end_the_waiting_span() -> None:
    with traced_duckdb() as telemetry:
        con = _connection()
        con.execute("SELECT 1")
        con.close()
        assert len(telemetry.spans()) == 2
        other = duckdb.connect()
        other.execute("SELECT 2")
        del other
        gc.collect()
        assert len(telemetry.spans()) == 3
        last = duckdb.connect()
        last.execute("SELECT 3")
    assert len(telemetry.spans()) == 4  # ended when the block uninstrumented
    assert all(ROWS not in s.attributes for s in telemetry.spans())


def test_module_level_execute_and_fetch() -> None:
    with traced_duckdb() as telemetry:
        duckdb.execute(TEN)
        assert len(duckdb.fetchall()) == 10
        (span,) = telemetry.spans()
    assert span.attributes[ROWS] == 10


def test_relation_terminals_count_what_they_return() -> None:
    with traced_duckdb() as telemetry:
        con = _connection()
        relation = con.sql("SELECT * FROM t WHERE n % 2 = 0")
        relation.fetchall()
        relation.df()
        relation.to_dicts() if hasattr(relation, "to_dicts") else relation.fetchall()
        relation.limit(3).fetchall()
        relation.write_csv("/dev/null") if hasattr(relation, "write_csv") else None
        spans = [s for s in telemetry.spans() if s.name.startswith("SELECT")]
    assert [s.attributes.get(ROWS) for s in spans] == [5, 5, 5, 3]


def test_statements_without_rows_end_at_the_call() -> None:
    with traced_duckdb() as telemetry:
        con = _connection()
        con.execute("INSERT INTO t VALUES (99)")
        con.executemany("INSERT INTO t VALUES (?)", [[1], [2]])
        assert [s.name for s in telemetry.spans()] == ["CREATE TABLE t", "INSERT t", "INSERT t"]


def test_the_registry_forgets_dead_connections() -> None:
    connections = Connections()
    connection = duckdb.connect()
    connections[connection] = "memory"
    assert connections.get(connection) == "memory" and len(connections) == 1
    connection.close()
    del connection
    gc.collect()
    assert len(connections) == 0


def test_the_span_covers_the_fetch_where_duckdb_does_the_streaming_work() -> None:
    with traced_duckdb() as telemetry:
        con = duckdb.connect()
        con.execute("CREATE TABLE big AS SELECT range AS v FROM range(300000)")
        con.execute("SELECT v FROM big WHERE v % 3 = 0")  # returns after the first chunk
        before_fetch = time.time_ns()
        assert len(con.fetchall()) == 100000
        after_fetch = time.time_ns()
        span = telemetry.spans()[-1]
    assert before_fetch <= span.end_time <= after_fetch
    assert span.attributes[ROWS] == 100000
    (point,) = [
        p
        for p in telemetry.metric_points(semconv.DB_CLIENT_OPERATION_DURATION)
        if p.attributes.get(semconv.DB_COLLECTION_NAME) == "big" and p.attributes["db.operation.name"] == "SELECT"
    ]
    assert point.count == 1 and point.sum * 1e9 >= span.end_time - before_fetch
