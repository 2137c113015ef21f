"""Per-query overhead of agentotel's DuckDB instrumentation against raw DuckDB, a bare SDK span and contrib dbapi.

    .venv/bin/python benchmarks/duckdb_overhead.py [--reps 40] [--queries 500] [--breakdown] [--profiles]

One process, a real SDK TracerProvider (BatchSpanProcessor into a discarding
exporter) and MeterProvider (a periodic reader into a discarding exporter).
Each repetition runs every variant once, in an order rotated per repetition,
each variant timing ``--queries`` executions of the same statement through one
cursor (``cur.execute(q); cur.fetchall()``). Medians of the per-query times are
reported; the overhead of a variant is its median minus raw's. Two clocks: wall
time, and the calling thread's CPU time (``time.thread_time``), which is what
the instrumentation costs the application thread and is far less disturbed by
other processes on a shared machine. DuckDB runs with ``threads=1`` so that the
query's own work is on the calling thread too.

Variants:
  raw        plain DuckDB
  floor      the SDK floor for what we emit on the span: ``tracer.start_span`` with the same name, kind
             and six attributes (a prebuilt dict), the query and its fetch, ``db.response.returned_rows``,
             ``span.end()``
  floor + metric  the same plus one ``Histogram.record`` of the duration with the metric attributes: the
             floor for everything we emit per statement
  agentotel  DuckDBInstrumentor (span + db.client.operation.duration + returned rows; the statement runs
             in the caller's scope so that replacement scans see the caller's names)
  dbapi      opentelemetry-instrumentation-dbapi's traced connection (span + its duration metric)

``--profiles`` adds what slow-query profiles cost: on a connection whose DuckDB profiler is on
(``SET enable_profiling = 'no_output'``), agentotel with ``slow_query_threshold_ms`` off, 0 (every
statement's profile read and put on its span) and 100 ms (none of these statements is that slow),
against raw DuckDB with the profiler off and on.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import duckdb
from _harness import medians, print_table, providers, sample_rotated, timed
from opentelemetry.instrumentation.dbapi import instrument_connection  # pyright: ignore[reportMissingImports]  # the bench extras
from opentelemetry.trace import SpanKind

from agentotel.instrumentation.duckdb import DuckDBInstrumentor

_distinct = itertools.count()


def _fixed(text: str) -> Callable[[], str]:
    return lambda: text


def _distinct_literals() -> str:
    """A text never run before (a new literal each call): a miss of every statement cache, DuckDB's too."""
    return f"SELECT g FROM facts WHERE v = {next(_distinct)} AND 'k{next(_distinct)}' <> ''"


#: Each row: how the text of each execution is made.
QUERIES: dict[str, Callable[[], str]] = {
    "SELECT 42": _fixed("SELECT 42"),
    "10k-row aggregate": _fixed("SELECT g, count(*), sum(v) FROM facts GROUP BY g ORDER BY g"),
    "distinct literals (cache miss)": _distinct_literals,
    "same, repeated (cache hit)": _fixed("SELECT g FROM facts WHERE v = 17 AND 'k18' <> ''"),
}


def _setup(con: Any) -> None:
    con.execute("SET threads = 1")
    con.execute("CREATE TABLE facts AS SELECT range % 100 AS g, range AS v FROM range(10000)")


