"""The demo's terminal report: a waterfall of one trace and a summary of the run.

Both are computed from the telemetry the run emitted (finished spans and
collected metrics), never from counters kept on the side, so what the report
shows is what a backend receives.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from agentotel import semconv

__all__ = ["MetricPoints", "Summary", "pick_trace", "render_summary", "render_waterfall", "summarize"]

BAR_WIDTH = 32
NAME_WIDTH = 46


# --------------------------------------------------------------------------- #
# Metric access
# --------------------------------------------------------------------------- #
class MetricPoints:
    """Data points of a ``MetricsData`` collection, by metric name."""

    def __init__(self, data: Any) -> None:
        self._points: dict[str, list[Any]] = defaultdict(list)
        if data is None:
            return
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    self._points[metric.name].extend(metric.data.data_points)

    def points(self, name: str) -> list[Any]:
        """Every point of metric ``name``."""
        return self._points.get(name, [])

    def by(self, name: str, *keys: str) -> dict[tuple[Any, ...], float]:
        """Values (sums for histograms) of ``name`` summed by the attribute ``keys``."""
        totals: dict[tuple[Any, ...], float] = defaultdict(float)
        for point in self.points(name):
            value = point.sum if hasattr(point, "bucket_counts") else point.value
            totals[tuple(point.attributes.get(key) for key in keys)] += value
        return dict(totals)

    def total(self, name: str) -> float:
        """Sum of every point's value (histogram sums)."""
        return sum(self.by(name).values())


# --------------------------------------------------------------------------- #
# Span helpers
# --------------------------------------------------------------------------- #
def _ms(nanoseconds: int) -> float:
    return nanoseconds / 1e6


def _duration_ms(span: ReadableSpan) -> float:
    return _ms((span.end_time or 0) - (span.start_time or 0))


def _attr(span: ReadableSpan, key: str) -> Any:
    return (span.attributes or {}).get(key)


def _is_db(span: ReadableSpan) -> bool:
    return _attr(span, semconv.DB_SYSTEM_NAME) == semconv.DB_SYSTEM_DUCKDB


def _is_chat(span: ReadableSpan) -> bool:
    return _attr(span, semconv.GEN_AI_OPERATION_NAME) == semconv.GEN_AI_OPERATION_CHAT


def _failed(span: ReadableSpan) -> bool:
    return span.status.status_code is StatusCode.ERROR


def _roots(spans: Iterable[ReadableSpan]) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.parent is None), key=lambda s: s.start_time or 0)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def pick_trace(spans: Sequence[ReadableSpan]) -> int | None:
    """The trace to draw: the first whose failed DuckDB query was followed by one that ran (the retry after
    an SQL error; another question may have cached the retried query), else the first with a failed query,
    else the largest."""
    by_trace: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        by_trace[span.context.trace_id].append(span)  # pyright: ignore[reportOptionalMemberAccess]
    complete = {tid: group for tid, group in by_trace.items() if any(s.parent is None for s in group)}
    if not complete:
        return None
    ordered = sorted(complete, key=lambda tid: min(s.start_time or 0 for s in complete[tid]))
    failed = [tid for tid in ordered if any(_is_db(s) and _failed(s) for s in complete[tid])]
    for trace_id in failed:
        queries = sorted((s for s in complete[trace_id] if _is_db(s)), key=lambda s: s.start_time or 0)
        if any(_failed(q) and not _failed(later) for i, q in enumerate(queries) for later in queries[i + 1 :]):
            return trace_id
    if failed:
        return failed[0]
    return max(ordered, key=lambda tid: len(complete[tid]))


def slowest_run(spans: Sequence[ReadableSpan]) -> ReadableSpan | None:
    """The root span of the slowest agent run (the trace worth opening first in Jaeger)."""
    return max(_roots(spans), key=_duration_ms, default=None)


