"""Span export that never hurts the application: bounded, visible when it drops, quiet when it fails.

* :class:`BoundedBatchSpanProcessor` is the SDK's ``BatchSpanProcessor`` with a
  bounded queue whose drops are counted (``agentotel.export.spans.dropped``, plus
  one warning with the count per interval) at the cost of one ``len()`` per span,
  that holds only two batches while nothing listens on the collector's port, and
  whose shutdown returns within a fixed budget, at once when nothing listens.
* :class:`ExportLogThrottle` lets the exporters' error messages through at most
  once per interval (not once per batch or retry), saying how many it held back.
"""

from __future__ import annotations

import inspect
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from opentelemetry.metrics import MeterProvider, Observation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agentotel import semconv
from agentotel._handle import Binding, Observed

__all__ = [
    "EXPORT_LOGGERS",
    "BoundedBatchSpanProcessor",
    "ExportLogThrottle",
    "endpoint_reachable",
    "install_export_log_throttle",
    "DroppedSpans",
    "register_dropped_spans_metric",
]

_logger = logging.getLogger("agentotel")

DEFAULT_LOG_INTERVAL_S = 60.0

# Loggers on the export path: OTLP exporters (their retry warnings and final errors)
# and the SDK's batch processors and periodic metric reader.
EXPORT_LOGGERS: tuple[str, ...] = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.metrics._internal.export",
)


