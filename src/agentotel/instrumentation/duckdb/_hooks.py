"""The functions installed on DuckDB's connection class and module, and the runner every hook shares.

Each factory takes the original attribute and the :class:`QueryTracer` and
returns a plain function (no ``wrapt`` proxy on the per-query path). Every hook
follows the same rules: pass straight through when tracing is off or
suppressed; if our own code fails, log it and run the query as if we were not
there; let the user's exception through untouched (``raise`` re-raises the
same object with its traceback). Relation and ``sql()`` hooks are in
:mod:`._relations`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import perf_counter
from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value
from opentelemetry.trace import SpanKind

from agentotel import semconv
from agentotel._telemetry import log_internal_error
from agentotel.instrumentation.duckdb._tracer import Prepared, QueryTracer, namespace_of_database

__all__ = [
    "adopt",
    "connect_hook",
    "connection_child_hook",
    "default_connection_hook",
    "execute_hook",
    "guard",
    "module_execute_hook",
    "module_namespace",
    "query_text",
    "traced",
]

MEMORY = semconv.DB_NAMESPACE_MEMORY
_CLIENT = SpanKind.CLIENT
Original = Callable[..., Any]
#: ``guard.busy`` is True while a statement of ours runs on this thread: a terminal called inside
#: another (``to_dicts`` -> ``fetchall``) is the same execution and gets no span of its own.
guard = threading.local()


def adopt(hook: Original, original: Original) -> Original:
    """Return ``hook`` marked as standing in for ``original``: its ``__wrapped__`` and docstring."""
    hook.__wrapped__ = original  # type: ignore[attr-defined]
    hook.__doc__ = getattr(original, "__doc__", None)
    return hook


def query_text(query: Any) -> str | None:
    """The SQL text of a ``query`` argument: a ``str`` or a ``duckdb.Statement``; None for anything else."""
    if type(query) is str:
        return query
    if isinstance(query, str):
        return str(query)
    text = getattr(query, "query", None)  # duckdb.Statement
    return text if isinstance(text, str) else None


def _batch_size(parameters: Any) -> int | None:
    try:
        return len(parameters)
    except TypeError:
        return None


def traced(
    tracer: QueryTracer,
    prepared: Prepared,
    call: Original,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    parameters: Any = None,
    batch_size: int | None = None,
) -> Any:
    """Run ``call(*args, **kwargs)`` inside a span for ``prepared`` (the shared slow-path runner)."""
    __tracebackhide__ = True
    try:
        span = tracer.start(prepared)
        if span.is_recording() and (parameters is not None or batch_size is not None):
            tracer.add_call_attributes(span, prepared, parameters, batch_size)
        started = tracer.clock()
    except Exception as exc:
        log_internal_error("duckdb span start", exc)
        return call(*args, **kwargs)
    busy = getattr(guard, "busy", False)
    guard.busy = True
    try:
        result = call(*args, **kwargs)
    except BaseException as exc:
        guard.busy = busy
        try:
            tracer.fail(span, prepared, started, exc)
        except Exception as ours:
            log_internal_error("duckdb span end", ours)
        raise
    guard.busy = busy
    try:
        tracer.finish(span, prepared, started, batch_size)
    except Exception as ours:
        log_internal_error("duckdb span end", ours)
    return result


# ---------------------------------------------------------------------------- execute / executemany
def execute_hook(original: Original, tracer: QueryTracer, *, many: bool = False) -> Original:
    """``DuckDBPyConnection.execute`` / ``executemany`` (cursors are connections too)."""
    namespaces = tracer.namespaces
    prepare = tracer.prepare
    start_span = tracer.tracer.start_span
    finish = tracer.finish
    fail = tracer.fail
    record = tracer.durations.record
    capture_parameters = tracer.settings.capture_sql_parameters

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if not tracer.active or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(self, *args, **kwargs)
        try:
            query = args[0] if args else kwargs.get("query")
            text = query if type(query) is str else query_text(query)
            if text is None:
                return original(self, *args, **kwargs)
            prepared = prepare(text, namespaces.get(self))
            span = start_span(prepared.name, kind=_CLIENT, attributes=prepared.span_attributes)
            batch_size = None
            if many or capture_parameters:
                parameters = args[1] if len(args) > 1 else kwargs.get("parameters")
                batch_size = _batch_size(parameters) if many else None
                if span.is_recording():
                    tracer.add_call_attributes(span, prepared, parameters, batch_size)
            started = perf_counter()
        except Exception as exc:
            log_internal_error("duckdb execute", exc)
            return original(self, *args, **kwargs)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            try:
                fail(span, prepared, started, exc)
            except Exception as ours:
                log_internal_error("duckdb execute", ours)
            raise
        try:
            if batch_size is None:  # the common case, inlined
                now = perf_counter()
                span.end()
                record(now - started, prepared.metric_attributes, now)
            else:
                finish(span, prepared, started, batch_size)
        except Exception as ours:
            log_internal_error("duckdb execute", ours)
        return result

    return adopt(execute, original)


def module_execute_hook(original: Original, tracer: QueryTracer, *, many: bool = False) -> Original:
    """Module-level ``duckdb.execute`` / ``executemany``: they call the engine directly, not the class method."""

    def execute(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if not tracer.active or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(*args, **kwargs)
        try:
            text = query_text(args[0] if args else kwargs.get("query"))
            if text is None:
                return original(*args, **kwargs)
            prepared = tracer.prepare(text, module_namespace(tracer, kwargs))
            parameters = args[1] if len(args) > 1 else kwargs.get("parameters")
        except Exception as exc:
            log_internal_error("duckdb module execute", exc)
            return original(*args, **kwargs)
        batch_size = _batch_size(parameters) if many else None
        return traced(
            tracer,
            prepared,
            original,
            args,
            kwargs,
            parameters if tracer.settings.capture_sql_parameters else None,
            batch_size,
        )

    return adopt(execute, original)


def module_namespace(tracer: QueryTracer, kwargs: dict[str, Any]) -> str | None:
    connection = kwargs.get("connection")
    if connection is None:
        return MEMORY  # the default connection is an in-memory database
    return tracer.namespaces.get(connection)


# ---------------------------------------------------------------------------- connections
def connect_hook(original: Original, tracer: QueryTracer) -> Original:
    """``duckdb.connect``: remember each connection's ``db.namespace`` (we never query the connection)."""

    def connect(*args: Any, **kwargs: Any) -> Any:
        connection = original(*args, **kwargs)
        try:
            database = args[0] if args else kwargs.get("database", ":memory:")
            tracer.namespaces[connection] = namespace_of_database(database)
        except Exception as exc:
            log_internal_error("duckdb connect", exc)
        return connection

    return adopt(connect, original)


def connection_child_hook(original: Original, tracer: QueryTracer) -> Original:
    """``con.cursor()`` / ``con.duplicate()``: the new connection shares the database, so its namespace."""

    def child(self: Any, *args: Any, **kwargs: Any) -> Any:
        connection = original(self, *args, **kwargs)
        try:
            namespace = tracer.namespaces.get(self)
            if namespace is not None:
                tracer.namespaces[connection] = namespace
        except Exception as exc:
            log_internal_error("duckdb cursor", exc)
        return connection

    return adopt(child, original)


def default_connection_hook(original: Original, tracer: QueryTracer) -> Original:
    """``duckdb.default_connection()`` / ``duckdb.cursor()``: the default database is in memory."""

    def default(*args: Any, **kwargs: Any) -> Any:
        connection = original(*args, **kwargs)
        try:
            tracer.namespaces[connection] = MEMORY
        except Exception as exc:
            log_internal_error("duckdb default connection", exc)
        return connection

    return adopt(default, original)
