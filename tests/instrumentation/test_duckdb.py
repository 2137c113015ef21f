"""DuckDBInstrumentor against real DuckDB: every way a query runs, one span per execution."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from agentotel import semconv
from agentotel._telemetry import error_type
from agentotel.testing import TelemetryCapture
from tests.support.telemetry import traced_duckdb

DURATION = semconv.DB_CLIENT_OPERATION_DURATION


@pytest.fixture
def telemetry() -> Iterator[TelemetryCapture]:
    with traced_duckdb() as capture:
        yield capture


@pytest.fixture
def con(telemetry: TelemetryCapture) -> Iterator[Any]:
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE landuse_transitions AS SELECT range AS id, range % 7 AS year, "
        "'parcel-' || range AS name FROM range(50)"
    )
    telemetry.clear()
    yield connection
    connection.close()


def only_span(telemetry: TelemetryCapture) -> Any:
    spans = telemetry.spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


# --------------------------------------------------------------------------- execute
def test_execute_span_attributes(telemetry: TelemetryCapture, con: Any) -> None:
    rows = con.execute("SELECT count(*) FROM landuse_transitions WHERE year = 3").fetchall()
    assert rows == [(7,)]
    span = only_span(telemetry)  # execute(...).fetchall() is one span, not two
    assert span.name == "SELECT landuse_transitions"
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes) == {
        "db.system.name": "duckdb",
        "db.namespace": "memory",
        "db.operation.name": "SELECT",
        "db.collection.name": "landuse_transitions",
        "db.query.summary": "SELECT landuse_transitions",
        "db.query.text": "SELECT count(*) FROM landuse_transitions WHERE year = ?",
        "db.response.returned_rows": 1,
    }
    assert span.status.status_code is StatusCode.UNSET


def test_file_database_namespace_is_its_stem(telemetry: TelemetryCapture, tmp_path: Path) -> None:
    connection = duckdb.connect(str(tmp_path / "landuse.duckdb"))
    connection.execute("CREATE TABLE t AS SELECT 1 AS a")
    connection.cursor().execute("SELECT * FROM t").fetchall()
    connection.close()
    assert [s.attributes["db.namespace"] for s in telemetry.spans()] == ["landuse", "landuse"]


def test_parameters_are_not_recorded_by_default(telemetry: TelemetryCapture, con: Any) -> None:
    con.execute("SELECT * FROM landuse_transitions WHERE year = ? AND name = $2", [3, "parcel-3"]).fetchall()
    con.execute("SELECT * FROM landuse_transitions WHERE name = $name", {"name": "parcel-4"}).fetchall()
    first, second = telemetry.spans()
    assert first.attributes["db.query.text"] == "SELECT * FROM landuse_transitions WHERE year = ? AND name = $2"
    assert second.attributes["db.query.text"] == "SELECT * FROM landuse_transitions WHERE name = $name"
    assert not any(k.startswith("db.query.parameter") for s in telemetry.spans() for k in s.attributes)


def test_capture_sql_parameters_opt_in() -> None:
    with traced_duckdb(capture_sql_parameters=True) as telemetry:
        connection = duckdb.connect()
        connection.execute("SELECT $1 AS a, $2 AS b, 'lit' AS c", [7, "alice"]).fetchall()
        connection.execute("SELECT $who AS w", {"who": "bob"}).fetchall()
        first, second = telemetry.spans()
        assert first.attributes["db.query.parameter.0"] == "7"
        assert first.attributes["db.query.parameter.1"] == "alice"
        assert first.attributes["db.query.text"] == "SELECT $1 AS a, $2 AS b, 'lit' AS c"
        assert second.attributes["db.query.parameter.who"] == "bob"


def test_capture_query_text_off() -> None:
    with traced_duckdb(capture_query_text=False) as telemetry:
        duckdb.connect().execute("SELECT 1").fetchall()
        span = only_span(telemetry)
        assert "db.query.text" not in span.attributes and span.attributes["db.operation.name"] == "SELECT"


def test_text_is_capped_at_max_attribute_length() -> None:
    with traced_duckdb(max_attribute_length=40) as telemetry:
        duckdb.connect().execute("SELECT " + ", ".join(f"{i} AS c{i}" for i in range(100))).fetchall()
        assert len(only_span(telemetry).attributes["db.query.text"]) == 40


def test_executemany_batch_size(telemetry: TelemetryCapture, con: Any) -> None:
    con.executemany("INSERT INTO landuse_transitions VALUES (?, ?, ?)", [(100, 1, "a"), (101, 2, "b"), (102, 3, "c")])
    con.executemany("INSERT INTO landuse_transitions VALUES (?, ?, ?)", [(103, 1, "d")])
    batch, single = telemetry.spans()
    assert batch.name == "INSERT landuse_transitions"
    assert batch.attributes["db.operation.batch.size"] == 3
    assert batch.attributes["db.operation.name"] == "BATCH INSERT"
    assert "db.operation.batch.size" not in single.attributes  # a batch of one is not a batch
    assert single.attributes["db.operation.name"] == "INSERT"
    assert con.execute("SELECT count(*) FROM landuse_transitions WHERE id >= 100").fetchone() == (4,)


def test_multiple_statements_in_one_execute(telemetry: TelemetryCapture, con: Any) -> None:
    con.execute("CREATE TABLE a (x INT); INSERT INTO a VALUES (1); INSERT INTO a VALUES (2)")
    span = only_span(telemetry)
    assert span.name == "CREATE TABLE a; INSERT a; INSERT a"
    assert span.attributes["db.operation.name"] == "BATCH"
    assert span.attributes["db.collection.name"] == "a"


def test_cursors_and_statement_objects(telemetry: TelemetryCapture, con: Any) -> None:
    cursor = con.cursor()
    cursor.execute("SELECT max(id) FROM landuse_transitions")
    assert cursor.fetchone() == (49,)
    statement = duckdb.extract_statements("SELECT min(id) FROM landuse_transitions")[0]
    assert con.execute(statement).fetchone() == (0,)
    assert [s.name for s in telemetry.spans()] == ["SELECT landuse_transitions"] * 2
    assert {s.attributes["db.namespace"] for s in telemetry.spans()} == {"memory"}


# --------------------------------------------------------------------------- module level
def test_module_level_functions(telemetry: TelemetryCapture) -> None:
    duckdb.execute("CREATE OR REPLACE TABLE mod_t AS SELECT 1 AS a")
    assert duckdb.execute("SELECT a FROM mod_t").fetchall() == [(1,)]
    duckdb.executemany("INSERT INTO mod_t VALUES (?)", [(2,), (3,)])
    assert duckdb.sql("SELECT sum(a) FROM mod_t").fetchall() == [(6,)]
    assert duckdb.query("SELECT count(*) FROM mod_t").fetchall() == [(3,)]
    duckdb.sql("DROP TABLE mod_t")
    assert [s.name for s in telemetry.spans()] == [
        "CREATE TABLE mod_t",
        "SELECT mod_t",
        "INSERT mod_t",
        "SELECT mod_t",
        "SELECT mod_t",
        "DROP TABLE mod_t",
    ]
    assert {s.attributes["db.namespace"] for s in telemetry.spans()} == {"memory"}


def test_module_level_with_connection_argument(telemetry: TelemetryCapture, tmp_path: Path) -> None:
    connection = duckdb.connect(str(tmp_path / "other.db"))
    duckdb.execute("SELECT 1", connection=connection).fetchall()
    duckdb.sql("SELECT 2", connection=connection).fetchall()
    assert [s.attributes["db.namespace"] for s in telemetry.spans()] == ["other", "other"]


# --------------------------------------------------------------------------- sql() and relations
def test_lazy_sql_spans_at_the_terminal(telemetry: TelemetryCapture, con: Any) -> None:
    relation = con.sql("SELECT name FROM landuse_transitions WHERE id = 3")
    assert telemetry.spans() == []  # nothing ran yet
    assert relation.fetchall() == [("parcel-3",)]
    assert relation.fetchall() == [("parcel-3",)]  # a relation runs again on every read
    assert [s.name for s in telemetry.spans()] == ["SELECT landuse_transitions"] * 2
    assert telemetry.spans()[0].attributes["db.query.text"] == "SELECT name FROM landuse_transitions WHERE id = ?"


def test_eager_sql_spans_at_the_call(telemetry: TelemetryCapture, con: Any) -> None:
    con.sql("CREATE TABLE eager (a INT)")
    con.sql("INSERT INTO eager VALUES (1), (2)")
    result = con.query("INSERT INTO eager VALUES (3) RETURNING a")
    assert [s.name for s in telemetry.spans()] == ["CREATE TABLE eager", "INSERT eager", "INSERT eager"]
    assert result.fetchall() == [(3,)]
    assert len(telemetry.spans()) == 3  # reading what already ran is not another execution


def test_script_runs_head_now_and_keeps_last_lazy(telemetry: TelemetryCapture, con: Any) -> None:
    relation = con.sql("CREATE TABLE s1 AS SELECT 5 AS v; SELECT v FROM s1")
    assert [s.name for s in telemetry.spans()] == ["CREATE TABLE s1"]
    assert relation.fetchall() == [(5,)]
    assert [s.name for s in telemetry.spans()][-1] == "SELECT s1"


def test_derived_relations_use_their_rendered_sql(telemetry: TelemetryCapture, con: Any) -> None:
    rows = con.table("landuse_transitions").filter("year = 2").aggregate("count(*) AS n").fetchall()
    assert rows == [(7,)]
    span = only_span(telemetry)
    # duckdb 2 renders one SELECT; 1.x nests a subquery and qualifies the table with its schema
    assert span.name in ("SELECT landuse_transitions", "SELECT SELECT main.landuse_transitions")
    assert span.attributes["db.operation.name"] == "SELECT"
    if duckdb.__version__ >= "2":  # a 1.x relation does not say which connection it belongs to
        assert span.attributes["db.namespace"] == "memory"
    assert "2" not in span.attributes["db.query.text"]


def _write_csv(rel: Any, tmp: Path) -> Any:
    return rel.write_csv(str(tmp / "out.csv"))


def _write_parquet(rel: Any, tmp: Path) -> Any:
    return rel.write_parquet(str(tmp / "out.parquet"))


TERMINALS: list[tuple[str, Callable[[Any, Path], Any], str]] = [
    ("fetchall", lambda r, _: r.fetchall(), "SELECT landuse_transitions"),
    ("fetchnumpy", lambda r, _: r.fetchnumpy(), "SELECT landuse_transitions"),
    ("df", lambda r, _: r.df(), "SELECT landuse_transitions"),
    ("fetchdf", lambda r, _: r.fetchdf(), "SELECT landuse_transitions"),
    ("to_df", lambda r, _: r.to_df(), "SELECT landuse_transitions"),
    ("arrow", lambda r, _: _arrow_table(r.arrow()), "SELECT landuse_transitions"),
    ("to_arrow_table", lambda r, _: r.to_arrow_table(), "SELECT landuse_transitions"),
    ("fetch_arrow_table", lambda r, _: r.fetch_arrow_table(), "SELECT landuse_transitions"),
    ("pl", lambda r, _: r.pl(), "SELECT landuse_transitions"),
    ("to_dicts", lambda r, _: r.to_dicts(), "SELECT landuse_transitions"),
    ("iter_rows", lambda r, _: list(r.iter_rows()), "SELECT landuse_transitions"),
    ("show", lambda r, _: r.show(), "SELECT landuse_transitions"),
    ("create", lambda r, _: r.create("copy_t"), "CREATE TABLE copy_t SELECT landuse_transitions"),
    ("to_table", lambda r, _: r.to_table("copy_t"), "CREATE TABLE copy_t SELECT landuse_transitions"),
    (
        "insert_into",
        lambda r, _: r.insert_into("landuse_transitions"),
        "INSERT landuse_transitions SELECT landuse_transitions",
    ),
    ("write_csv", _write_csv, "COPY SELECT landuse_transitions"),
    ("write_parquet", _write_parquet, "COPY SELECT landuse_transitions"),
    ("to_csv", lambda r, t: r.to_csv(str(t / "o.csv")), "COPY SELECT landuse_transitions"),
    ("to_parquet", lambda r, t: r.to_parquet(str(t / "o.parquet")), "COPY SELECT landuse_transitions"),
    ("explain", lambda r, _: r.explain(), "EXPLAIN SELECT landuse_transitions"),
]


def _arrow_table(result: Any) -> Any:
    """``arrow()`` gives a Table before duckdb 1.4 and a RecordBatchReader after."""
    return result.read_all() if hasattr(result, "read_all") else result


@pytest.mark.parametrize(("method", "call", "name"), TERMINALS, ids=[t[0] for t in TERMINALS])
def test_relation_terminals(
    telemetry: TelemetryCapture,
    con: Any,
    tmp_path: Path,
    method: str,
    call: Callable[[Any, Path], Any],
    name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if method not in dir(duckdb.DuckDBPyRelation):
        pytest.skip(f"duckdb {duckdb.__version__} has no DuckDBPyRelation.{method}")
    if method in ("df", "fetchdf", "to_df"):
        pytest.importorskip("pandas")
    if method in ("arrow", "to_arrow_table", "fetch_arrow_table"):
        pytest.importorskip("pyarrow")
    if method == "pl":
        pytest.importorskip("polars")
    if method == "fetchnumpy":
        pytest.importorskip("numpy")
    relation = con.sql("SELECT * FROM landuse_transitions WHERE year = 1")
    with (
        pytest.warns(DeprecationWarning) if method == "fetch_arrow_table" and duckdb.__version__ >= "2" else _nothing()
    ):
        call(relation, tmp_path)
    span = only_span(telemetry)
    assert span.name == name
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["db.namespace"] == "memory"
    assert "1" not in span.attributes["db.query.text"].replace("landuse_transitions", "")


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_lazy_polars_frame_is_not_an_execution(telemetry: TelemetryCapture, con: Any) -> None:
    pytest.importorskip("polars")
    if "lazy" not in (duckdb.DuckDBPyRelation.pl.__doc__ or ""):
        pytest.skip("pl(lazy=True) arrived in duckdb 1.4")
    frame = con.sql("SELECT id FROM landuse_transitions").pl(lazy=True)
    spans_after_building = len(telemetry.spans())
    assert spans_after_building == 0
    assert frame.collect().height == 50
    assert len(telemetry.spans()) >= 1  # the scan reads the relation when it is collected


def test_relation_query_method(telemetry: TelemetryCapture, con: Any) -> None:
    base = con.table("landuse_transitions")
    if "query" not in dir(base):
        pytest.skip("no DuckDBPyRelation.query")
    relation = base.query("lt", "SELECT count(*) FROM lt WHERE year = 0")
    assert telemetry.spans() == []
    assert relation.fetchall() == [(8,)]
    assert len(telemetry.spans()) == 1


# --------------------------------------------------------------------------- metric
def test_duration_metric_points_and_buckets(telemetry: TelemetryCapture, con: Any) -> None:
    for _ in range(3):
        con.execute("SELECT * FROM landuse_transitions WHERE id = 1").fetchall()
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT * FROM missing_table")
    ok = telemetry.metric_points(
        DURATION, **{"db.operation.name": "SELECT", "db.collection.name": "landuse_transitions"}
    )
    assert len(ok) == 1
    point = ok[0]
    assert point.count == 3 and point.sum > 0
    assert tuple(point.explicit_bounds) == semconv.DB_CLIENT_OPERATION_DURATION_BUCKETS
    assert dict(point.attributes) == {
        "db.system.name": "duckdb",
        "db.namespace": "memory",
        "db.operation.name": "SELECT",
        "db.collection.name": "landuse_transitions",
    }
    failed = [p for p in telemetry.metric_points(DURATION) if "error.type" in p.attributes]
    assert len(failed) == 1 and failed[0].count == 1
    assert failed[0].attributes["error.type"] == error_type(duckdb.CatalogException("x"))
    metric = telemetry.metrics()[DURATION]
    assert metric.unit == "s"
    assert "agentotel.internal.duckdb.flush" not in telemetry.metrics()  # the flush hook reports nothing


def test_metric_attributes_are_bounded(telemetry: TelemetryCapture, con: Any) -> None:
    for i in range(20):
        con.execute(f"SELECT * FROM landuse_transitions WHERE id = {i} AND name = 'p{i}'").fetchall()
    points = telemetry.metric_points(DURATION, **{"db.operation.name": "SELECT"})
    assert len(points) == 1 and points[0].count == 20  # literals never reach metric attributes
    assert "db.query.text" not in points[0].attributes and "db.query.summary" not in points[0].attributes


# --------------------------------------------------------------------------- nesting
def test_query_span_nests_under_the_current_span(telemetry: TelemetryCapture, con: Any) -> None:
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("tool"):
        con.execute("SELECT 1").fetchall()
        con.sql("SELECT 2").fetchall()
    assert telemetry.tree() == "tool [INTERNAL]\n  SELECT [CLIENT]\n  SELECT [CLIENT]"


def test_os_environment_untouched(telemetry: TelemetryCapture, con: Any) -> None:
    before = dict(os.environ)
    con.execute("SELECT 1")
    assert dict(os.environ) == before


def test_fetchone_fetchmany_stream_one_execution(telemetry: TelemetryCapture, con: Any) -> None:
    relation = con.sql("SELECT id FROM landuse_transitions ORDER BY id")
    if "fetchone" not in dir(relation):
        pytest.skip("duckdb 2 relations have no fetchone/fetchmany")
    assert relation.fetchone() == (0,)
    assert relation.fetchone() == (1,)
    assert relation.fetchmany(2) == [(2,), (3,)]
    assert len(telemetry.spans()) == 1  # later fetches read the same result


def test_table_relation_writes_and_views(
    telemetry: TelemetryCapture, con: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    table = con.table("landuse_transitions")
    table.insert((500, 3, "inserted"))
    names = ["INSERT landuse_transitions"]
    if "update" in dir(table):
        table.update({"name": duckdb.ConstantExpression("renamed")}, condition=duckdb.ColumnExpression("id") == 500)
        names.append("UPDATE landuse_transitions")
    table.filter("id = 500").create_view("v_new")
    names.append("CREATE VIEW v_new SELECT landuse_transitions")
    if "preview" in dir(table):
        table.preview(3)
        names.append("SELECT landuse_transitions")
    # duckdb 1.x renders table relations schema-qualified (main.landuse_transitions)
    assert [s.name.replace("main.", "") for s in telemetry.spans()] == names
    assert con.execute("SELECT count(*) FROM v_new").fetchone() == (1,)
    assert all("500" not in s.attributes.get("db.query.text", "") for s in telemetry.spans())


def test_batched_durations_carry_no_unrelated_exemplar(telemetry: TelemetryCapture, con: Any) -> None:
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("unrelated"):
        con.execute("SELECT 1").fetchall()
        points = telemetry.metric_points(DURATION)  # the flush runs here, inside "unrelated"
    assert points and all(not point.exemplars for point in points)
