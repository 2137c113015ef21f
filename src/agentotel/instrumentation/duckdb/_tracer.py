"""Spans and the duration metric for DuckDB statements: what every hook calls.

The per-query path is: look up a :class:`Prepared` (span name, attribute
dicts) by ``(query text, namespace)`` in a bounded LRU; start a CLIENT span
without making it current (a DuckDB span has no children of ours); run the
query; end the span and record the duration with the prepared metric
attributes. Everything that depends only on the text is computed once per
distinct text.
"""

from __future__ import annotations

import os
import traceback
import weakref
from collections.abc import Mapping
from time import perf_counter
from typing import Any

from opentelemetry.metrics import Meter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from agentotel import semconv
from agentotel._bounded import BoundedLRU
from agentotel._config import Settings
from agentotel._telemetry import error_type
from agentotel.instrumentation._sql import MAX_CACHED_LENGTH, Statement, StatementCache, analyze
from agentotel.instrumentation.duckdb._recorder import DeferredHistogram

__all__ = ["ConnectionNamespaces", "Prepared", "QueryTracer", "namespace_of_database"]

_CLIENT = SpanKind.CLIENT


def namespace_of_database(database: object) -> str:
    """``db.namespace`` for the ``database`` argument of ``duckdb.connect``: the file stem or ``memory``."""
    text = os.fsdecode(database) if isinstance(database, (str, bytes, os.PathLike)) else str(database)
    if text in ("", ":memory:", ":default:"):
        return semconv.DB_NAMESPACE_MEMORY
    if text.startswith(":memory:"):
        return text[len(":memory:") :] or semconv.DB_NAMESPACE_MEMORY
    if text.startswith(("md:", "motherduck:")):
        return text.split(":", 1)[1].split("?", 1)[0] or text
    stem = os.path.splitext(os.path.basename(text.rstrip("/\\")))[0]
    return stem or text


class ConnectionNamespaces:
    """Connection -> ``db.namespace``, forgotten when the connection is collected.

    Like a ``WeakKeyDictionary`` (connections have no ``__dict__`` and reject
    attributes), but looked up by ``id()``, so a lookup on the per-query path
    allocates no weak reference. The weakref callback drops the entry when the
    connection dies, before its ``id`` can be reused.
    """

    __slots__ = ("_by_id", "_refs")

    def __init__(self) -> None:
        self._by_id: dict[int, str] = {}
        self._refs: dict[int, weakref.ref[Any]] = {}

    def get(self, connection: Any) -> str | None:
        """The connection's namespace, or None when we did not see it opened."""
        return self._by_id.get(id(connection))

    def __setitem__(self, connection: Any, namespace: str) -> None:
        key = id(connection)
        by_id, refs = self._by_id, self._refs

        def forget(_: Any, key: int = key) -> None:
            by_id.pop(key, None)
            refs.pop(key, None)

        refs[key] = weakref.ref(connection, forget)
        by_id[key] = namespace

    def __len__(self) -> int:
        return len(self._by_id)


class Prepared:
    """Everything about one (query text, namespace) that does not change between executions."""

    __slots__ = ("statement", "name", "span_attributes", "metric_attributes", "_error_attributes")

    def __init__(self, statement: Statement, namespace: str | None, capture_text: bool) -> None:
        self.statement = statement
        self.name = statement.summary or statement.operation or semconv.DB_SPAN_NAME_FALLBACK
        metric: dict[str, Any] = {semconv.DB_SYSTEM_NAME: semconv.DB_SYSTEM_DUCKDB}
        if namespace:
            metric[semconv.DB_NAMESPACE] = namespace
        if statement.operation:
            metric[semconv.DB_OPERATION_NAME] = statement.operation
        if statement.collection:
            metric[semconv.DB_COLLECTION_NAME] = statement.collection
        span = dict(metric)
        if statement.summary:
            span[semconv.DB_QUERY_SUMMARY] = statement.summary
        if capture_text and statement.text:
            span[semconv.DB_QUERY_TEXT] = statement.text
        self.span_attributes: Mapping[str, Any] = span
        self.metric_attributes: Mapping[str, Any] = metric
        self._error_attributes: dict[str, Mapping[str, Any]] = {}

    def error_metric_attributes(self, error: str) -> Mapping[str, Any]:
        """The metric attributes with ``error.type`` (cached per error type)."""
        found = self._error_attributes.get(error)
        if found is None:
            found = {**self.metric_attributes, semconv.ERROR_TYPE: error}
            if len(self._error_attributes) < 16:
                self._error_attributes[error] = found
        return found


