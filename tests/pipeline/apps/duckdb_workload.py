"""An instrumented app for the pipeline tests: a DuckDB land-use workload under one root span.

    python duckdb_workload.py [--auto] [--runs N] [--burst N] [--gate FILE] [--report]

--auto     ``import agentotel.auto`` first (else the app relies on ``opentelemetry-instrument``)
--runs     how many times the workload runs (one trace each)
--burst    extra spans ended at full speed after the workload (queue and drop behaviour)
--gate     after the first half of the runs print ``GATE`` and wait until FILE exists
--hold     after printing the results, stay alive until FILE exists (to be scraped)
--report   print the export processor's queue and drop counts and the peak RSS as JSON on stderr

Prints the query results as JSON on stdout: they must not depend on whether telemetry works.
"""

import sys

if "--auto" in sys.argv:
    import agentotel.auto  # noqa: F401  (must come before duckdb is used)

import argparse
import json
import os
import resource
import time

import duckdb
from opentelemetry import trace

ROWS = [(i, ("forest", "farmland", "urban", "water")[i % 4], 10.0 + i) for i in range(40)]


def run_once(run: int) -> list:
    tracer = trace.get_tracer("pipeline-app")
    with tracer.start_as_current_span("landuse report", attributes={"app.run": run}):
        con = duckdb.connect()
        con.execute("CREATE TABLE landuse (id INTEGER, kind VARCHAR, area DOUBLE)")
        con.executemany("INSERT INTO landuse VALUES (?, ?, ?)", ROWS)
        rows = con.execute(
            "SELECT kind, count(*), sum(area) FROM landuse WHERE area > 12 GROUP BY kind ORDER BY kind"
        ).fetchall()
        con.close()
    return [list(row) for row in rows]


def wait_for_file(path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def wait_for_first_export(timeout: float = 10.0) -> None:
    """Until the export processor has tried the collector once (its limit then says what it found)."""
    from agentotel import _sdk

    setup = _sdk.current_setup()
    processors = setup.span_processors if setup else []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(p.limit < p.capacity for p in processors):
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--auto", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--burst", type=int, default=0)
    parser.add_argument("--gate")
    parser.add_argument("--hold")
    parser.add_argument("--report", action="store_true")
    parser.add_argument(
        "--after-first-export", action="store_true", help="burst only once the exporter has tried the collector"
    )
    args = parser.parse_args()

    results = []
    for run in range(args.runs):
        if args.gate and run == args.runs // 2:
            print("GATE", flush=True)
            wait_for_file(args.gate)
        results.append(run_once(run))

    if args.after_first_export:
        wait_for_first_export()
    burst_tracer = trace.get_tracer("pipeline-app.burst")
    for _i in range(args.burst):
        burst_tracer.start_span("burst").end()
    print(json.dumps(results), flush=True)
    if args.hold:
        wait_for_file(args.hold)

    if args.report:
        from agentotel import _sdk

        setup = _sdk.current_setup()
        processors = setup.span_processors if setup else []
        print(
            json.dumps(
                {
                    "dropped": sum(p.dropped for p in processors),
                    "queued": sum(p.queued for p in processors),
                    "capacity": sum(p.capacity for p in processors),
                    "limit": sum(p.limit for p in processors),
                    "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                }
            ),
            file=sys.stderr,
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
