"""Replacement scans see exactly what they see without agentotel: the caller's names, nothing of ours.

Each case runs the same user code twice, uninstrumented and instrumented, and
compares the outcome: the rows, or the exception's type and message (DuckDB
quotes the file and line of a variable it cannot scan, so the location must be
the user's too).
"""

from __future__ import annotations

import asyncio
import threading
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from agentotel.instrumentation.duckdb import _scope
from tests.support.telemetry import traced_duckdb

GLOBAL_FRAME = pd.DataFrame({"g": [1, 2, 3]})
NOT_A_TABLE = 42


def outcome(run: Callable[[], Any]) -> Any:
    """What ``run()`` gives: its rows, or ``(exception type, message)``."""
    try:
        return run()
    except Exception as exc:
        return type(exc).__name__, str(exc)


def same_with_and_without(run: Callable[[], Any]) -> Any:
    """``run()`` uninstrumented, then instrumented: both outcomes must be equal; returns the traced one."""
    plain = outcome(run)
    with traced_duckdb() as telemetry:
        traced = outcome(run)
        spans = telemetry.spans()
    assert traced == plain
    assert spans, "the instrumented run emitted no span"
    return traced


def rows(relation: Any) -> Any:
    return relation.fetchall() if relation is not None else None


# ------------------------------------------------------------------ every entry point, a local frame
def _relation_query(q: str) -> Any:
    con = duckdb.connect()  # kept alive while its relation runs (duckdb 1.x relations do not keep it)
    return rows(con.sql("SELECT 1 AS one").query("v", q.replace("FROM", "FROM v, ")))