class QueryTracer:
    """Creates spans and records the duration metric for DuckDB statements."""

    def __init__(self, tracer: Tracer, meter: Meter, settings: Settings) -> None:
        self.tracer = tracer
        self.durations = DeferredHistogram.for_meter(meter)
        self.settings = settings
        #: Set False before the hooks are removed: a hook left in place by another library then passes through.
        self.active = True
        self._max_length = settings.max_attribute_length
        self._keep_literals = settings.capture_sql_parameters
        self._capture_text = settings.capture_query_text
        self._capture_parameters = settings.capture_sql_parameters
        #: Query text -> analysis; (query text, namespace) -> attributes. Both bounded by sql_cache_size.
        self._statements = StatementCache(
            settings.sql_cache_size, max_length=self._max_length, keep_literals=self._keep_literals
        )
        self._prepared: BoundedLRU[tuple[str, str | None], Prepared] = BoundedLRU(settings.sql_cache_size)
        #: Connection -> db.namespace, filled by the connect/cursor hooks (connections have no __dict__).
        self.namespaces = ConnectionNamespaces()

    # ------------------------------------------------------------ preparing
    def prepare(self, query: str, namespace: str | None) -> Prepared:
        """The :class:`Prepared` for ``query`` on ``namespace``, from the LRU when there."""
        key = (query, namespace)
        found = self._prepared.get(key)
        if found is None:
            found = Prepared(self._statements.get(query), namespace, self._capture_text)
            if len(query) <= MAX_CACHED_LENGTH:
                self._prepared.put(key, found)
        return found

    def statement(self, query: str) -> Statement:
        """The analysis of ``query`` (from the bounded cache)."""
        return self._statements.get(query)

    # ------------------------------------------------------------- spans
    def start(self, prepared: Prepared) -> Span:
        """Start the span for one execution of ``prepared`` (not made current)."""
        return self.tracer.start_span(prepared.name, kind=_CLIENT, attributes=prepared.span_attributes)

    def add_call_attributes(self, span: Span, prepared: Prepared, parameters: Any, batch_size: int | None) -> None:
        """Per-call attributes: batch size, and parameter values when the user opted in."""
        if batch_size is not None and batch_size >= 2:
            span.set_attribute(semconv.DB_OPERATION_BATCH_SIZE, batch_size)
            operation = prepared.statement.operation
            if operation and not operation.startswith("BATCH"):
                span.set_attribute(semconv.DB_OPERATION_NAME, f"BATCH {operation}")
        if self._capture_parameters and parameters is not None and batch_size is None:
            self._set_parameters(span, parameters)

    def _set_parameters(self, span: Span, parameters: Any) -> None:
        items = parameters.items() if isinstance(parameters, Mapping) else enumerate(parameters)
        limit = self._max_length
        for key, value in items:
            span.set_attribute(f"{semconv.DB_QUERY_PARAMETER_PREFIX}.{key}", str(value)[:limit])

    def finish(self, span: Span, prepared: Prepared, started: float, batch_size: int | None = None) -> None:
        """End a successful execution: end the span, record the duration."""
        now = perf_counter()
        span.end()
        if batch_size is not None and batch_size >= 2 and prepared.statement.operation:
            attributes = dict(prepared.metric_attributes)
            operation = prepared.statement.operation
            attributes[semconv.DB_OPERATION_NAME] = operation if operation.startswith("BATCH") else f"BATCH {operation}"
            self.durations.record(now - started, attributes, now)
            return
        self.durations.record(now - started, prepared.metric_attributes, now)

    def fail(self, span: Span, prepared: Prepared, started: float, exc: BaseException) -> None:
        """End a failed execution: error.type, exception event, ERROR status, duration with error.type."""
        now = perf_counter()
        error = error_type(exc)
        try:
            if span.is_recording():
                message = self.safe_message(exc)
                span.set_attribute(semconv.ERROR_TYPE, error)
                span.record_exception(
                    exc,
                    attributes={
                        "exception.message": message,
                        "exception.stacktrace": "".join(traceback.format_tb(exc.__traceback__))
                        + f"{error}: {message}\n",
                    },
                )
                span.set_status(Status(StatusCode.ERROR, message))
        finally:  # a failure above must not lose the span or the measurement
            span.end()
            self.durations.record(now - started, prepared.error_metric_attributes(error), now)

    def safe_message(self, exc: BaseException) -> str:
        """The exception's message with literals replaced by ``?`` (DuckDB quotes the query in its errors)."""
        message = str(exc)
        if self._keep_literals:
            return message[: self._max_length]
        return analyze(message, max_length=self._max_length).text

    @staticmethod
    def clock() -> float:
        """The clock durations are measured with (``time.perf_counter``)."""
        return perf_counter()
