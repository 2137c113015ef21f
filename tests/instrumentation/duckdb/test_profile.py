"""Slow-query profiles: DuckDB's own operator tree on slow statements, read, never produced by us."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest

from agentotel import semconv
from agentotel.instrumentation.duckdb._profile import capped_tree, operator_tree
from tests.support.telemetry import traced_duckdb

PROFILE = semconv.AGENTOTEL_DUCKDB_PROFILE
needs_profile_api = pytest.mark.skipif(
    not hasattr(duckdb.DuckDBPyConnection, "get_profiling_information"),
    reason="get_profiling_information arrived in duckdb 1.5: older versions have no profile to read",
)
QUERY = "SELECT g, count(*) FROM facts WHERE v > 4242 GROUP BY g ORDER BY g"


def _profiled_connection() -> Any:
    con = duckdb.connect()
    con.execute("CREATE TABLE facts AS SELECT range % 7 AS g, range AS v FROM range(200000)")
    con.execute("SET enable_profiling = 'no_output'")  # the user's choice: agentotel never sets it
    return con


def _profile_of(span: Any) -> dict[str, Any] | None:
    events = [e for e in span.events if e.name == PROFILE]
    return json.loads(events[0].attributes[PROFILE]) if events else None


def _names(node: dict[str, Any]) -> list[str]:
    return [node["name"], *(n for child in node.get("children", []) for n in _names(child))]


@needs_profile_api
@pytest.mark.parametrize("run", ["execute", "relation"])
def test_a_slow_statement_carries_its_operator_tree(run: str) -> None:
    with traced_duckdb(slow_query_threshold_ms=0) as telemetry:
        con = _profiled_connection()
        rows = con.execute(QUERY).fetchall() if run == "execute" else con.sql(QUERY).fetchall()
        span = telemetry.spans()[-1]
    assert len(rows) == 7
    profile = _profile_of(span)
    assert profile is not None
    assert isinstance(profile["total_time"], float)
    names = _names(profile["operators"])
    assert any("SCAN" in name for name in names) and any("GROUP" in name for name in names)
    assert "4242" not in json.dumps(profile)  # operator details (filters) only with capture_sql_parameters
    assert all(isinstance(node_time, (int, float)) for node_time in [profile["operators"]["time"]])


@needs_profile_api
def test_details_with_capture_sql_parameters() -> None:
    with traced_duckdb(slow_query_threshold_ms=0, capture_sql_parameters=True) as telemetry:
        _profiled_connection().execute(QUERY).fetchall()
        span = telemetry.spans()[-1]
    assert "4242" in json.dumps(_profile_of(span))


@needs_profile_api
def test_fast_statements_and_unprofiled_connections_get_no_event() -> None:
    with traced_duckdb(slow_query_threshold_ms=60_000) as telemetry:
        _profiled_connection().execute(QUERY).fetchall()
        slow_only = telemetry.spans()[-1]
    with traced_duckdb(slow_query_threshold_ms=0) as telemetry:
        plain = duckdb.connect()
        plain.execute("SELECT 42").fetchall()
        unprofiled = telemetry.spans()[-1]
        assert json.loads(plain.get_profiling_information(format="json")) == {"result": "disabled"}
    assert _profile_of(slow_only) is None and _profile_of(unprofiled) is None


def test_off_by_default() -> None:
    with traced_duckdb() as telemetry:
        _profiled_connection().execute(QUERY).fetchall()
    assert all(_profile_of(span) is None for span in telemetry.spans())


def test_the_users_profiling_setting_and_results_are_left_as_they_were() -> None:
    def run() -> tuple[Any, str]:
        con = _profiled_connection()
        rows = con.execute(QUERY).fetchall()
        setting = con.execute("SELECT current_setting('enable_profiling')").fetchone()
        return rows, str(setting)

    plain = run()
    with traced_duckdb(slow_query_threshold_ms=0):
        traced = run()
    assert traced == plain


def test_the_tree_is_capped_deepest_first_and_stays_json() -> None:
    leaf = {"name": "TABLE_SCAN", "time": 0.5, "rows": 100, "children": []}
    node = leaf
    for depth in range(40):
        node = {"name": f"PROJECTION_{depth}", "time": 0.1, "rows": 10, "children": [node]}
    tree = {"total_time": 1.0, "operators": node}
    text = capped_tree(json.loads(json.dumps(tree)), 600)
    assert len(text) <= 600
    capped = json.loads(text)
    assert capped["operators"]["name"] == "PROJECTION_39"
    assert "pruned" in json.dumps(capped)


def test_both_profile_layouts() -> None:
    two = {
        "query": {"total_time": 0.5},
        "operator": [
            {"name": "RESULT_COLLECTOR", "children": [{"name": "SEQ_SCAN", "timing": 0.2, "intermediate_rows": 9}]}
        ],
    }
    one = {
        "latency": 0.5,
        "rows_returned": 9,
        "children": [{"operator_name": "SEQ_SCAN", "operator_timing": 0.2, "operator_cardinality": 9}],
    }
    for profile in (two, one):
        tree = operator_tree(profile)
        assert tree is not None
        assert tree["total_time"] == 0.5
        assert tree["operators"] == {"name": "SEQ_SCAN", "time": 0.2, "rows": 9, "children": []}
    assert operator_tree({"result": "disabled"}) is None


@needs_profile_api
def test_pool_connections_are_profiled_when_the_threshold_is_set() -> None:
    from agentotel import DuckDBPool

    with traced_duckdb(slow_query_threshold_ms=0) as telemetry:
        pool = DuckDBPool(":memory:", size=2, name="profiled")
        with pool.connection() as con:
            con.execute("CREATE TABLE facts AS SELECT range % 7 AS g, range AS v FROM range(20000)")
            con.execute(QUERY).fetchall()
        pool.close()
        span = telemetry.spans()[-1]
    assert _profile_of(span) is not None
    with traced_duckdb() as telemetry:  # threshold off: the pool leaves the profiler off
        pool = DuckDBPool(":memory:", size=1)
        with pool.connection() as con:
            assert json.loads(con.get_profiling_information(format="json")) == {"result": "disabled"}
        pool.close()
