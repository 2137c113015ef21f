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
import sys
from collections.abc import Callable, Iterable, Mapping
from time import perf_counter, time_ns
from typing import Any, Final, cast

from opentelemetry.trace import Span, SpanKind, Tracer

from agentotel import semconv
from agentotel._bounded import BoundedLRU
from agentotel._config import Settings
from agentotel._errors import record_exception
from agentotel._telemetry import error_type, log_internal_error
from agentotel.instrumentation._sql import MAX_CACHED_LENGTH, Statement, StatementCache
from agentotel.instrumentation.duckdb._connections import DEFAULT, Connections
from agentotel.instrumentation.duckdb._profile import ProfileReader
from agentotel.instrumentation.duckdb._recorder import DeferredHistogram
from agentotel.instrumentation.duckdb._scope import scope_rule

__all__ = ["DistinctValues", "Execution", "Limits", "Prepared", "QueryTracer", "namespace_of_database"]

_CLIENT = SpanKind.CLIENT


def namespace_of_database(database: object) -> str:
    """``db.namespace`` for the ``database`` argument of ``duckdb.connect``: the file stem or ``memory``."""
    text = (
        os.fsdecode(cast("str | os.PathLike[str]", database))
        if isinstance(database, (str, bytes, os.PathLike))
        else str(database)
    )
    if text in ("", ":memory:", ":default:"):
        return semconv.DB_NAMESPACE_MEMORY
    if text.startswith(":memory:"):
        return text[len(":memory:") :] or semconv.DB_NAMESPACE_MEMORY
    if text.startswith(("md:", "motherduck:")):
        return text.split(":", 1)[1].split("?", 1)[0] or text
    stem = os.path.splitext(os.path.basename(text.rstrip("/\\")))[0]
    return stem or text


#: Distinct span names, and distinct values of each metric attribute that comes from the statement or the
#: database, that one instrumentation emits; beyond them a statement is named by its operation alone and the
#: attribute is left off its duration. Span names and metric series stay bounded whatever the statements are.
MAX_SPAN_NAMES: Final = 1000
MAX_COLLECTIONS: Final = 500
MAX_NAMESPACES: Final = 100


class DistinctValues:
    """Admits the first ``limit`` distinct values, then only those (a bound on cardinality).

    Lock-free: under contention a few more than ``limit`` may get in, never unboundedly many.
    """

    __slots__ = ("_seen", "_limit")

    def __init__(self, limit: int) -> None:
        self._seen: set[str] = set()
        self._limit = limit

    def admit(self, value: str) -> bool:
        """True when ``value`` is (now) one of the admitted values."""
        seen = self._seen
        if value in seen:
            return True
        if len(seen) >= self._limit:
            return False
        seen.add(value)
        return True

    def __len__(self) -> int:
        return len(self._seen)


class Limits:
    """The cardinality bounds of one instrumentation: span names, collections, namespaces."""

    __slots__ = ("names", "collections", "namespaces")

    def __init__(self) -> None:
        self.names = DistinctValues(MAX_SPAN_NAMES)
        self.collections = DistinctValues(MAX_COLLECTIONS)
        self.namespaces = DistinctValues(MAX_NAMESPACES)


