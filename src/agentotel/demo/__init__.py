"""``agentotel demo``: an instrumented land-use analytics agent that runs anywhere.

A LangGraph agent answers questions about a generated DuckDB database shaped like
the USDA Forest Service RPA land-use projections, through a cache, a load balancer
over several chat-model instances and a circuit breaker per instance, all
reporting through OpenTelemetry. The run prints the waterfall of one trace and a
summary, writes every span to an OTLP/JSON-lines file, and with ``--otlp`` (or
``OTEL_EXPORTER_OTLP_ENDPOINT``) also exports over OTLP, e.g. to Jaeger.

Modules: :mod:`~agentotel.demo.data` (database), :mod:`~agentotel.demo.model`
(deterministic chat model), :mod:`~agentotel.demo.agent` (the graph),
:mod:`~agentotel.demo.report` (terminal report), :mod:`~agentotel.demo.runner`.
See ``docs/demo.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "build_parser"]

_DESCRIPTION = """\
Run a LangGraph agent that answers land-use questions with SQL on DuckDB, with a
cache, a load balancer over three model instances (one slow, one flaky) and a
circuit breaker per instance in the path, all traced and measured by agentotel.
Needs no network, keys or collector: the model is a deterministic local one.

Prints the answers, the waterfall of one trace and a summary (throughput, latency
percentiles, tokens, cost, DuckDB queries, cache hit rate, breaker transitions,
balancer picks and ejections, CPU and memory), and writes all spans to an
OTLP/JSON-lines file. With --otlp, or OTEL_EXPORTER_OTLP_ENDPOINT set, the same
run is exported over OTLP and the Jaeger URL of the trace is printed."""

_EPILOG = """\
examples:
  agentotel demo                          # defaults: 100 questions, concurrency 4
  agentotel demo --small                  # a quick run on a small database
  agentotel demo --otlp                   # also export to localhost:4317 (collector/ stack, Jaeger)
  agentotel demo --otlp http://collector:4318 --protocol http/protobuf
  agentotel demo --model my_models:chat   # your own langchain-core chat model(s)
  agentotel demo -q "Which states have the most urban expansion?" -n 10

docs: docs/demo.md"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``agentotel demo`` argument parser."""
    from agentotel.demo.data import DEFAULT_SCALE

    parser = argparse.ArgumentParser(
        prog="agentotel demo",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "-n",
        "--questions",
        type=_positive_int,
        default=None,
        metavar="N",
        help="how many questions to ask, cycling through the question set (default 100; --small: 20)",
    )
    run.add_argument(
        "-q",
        "--question",
        action="append",
        default=None,
        metavar="TEXT",
        help="ask this question instead of the built-in five (repeatable)",
    )
    run.add_argument(
        "-c",
        "--concurrency",
        type=_positive_int,
        default=4,
        metavar="N",
        help="questions in flight at once (default 4)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--model",
        metavar="MODULE:ATTR",
        help="use your chat model(s) instead of the deterministic one: a langchain-core chat model, "
        "a list of them, or a callable returning either (see docs/demo.md)",
    )
    db = parser.add_argument_group("database")
    db.add_argument(
        "--scale",
        type=_positive_float,
        default=None,
        metavar="F",
        help=f"database size as a fraction of the ~3,100 US counties (default {DEFAULT_SCALE}; "
        f"built once, then reused from ~/.cache/agentotel/demo)",
    )
    db.add_argument("--small", action="store_true", help="small database and 20 questions (a few seconds)")
    db.add_argument("--db", type=Path, metavar="PATH", help="use (or build) the database at PATH")
    out = parser.add_argument_group("telemetry")
    out.add_argument(
        "--trace-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="where to write the spans as OTLP/JSON lines (default <tmp>/agentotel-demo/traces.jsonl)",
    )
    out.add_argument(
        "--otlp",
        nargs="?",
        const="",
        default=None,
        metavar="ENDPOINT",
        help="also export over OTLP, to ENDPOINT or else OTEL_EXPORTER_OTLP_ENDPOINT "
        "(default http://localhost:4317); on by default when that variable is set",
    )
    out.add_argument("--no-otlp", action="store_true", help="do not export over OTLP even if the variable is set")
    out.add_argument(
        "--protocol",
        choices=("grpc", "http/protobuf"),
        default=None,
        help="OTLP protocol (default OTEL_EXPORTER_OTLP_PROTOCOL, else grpc)",
    )
    out.add_argument(
        "--service-name",
        default=None,
        metavar="NAME",
        help="service.name (default OTEL_SERVICE_NAME or agentotel-demo)",
    )
    out.add_argument(
        "--jaeger-url",
        default="http://localhost:16686",
        metavar="URL",
        help="Jaeger UI base URL for the printed trace link (default http://localhost:16686)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``agentotel demo``; returns the exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        from agentotel.demo import data
        from agentotel.demo.questions import DEFAULT_QUESTIONS
        from agentotel.demo.runner import DemoOptions, ModelSpecError, default_trace_file, run_demo
        from agentotel.demo.telemetry import OtlpSettings
    except ImportError as exc:  # pragma: no cover - depends on the install
        print(f"agentotel demo needs the demo extra: pip install 'agentotel[demo]' ({exc})", file=sys.stderr)
        return 2
    otlp = None
    if not args.no_otlp and (
        args.otlp is not None
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        protocol = args.protocol or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc").strip().lower()
        otlp = OtlpSettings(
            endpoint=args.otlp or None, protocol=protocol if protocol in ("grpc", "http/protobuf") else "grpc"
        )
    options = DemoOptions(
        questions=tuple(args.question) if args.question else DEFAULT_QUESTIONS,
        count=args.questions or (20 if args.small else 100),
        concurrency=args.concurrency,
        scale=args.scale or (data.SMALL_SCALE if args.small else data.DEFAULT_SCALE),
        database=args.db,
        trace_file=args.trace_file or default_trace_file(),
        otlp=otlp,
        jaeger_url=args.jaeger_url,
        service_name=args.service_name,
        model=args.model,
        progress=not args.no_progress,
    )
    try:
        result = run_demo(options)
    except ModelSpecError as exc:
        print(f"agentotel demo: {exc}", file=sys.stderr)
        return 2
    return 0 if result.answers else 1