def breakdown(reps: int, n: int) -> None:
    """Where agentotel's per-query time goes: the hook rebuilt one step at a time (thread CPU, SELECT 42)."""
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value
    from opentelemetry.trace import SpanKind

    from agentotel._config import Settings
    from agentotel._handle import handle_for
    from agentotel.instrumentation.duckdb import _hooks, _scope
    from agentotel.instrumentation.duckdb._hooks import execute_hook
    from agentotel.instrumentation.duckdb._recorder import DeferredHistogram
    from agentotel.instrumentation.duckdb._tracer import QueryTracer
    from agentotel.semconv import SCOPE_DUCKDB

    tracer_provider, meter_provider = providers(1_000, span_queue_size=1 << 16)
    tracer = tracer_provider.get_tracer("bench")
    durations = DeferredHistogram.of(handle_for(tracer_provider, meter_provider).scope(SCOPE_DUCKDB))
    query_tracer = QueryTracer(tracer, durations, Settings())
    direct = meter_provider.get_meter("bench-direct").create_histogram("direct", unit="s")
    con = duckdb.connect()
    con.execute("SET threads = 1")
    cur = con.cursor()
    query_tracer.connections[cur] = "memory"
    cls = duckdb.DuckDBPyConnection
    original = vars(cls)["execute"]
    fixed = query_tracer.prepare("SELECT 42", "memory")
    client = SpanKind.CLIENT

    def span_only(self: Any, *a: Any, **k: Any) -> Any:
        if get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(self, *a, **k)
        span = tracer.start_span(fixed.name, kind=client)
        result = original(self, *a, **k)
        span.end()
        return result

    def with_attributes(self: Any, *a: Any, **k: Any) -> Any:
        if get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(self, *a, **k)
        span = tracer.start_span(fixed.name, kind=client, attributes=fixed.span_attributes)
        result = original(self, *a, **k)
        span.end()
        return result

    def with_lookup(self: Any, *a: Any, **k: Any) -> Any:
        if get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(self, *a, **k)
        prepared = query_tracer.prepare(a[0], query_tracer.connections.get(self))
        span = tracer.start_span(prepared.name, kind=client, attributes=prepared.span_attributes)
        result = original(self, *a, **k)
        span.end()
        return result

    def with_direct_record(self: Any, *a: Any, **k: Any) -> Any:
        if get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(self, *a, **k)
        prepared = query_tracer.prepare(a[0], query_tracer.connections.get(self))
        span = tracer.start_span(prepared.name, kind=client, attributes=prepared.span_attributes)
        started = time.perf_counter()
        result = original(self, *a, **k)
        span.end()
        direct.record(time.perf_counter() - started, prepared.metric_attributes)
        return result

    hooks: dict[str, Any] = {
        "raw": original,
        "span in a plain-function hook": span_only,
        "+ 6 precomputed attributes": with_attributes,
        "+ statement LRU and namespace lookup": with_lookup,
        "+ duration metric, direct Histogram.record": with_direct_record,
        "agentotel hook, DuckDB called directly": execute_hook(original, query_tracer),
        "agentotel hook (caller's scope, duration batched)": execute_hook(original, query_tracer),
    }

    def run() -> None:
        cur.execute("SELECT 42")
        cur.fetchall()

    def bare() -> None:
        span = tracer.start_span("SELECT")
        cur.execute("SELECT 42")
        cur.fetchall()
        span.end()

    def measure(name: str) -> float:
        if name not in hooks:
            return timed(bare, n)[1]
        cls.execute = hooks[name]  # type: ignore[method-assign]
        if name == "agentotel hook, DuckDB called directly":
            _hooks.call_in_scope = _scope._call_directly  # what the caller's scope costs, by its absence
        try:
            return timed(run, n)[1]
        finally:
            cls.execute = original  # type: ignore[method-assign]
            _hooks.call_in_scope = _scope.call_in_scope

    med = {
        name: value * 1e6
        for name, value in medians(sample_rotated([*hooks, "bare span around the call"], reps, measure)).items()
    }
    print("\nbreakdown, SELECT 42, thread CPU µs per query (medians):\n")
    print_table(
        ["variant", "µs", "over raw"],
        ([name, f"{value:.1f}", f"{value - med['raw']:+.1f}"] for name, value in med.items()),
    )
    tracer_provider.shutdown()
    meter_provider.shutdown()


def _check_profiles_are_read(con: Any) -> None:
    """Fail loudly unless threshold 0 really puts a profile on the span (else the table would measure nothing)."""
    from agentotel import _telemetry
    from agentotel._config import load_settings
    from agentotel.semconv import AGENTOTEL_DUCKDB_PROFILE
    from agentotel.testing import TelemetryCapture

    capture = TelemetryCapture()
    _telemetry.configure(None, None, load_settings(slow_query_threshold_ms=0))
    instrumentor = DuckDBInstrumentor()
    instrumentor.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    try:
        con.execute("SELECT 42").fetchall()
    finally:
        instrumentor.uninstrument()
        _telemetry.configure(None, None, load_settings())
    events = [e.name for span in capture.spans() for e in span.events]
    capture.shutdown()
    if str(AGENTOTEL_DUCKDB_PROFILE) not in events:
        raise SystemExit(f"no profile event on the span (events: {events}): the profiles table would be wrong")


