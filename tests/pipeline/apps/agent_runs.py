"""Agent runs for the scale-out test: each run is one ``invoke_agent`` trace with a cache load
and DuckDB statements under it; some runs fail, some are slower than the latency objective.

    python agent_runs.py --runs N --slow-ms MS [--concurrency C] [--pace-ms MS]

Exports through ``import agentotel.auto`` (OTLP from the ``OTEL_*`` variables). Prints one
JSON line per finished run, in the order runs finish:
``{"run": i, "trace_id": hex, "kind": "error" | "slow" | "normal", "spans": n, "ms": duration}``
where ``spans`` counts the spans that run ended (so a test can check the trace arrived whole),
then ``DONE`` after the exporters flushed.
"""

import agentotel.auto  # noqa: I001  (first: sets up the SDK and instruments DuckDB before it is used)

import argparse
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import duckdb
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

import agentotel

ERROR_EVERY = 7  # runs 3, 10, 17, ... fail
SLOW_EVERY = 11  # runs 5, 16, 27, ... are slow


class SpanCounter(SpanProcessor):
    """Counts ended spans per trace id (what the app emitted, to compare with what arrives)."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        with self.lock:
            self.counts[span.context.trace_id] += 1


def kind_of(run: int) -> str:
    if run % ERROR_EVERY == 3:
        return "error"
    if run % SLOW_EVERY == 5:
        return "slow"
    return "normal"


class LanduseLookup:
    def __init__(self, slow_seconds: float) -> None:
        self.slow_seconds = slow_seconds
        self.cache = agentotel.Cache("landuse.lookups", max_entries=64)
        self.local = threading.local()

    def connection(self) -> duckdb.DuckDBPyConnection:
        con = getattr(self.local, "con", None)
        if con is None:
            con = self.local.con = duckdb.connect()
            con.execute("CREATE TABLE landuse AS SELECT range AS id, range % 7 AS kind FROM range(200)")
        return con

    def query(self, run: int, kind: str) -> int:
        con = self.connection()
        if kind == "slow":
            time.sleep(self.slow_seconds)
        count = con.execute("SELECT count(*) FROM landuse WHERE kind = ?", [run % 7]).fetchone()[0]
        if kind == "error":
            con.execute("SELECT * FROM no_such_table")  # raises duckdb.CatalogException
        return count

    def ask(self, run: int, kind: str, holder: dict[str, int]) -> int:
        """One agent run: the ``invoke_agent landuse-agent`` root span over a cache load and its queries."""
        with agentotel.agent(name="landuse-agent") as span:
            holder["trace_id"] = span.get_span_context().trace_id
            # A distinct key per run: every run misses and loads (a cache.load span with the queries in it).
            return self.cache.get_or_load(("run", run), lambda: self.query(run, kind))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--slow-ms", type=float, required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pace-ms", type=float, default=0.0, help="pause between starting runs")
    args = parser.parse_args()

    provider = trace.get_tracer_provider()
    counter = SpanCounter()
    provider.add_span_processor(counter)
    lookup = LanduseLookup(args.slow_ms / 1000)
    print_lock = threading.Lock()

    def one(run: int) -> None:
        kind = kind_of(run)
        holder: dict[str, int] = {}
        started = time.perf_counter()
        try:
            lookup.ask(run, kind, holder)
        except duckdb.Error:
            pass  # recorded on the spans (error status); the app carries on
        elapsed = (time.perf_counter() - started) * 1000
        trace_id = holder["trace_id"]
        with counter.lock:
            spans = counter.counts[trace_id]
        line = {"run": run, "trace_id": f"{trace_id:032x}", "kind": kind, "spans": spans, "ms": round(elapsed, 1)}
        with print_lock:
            print(json.dumps(line), flush=True)

    with ThreadPoolExecutor(args.concurrency) as pool:
        for run in range(args.runs):
            pool.submit(one, run)
            if args.pace_ms:
                time.sleep(args.pace_ms / 1000)
    provider.force_flush()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
