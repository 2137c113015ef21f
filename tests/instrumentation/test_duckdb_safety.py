"""DuckDBInstrumentor never breaks the app: errors, privacy, threads, suppression, uninstrument."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from pathlib import Path
from typing import Any

import duckdb
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode

from agentotel import semconv
from agentotel.instrumentation.duckdb import DuckDBInstrumentor, _relations
from tests.instrumentation._duckdb_helpers import attributes_of
from tests.support.telemetry import traced_duckdb

REGISTRY = Path(__file__).resolve().parents[3] / "shared" / "semconv-registry.json"


def _user_frames(exc: BaseException) -> list[tuple[str, str]]:
    return [(f.filename, f.name) for f in traceback.extract_tb(exc.__traceback__) if "agentotel" not in f.filename]


def _failing_query(con: Any) -> BaseException:
    try:
        con.execute("SELECT * FROM no_such_table WHERE secret = 'hunter2'")
    except duckdb.Error as exc:
        return exc
    raise AssertionError("the query should fail")


def test_user_exception_reaches_the_caller_unchanged() -> None:
    plain = _failing_query(duckdb.connect())
    with traced_duckdb() as telemetry:
        traced = _failing_query(duckdb.connect())
        assert type(traced) is type(plain)
        assert str(traced) == str(plain)
        assert _user_frames(traced) == _user_frames(plain)
        span = telemetry.span("SELECT no_such_table")
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"].endswith("CatalogException")
        (event,) = span.events
        assert event.name == "exception"
        assert event.attributes["exception.type"].endswith("CatalogException")
        assert "no_such_table" in event.attributes["exception.message"]
        assert "hunter2" not in json.dumps(dict(event.attributes)) + (span.status.description or "")


def test_parser_error_message_is_sanitised() -> None:
    with traced_duckdb() as telemetry:
        with pytest.raises(duckdb.ParserException) as info:
            duckdb.connect().execute("SELEC 'topsecret' FROM t")
        assert "SELEC" in str(info.value)  # the user's exception keeps its message (duckdb 2 quotes the query)
        assert all("topsecret" not in value for value in attributes_of(telemetry))


def test_relation_error_is_unchanged_and_traced() -> None:
    con = duckdb.connect()
    relation_plain = con.sql("SELECT 1 / 0 AS x, 'a'::INTEGER AS y")
    with pytest.raises(duckdb.Error) as plain:
        relation_plain.fetchall()
    with traced_duckdb() as telemetry:
        relation = con.sql("SELECT 1 / 0 AS x, 'a'::INTEGER AS y")
        with pytest.raises(duckdb.Error) as traced:
            relation.fetchall()
        assert type(traced.value) is type(plain.value) and str(traced.value) == str(plain.value)
        span = telemetry.spans()[-1]
        assert span.status.status_code is StatusCode.ERROR


def test_no_literal_in_any_attribute_by_default(tmp_path: Path) -> None:
    secret = "s3cr3t-value-9876"
    with traced_duckdb() as telemetry:
        con = duckdb.connect(str(tmp_path / "priv.duckdb"))
        con.execute(f"CREATE TABLE p AS SELECT '{secret}' AS v, 987654321 AS n")
        con.execute(f"SELECT * FROM p WHERE v = '{secret}' OR n = 987654321").fetchall()
        con.sql(f"SELECT * FROM p WHERE v = '{secret}'").fetchall()
        con.table("p").filter(f"v = '{secret}'").fetchall()
        con.execute("SELECT * FROM p WHERE v = ?", [secret]).fetchall()
        con.executemany("INSERT INTO p VALUES (?, ?)", [(secret, 987654321)])
        with pytest.raises(duckdb.Error):
            con.execute(f"SELECT * FROM p WHERE v = CAST('{secret}' AS INTEGER)")
        values = attributes_of(telemetry)
        assert len(telemetry.spans()) == 7
        assert all(secret not in value and "987654321" not in value for value in values)
        for point in telemetry.metric_points(semconv.DB_CLIENT_OPERATION_DURATION):
            assert all(secret not in str(v) for v in point.attributes.values())


def test_threads_with_cursors() -> None:
    with traced_duckdb() as telemetry:
        con = duckdb.connect()
        con.execute("CREATE TABLE shared AS SELECT range AS i FROM range(1000)")
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                cursor = con.cursor()
                for _ in range(20):
                    assert cursor.execute("SELECT count(*) FROM shared WHERE i % ? = 0", [n]).fetchall()[0][0] > 0
                    cursor.sql("SELECT max(i) FROM shared").fetchall()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 7)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors and not any(t.is_alive() for t in threads)
        spans = telemetry.spans("SELECT shared")
        assert len(spans) == 6 * 20 * 2 + 0
        assert {s.attributes["db.namespace"] for s in spans} == {"memory"}
        (point,) = telemetry.metric_points(
            semconv.DB_CLIENT_OPERATION_DURATION, **{"db.collection.name": "shared", "db.operation.name": "SELECT"}
        )
        assert point.count == 240


def test_suppress_instrumentation_is_honoured() -> None:
    with traced_duckdb() as telemetry:
        con = duckdb.connect()
        with suppress_instrumentation():
            con.execute("SELECT 1").fetchall()
            con.sql("SELECT 2").fetchall()
            duckdb.execute("SELECT 3").fetchall()
        assert telemetry.spans() == []
        con.execute("SELECT 4").fetchall()
        assert len(telemetry.spans()) == 1


def test_a_failure_of_ours_leaves_the_query_running(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with traced_duckdb() as telemetry:
        from agentotel.instrumentation import _sql

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("bug in agentotel")

        monkeypatch.setattr(_sql, "analyze", broken)  # every text below is new to the cache
        con = duckdb.connect()
        with caplog.at_level(logging.WARNING, logger="agentotel"):
            assert con.execute("SELECT 41 + 1").fetchall() == [(42,)]
            assert con.sql("SELECT 43").fetchall() == [(43,)]
            assert duckdb.execute("SELECT 44").fetchall() == [(44,)]
        assert [s.name for s in telemetry.spans()] == []
        assert "internal error" in caplog.text


def _raw(owner: Any, name: str) -> Any:
    return vars(owner)[name]


def test_uninstrument_restores_exact_originals_and_emits_nothing() -> None:
    targets = [(duckdb.DuckDBPyConnection, n) for n in ("execute", "executemany", "sql", "query", "cursor")]
    targets += [(duckdb, n) for n in ("execute", "executemany", "sql", "query", "connect")]
    targets += [(duckdb.DuckDBPyRelation, n) for n in _relations.TERMINALS if n in vars(duckdb.DuckDBPyRelation)]
    before = {(owner, name): _raw(owner, name) for owner, name in targets}
    with traced_duckdb() as telemetry:
        assert all(_raw(owner, name) is not before[(owner, name)] for owner, name in targets)
        con = duckdb.connect()
        relation = con.sql("SELECT 1")
    assert all(_raw(owner, name) is before[(owner, name)] for owner, name in targets)
    telemetry.clear()
    con.execute("SELECT 1").fetchall()
    relation.fetchall()  # made while instrumented, read after
    duckdb.sql("SELECT 2").fetchall()
    assert telemetry.spans() == []


def test_instrument_uninstrument_cycles() -> None:
    for _ in range(3):
        with traced_duckdb() as telemetry:
            duckdb.connect().execute("SELECT 1")
            assert len(telemetry.spans()) == 1
            assert telemetry.metric_points(semconv.DB_CLIENT_OPERATION_DURATION)[0].count == 1
    assert not DuckDBInstrumentor().is_instrumented_by_opentelemetry


def test_emitted_names_are_in_the_semconv_registry() -> None:
    if not REGISTRY.exists():
        pytest.skip("shared/semconv-registry.json not beside the checkout")
    registry = json.loads(REGISTRY.read_text())
    with traced_duckdb(capture_sql_parameters=True) as telemetry:
        con = duckdb.connect()
        con.executemany("SELECT ?", [(1,), (2,)])
        con.execute("SELECT $1", [1])
        with pytest.raises(duckdb.Error):
            con.execute("SELECT * FROM nope")
        keys = {k for s in telemetry.spans() for k in s.attributes}
        metric = registry["metrics"][semconv.DB_CLIENT_OPERATION_DURATION]
        assert metric["unit"] == "s" and metric["instrument"] == "histogram"
        for key in keys:
            base = key if key in registry["attributes"] else key.rsplit(".", 1)[0]
            assert base in registry["attributes"], key
        for point in telemetry.metric_points(semconv.DB_CLIENT_OPERATION_DURATION):
            assert set(point.attributes) <= set(registry["attributes"])


def test_unsampled_spans_still_record_the_duration() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = DuckDBInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        con = duckdb.connect()
        con.executemany("SELECT ?", [(1,), (2,)])
        with pytest.raises(duckdb.Error):
            con.execute("SELECT * FROM nope")
        con.sql("SELECT 1").fetchall()
    finally:
        instrumentor.uninstrument()
    assert exporter.get_finished_spans() == ()
    data = reader.get_metrics_data()
    points = [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == semconv.DB_CLIENT_OPERATION_DURATION
        for p in m.data.data_points
    ]
    assert sum(p.count for p in points) == 3


def test_dropped_providers_are_not_kept_alive_after_uninstrument() -> None:
    import gc
    import weakref

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    def cycle() -> tuple[Any, Any]:
        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
        tracer_provider = TracerProvider(shutdown_on_exit=False)
        instrumentor = DuckDBInstrumentor()
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        duckdb.connect().execute("SELECT 1").fetchall()
        instrumentor.uninstrument()
        meter_provider.shutdown()
        return weakref.ref(meter_provider), weakref.ref(tracer_provider)

    refs = [cycle() for _ in range(3)]
    gc.collect()
    assert all(meter() is None and tracer() is None for meter, tracer in refs)
