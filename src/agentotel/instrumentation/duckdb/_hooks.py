"""The functions installed on DuckDB's connection class and module, and the runner every hook shares.

Each factory takes the original attribute and the :class:`QueryTracer` and
returns a plain function (no ``wrapt`` proxy on the per-query path). Every hook
follows the same rules:

* DuckDB is called exactly once, never from inside an ``except`` block of ours,
  and always through :func:`._scope.call_in_scope`, so that replacement scans
  (``FROM df``) see the caller's variables and nothing of ours;
* pass straight through when tracing is off or suppressed;
* if our own code fails, log it and run the statement as if we were not there;
* the user's exception propagates as DuckDB raised it (same object, message,
  ``__cause__``, ``__context__``); the span records it.

Relation and ``sql()`` hooks are in :mod:`._relations`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from time import perf_counter, time_ns
from types import FrameType
from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value  # pyright: ignore[reportPrivateUsage]
from opentelemetry.trace import SpanKind

from agentotel import semconv
from agentotel._telemetry import log_internal_error
from agentotel.instrumentation.duckdb import _rows
from agentotel.instrumentation.duckdb._connections import DEFAULT
from agentotel.instrumentation.duckdb._scope import call_in_scope, caller_scope, frame
from agentotel.instrumentation.duckdb._tracer import Execution, Prepared, QueryTracer, namespace_of_database

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
    "run_failing_lazily",
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
    scope: FrameType,
    call: Callable[[], Any],
    parameters: Any = None,
    batch_size: int | None = None,
    *,
    connection: Any = None,
    count: str | None = None,
    unread: bool = False,
) -> Any:
    """Return ``call()`` (run in ``scope``) inside a span for ``prepared`` (the shared slow-path runner).

    ``connection`` is where the statement ran (for a slow statement's profile); ``count`` names the fetch
    method whose result gives ``db.response.returned_rows``; with ``unread`` the rows stay on the
    connection the call returns, and so does the span until they are fetched.
    """
    __tracebackhide__ = True
    span = None
    started = 0.0
    try:
        span = tracer.start(prepared)
        if span.is_recording() and (parameters is not None or batch_size is not None):
            tracer.add_call_attributes(span, prepared, parameters, batch_size)
        started = perf_counter()
    except Exception as exc:
        log_internal_error("duckdb span start", exc)
        span = None
    if span is None:
        return call_in_scope(scope, call)
    busy = getattr(guard, "busy", False)
    guard.busy = True
    try:
        result = call_in_scope(scope, call)
    except BaseException as exc:
        guard.busy = busy
        try:
            tracer.fail(span, prepared, started, exc)
        except Exception as ours:
            log_internal_error("duckdb span end", ours)
        raise
    guard.busy = busy
    try:
        rows = None if count is None else _rows.count_rows(count, result)
        tracer.finish(span, prepared, started, batch_size, connection=connection, rows=rows, unread=unread)
    except Exception as ours:
        log_internal_error("duckdb span end", ours)
    return result


def run_failing_lazily(
    tracer: QueryTracer, text: str | None, namespace: str | None, scope: FrameType, call: Callable[[], Any]
) -> Any:
    """Return ``call()`` for a statement that runs later (a lazy relation); a span only if the call fails.

    Building a lazy relation binds its statement: a missing table or a type error
    raises here, and that failed statement gets its span, started when the call was.
    """
    __tracebackhide__ = True
    started_ns = time_ns()
    started = perf_counter()
    try:
        return call_in_scope(scope, call)
    except BaseException as exc:
        if text is not None and not getattr(guard, "busy", False):
            try:
                prepared = tracer.prepare(text, namespace)
                tracer.fail(tracer.start(prepared, start_time=started_ns), prepared, started, exc)
            except Exception as ours:
                log_internal_error("duckdb span end", ours)
        raise


# ---------------------------------------------------------------------------- execute / executemany
def execute_hook(original: Original, tracer: QueryTracer, *, many: bool = False) -> Original:
    """``DuckDBPyConnection.execute`` / ``executemany`` (cursors are connections too)."""
    connections = tracer.connections
    prepare = tracer.prepare
    finish = tracer.finish
    fail = tracer.fail
    profiles = tracer.profiles
    capture_parameters = tracer.settings.capture_sql_parameters
    rule = tracer.scope_rule

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        scope = caller_scope(frame(1), rule)
        call = partial(original, self, *args, **kwargs)
        if not tracer.active or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return call_in_scope(scope, call)
        span = prepared = batch_size = None
        started = 0.0
        try:
            earlier = connections.take(self)  # rows of the statement before: gone once this one runs
            if earlier is not None:
                earlier.end()
            query = args[0] if args else kwargs.get("query")
            text = query if type(query) is str else query_text(query)
            if text is not None:
                prepared = prepare(text, connections.get(self))
                parameters = None
                if many or capture_parameters:
                    parameters = args[1] if len(args) > 1 else kwargs.get("parameters")
                    batch_size = _batch_size(parameters) if many else None
                # tracer.tracer, not a local: a late-bound instrumentation gets a new one when providers change
                span = tracer.tracer.start_span(prepared.name, kind=_CLIENT, attributes=prepared.span_attributes)
                if parameters is not None and span.is_recording():
                    tracer.add_call_attributes(span, prepared, parameters, batch_size)
                started = perf_counter()
        except Exception as exc:
            log_internal_error("duckdb execute", exc)
            span = None
        if span is None or prepared is None:
            return call_in_scope(scope, call)
        try:
            result = call_in_scope(scope, call)
        except BaseException as exc:
            try:
                fail(span, prepared, started, exc)
            except Exception as ours:
                log_internal_error("duckdb execute", ours)
            raise
        try:
            if batch_size is None and profiles.threshold is None:  # the common case, inlined
                now = perf_counter()
                if prepared.returns_rows:
                    connections.leave(self, Execution(tracer, span, prepared, started, now))
                else:
                    tracer.durations.record(now - started, prepared.metric_attributes, now)
                    span.end()
            else:
                finish(span, prepared, started, batch_size, connection=self, unread=True)
        except Exception as ours:
            log_internal_error("duckdb execute", ours)
        return result

    return adopt(execute, original)


def module_execute_hook(original: Original, tracer: QueryTracer, *, many: bool = False) -> Original:
    """Module-level ``duckdb.execute`` / ``executemany``: they call the engine directly, not the class method."""
    rule = tracer.scope_rule

    def execute(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        scope = caller_scope(frame(1), rule)
        call = partial(original, *args, **kwargs)
        if not tracer.active or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return call_in_scope(scope, call)
        prepared = parameters = batch_size = None
        connection = kwargs.get("connection") or DEFAULT
        try:
            earlier = tracer.connections.take(connection)
            if earlier is not None:
                earlier.end()
            text = query_text(args[0] if args else kwargs.get("query"))
            if text is not None:
                prepared = tracer.prepare(text, module_namespace(tracer, kwargs))
                parameters = args[1] if len(args) > 1 else kwargs.get("parameters")
                batch_size = _batch_size(parameters) if many else None
        except Exception as exc:
            log_internal_error("duckdb module execute", exc)
            prepared = None
        if prepared is None:
            return call_in_scope(scope, call)
        captured = parameters if tracer.settings.capture_sql_parameters else None
        return traced(tracer, prepared, scope, call, captured, batch_size, connection=connection, unread=True)

    return adopt(execute, original)


def module_namespace(tracer: QueryTracer, kwargs: dict[str, Any]) -> str | None:
    """``db.namespace`` of a module-level call: its ``connection=``'s, else the in-memory default's."""
    connection = kwargs.get("connection")
    if connection is None:
        return MEMORY  # the default connection is an in-memory database
    return tracer.connections.get(connection)


# ---------------------------------------------------------------------------- connections
def connect_hook(original: Original, tracer: QueryTracer) -> Original:
    """``duckdb.connect``: remember each connection's ``db.namespace`` (we never query the connection)."""

    def connect(*args: Any, **kwargs: Any) -> Any:
        connection = original(*args, **kwargs)
        try:
            database = args[0] if args else kwargs.get("database", ":memory:")
            tracer.connections[connection] = namespace_of_database(database)
        except Exception as exc:
            log_internal_error("duckdb connect", exc)
        return connection

    return adopt(connect, original)


def connection_child_hook(original: Original, tracer: QueryTracer) -> Original:
    """``con.cursor()`` / ``con.duplicate()``: the new connection shares the database, so its namespace."""

    def child(self: Any, *args: Any, **kwargs: Any) -> Any:
        connection = original(self, *args, **kwargs)
        try:
            namespace = tracer.connections.get(self)
            if namespace is not None:
                tracer.connections[connection] = namespace
        except Exception as exc:
            log_internal_error("duckdb cursor", exc)
        return connection

    return adopt(child, original)


def default_connection_hook(original: Original, tracer: QueryTracer) -> Original:
    """``duckdb.default_connection()`` / ``duckdb.cursor()``: the default database is in memory."""

    def default(*args: Any, **kwargs: Any) -> Any:
        connection = original(*args, **kwargs)
        try:
            tracer.connections[connection] = MEMORY
        except Exception as exc:
            log_internal_error("duckdb default connection", exc)
        return connection

    return adopt(default, original)