# --------------------------------------------------------------------------- #
# Waterfall
# --------------------------------------------------------------------------- #
def _details(span: ReadableSpan) -> str:
    parts: list[str] = []
    if _is_chat(span):
        tokens_in = _attr(span, semconv.GEN_AI_USAGE_INPUT_TOKENS)
        tokens_out = _attr(span, semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
        if tokens_in is not None:
            parts.append(f"tokens {tokens_in}->{tokens_out}")
        reasons = _attr(span, semconv.GEN_AI_RESPONSE_FINISH_REASONS)
        if reasons:
            parts.append(f"finish={','.join(reasons)}")
    for key, label in (
        (semconv.LB_INSTANCE, "lb"),
        (semconv.CACHE_HIT, "cache.hit"),
        (semconv.GEN_AI_TOOL_NAME, "tool"),
        (semconv.DB_NAMESPACE, "db"),
        (semconv.LANGGRAPH_STEP, "step"),
    ):
        value = _attr(span, key)
        if value is not None:
            parts.append(f"{label}={value}")
    if _failed(span):
        parts.append(f"ERROR {_attr(span, semconv.ERROR_TYPE) or span.status.description or ''}".rstrip())
    return "  ".join(parts)


def _bar(span: ReadableSpan, origin: int, total: int) -> str:
    scale = BAR_WIDTH / total if total > 0 else 0.0
    start = min(BAR_WIDTH - 1, int(((span.start_time or 0) - origin) * scale))
    end = max(start + 1, min(BAR_WIDTH, math.ceil(((span.end_time or 0) - origin) * scale)))
    return " " * start + "█" * (end - start) + " " * (BAR_WIDTH - end)


def render_waterfall(spans: Sequence[ReadableSpan], trace_id: int, *, title: str = "") -> str:
    """One trace as an indented tree with durations, a timeline bar and key attributes per span."""
    members = [s for s in spans if s.context.trace_id == trace_id]  # pyright: ignore[reportOptionalMemberAccess]
    roots = _roots(members)
    if not roots:
        return f"(trace {trace_id:032x} not found)"
    children: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in members:
        if span.parent is not None:
            children[span.parent.span_id].append(span)
    origin = min(s.start_time or 0 for s in members)
    total = max(s.end_time or 0 for s in members) - origin
    header = f"Trace {trace_id:032x}" + (f"  {title}" if title else "")
    lines = [
        header,
        f"{'span':<{NAME_WIDTH}} {'duration':>10}  {'0':<{BAR_WIDTH // 2}}{_ms(total):>{BAR_WIDTH // 2 - 2}.0f}ms",
    ]

    def walk(span: ReadableSpan, depth: int) -> None:
        name = "  " * depth + span.name
        if len(name) > NAME_WIDTH:
            name = name[: NAME_WIDTH - 1] + "…"
        lines.append(
            f"{name:<{NAME_WIDTH}} {_duration_ms(span):>7.1f} ms |{_bar(span, origin, total)}| "
            f"{_details(span)}".rstrip()
        )
        for child in sorted(children.get(span.context.span_id, ()), key=lambda s: s.start_time or 0):  # pyright: ignore[reportOptionalMemberAccess]
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Summary
# --------------------------------------------------------------------------- #
@dataclass
class Summary:
    """The run in numbers, all taken from spans and metrics."""

    questions: int = 0
    failed: int = 0
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    chat_calls: dict[str, int] = field(default_factory=dict)  # by model
    chat_failed: int = 0
    chat_latencies_ms: list[float] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # of the priced chat calls; None when no call had a price
    priced_calls: int = 0
    db_latencies_ms: list[float] = field(default_factory=list)
    db_failed: int = 0
    cache_lookups: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)  # (cache, level) -> result
    breaker_transitions: dict[str, dict[str, int]] = field(default_factory=dict)  # breaker -> "from->to" -> n
    lb_picks: dict[str, int] = field(default_factory=dict)
    lb_ejections: dict[str, int] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by mode
    memory_bytes: float | None = None

    @property
    def questions_per_second(self) -> float:
        """Completed questions per second of wall time."""
        return self.questions / self.wall_s if self.wall_s > 0 else 0.0

    def cache_hit_rate(self, cache: str, level: str) -> float:
        """Hits / lookups for one cache level (0 when there were none)."""
        results = self.cache_lookups.get((cache, level), {})
        lookups = sum(results.values())
        return results.get("hit", 0) / lookups if lookups else 0.0

    @property
    def cache_hits(self) -> int:
        """Hits across every cache and level."""
        return sum(results.get("hit", 0) for results in self.cache_lookups.values())

    @property
    def ejections(self) -> int:
        """Load-balancer ejections across instances."""
        return sum(self.lb_ejections.values())


