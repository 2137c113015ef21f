"""Per-invoke cost of LangGraph instrumentations on a small ReAct agent: agentotel against its peers.

    .venv/bin/python benchmarks/langgraph_overhead.py [--python PY] [--rounds 7] [--invokes 300]

The peers register ``opentelemetry_instrumentor`` entry points, so they are not
installed into the project's environment; give an interpreter that has them
(and agentotel) with ``--python``, for example::

    python3 -m venv /tmp/lgbench
    /tmp/lgbench/bin/pip install -e . opentelemetry-instrumentation-langchain \\
        openinference-instrumentation-langchain
    .venv/bin/python benchmarks/langgraph_overhead.py --python /tmp/lgbench/bin/python

A variant whose package is missing in that interpreter is reported as such and
the others are measured.

Graph: ``create_react_agent`` with a deterministic chat model (asks for one tool
call, then answers; usage metadata on every response) and one tool, so a run is
agent -> tools -> agent: agentotel emits a root, three node, two chat and one
tool span plus the GenAI metrics. Every variant runs in its own process with a
real SDK ``TracerProvider`` (``BatchSpanProcessor`` into an exporter that only
counts spans and attribute bytes) and ``MeterProvider``; the order of the
variants rotates every round; each round gives every variant's per-invoke time
(the best of ``--batches`` timed batches of ``--invokes`` invokes after a
warm-up, as process CPU time, which includes the span-export thread; other load
on the machine only ever adds time, so the best batch is the least disturbed;
wall time is shown too) and its ratio to the raw run of the same round; the
table shows medians over rounds.

Variants:
  raw                    no instrumentation
  agentotel              LangGraphInstrumentor (content off, the default)
  agentotel-exemplars    agentotel with the meter provider's exemplar filter off (the SDK's default,
                         trace-based, attaches an exemplar to each histogram point recorded inside
                         a sampled span; this variant shows what that costs)
  agentotel+content      the same with SPAN_ONLY content capture
  agentotel+attributes   agentotel, every invoke inside agentotel.attributes(session_id, user_id, tenant)
  agentotel+metadata     agentotel, session_id and user_id in every invoke's config["metadata"]
  traceloop              opentelemetry-instrumentation-langchain, TRACELOOP_TRACE_CONTENT=false
  traceloop+content      the same with its default (content on)
  openinference          openinference-instrumentation-langchain (its default, content on)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from _harness import rotated

VARIANTS = (
    "raw",
    "agentotel",
    "agentotel-exemplars",
    "agentotel+content",
    "agentotel+attributes",
    "agentotel+metadata",
    "traceloop",
    "traceloop+content",
    "openinference",
)
PEERS = {"traceloop", "traceloop+content", "openinference"}
MISSING = 3  # worker exit code: the variant's package is not installed in this interpreter


# --------------------------------------------------------------------------- #
# Worker: one variant in one process
# --------------------------------------------------------------------------- #
def _agent() -> Any:
    import warnings

    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import tool
    from langgraph.prebuilt import create_react_agent

    class ScriptedModel(BaseChatModel):
        """One tool call, then an answer; deterministic, with usage metadata."""

        model: str = "bench-model"

        @property
        def _llm_type(self) -> str:
            return "bench"

        def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
            return {"ls_provider": "openai", "ls_model_name": self.model, "ls_model_type": "chat"}

        def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
            return self.bind(tools=[t.name for t in tools])

        def _generate(
            self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> ChatResult:
            usage = {"input_tokens": 120, "output_tokens": 20, "total_tokens": 140}
            meta = {"model_name": "bench-model-1", "finish_reason": "stop"}
            if isinstance(messages[-1], ToolMessage):
                message = AIMessage("Parcel 42 is farmland.", usage_metadata=usage, response_metadata=meta)
            else:
                message = AIMessage(
                    "",
                    tool_calls=[{"name": "land_use", "args": {"parcel": 42}, "id": f"call_{len(messages)}"}],
                    usage_metadata=usage,
                    response_metadata={**meta, "finish_reason": "tool_calls"},
                )
            return ChatResult(generations=[ChatGeneration(message=message)])

    @tool
    def land_use(parcel: int) -> str:
        """Land use of a parcel."""
        return f"parcel {parcel}: farmland"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(ScriptedModel(), [land_use], name="landuse")


def _providers(exemplars: bool = True) -> tuple[Any, Any, Any]:
    from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class CountingExporter(SpanExporter):
        def __init__(self) -> None:
            self.spans = 0
            self.attribute_bytes = 0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            for span in spans:
                self.spans += 1
                for key, value in (span.attributes or {}).items():
                    self.attribute_bytes += len(key) + len(str(value))
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    exporter = CountingExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=1 << 16))
    exemplar_filter = None if exemplars else AlwaysOffExemplarFilter()
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()], exemplar_filter=exemplar_filter)
    return tracer_provider, meter_provider, exporter


def _instrument(variant: str, tracer_provider: Any, meter_provider: Any) -> None:
    if variant.startswith("agentotel"):
        from agentotel import _telemetry
        from agentotel._config import load_settings
        from agentotel.instrumentation.langgraph import LangGraphInstrumentor

        content = "SPAN_ONLY" if variant.endswith("+content") else "NO_CONTENT"
        _telemetry.configure(tracer_provider, meter_provider, load_settings(capture_message_content=content))
        LangGraphInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    elif variant.startswith("traceloop"):
        os.environ["TRACELOOP_TRACE_CONTENT"] = "true" if variant.endswith("+content") else "false"
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor  # pyright: ignore[reportMissingImports]  # in the peer's own venv

        LangchainInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    elif variant == "openinference":
        from openinference.instrumentation.langchain import LangChainInstrumentor  # pyright: ignore[reportMissingImports]  # in the peer's own venv

        LangChainInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)


def _attributes_block(variant: str) -> Any:
    """The ``with`` block each invoke runs in: ``agentotel.attributes`` for that variant, else nothing."""
    if variant == "agentotel+attributes":
        import agentotel

        return agentotel.attributes(session_id="s-81", user_id="u-7", tenant="acme")
    import contextlib

    return contextlib.nullcontext()


def worker(variant: str, invokes: int, warmup: int, batches: int) -> dict[str, Any]:
    """Run one variant; return per-invoke microseconds, spans and attribute bytes per run."""
    tracer_provider, meter_provider, exporter = _providers(exemplars=not variant.endswith("-exemplars"))
    try:
        _instrument(variant, tracer_provider, meter_provider)
    except ImportError as exc:
        print(json.dumps({"missing": str(exc)}))
        sys.exit(MISSING)
    agent = _agent()
    question = {"messages": [("user", "What is parcel 42?")]}
    config = {"metadata": {"session_id": "s-81", "user_id": "u-7"}} if variant == "agentotel+metadata" else None
    block = _attributes_block(variant)
    for _ in range(warmup):
        with block:
            agent.invoke(question, config)
    tracer_provider.force_flush()
    exporter.spans = exporter.attribute_bytes = 0
    walls, cpus = [], []
    for _ in range(batches):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(invokes):
            with block:
                agent.invoke(question, config)
        tracer_provider.force_flush()  # the export thread's work is part of the cost
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu_start)
    runs = invokes * batches
    return {
        # the least disturbed batch: other processes on the machine only ever add time
        "us_per_invoke": min(walls) / invokes * 1e6,
        "cpu_us_per_invoke": min(cpus) / invokes * 1e6,
        "spans_per_run": exporter.spans / runs,
        "attribute_bytes_per_run": exporter.attribute_bytes / runs,
    }


# --------------------------------------------------------------------------- #
# Driver: rounds of one process per variant, rotated order, medians
# --------------------------------------------------------------------------- #
def _run_worker(python: str, variant: str, invokes: int, warmup: int, batches: int) -> dict[str, Any]:
    env = {**os.environ, "OTEL_SDK_DISABLED": "false", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [
            python,
            __file__,
            "--worker",
            variant,
            "--invokes",
            str(invokes),
            "--warmup",
            str(warmup),
            "--batches",
            str(batches),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if proc.returncode == MISSING:
        return {"missing": json.loads(proc.stdout.strip().splitlines()[-1])["missing"]}
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rotations(variants: Sequence[str], rounds: int) -> Iterator[list[str]]:
    for i in range(rounds):
        order = rotated(variants, i)
        yield order if i % 2 == 0 else order[::-1]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for the peer variants (one with the peers installed)"
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--invokes", type=int, default=40, help="invokes per timed batch")
    parser.add_argument("--batches", type=int, default=8, help="timed batches per process (the best counts)")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.invokes, args.warmup, args.batches)))
        return

    variants = [v for v in args.variants.split(",") if v]
    if "raw" not in variants:
        variants.insert(0, "raw")
    times: dict[str, list[float]] = {v: [] for v in variants}  # CPU time: robust on a shared machine
    wall: dict[str, list[float]] = {v: [] for v in variants}
    ratios: dict[str, list[float]] = {v: [] for v in variants}
    shape: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    for round_no, order in enumerate(_rotations(variants, args.rounds), 1):
        measured: dict[str, float] = {}
        for variant in order:
            if variant in missing:
                continue
            python = args.python if variant in PEERS else sys.executable
            result = _run_worker(python, variant, args.invokes, args.warmup, args.batches)
            if "missing" in result:
                missing[variant] = result["missing"]
                continue
            measured[variant] = result["cpu_us_per_invoke"]
            times[variant].append(result["cpu_us_per_invoke"])
            wall[variant].append(result["us_per_invoke"])
            shape[variant] = result
        for variant, value in measured.items():
            ratios[variant].append(value / measured["raw"])
        print(
            f"round {round_no} (CPU): " + ", ".join(f"{v} {measured[v]:.0f}us" for v in order if v in measured),
            file=sys.stderr,
        )

    print(
        f"\n{args.rounds} rounds, one process per variant per round, best of {args.batches} batches of "
        f"{args.invokes} invokes per process, medians over rounds; "
        f"python {sys.version.split()[0]}\n"
    )
    print(
        "| variant | CPU per invoke (µs) | ratio to raw | wall per invoke (µs) | spans per run "
        "| attribute bytes per run |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for variant in variants:
        if variant in missing:
            print(f"| {variant} | not installed ({missing[variant]}) | | | | |")
            continue
        info = shape[variant]
        print(
            f"| {variant} | {statistics.median(times[variant]):.0f} | {statistics.median(ratios[variant]):.2f}x "
            f"| {statistics.median(wall[variant]):.0f} | {info['spans_per_run']:.0f} "
            f"| {info['attribute_bytes_per_run']:.0f} |"
        )


if __name__ == "__main__":
    main()
