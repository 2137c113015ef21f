"""Per-query overhead of agentotel's DuckDB instrumentation against raw DuckDB, a bare SDK span and contrib dbapi.

    .venv/bin/python benchmarks/duckdb_overhead.py [--reps 40] [--queries 500] [--breakdown]

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
  bare span  ``tracer.start_span(...)`` ... ``span.end()`` around the raw query (the floor a span costs)
  agentotel  DuckDBInstrumentor (span + db.client.operation.duration)
  dbapi      opentelemetry-instrumentation-dbapi's traced connection (span + its duration metric)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable, Sequence

import duckdb
from opentelemetry.instrumentation.dbapi import instrument_connection
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agentotel.instrumentation.duckdb import DuckDBInstrumentor

QUERIES = {
    "SELECT 42": "SELECT 42",
    "10k-row aggregate": "SELECT g, count(*), sum(v) FROM facts GROUP BY g ORDER BY g",
}


class _DiscardSpans(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class _DiscardMetrics(MetricExporter):
    def __init__(self) -> None:
        super().__init__()

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _providers() -> tuple[TracerProvider, MeterProvider]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_DiscardSpans(), max_queue_size=1 << 16))
    reader = PeriodicExportingMetricReader(_DiscardMetrics(), export_interval_millis=1_000)
    return tracer_provider, MeterProvider(metric_readers=[reader])


def _setup(con: Any) -> None:
    con.execute("SET threads = 1")
    con.execute("CREATE TABLE facts AS SELECT range % 100 AS g, range AS v FROM range(10000)")


def _timed(run: Callable[[], None], n: int) -> tuple[float, float]:
    """Seconds per call of ``run``: (wall clock, this thread's CPU time)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        run()
    return (time.perf_counter() - wall) / n, (time.thread_time() - cpu) / n


def _rotated(variants: dict[str, Callable[[], None]], reps: int, n: int,
             around: Callable[[str], Any] | None = None) -> dict[str, float]:
    """Median thread-CPU µs per call of each variant, repetitions in rotated order."""
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[: rep % len(names)]:
            restore = around(name) if around else None
            try:
                samples[name].append(_timed(variants[name], n)[1])
            finally:
                if restore:
                    restore()
    return {name: statistics.median(values) * 1e6 for name, values in samples.items()}


def breakdown(reps: int, n: int) -> None:
    """Where agentotel's per-query time goes: the hook rebuilt one step at a time (thread CPU, SELECT 42)."""
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value
    from opentelemetry.trace import SpanKind

    from agentotel._config import Settings
    from agentotel.instrumentation.duckdb._hooks import execute_hook
    from agentotel.instrumentation.duckdb._tracer import QueryTracer

    tracer_provider, meter_provider = _providers()
    tracer = tracer_provider.get_tracer("bench")
    query_tracer = QueryTracer(tracer, meter_provider.get_meter("bench"), Settings())
    direct = meter_provider.get_meter("bench-direct").create_histogram("direct", unit="s")
    con = duckdb.connect()
    con.execute("SET threads = 1")
    cur = con.cursor()
    query_tracer.namespaces[cur] = "memory"
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
        prepared = query_tracer.prepare(a[0], query_tracer.namespaces.get(self))
        span = tracer.start_span(prepared.name, kind=client, attributes=prepared.span_attributes)
        result = original(self, *a, **k)
        span.end()
        return result

    def with_direct_record(self: Any, *a: Any, **k: Any) -> Any:
        if get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(self, *a, **k)
        prepared = query_tracer.prepare(a[0], query_tracer.namespaces.get(self))
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
        "agentotel hook (duration batched)": execute_hook(original, query_tracer),
    }

    def run() -> None:
        cur.execute("SELECT 42")
        cur.fetchall()

    def bare() -> None:
        span = tracer.start_span("SELECT")
        cur.execute("SELECT 42")
        cur.fetchall()
        span.end()

    def install(name: str) -> Callable[[], None]:
        cls.execute = hooks.get(name, original)  # type: ignore[method-assign]
        return lambda: setattr(cls, "execute", original)

    variants = {name: run for name in hooks}
    variants["bare span around the call"] = bare
    med = _rotated(variants, reps, n, around=install)
    print("\nbreakdown, SELECT 42, thread CPU µs per query (medians):\n")
    print("| variant | µs | over raw |")
    print("|---|---|---|")
    for name, value in med.items():
        print(f"| {name} | {value:.1f} | {value - med['raw']:+.1f} |")
    tracer_provider.shutdown()
    meter_provider.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--breakdown", action="store_true",
                        help="also rebuild the hook step by step to show where the time goes")
    args = parser.parse_args(argv)

    tracer_provider, meter_provider = _providers()
    tracer = tracer_provider.get_tracer("bench")
    instrumentor = DuckDBInstrumentor()

    raw_con = duckdb.connect()
    _setup(raw_con)
    raw_cur = raw_con.cursor()
    dbapi_con = instrument_connection(
        "bench", duckdb.connect(), "duckdb", tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    _setup(dbapi_con.cursor())
    dbapi_cur = dbapi_con.cursor()

    print(f"duckdb {duckdb.__version__}, python {sys.version.split()[0]}, "
          f"{args.reps} reps x {args.queries} queries per variant\n")
    rows: dict[str, list[str]] = {"wall": [], "thread CPU": []}
    for label, query in QUERIES.items():
        n = args.queries if label == "SELECT 42" else max(args.queries // 10, 20)

        def raw() -> None:
            raw_cur.execute(query)
            raw_cur.fetchall()

        def bare() -> None:
            span = tracer.start_span("SELECT")
            raw_cur.execute(query)
            raw_cur.fetchall()
            span.end()

        def dbapi() -> None:
            dbapi_cur.execute(query)
            dbapi_cur.fetchall()

        variants: dict[str, Callable[[], None]] = {"raw": raw, "bare": bare, "agentotel": raw, "dbapi": dbapi}
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        names = list(variants)
        for _ in range(3):  # warm-up: caches, the SDK's first span, the statement LRU
            for name in names:
                _timed(variants[name], 20)
        for rep in range(args.reps):
            order = names[rep % len(names):] + names[: rep % len(names)]
            for name in order:
                if name == "agentotel":
                    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
                    try:
                        samples[name].append(_timed(raw, n))
                    finally:
                        instrumentor.uninstrument()
                else:
                    samples[name].append(_timed(variants[name], n))
        for clock, index in (("wall", 0), ("thread CPU", 1)):
            med = {name: statistics.median(v[index] for v in values) * 1e6 for name, values in samples.items()}
            over = {name: med[name] - med["raw"] for name in ("bare", "agentotel", "dbapi")}
            rows[clock].append(
                f"| {label} | {med['raw']:.1f} | {med['bare']:.1f} | {med['agentotel']:.1f} | {med['dbapi']:.1f} "
                f"| {over['agentotel']:.1f} | {over['dbapi']:.1f} | {over['bare']:.1f} "
                f"| {over['agentotel'] / over['dbapi']:.2f} | {over['agentotel'] / over['bare']:.2f} |"
            )
    for clock, lines in rows.items():
        print(f"\n{clock} (µs per query, medians):\n")
        print("| query | raw | bare span | agentotel | dbapi | agentotel overhead | dbapi overhead "
              "| bare span overhead | agentotel / dbapi | agentotel / bare span |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(lines))
    tracer_provider.shutdown()
    meter_provider.shutdown()
    if args.breakdown:
        breakdown(args.reps, args.queries)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