class Prepared:
    """Everything about one (query text, namespace) that does not change between executions."""

    __slots__ = ("statement", "name", "span_attributes", "metric_attributes", "returns_rows", "_error_attributes")

    def __init__(self, statement: Statement, namespace: str | None, capture_text: bool, limits: Limits) -> None:
        self.statement = statement
        operation = statement.operation
        summary = statement.summary
        self.name = semconv.DB_STATEMENT_SPAN.render(
            summary if summary and limits.names.admit(summary) else operation or semconv.DB_SPAN_NAME_FALLBACK
        )
        metric: dict[str, Any] = {semconv.DB_SYSTEM_NAME: semconv.DB_SYSTEM_DUCKDB}
        span: dict[str, Any] = dict(metric)
        if namespace:
            span[semconv.DB_NAMESPACE] = namespace
            if limits.namespaces.admit(namespace):
                metric[semconv.DB_NAMESPACE] = namespace
        if operation:
            span[semconv.DB_OPERATION_NAME] = metric[semconv.DB_OPERATION_NAME] = operation
        if statement.collection:
            span[semconv.DB_COLLECTION_NAME] = statement.collection
            if limits.collections.admit(statement.collection):
                metric[semconv.DB_COLLECTION_NAME] = statement.collection
        if summary:
            span[semconv.DB_QUERY_SUMMARY] = summary
        if capture_text and statement.text:
            span[semconv.DB_QUERY_TEXT] = statement.text
        self.span_attributes: Mapping[str, Any] = span
        self.metric_attributes: Mapping[str, Any] = metric
        #: The statement leaves rows to fetch (its last statement is a query).
        self.returns_rows = statement.lazy
        self._error_attributes: dict[str, Mapping[str, Any]] = {}

    def error_metric_attributes(self, error: str) -> Mapping[str, Any]:
        """The metric attributes with ``error.type`` (cached per error type)."""
        found = self._error_attributes.get(error)
        if found is None:
            found = {**self.metric_attributes, semconv.ERROR_TYPE: error}
            if len(self._error_attributes) < 16:
                self._error_attributes[error] = found
        return found


class Execution:
    """A statement whose rows wait on its connection: its span and duration end with the first fetch.

    DuckDB does much of a query's work while its rows are fetched (a streaming result
    returns from ``execute()`` after its first chunk), so the span covers the call and
    that fetch. A result dropped unfetched ends as of the moment the call returned.
    """

    __slots__ = ("_tracer", "_span", "_prepared", "_started", "_returned", "_returned_ns")

    def __init__(self, tracer: QueryTracer, span: Span, prepared: Prepared, started: float, returned: float) -> None:
        self._tracer = tracer
        self._span = span
        self._prepared = prepared
        self._started = started
        self._returned = returned
        self._returned_ns = time_ns()

    def fetched(self, connection: Any, rows: int | None) -> None:
        """The first fetch just ended: end here, with the rows it returned when it read them all."""
        tracer = self._tracer
        try:
            now = perf_counter()
            duration = now - self._started
            tracer.durations.record(duration, self._prepared.metric_attributes, now)
            threshold = tracer.profiles.threshold
            if threshold is not None and duration >= threshold:  # read now: the statement has run to here
                tracer.profiles.attach(self._span, tracer.real(connection))
            if rows is not None:
                self._span.set_attribute(semconv.DB_RESPONSE_RETURNED_ROWS, rows)
            self._span.end()
        except Exception as exc:
            log_internal_error("duckdb fetch", exc)

    def end(self) -> None:
        """The rows were dropped unfetched: end as of the moment the call returned."""
        try:
            self._tracer.durations.record(
                self._returned - self._started, self._prepared.metric_attributes, perf_counter()
            )
            self._span.end(end_time=self._returned_ns)
        except Exception as exc:
            log_internal_error("duckdb result", exc)


