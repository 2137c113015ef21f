"""Run the demo: build the database, ask the questions concurrently, print the report."""

from __future__ import annotations

import importlib
import itertools
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

from agentotel.demo import data
from agentotel.demo.agent import Answer, LandUseAgent
from agentotel.demo.questions import DEFAULT_QUESTIONS
from agentotel.demo.report import pick_trace, render_summary, render_waterfall, slowest_run, summarize
from agentotel.demo.telemetry import DemoTelemetry, OtlpSettings

__all__ = ["DemoOptions", "DemoResult", "ModelSpecError", "default_trace_file", "load_models", "run_demo"]


def default_trace_file() -> Path:
    """``<temp dir>/agentotel-demo/traces.jsonl``."""
    return Path(tempfile.gettempdir()) / "agentotel-demo" / "traces.jsonl"


@dataclass
class DemoOptions:
    """Everything ``agentotel demo`` can be told (see ``agentotel demo --help``)."""

    questions: Sequence[str] = DEFAULT_QUESTIONS
    count: int = 100
    concurrency: int = 4
    scale: float = data.DEFAULT_SCALE
    database: Path | None = None
    trace_file: Path = field(default_factory=default_trace_file)
    otlp: OtlpSettings | None = None
    jaeger_url: str = "http://localhost:16686"
    service_name: str | None = None
    model: str | None = None
    progress: bool = True
    seed: int = 7


@dataclass
class DemoResult:
    """What a run produced, for callers that want more than the printed report."""

    answers: list[Answer]
    errors: dict[str, int]
    trace_id: int | None  # the trace drawn as a waterfall
    trace_file: Path
    summary: Any
    slowest_trace_id: int | None = None  # the slowest run's trace, linked in Jaeger


class ModelSpecError(ValueError):
    """``--model`` does not name a chat model (or a list, or a callable returning either)."""