def endpoint_reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port`` within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ExportLogThrottle(logging.Filter):
    """Pass at most one export warning or error per ``interval`` seconds, across all export loggers.

    The message that passes says how many were held back since the previous one.
    Records below WARNING pass untouched.
    """

    def __init__(self, interval: float = DEFAULT_LOG_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__("agentotel.export")
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._suppressed = 0

    @property
    def suppressed(self) -> int:
        """Messages held back since the last one that passed."""
        return self._suppressed

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        now = self._clock()
        with self._lock:
            if self._last is not None and now - self._last < self.interval:
                self._suppressed += 1
                return False
            self._last, held_back, self._suppressed = now, self._suppressed, 0
        held = f"{held_back} similar messages were held back since the previous one; " if held_back else ""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as usual
            return True
        record.msg = (
            f"{message} [agentotel: export problems are logged at most once per "
            f"{self.interval:g} s; {held}the application is unaffected. Check the endpoint with "
            "`agentotel doctor`.]"
        )
        record.args = None
        return True


_throttle: ExportLogThrottle | None = None
_throttle_lock = threading.Lock()


def install_export_log_throttle(interval: float = DEFAULT_LOG_INTERVAL_S) -> ExportLogThrottle:
    """Attach one shared :class:`ExportLogThrottle` to every export logger (idempotent)."""
    global _throttle
    with _throttle_lock:
        if _throttle is None:
            _throttle = ExportLogThrottle(interval)
            for name in EXPORT_LOGGERS:
                logging.getLogger(name).addFilter(_throttle)
        return _throttle


class _ReachabilityWatch(SpanExporter):
    """Wraps a span exporter and tells the processor whether the collector is reachable.

    Before the first export, and before each export that follows a failed one, it
    probes the collector's port (one TCP connect). The export itself is unchanged:
    the wrapped exporter still retries as it always does.
    """

    def __init__(self, inner: SpanExporter, endpoint: tuple[str, int], on_change: Callable[[bool], None]) -> None:
        self.inner = inner
        self._endpoint = endpoint
        self._on_change = on_change
        self._suspect = True
        self._shutdown_takes_timeout = "timeout_millis" in inspect.signature(inner.shutdown).parameters

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._suspect:
            self._on_change(endpoint_reachable(*self._endpoint))
        result = self.inner.export(spans)
        self._suspect = result is not SpanExportResult.SUCCESS
        if not self._suspect:
            self._on_change(True)
        return result

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        if self._shutdown_takes_timeout:
            self.inner.shutdown(timeout_millis=timeout_millis)  # type: ignore[call-arg]
        else:
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class BoundedBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` that counts what it drops and shuts down within a budget.

    When the queue is full a span is dropped here, counted, and reported in one
    warning per ``log_interval`` (instead of the SDK's per-span log record, which
    would slow the application down exactly when the collector is away).
    While nothing listens on ``endpoint`` (a ``(host, port)`` pair, probed before the
    first export and after failed ones) at most ``outage_queue_size`` spans are held:
    a span kept for a collector that is not there costs memory (about 3 KiB) and the CPU
    to grow the heap, and is lost anyway if the outage lasts.
    ``shutdown()`` flushes for at most ``shutdown_timeout_millis``, and does not wait
    at all when nothing listens on ``endpoint``.
    """

    def __init__(
        self,
        span_exporter: SpanExporter,
        *,
        max_queue_size: int,
        max_export_batch_size: int,
        schedule_delay_millis: float,
        export_timeout_millis: float,
        shutdown_timeout_millis: float = 5000,
        endpoint: tuple[str, int] | None = None,
        outage_queue_size: int | None = None,
        log_interval: float = DEFAULT_LOG_INTERVAL_S,
    ) -> None:
        self.capacity = max_queue_size
        self.outage_capacity = min(max_queue_size, outage_queue_size or 2 * max_export_batch_size)
        self.limit = max_queue_size  # capacity, or outage_capacity while the collector is unreachable
        if endpoint is not None:
            span_exporter = _ReachabilityWatch(span_exporter, endpoint, self._set_reachable)
        super().__init__(
            span_exporter,
            max_queue_size=max_queue_size,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=max_export_batch_size,
            export_timeout_millis=export_timeout_millis,
        )
        self.shutdown_timeout_millis = shutdown_timeout_millis
        self.endpoint = endpoint
        self._log_interval = log_interval
        # The SDK's queue (a bounded deque, SDK >= 1.34), read for the O(1) "is it full" check.
        # On older SDKs the check is skipped and the SDK drops (and logs) by itself.
        self._queue = getattr(getattr(self, "_batch_processor", None), "_queue", ())
        self._drop_lock = threading.Lock()
        self._dropped = 0
        #: What reports this processor's drops (see :func:`register_dropped_spans_metric`).
        self.reported_by: DroppedSpans | None = None
        self._last_report: float | None = None

    @property
    def dropped(self) -> int:
        """Spans dropped so far because the queue was full."""
        return self._dropped

    @property
    def queued(self) -> int:
        """Spans waiting in the queue now."""
        return len(self._queue)

    def _set_reachable(self, reachable: bool) -> None:
        self.limit = self.capacity if reachable else self.outage_capacity

    def on_end(self, span: ReadableSpan) -> None:
        if len(self._queue) >= self.limit:
            if span.context is not None and span.context.trace_flags.sampled:
                self._drop()
            return
        super().on_end(span)

    def _drop(self) -> None:
        now = time.monotonic()
        with self._drop_lock:
            self._dropped += 1
            if self._last_report is not None and now - self._last_report < self._log_interval:
                return
            self._last_report, dropped = now, self._dropped
        if self.limit < self.capacity:
            reason = f"the collector{_where(self.endpoint)} is unreachable, so at most {self.limit} spans are held"
        else:
            reason = (
                f"the queue is full ({self.capacity} spans): the collector{_where(self.endpoint)} is not "
                "keeping up (raise OTEL_BSP_MAX_QUEUE_SIZE for longer bursts)"
            )
        _logger.warning(
            "agentotel: dropping spans, %d so far: %s. The application is unaffected; check the endpoint "
            "with `agentotel doctor`.",
            dropped,
            reason,
        )

    def shutdown(self) -> None:
        pending = len(self._queue)
        budget = self.shutdown_timeout_millis
        unreachable = self.endpoint is not None and pending and not endpoint_reachable(*self.endpoint)
        if unreachable:
            budget = 0
        batch_processor = getattr(self, "_batch_processor", None)
        if batch_processor is not None:
            batch_processor.shutdown(timeout_millis=budget)
        else:  # older SDKs: their own (30 s) bound
            super().shutdown()
        lost = len(self._queue)
        if unreachable:
            _logger.warning(
                "agentotel: %d spans were not exported: nothing listens on %s:%d.",
                lost,
                *self.endpoint,  # type: ignore[misc]
            )
        elif lost:
            _logger.warning(
                "agentotel: %d spans were not exported within the shutdown budget of %g ms "
                "(AGENTOTEL_SHUTDOWN_TIMEOUT).",
                lost,
                self.shutdown_timeout_millis,
            )
        if self._dropped:
            _logger.warning(
                "agentotel: %d spans were dropped in total because the export queue was full "
                "(OTEL_BSP_MAX_QUEUE_SIZE=%d).",
                self._dropped,
                self.capacity,
            )


def _where(endpoint: tuple[str, int] | None) -> str:
    return f" at {endpoint[0]}:{endpoint[1]}" if endpoint else ""


class DroppedSpans:
    """The span processors whose drops ``agentotel.export.spans.dropped`` reports, and where it reports."""

    name = "export"

    def __init__(self, processors: Iterable[BoundedBatchSpanProcessor], meter_provider: MeterProvider | None) -> None:
        self.processors = tuple(processors)
        self.binding = Binding(semconv.SCOPE_COMPONENTS, meter_provider=meter_provider)


def _dropped(reporters: list[DroppedSpans]) -> Iterable[Observation]:
    return [Observation(sum(p.dropped for r in reporters for p in r.processors))]


EXPORT = Observed("export", {semconv.EXPORT_SPANS_DROPPED: _dropped})


def register_dropped_spans_metric(
    processors: Iterable[BoundedBatchSpanProcessor], meter_provider: MeterProvider | None = None
) -> DroppedSpans:
    """Report ``agentotel.export.spans.dropped`` (observable counter) for ``processors``."""
    reporter = DroppedSpans(processors, meter_provider)
    for processor in reporter.processors:  # reported as long as a processor lives (EXPORT holds it weakly)
        processor.reported_by = reporter
    EXPORT.add(reporter)
    return reporter