ENTRY_POINTS: dict[str, Callable[[str], Any]] = {
    "duckdb.sql": lambda q: rows(duckdb.sql(q)),
    "duckdb.query": lambda q: rows(duckdb.query(q)),
    "duckdb.execute": lambda q: duckdb.execute(q).fetchall(),
    "con.sql": lambda q: rows(duckdb.connect().sql(q)),
    "con.query": lambda q: rows(duckdb.connect().query(q)),
    "con.execute": lambda q: duckdb.connect().execute(q).fetchall(),
    "cursor.execute": lambda q: duckdb.connect().cursor().execute(q).fetchall(),
    "rel.query": lambda q: _relation_query(q),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_only_the_calling_frame_is_searched(entry: str) -> None:
    run_query = ENTRY_POINTS[entry]

    def user_code() -> Any:
        frame = pd.DataFrame({"a": [1, 2]})  # noqa: F841  (found by name by DuckDB)
        return run_query("SELECT * FROM frame")

    # run_query's own frame is the caller: its variables, not user_code's, are in scope, as without us
    result = same_with_and_without(user_code)
    assert result[0] in ("CatalogException", "BinderException")


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_dataframe_in_the_calling_frame_is_found(entry: str) -> None:
    local_frame = pd.DataFrame({"a": [1, 2]})

    def run() -> Any:
        mine = local_frame  # noqa: F841  (found by name by DuckDB)
        q = "SELECT * FROM mine"
        if entry == "duckdb.sql":
            return rows(duckdb.sql(q))
        if entry == "duckdb.query":
            return rows(duckdb.query(q))
        if entry == "duckdb.execute":
            return duckdb.execute(q).fetchall()
        con = duckdb.connect()
        if entry == "con.sql":
            return rows(con.sql(q))
        if entry == "con.query":
            return rows(con.query(q))
        if entry == "con.execute":
            return con.execute(q).fetchall()
        if entry == "cursor.execute":
            return con.cursor().execute(q).fetchall()
        return rows(con.sql("SELECT 1 AS one").query("v", "SELECT * FROM v, mine"))

    result = same_with_and_without(run)
    assert result in ([(1,), (2,)], [(1, 1), (1, 2)])


def test_module_global() -> None:
    assert same_with_and_without(lambda: duckdb.sql("SELECT sum(g) FROM GLOBAL_FRAME").fetchall()) == [(6,)]


def test_nested_function_closure_method_comprehension_lambda() -> None:
    outer = pd.DataFrame({"x": [5]})

    def nested() -> Any:
        captured = outer  # noqa: F841
        return duckdb.sql("SELECT x FROM captured").fetchall()

    class Repository:
        def __init__(self) -> None:
            self.frame = pd.DataFrame({"m": [7]})

        def query(self) -> Any:
            mine = self.frame  # noqa: F841
            return duckdb.sql("SELECT m FROM mine").fetchall()

    assert same_with_and_without(nested) == [(5,)]
    assert same_with_and_without(Repository().query) == [(7,)]
    frames = [pd.DataFrame({"c": [i]}) for i in range(3)]
    comprehension = lambda: [duckdb.sql("SELECT c FROM f").fetchall() for f in frames]  # noqa: E731
    assert same_with_and_without(comprehension) == [[(0,)], [(1,)], [(2,)]]
    arrow_table = pa.table({"t": [9]})
    assert same_with_and_without(lambda tab=arrow_table: duckdb.sql("SELECT t FROM tab").fetchall()) == [(9,)]


def test_threads_and_async_functions() -> None:
    def in_thread() -> Any:
        result: list[Any] = []

        def work() -> None:
            mine = pd.DataFrame({"w": [3]})  # noqa: F841
            result.append(outcome(lambda: duckdb.sql("SELECT w FROM mine").fetchall()))
            result.append(outcome(lambda: duckdb.connect().execute("SELECT count(*) FROM GLOBAL_FRAME").fetchall()))

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        return result

    async def coroutine() -> Any:
        mine = pd.DataFrame({"z": [4]})  # noqa: F841
        await asyncio.sleep(0)
        return duckdb.sql("SELECT z FROM mine").fetchall()

    assert same_with_and_without(in_thread)[1] == [(3,)]
    assert same_with_and_without(lambda: asyncio.run(coroutine())) == [(4,)]


def test_names_of_ours_are_not_visible_to_sql() -> None:
    for name in ("call", "scope", "text", "query", "semconv", "tracer", "prepared", "span", "args", "kwargs", "self"):
        result = same_with_and_without(lambda name=name: duckdb.sql(f"SELECT * FROM {name}").fetchall())
        assert result[0] == "CatalogException", (name, result)


def test_unscannable_variable_error_names_the_users_line() -> None:
    result = same_with_and_without(lambda: duckdb.sql("SELECT * FROM NOT_A_TABLE").fetchall())
    assert __file__ in result[1]


def test_relation_terminal_rebinds_in_the_callers_scope() -> None:
    con = duckdb.connect()

    def run() -> Any:
        con.execute("CREATE OR REPLACE TABLE late (a INTEGER)")
        relation = con.sql("SELECT * FROM late")
        con.execute("DROP TABLE late")
        late = pd.DataFrame({"a": [11]})  # noqa: F841  (duckdb 1.x binds again at the terminal)
        return outcome(relation.fetchall)

    same_with_and_without(run)


def test_traceback_frames_of_the_user_are_unchanged() -> None:
    def failing() -> None:
        duckdb.sql("SELECT * FROM no_such_table_here")

    def frames() -> list[tuple[str, str, int | None]]:
        try:
            failing()
        except duckdb.Error as exc:
            return [
                (f.filename, f.name, f.lineno)
                for f in traceback.extract_tb(exc.__traceback__)
                if "agentotel" not in f.filename
            ]
        raise AssertionError("should fail")

    plain = frames()
    with traced_duckdb():
        traced = frames()
    assert traced == plain


def test_scope_rule_follows_the_duckdb_major_version() -> None:
    assert _scope.scope_rule("1.5.5") == _scope.INNERMOST
    assert _scope.scope_rule("2.0.1") == _scope.OUTSIDE_DUCKDB
    assert _scope.AVAILABLE


def test_duckdb_warnings_name_the_callers_line() -> None:
    """duckdb's warnings point at the line that called it (its stack level is counted in frames)."""

    def warned() -> tuple[str, int]:
        con = duckdb.connect()
        con.execute("SELECT 1")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            con.to_arrow_table() if hasattr(con, "to_arrow_table") else con.fetch_arrow_table()
        return [(w.filename, w.lineno) for w in caught]  # type: ignore[return-value]

    plain = warned()
    with traced_duckdb():
        traced = warned()
    assert traced == plain