def profiles(reps: int, n: int) -> None:
    """The cost of slow-query profiles: the threshold off / 0 / 100 ms, the profiler's own cost beside it."""
    from agentotel import _telemetry
    from agentotel._config import load_settings

    tracer_provider, meter_provider = providers(1_000, span_queue_size=1 << 16)
    plain_con, profiled_con = duckdb.connect(), duckdb.connect()
    for con in (plain_con, profiled_con):
        _setup(con)
    profiled_con.execute("SET enable_profiling = 'no_output'")  # a setting of this connection, not of its cursors
    plain_cur, profiled_cur = plain_con, profiled_con
    _check_profiles_are_read(profiled_con)
    thresholds = {"agentotel, threshold off": None, "agentotel, threshold 0": 0, "agentotel, threshold 100 ms": 100}
    rows: list[list[str]] = []
    for label in ("SELECT 42", "10k-row aggregate"):
        text = QUERIES[label]()
        count = max(n // 10, 20) if label == "10k-row aggregate" else n

        def run(cur: Any, text: str = text) -> None:
            cur.execute(text)
            cur.fetchall()

        def measure(name: str, text: str = text, count: int = count) -> tuple[float, float]:
            if name == "raw, profiler off":
                return timed(lambda: run(plain_cur), count)
            if name == "raw, profiler on":
                return timed(lambda: run(profiled_cur), count)
            _telemetry.configure(None, None, load_settings(slow_query_threshold_ms=thresholds[name]))
            instrumentor = DuckDBInstrumentor()
            instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
            try:
                return timed(lambda: run(profiled_cur), count)
            finally:
                instrumentor.uninstrument()
                _telemetry.configure(None, None, load_settings())

        names = ["raw, profiler off", "raw, profiler on", *thresholds]
        for name in names:  # warm-up
            measure(name)
        samples = sample_rotated(names, reps, measure)
        cpu = {name: statistics.median(v[1] for v in values) * 1e6 for name, values in samples.items()}
        wall = {name: statistics.median(v[0] for v in values) * 1e6 for name, values in samples.items()}
        for name in names:
            rows.append(
                [label, name, f"{wall[name]:.1f}", f"{cpu[name]:.1f}", f"{cpu[name] - cpu['raw, profiler on']:+.1f}"]
            )
    print("\nslow-query profiles, µs per query (medians):\n")
    print_table(["query", "variant", "wall", "thread CPU", "CPU over raw with profiler on"], rows)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument(
        "--breakdown", action="store_true", help="also rebuild the hook step by step to show where the time goes"
    )
    parser.add_argument("--profiles", action="store_true", help="only the cost of slow-query profiles")
    args = parser.parse_args(argv)
    if args.profiles:
        profiles(args.reps, args.queries)
        return 0

    tracer_provider, meter_provider = providers(1_000, span_queue_size=1 << 16)
    tracer = tracer_provider.get_tracer("bench")
    duration = meter_provider.get_meter("bench").create_histogram(
        "db.client.operation.duration", unit="s", explicit_bucket_boundaries_advisory=[0.001, 0.005, 0.01, 0.05, 0.1]
    )
    instrumentor = DuckDBInstrumentor()

    raw_con = duckdb.connect()
    _setup(raw_con)
    raw_cur = raw_con.cursor()
    dbapi_con = instrument_connection(
        "bench", duckdb.connect(), "duckdb", tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    _setup(dbapi_con.cursor())
    dbapi_cur = dbapi_con.cursor()

    print(
        f"duckdb {duckdb.__version__}, python {sys.version.split()[0]}, "
        f"{args.reps} reps x {args.queries} queries per variant\n"
    )
    rows: dict[str, list[list[str]]] = {"wall": [], "thread CPU": []}
    for label, make_query in QUERIES.items():
        n = max(args.queries // 10, 20) if label == "10k-row aggregate" else args.queries

        def raw(query: Callable[[], str] = make_query) -> None:
            raw_cur.execute(query())
            raw_cur.fetchall()

        attributes = {
            "db.system.name": "duckdb",
            "db.namespace": "memory",
            "db.operation.name": "SELECT",
            "db.collection.name": "landuse",
            "db.query.summary": "SELECT landuse",
            "db.query.text": make_query(),
        }
        metric_attributes = {k: v for k, v in attributes.items() if not k.startswith("db.query")}

        def floor(query: Callable[[], str] = make_query, attributes: dict[str, str] = attributes) -> None:
            span = tracer.start_span("SELECT landuse", kind=SpanKind.CLIENT, attributes=attributes)
            raw_cur.execute(query())
            rows = raw_cur.fetchall()
            span.set_attribute("db.response.returned_rows", len(rows))
            span.end()

        def floor_metric(
            query: Callable[[], str] = make_query,
            attributes: dict[str, str] = attributes,
            metric_attributes: dict[str, str] = metric_attributes,
        ) -> None:
            span = tracer.start_span("SELECT landuse", kind=SpanKind.CLIENT, attributes=attributes)
            started = time.perf_counter()
            raw_cur.execute(query())
            rows = raw_cur.fetchall()
            span.set_attribute("db.response.returned_rows", len(rows))
            span.end()
            duration.record(time.perf_counter() - started, metric_attributes)

        def dbapi(query: Callable[[], str] = make_query) -> None:
            dbapi_cur.execute(query())
            dbapi_cur.fetchall()

        variants: dict[str, Callable[[], None]] = {
            "raw": raw,
            "floor": floor,
            "floor+metric": floor_metric,
            "agentotel": raw,
            "dbapi": dbapi,
        }
        for _ in range(3):  # warm-up: caches, the SDK's first span, the statement LRU
            for run in variants.values():
                timed(run, 20)

        def measure(
            name: str, variants: dict[str, Callable[[], None]] = variants, n: int = n, raw: Callable[[], None] = raw
        ) -> tuple[float, float]:
            if name != "agentotel":
                return timed(variants[name], n)
            instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
            try:
                return timed(raw, n)
            finally:
                instrumentor.uninstrument()

        samples = sample_rotated(list(variants), args.reps, measure)
        for clock, index in (("wall", 0), ("thread CPU", 1)):
            med = {name: statistics.median(v[index] for v in values) * 1e6 for name, values in samples.items()}
            over = {name: med[name] - med["raw"] for name in ("floor", "floor+metric", "agentotel", "dbapi")}
            rows[clock].append(
                [
                    label,
                    *(f"{med[name]:.1f}" for name in ("raw", "floor", "floor+metric", "agentotel", "dbapi")),
                    *(f"{over[name]:.1f}" for name in ("agentotel", "floor", "floor+metric", "dbapi")),
                    f"{over['agentotel'] / over['floor']:.2f}",
                    f"{over['agentotel'] / over['floor+metric']:.2f}",
                    f"{over['agentotel'] / over['dbapi']:.2f}",
                ]
            )
    miss_vs_hit = {clock: float(cells[2][6]) / float(cells[3][6]) for clock, cells in rows.items()}
    for clock, cells in rows.items():
        print(f"\n{clock} (µs per query, medians):\n")
        print_table(
            [
                "query",
                "raw",
                "floor",
                "floor + metric",
                "agentotel",
                "dbapi",
                "agentotel overhead",
                "floor overhead",
                "floor + metric overhead",
                "dbapi overhead",
                "agentotel / floor",
                "agentotel / floor + metric",
                "agentotel / dbapi",
            ],
            cells,
        )
        print(f"\nagentotel overhead of a statement-cache miss / of a hit: {miss_vs_hit[clock]:.2f}")
    tracer_provider.shutdown()
    meter_provider.shutdown()
    if args.breakdown:
        breakdown(args.reps, args.queries)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
