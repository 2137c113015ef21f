"""A span exporter that appends OTLP/JSON lines to a file.

Each export writes one line: an ``ExportTraceServiceRequest`` in the OTLP/JSON
encoding (lowerCamelCase keys, hex trace and span ids, enums as integers), the
format of the Collector's ``file`` exporter. The Collector's ``otlpjsonfile``
receiver can load the file into any backend later::

    receivers:
      otlpjsonfile:
        include: [/tmp/agentotel-demo/traces.jsonl]
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["OtlpJsonLinesSpanExporter", "read_spans"]

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(node: Any) -> None:
    """Protobuf's JSON mapping writes bytes as base64; OTLP/JSON wants ids in hex."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


class OtlpJsonLinesSpanExporter(SpanExporter):
    """Append each batch of spans to ``path`` as one OTLP/JSON line (the file is truncated at start)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write ``spans`` as one line."""
        document = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
        _hex_ids(document)
        line = json.dumps(document, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            self._file.write(line)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Everything is written at export; nothing to flush."""
        return True

    def shutdown(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()


def read_spans(path: str | Path) -> list[dict[str, Any]]:
    """Every span in an OTLP/JSON-lines file, each with its ``resource`` attributes added as ``_resource``."""
    spans: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as file:
        for line in file:
            if not line.strip():
                continue
            for resource_spans in json.loads(line).get("resourceSpans", ()):
                resource = {a["key"]: a["value"] for a in resource_spans.get("resource", {}).get("attributes", ())}
                for scope_spans in resource_spans.get("scopeSpans", ()):
                    for span in scope_spans.get("spans", ()):
                        spans.append({**span, "_resource": resource})
    return spans
