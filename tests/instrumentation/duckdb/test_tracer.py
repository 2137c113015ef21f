"""Span names and metric series stay bounded whatever the statements are."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from agentotel import semconv
from agentotel.instrumentation.duckdb._tracer import MAX_COLLECTIONS, MAX_SPAN_NAMES, DistinctValues
from tests.support.telemetry import traced_duckdb


def _series(telemetry: object) -> set[frozenset[tuple[str, object]]]:
    points = telemetry.metric_points(semconv.DB_CLIENT_OPERATION_DURATION)  # type: ignore[attr-defined]
    return {frozenset(point.attributes.items()) for point in points}


def test_identical_relations_over_python_objects_give_one_name_and_one_series() -> None:
    frame = pd.DataFrame({"a": [1, 2]})
    table = pa.table({"a": [1, 2]})
    con = duckdb.connect()
    with traced_duckdb() as telemetry:
        for _ in range(200):
            con.from_df(frame).fetchall()
            con.from_arrow(table).fetchall()
            con.values([1, 2]).fetchall()
        names = {span.name for span in telemetry.spans()}
        series = _series(telemetry)
    assert len(names) == 1, names
    assert len(series) == 1, series


def test_files_named_as_tables_are_not_names(tmp_path: Path) -> None:
    con = duckdb.connect()
    with traced_duckdb() as telemetry:
        for i in range(30):
            folder = tmp_path / f"run-{i}"
            folder.mkdir()
            path = folder / f"part-{i}.parquet"
            con.execute(f"COPY (SELECT {i} AS a) TO '{path}' (FORMAT parquet)")
            assert con.execute(f'SELECT * FROM "{path}"').fetchall() == [(i,)]
        spans = telemetry.spans()
        series = _series(telemetry)
    assert {span.name for span in spans} == {"COPY", "SELECT"}
    assert all(str(tmp_path) not in str(dict(span.attributes)) for span in spans)
    assert all(semconv.DB_COLLECTION_NAME not in dict(attributes) for attributes in series)
    assert len(series) == 2


def test_many_distinct_tables_stop_adding_names_and_series_at_the_bounds() -> None:
    con = duckdb.connect()
    count = MAX_SPAN_NAMES + 50
    with traced_duckdb() as telemetry:
        for i in range(count):
            con.execute(f"CREATE TABLE t_{i} (a INTEGER)")
        names = {span.name for span in telemetry.spans()}
        collections = {dict(attributes).get(semconv.DB_COLLECTION_NAME) for attributes in _series(telemetry)}
        spans = telemetry.spans()
    assert len(names) == MAX_SPAN_NAMES + 1  # the bounded names, then the operation alone
    assert "CREATE TABLE" in names
    assert len(collections - {None}) == MAX_COLLECTIONS
    assert spans[-1].attributes[semconv.DB_COLLECTION_NAME] == f"t_{count - 1}"  # the span keeps it
    assert spans[-1].attributes[semconv.DB_QUERY_SUMMARY] == f"CREATE TABLE t_{count - 1}"


@pytest.mark.parametrize("limit", [0, 1, 3])
def test_distinct_values_admits_the_first_ones_only(limit: int) -> None:
    values = DistinctValues(limit)
    admitted = [v for v in ["a", "b", "a", "c", "d", "b"] if values.admit(v)]
    first = ["a", "b", "c", "d"][:limit]
    assert admitted == [v for v in ["a", "b", "a", "c", "d", "b"] if v in first]
    assert len(values) == limit