class QueryTracer:
    """Creates spans and records the duration metric for DuckDB statements."""

    def __init__(self, tracer: Tracer, durations: DeferredHistogram, settings: Settings) -> None:
        self.tracer = tracer
        self.durations = durations
        self.settings = settings
        #: Set False before the hooks are removed: a hook left in place by another library then passes through.
        self.active = True
        duckdb = sys.modules.get("duckdb")
        #: Which frame DuckDB searches for replacement scans (see ``._scope``).
        self.scope_rule = scope_rule(getattr(duckdb, "__version__", ""))
        #: The connection module-level calls use: ``duckdb.default_connection()`` as found before our hooks
        #: (an attribute holding the connection itself up to duckdb 1.1).
        found = getattr(duckdb, "default_connection", None)
        self.default_connection: Callable[[], Any] = (
            found if callable(found) else lambda: getattr(duckdb, "default_connection", None)
        )
        self._max_length = settings.max_attribute_length
        self._keep_literals = settings.capture_sql_parameters
        self._capture_text = settings.capture_query_text
        self._capture_parameters = settings.capture_sql_parameters
        #: Query text -> analysis; (query text, namespace) -> attributes. Both bounded by sql_cache_size.
        self._statements = StatementCache(
            settings.sql_cache_size, max_length=self._max_length, keep_literals=self._keep_literals
        )
        self._prepared: BoundedLRU[tuple[str, str | None], Prepared] = BoundedLRU(settings.sql_cache_size)
        self.limits = Limits()
        #: Connection -> db.namespace (from the connect/cursor hooks) and the span of its unread result.
        self.connections = Connections()
        #: Slow-statement profiles (off unless ``slow_query_threshold_ms`` is set).
        self.profiles = ProfileReader(
            settings.slow_query_threshold_ms, details=self._keep_literals, max_length=self._max_length
        )

    # ------------------------------------------------------------ preparing
    def prepare(self, query: str, namespace: str | None) -> Prepared:
        """The :class:`Prepared` for ``query`` on ``namespace``, from the LRU when there."""
        key = (query, namespace)
        found = self._prepared.get(key)
        if found is None:
            found = Prepared(self._statements.get(query), namespace, self._capture_text, self.limits)
            if len(query) <= MAX_CACHED_LENGTH:
                self._prepared.put(key, found)
        return found

    def statement(self, query: str) -> Statement:
        """The analysis of ``query`` (from the bounded cache)."""
        return self._statements.get(query)

    # ------------------------------------------------------------- spans
    def start(self, prepared: Prepared, start_time: int | None = None) -> Span:
        """Start the span for one execution of ``prepared`` (not made current)."""
        return self.tracer.start_span(
            prepared.name, kind=_CLIENT, attributes=prepared.span_attributes, start_time=start_time
        )

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
        positional: Iterable[object] = parameters
        items: Iterable[tuple[object, object]] = (
            cast("Mapping[str, object]", parameters).items()
            if isinstance(parameters, Mapping)
            else enumerate(positional)
        )
        limit = self._max_length
        for key, value in items:
            span.set_attribute(f"{semconv.DB_QUERY_PARAMETER_PREFIX}.{key}", str(value)[:limit])

    def finish(
        self,
        span: Span,
        prepared: Prepared,
        started: float,
        batch_size: int | None = None,
        *,
        connection: Any = None,
        rows: int | None = None,
        unread: bool = False,
    ) -> None:
        """End a successful execution: record the duration, attach a slow statement's profile (read from
        ``connection``), then end the span with ``rows`` returned; or, when ``unread`` and the statement
        left rows on ``connection``, leave it there as an :class:`Execution` that ends at the first fetch."""
        now = perf_counter()
        duration = now - started
        if unread and prepared.returns_rows and connection is not None:
            self.connections.leave(connection, Execution(self, span, prepared, started, now))
            return
        if batch_size is not None and batch_size >= 2 and prepared.statement.operation:
            attributes = dict(prepared.metric_attributes)
            operation = prepared.statement.operation
            attributes[semconv.DB_OPERATION_NAME] = operation if operation.startswith("BATCH") else f"BATCH {operation}"
            self.durations.record(duration, attributes, now)
        else:
            self.durations.record(duration, prepared.metric_attributes, now)
        threshold = self.profiles.threshold
        if threshold is not None and duration >= threshold and connection is not None:
            self.profiles.attach(span, self.real(connection))
        if rows is not None:
            span.set_attribute(semconv.DB_RESPONSE_RETURNED_ROWS, rows)
        span.end()

    def real(self, connection: Any) -> Any:
        """The connection object behind ``connection`` (:data:`DEFAULT` stands for the default one)."""
        return self.default_connection() if connection is DEFAULT else connection

    def fail(self, span: Span, prepared: Prepared, started: float, exc: BaseException) -> None:
        """End a failed execution: error.type, exception event, ERROR status, duration with error.type."""
        now = perf_counter()
        error = error_type(exc)
        try:
            record_exception(span, exc)
        finally:  # a failure above must not lose the span or the measurement
            span.end()
            self.durations.record(now - started, prepared.error_metric_attributes(error), now)
