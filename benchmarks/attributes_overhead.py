"""Per-span cost of ``agentotel.attributes``: every agentotel tracer, with and without a block in force.

    .venv/bin/python benchmarks/attributes_overhead.py [--rounds 7] [--spans 20000]

Variants, each ``tracer.start_span(name, attributes={4 attributes}).end()`` on a real SDK
``TracerProvider`` with a ``SimpleSpanProcessor`` into an exporter that drops spans:

  sdk tracer            the SDK's tracer itself (what every agentotel tracer wraps)
  agentotel, never used the wrapper before any ``agentotel.attributes`` block was ever entered
  agentotel, no block   the wrapper after blocks were used, outside any block (a context lookup)
  agentotel, in block   inside ``agentotel.attributes(session_id, user_id, tenant)`` (3 more attributes)

One process; the variants' order rotates every round; each value is the best of the round's
batches (CPU time), the table shows medians over rounds and the difference to the SDK tracer.
The LangGraph run-level figures come from ``langgraph_overhead.py`` (variants
``agentotel+attributes``, ``agentotel+metadata``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from _harness import rotated

ATTRIBUTES = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m", "n": 1}


def _tracers() -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from agentotel._attributes import AttributedTracer

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    sdk = provider.get_tracer("bench")
    return sdk, AttributedTracer(sdk)


def _batch(tracer: Any, spans: int) -> float:
    start = time.process_time()
    for _ in range(spans):
        tracer.start_span("chat m", attributes=ATTRIBUTES).end()
    return (time.process_time() - start) / spans * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--spans", type=int, default=20000, help="spans per batch")
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args(argv)

    import agentotel
    from agentotel import _attributes

    sdk, wrapped = _tracers()
    block = agentotel.attributes(session_id="s-81", user_id="u-7", tenant="acme")

    def never_used() -> float:
        _attributes._in_use = False
        return min(_batch(wrapped, args.spans) for _ in range(args.batches))

    def no_block() -> float:
        _attributes._in_use = True
        return min(_batch(wrapped, args.spans) for _ in range(args.batches))

    def in_block() -> float:
        with block:
            return min(_batch(wrapped, args.spans) for _ in range(args.batches))

    variants: dict[str, Callable[[], float]] = {
        "sdk tracer": lambda: min(_batch(sdk, args.spans) for _ in range(args.batches)),
        "agentotel, never used": never_used,
        "agentotel, no block": no_block,
        "agentotel, in block": in_block,
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    for round_no in range(args.rounds):
        for name in rotated(list(variants), round_no):
            results[name].append(variants[name]())
    base = statistics.median(results["sdk tracer"])
    print(
        f"\n{args.rounds} rounds, best of {args.batches} batches of {args.spans} spans, medians; "
        f"python {sys.version.split()[0]}\n"
    )
    print("| variant | CPU per span start+end (µs) | difference to the SDK tracer (µs) |")
    print("|---|---:|---:|")
    for name in variants:
        value = statistics.median(results[name])
        print(f"| {name} | {value:.2f} | {value - base:+.2f} |")


if __name__ == "__main__":
    main()