def summarize(spans: Sequence[ReadableSpan], metrics: Any, baseline: Any = None) -> Summary:
    """Build the :class:`Summary` from finished spans and a metrics collection (and one from the start)."""
    summary = Summary()
    roots = _roots(spans)
    summary.questions = len(roots)
    summary.failed = sum(1 for root in roots if _failed(root))
    summary.latencies_ms = [_duration_ms(root) for root in roots]
    if roots:
        summary.wall_s = (max(r.end_time or 0 for r in roots) - min(r.start_time or 0 for r in roots)) / 1e9
    chat_calls: dict[str, int] = defaultdict(int)
    span_tokens = [0, 0]
    for span in spans:
        if _is_chat(span):
            chat_calls[str(_attr(span, semconv.GEN_AI_REQUEST_MODEL))] += 1
            summary.chat_latencies_ms.append(_duration_ms(span))
            summary.chat_failed += _failed(span)
            span_tokens[0] += int(_attr(span, semconv.GEN_AI_USAGE_INPUT_TOKENS) or 0)
            span_tokens[1] += int(_attr(span, semconv.GEN_AI_USAGE_OUTPUT_TOKENS) or 0)
            cost = _attr(span, semconv.AGENTOTEL_USAGE_COST_USD)
            if cost is not None:
                summary.priced_calls += 1
                summary.cost_usd = (summary.cost_usd or 0.0) + float(cost)
        elif _is_db(span):
            summary.db_latencies_ms.append(_duration_ms(span))
            summary.db_failed += _failed(span)
    summary.chat_calls = dict(chat_calls)

    points = MetricPoints(metrics)
    tokens = points.by(semconv.GEN_AI_CLIENT_TOKEN_USAGE, semconv.GEN_AI_TOKEN_TYPE)
    summary.input_tokens = int(tokens.get(("input",), span_tokens[0]))
    summary.output_tokens = int(tokens.get(("output",), span_tokens[1]))

    lookups = points.by(semconv.CACHE_LOOKUPS, semconv.CACHE_NAME, semconv.CACHE_LEVEL, semconv.CACHE_RESULT)
    for (cache, level, result), value in sorted(lookups.items(), key=lambda item: str(item[0])):
        summary.cache_lookups.setdefault((str(cache), str(level or "l1")), {})[str(result)] = int(value)
    transitions = points.by(
        semconv.CIRCUIT_BREAKER_TRANSITIONS,
        semconv.CIRCUIT_BREAKER_NAME,
        semconv.CIRCUIT_BREAKER_FROM,
        semconv.CIRCUIT_BREAKER_TO,
    )
    for (breaker, old, new), value in sorted(transitions.items(), key=lambda item: str(item[0])):
        if value:
            summary.breaker_transitions.setdefault(str(breaker), {})[f"{old}->{new}"] = int(value)
    summary.lb_picks = {str(i): int(v) for (i,), v in sorted(points.by(semconv.LB_PICKS, semconv.LB_INSTANCE).items())}
    summary.lb_ejections = {
        str(i): int(v) for (i,), v in sorted(points.by(semconv.LB_EJECTIONS, semconv.LB_INSTANCE).items()) if v
    }

    cpu_now = points.by(semconv.PROCESS_CPU_TIME, "cpu.mode")
    cpu_then = MetricPoints(baseline).by(semconv.PROCESS_CPU_TIME, "cpu.mode") if baseline is not None else {}
    summary.cpu_seconds = {str(mode): value - cpu_then.get((mode,), 0.0) for (mode,), value in cpu_now.items()}
    memory = points.points(semconv.PROCESS_MEMORY_USAGE)
    summary.memory_bytes = float(memory[0].value) if memory else None
    return summary


