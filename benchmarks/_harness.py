"""Plumbing shared by the benchmark scripts: discarding exporters, SDK providers, rotated timing, tables.

The scripts import it as ``_harness`` (a script's own directory is first on ``sys.path``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

__all__ = [
    "DiscardSpans",
    "DiscardMetrics",
    "providers",
    "rotated",
    "sample_rotated",
    "medians",
    "timed",
    "print_table",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


class DiscardSpans(SpanExporter):
    """Accepts every span batch and keeps nothing."""

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class DiscardMetrics(MetricExporter):
    """Accepts every metric export and keeps nothing."""

    def __init__(self) -> None:
        super().__init__()

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def providers(
    metric_interval_ms: int, *, export_spans: bool = True, span_queue_size: int | None = None
) -> tuple[TracerProvider, MeterProvider]:
    """A real SDK TracerProvider and MeterProvider whose exports are discarded.

    Spans go through a ``BatchSpanProcessor`` (``span_queue_size``: its queue; the
    SDK default when ``None``), or through no processor at all with
    ``export_spans=False``. Metrics are collected by a periodic reader every
    ``metric_interval_ms``.
    """
    tracer_provider = TracerProvider()
    if export_spans:
        if span_queue_size is None:
            processor = BatchSpanProcessor(DiscardSpans())
        else:
            processor = BatchSpanProcessor(DiscardSpans(), max_queue_size=span_queue_size)
        tracer_provider.add_span_processor(processor)
    reader = PeriodicExportingMetricReader(DiscardMetrics(), export_interval_millis=metric_interval_ms)
    return tracer_provider, MeterProvider(metric_readers=[reader])


def rotated(items: Sequence[T], rep: int) -> list[T]:
    """``items`` rotated left by ``rep``: over the repetitions each item runs in every position."""
    shift = rep % len(items)
    return list(items[shift:]) + list(items[:shift])


def sample_rotated(names: Sequence[K], reps: int, measure: Callable[[K], V]) -> dict[K, list[V]]:
    """``measure(name)`` for every name, ``reps`` times, in an order rotated per repetition."""
    samples: dict[K, list[V]] = {name: [] for name in names}
    for rep in range(reps):
        for name in rotated(names, rep):
            samples[name].append(measure(name))
    return samples


def medians(samples: dict[K, list[float]]) -> dict[K, float]:
    """The median of each name's samples."""
    return {name: statistics.median(values) for name, values in samples.items()}


def timed(run: Callable[[], Any], n: int) -> tuple[float, float]:
    """Seconds per call of ``run`` over ``n`` calls: (wall clock, this thread's CPU time)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        run()
    return (time.perf_counter() - wall) / n, (time.thread_time() - cpu) / n


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: bool = False) -> None:
    """Print a Markdown table; ``numeric`` right-aligns every column after the first."""
    print("| " + " | ".join(columns) + " |")
    print("|---|" + ("---:|" if numeric else "---|") * (len(columns) - 1))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
