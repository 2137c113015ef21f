"""A tiny OTLP/HTTP receiver that decodes what a real collector forwards to it.

The collector under test (rotel) exports to this sink, so tests can assert on the
exact spans and metric points that crossed the collector: ids, parents, attributes.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.servers import LOOPBACK, free_port

SPAN_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def any_value(value: AnyValue) -> Any:
    """The Python value of an OTLP ``AnyValue``."""
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(any_value(v) for v in value.array_value.values)
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which) if which else None


def attributes(key_values) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in key_values}


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the collector forwarded it."""

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    status_code: int


@dataclass(frozen=True)
class ReceivedPoint:
    """One metric data point: ``value`` for sums and gauges, ``count``/``sum`` for histograms."""

    metric: str
    unit: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    value: float | None = None
    count: int | None = None
    sum: float | None = None


@dataclass
class OtlpSink:
    """Collects spans and metric points posted to ``/v1/traces`` and ``/v1/metrics``."""

    port: int = field(default_factory=free_port)
    spans: list[ReceivedSpan] = field(default_factory=list)
    points: list[ReceivedPoint] = field(default_factory=list)
    requests: int = 0

    def __post_init__(self) -> None:
        self._changed = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.path.endswith("/v1/traces"):
                    sink._add_traces(body)
                    reply = ExportTraceServiceResponse().SerializeToString()
                elif self.path.endswith("/v1/metrics"):
                    sink._add_metrics(body)
                    reply = ExportMetricsServiceResponse().SerializeToString()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-sink", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _add_traces(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            name=span.name,
                            kind=SPAN_KINDS[span.kind],
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes=attributes(span.attributes),
                            resource=resource,
                            scope=scope_spans.scope.name,
                            status_code=span.status.code,
                        )
                    )
        with self._changed:
            self.spans.extend(received)
            self.requests += 1
            self._changed.notify_all()

    def _add_metrics(self, body: bytes) -> None:
        request = ExportMetricsServiceRequest.FromString(body)
        received = []
        for resource_metrics in request.resource_metrics:
            resource = attributes(resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        common = dict(
                            metric=metric.name,
                            unit=metric.unit,
                            attributes=attributes(point.attributes),
                            resource=resource,
                        )
                        if kind in ("histogram", "exponential_histogram"):
                            received.append(ReceivedPoint(**common, count=point.count, sum=point.sum))
                        else:
                            value = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
                            received.append(ReceivedPoint(**common, value=value))
        with self._changed:
            self.points.extend(received)
            self.requests += 1
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[OtlpSink], bool], timeout: float = 20.0, what: str = "") -> None:
        """Block until ``condition(self)`` holds; fail with what arrived after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    names = sorted({s.name for s in self.spans})
                    metrics = sorted({p.metric for p in self.points})
                    raise AssertionError(
                        f"timed out waiting for {what or condition}; spans: {names}; metrics: {metrics}"
                    )
                self._changed.wait(min(left, 0.2))

    def spans_named(self, name: str) -> list[ReceivedSpan]:
        with self._changed:
            return [span for span in self.spans if span.name == name]

    def points_of(self, metric: str) -> list[ReceivedPoint]:
        with self._changed:
            return [point for point in self.points if point.metric == metric]

    def metric_names(self) -> set[str]:
        with self._changed:
            return {point.metric for point in self.points}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