def _counts(values: Mapping[str, float]) -> str:
    return ", ".join(f"{key} {value}" for key, value in values.items()) or "none"


def _latency(values: Sequence[float]) -> str:
    return " ".join(f"p{q} {percentile(values, q):.1f} ms" for q in (50, 95, 99))


def _cost(summary: Summary) -> str:
    if summary.cost_usd is None:
        return "no price for these models (instrument(prices=...) or AGENTOTEL_PRICES)"
    per_question = summary.cost_usd / summary.questions if summary.questions else 0.0
    return (
        f"${summary.cost_usd:.6f} for the run, ${per_question:.6f} per question "
        f"({summary.priced_calls} priced chat calls)"
    )


def render_summary(summary: Summary, *, concurrency: int | None = None) -> str:
    """The summary as an aligned two-column table."""
    rows: list[tuple[str, str]] = []
    ok = summary.questions - summary.failed
    rows.append(
        (
            "questions",
            f"{summary.questions} ({ok} ok, {summary.failed} failed) in {summary.wall_s:.2f} s"
            + (f" at concurrency {concurrency}" if concurrency else ""),
        )
    )
    rows.append(("throughput", f"{summary.questions_per_second:.1f} questions/s"))
    rows.append(("latency", _latency(summary.latencies_ms)))
    rows.append(
        (
            "chat calls",
            f"{sum(summary.chat_calls.values())} ({_counts(summary.chat_calls)}), "
            f"{summary.chat_failed} failed; {_latency(summary.chat_latencies_ms)}",
        )
    )
    rows.append(("tokens", f"{summary.input_tokens:,} in, {summary.output_tokens:,} out"))
    rows.append(("cost", _cost(summary)))
    db_total = sum(summary.db_latencies_ms)
    rows.append(
        (
            "DuckDB queries",
            f"{len(summary.db_latencies_ms)} ({summary.db_failed} failed), "
            f"{_latency(summary.db_latencies_ms)}, total {db_total:.0f} ms",
        )
    )
    for (cache, level), results in summary.cache_lookups.items():
        hits, misses = results.get("hit", 0), results.get("miss", 0)
        rows.append(
            (
                f"cache {cache} [{level}]",
                f"{summary.cache_hit_rate(cache, level):.0%} hit rate ({hits} hits, {misses} misses)",
            )
        )
    if not summary.cache_lookups:
        rows.append(("cache", "no lookups reported"))
    for breaker, transitions in summary.breaker_transitions.items():
        rows.append((f"breaker {breaker}", _counts(transitions)))
    if not summary.breaker_transitions:
        rows.append(("circuit breakers", "no transitions"))
    rows.append(("balancer picks", _counts(summary.lb_picks)))
    rows.append(("balancer ejections", _counts(summary.lb_ejections)))
    cpu_total = sum(summary.cpu_seconds.values())
    process = f"CPU {cpu_total:.2f} s ({_counts({k: round(v, 2) for k, v in summary.cpu_seconds.items()})})"
    if summary.wall_s > 0 and cpu_total:
        process += f" = {cpu_total / summary.wall_s:.0%} of one core"
    if summary.memory_bytes is not None:
        process += f"; RSS {summary.memory_bytes / 2**20:.0f} MiB"
    rows.append(("process", process))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)