def load_models(spec: str) -> list[Any]:
    """Chat models from ``module:attribute``: a chat model, a list of them, or a callable returning either."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ModelSpecError(f"--model wants MODULE:ATTR, got {spec!r}")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:  # console scripts do not search the cwd
        sys.path.insert(0, str(Path.cwd()))
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ModelSpecError(f"--model {spec}: {exc}") from exc
    if callable(target) and not hasattr(target, "invoke"):
        target = target()
    models = list(target) if isinstance(target, (list, tuple)) else [target]
    if not models or not all(hasattr(model, "bind_tools") for model in models):
        raise ModelSpecError(f"--model {spec}: expected langchain-core chat models with tool calling")
    return models


def _database(options: DemoOptions, out: TextIO) -> data.DatabaseInfo:
    if options.database is not None:
        if options.database.exists():
            info = data.DatabaseInfo(str(options.database), options.scale, 0, 0, 0.0)
            print(f"database  {options.database} (existing file)", file=out)
            return info
        info = data.build_database(options.database, options.scale)
    else:
        info = data.cached_database(options.scale)
    how = f"built in {info.build_seconds:.1f} s" if info.build_seconds else "reused"
    print(f"database  {info.path}: {info.counties:,} counties, {info.fact_rows:,} transition rows ({how})", file=out)
    return info


def _progress(enabled: bool) -> Any:
    if not enabled or not sys.stderr.isatty():
        return nullcontext(None)
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    except ImportError:  # rich comes with the demo extra; without it, no bar
        return nullcontext(None)

    return Progress(
        TextColumn("asking"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=Console(stderr=True),
    )


def _ask_all(
    agent: LandUseAgent, questions: Sequence[str], concurrency: int, progress_enabled: bool
) -> tuple[list[Answer], dict[str, int]]:
    answers: list[Answer | None] = [None] * len(questions)
    errors: dict[str, int] = {}
    with _progress(progress_enabled) as progress, ThreadPoolExecutor(concurrency) as pool:
        task = progress.add_task("asking", total=len(questions)) if progress is not None else None
        futures = {
            pool.submit(agent.ask, question, thread_id=f"demo-{index}"): index
            for index, question in enumerate(questions)
        }
        for future in as_completed(futures):
            try:
                answers[futures[future]] = future.result()
            except Exception as exc:  # a failed question is reported, not fatal
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            if progress is not None:
                progress.advance(task)
    return [a for a in answers if a is not None], errors


def run_demo(
    options: DemoOptions, out: TextIO | None = None, agent_factory: Callable[..., LandUseAgent] = LandUseAgent
) -> DemoResult:
    """Run the whole demo and print its report to ``out`` (default: standard output)."""
    out = out if out is not None else sys.stdout
    started = time.perf_counter()
    questions = list(itertools.islice(itertools.cycle(options.questions), options.count))
    print(
        f"agentotel demo: a LangGraph land-use agent over DuckDB, {len(questions)} questions, "
        f"concurrency {options.concurrency}",
        file=out,
    )
    models = load_models(options.model) if options.model else None
    info = _database(options, out)  # pyright: ignore[reportArgumentType]  # standard output when None
    otlp = options.otlp
    if otlp is not None and not otlp.reachable():
        host, port = otlp.address()
        print(
            f"otlp      nothing listens on {host}:{port}, so this run is not exported; start a collector "
            f"(docker compose -f collector/docker-compose.yaml up) or drop --otlp",
            file=out,
        )
        otlp = None
    telemetry = DemoTelemetry.start(options.trace_file, service_name=options.service_name, otlp=otlp)
    try:
        with agent_factory(info.path, models) as agent:
            baseline = telemetry.metric_data()
            answers, errors = _ask_all(agent, questions, options.concurrency, options.progress)
        spans = telemetry.finished_spans()  # the in-memory exporter has every ended span already
        summary = summarize(spans, telemetry.metric_data(), baseline)
    finally:
        telemetry.close()
    trace_id = pick_trace(spans)
    slowest = slowest_run(spans)
    _print_answers(answers, out)  # pyright: ignore[reportArgumentType]
    if trace_id is not None:
        title = next((a.question for a in answers if a.sql_errors), "")
        print(f"\n{render_waterfall(spans, trace_id, title=title)}", file=out)
    print(f"\nSummary\n{render_summary(summary, concurrency=options.concurrency)}", file=out)
    if errors:
        print(f"  errors by type: {', '.join(f'{k} {v}' for k, v in sorted(errors.items()))}", file=out)
    print(
        f"\nspans     {len(spans):,} written to {options.trace_file} (OTLP/JSON lines; load them with the "
        f"Collector's otlpjsonfile receiver)",
        file=out,
    )
    if otlp is not None:
        print(f"exported  over OTLP to {otlp.describe()} as service {telemetry.service_name!r}", file=out)
        jaeger = options.jaeger_url.rstrip("/")
        if slowest is not None:
            took = (slowest.end_time - slowest.start_time) / 1e6 if slowest.end_time and slowest.start_time else 0.0
            print(
                f"jaeger    {jaeger}/trace/{slowest.context.trace_id:032x}  (the slowest run, {took:,.0f} ms)",  # pyright: ignore[reportOptionalMemberAccess]
                file=out,
            )
        print(f"          {jaeger}/search?{urlencode({'service': telemetry.service_name})}", file=out)
    print(f"done in {time.perf_counter() - started:.1f} s", file=out)
    slowest_trace_id = slowest.context.trace_id if slowest is not None else None  # pyright: ignore[reportOptionalMemberAccess]
    return DemoResult(answers, errors, trace_id, options.trace_file, summary, slowest_trace_id)


def _print_answers(answers: Sequence[Answer], out: TextIO) -> None:
    print("\nAnswers (first of each question)", file=out)
    seen: set[str] = set()
    for answer in answers:
        if answer.question in seen:
            continue
        seen.add(answer.question)
        retry = (
            f" [after {answer.sql_errors} SQL error{'s' if answer.sql_errors > 1 else ''}]" if answer.sql_errors else ""
        )
        print(f"  Q: {answer.question}\n  A: {answer.text}{retry}", file=out)
