"""The functions installed on DuckDB's classes and module, one factory per kind of entry point.

Each factory takes the original attribute and the :class:`QueryTracer` and
returns a plain function (no ``wrapt`` proxy on the per-query path). Every hook
follows the same rules: pass straight through when tracing is off or
suppressed; if our own code fails, log it and run the query as if we were not
there; let the user's exception through untouched (``raise`` re-raises the
same object with its traceback).
"""

from __future__ import annotations

import threading
import weakref
from time import perf_counter
from typing import Any, Callable, Iterator, Optional

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value
from opentelemetry.trace import SpanKind

from agentotel import semconv
from agentotel._telemetry import log_internal_error
from agentotel.instrumentation.duckdb._tracer import Prepared, QueryTracer, namespace_of_database

__all__ = [
    "connect_hook",
    "connection_child_hook",
    "default_connection_hook",
    "execute_hook",
    "module_execute_hook",
    "module_sql_hook",
    "iter_rows_hook",
    "relation_query_hook",
    "sql_hook",
    "terminal_hook",
    "TERMINALS",
]

_MEMORY = semconv.DB_NAMESPACE_MEMORY
_CLIENT = SpanKind.CLIENT
_Original = Callable[..., Any]


class _Ran:
    """Marks a relation whose statement already ran (an eager ``con.sql``): reading it is not a new span."""

    __repr__ = lambda self: "<ran>"  # noqa: E731


_RAN = _Ran()


class _RelationInfo:
    """What a relation runs: its SQL text and namespace; ``streaming`` while a fetchone/fetchmany result is open."""

    __slots__ = ("text", "namespace", "streaming")

    def __init__(self, text: str, namespace: Optional[str]) -> None:
        self.text = text
        self.namespace = namespace
        self.streaming = False


class _Relations:
    """Relation -> :class:`_RelationInfo`, weakly keyed (relations have no ``__dict__`` in duckdb 1.x)."""

    def __init__(self, tracer: QueryTracer) -> None:
        self._tracer = tracer
        self._map: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def remember(self, relation: Any, text: Optional[str], namespace: Optional[str]) -> None:
        if relation is None:
            return
        try:
            self._map[relation] = _RAN if text is None else _RelationInfo(text, namespace)
        except TypeError:  # not weakly referenceable: the text is read back at the terminal instead
            pass

    def info(self, relation: Any) -> Any:
        """The relation's info (read from the relation once when we did not see it made), or ``_RAN``."""
        try:
            found = self._map.get(relation)
        except TypeError:
            found = None
        if found is not None:
            return found
        connection = getattr(relation, "_con", None)  # duckdb 2.x; 1.x relations do not show theirs
        namespace = self._tracer.namespaces.get(_NO_CONNECTION if connection is None else connection)
        found = _RelationInfo(relation.sql_query(), namespace)
        try:
            self._map[relation] = found
        except TypeError:
            pass
        return found


class _NoConnection:
    """Stands for 'no connection' in weak lookups (None cannot be weakly referenced)."""


_NO_CONNECTION = _NoConnection()
_guard = threading.local()  # .busy: a terminal of ours is running on this thread


def _query_text(query: Any) -> Optional[str]:
    if type(query) is str:
        return query
    if isinstance(query, str):
        return str(query)
    text = getattr(query, "query", None)  # duckdb.Statement
    return text if isinstance(text, str) else None


def _batch_size(parameters: Any) -> Optional[int]:
    try:
        return len(parameters)
    except TypeError:
        return None


def _traced(
    tracer: QueryTracer,
    prepared: Prepared,
    call: _Original,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    parameters: Any = None,
    batch_size: Optional[int] = None,
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
    busy = getattr(_guard, "busy", False)
    _guard.busy = True
    try:
        result = call(*args, **kwargs)
    except BaseException as exc:
        _guard.busy = busy
        try:
            tracer.fail(span, prepared, started, exc)
        except Exception as ours:
            log_internal_error("duckdb span end", ours)
        raise
    _guard.busy = busy
    try:
        tracer.finish(span, prepared, started, batch_size)
    except Exception as ours:
        log_internal_error("duckdb span end", ours)
    return result


# ---------------------------------------------------------------------------- execute / executemany
def execute_hook(original: _Original, tracer: QueryTracer, *, many: bool = False) -> _Original:
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
            text = query if type(query) is str else _query_text(query)
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

    execute.__wrapped__ = original  # type: ignore[attr-defined]
    execute.__doc__ = getattr(original, "__doc__", None)
    return execute


def module_execute_hook(original: _Original, tracer: QueryTracer, *, many: bool = False) -> _Original:
    """Module-level ``duckdb.execute`` / ``executemany``: they call the engine directly, not the class method."""

    def execute(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if not tracer.active or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(*args, **kwargs)
        try:
            text = _query_text(args[0] if args else kwargs.get("query"))
            if text is None:
                return original(*args, **kwargs)
            prepared = tracer.prepare(text, _module_namespace(tracer, kwargs))
            parameters = args[1] if len(args) > 1 else kwargs.get("parameters")
        except Exception as exc:
            log_internal_error("duckdb module execute", exc)
            return original(*args, **kwargs)
        batch_size = _batch_size(parameters) if many else None
        return _traced(tracer, prepared, original, args, kwargs,
                       parameters if tracer.settings.capture_sql_parameters else None, batch_size)

    execute.__wrapped__ = original  # type: ignore[attr-defined]
    execute.__doc__ = getattr(original, "__doc__", None)
    return execute


def _module_namespace(tracer: QueryTracer, kwargs: dict[str, Any]) -> Optional[str]:
    connection = kwargs.get("connection")
    if connection is None:
        return _MEMORY  # the default connection is an in-memory database
    return tracer.namespaces.get(connection)


# ---------------------------------------------------------------------------- sql / query
def _run_sql(
    tracer: QueryTracer,
    relations: _Relations,
    original: _Original,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    query: Any,
    namespace: Optional[str],
) -> Any:
    """``sql()``: a span only for what runs now; a lazy SELECT is remembered for its terminal."""
    __tracebackhide__ = True
    try:
        text = _query_text(query)
        if text is None:
            return original(*args, **kwargs)
        statement = tracer.statement(text)
        parameters = kwargs.get("params") if tracer.settings.capture_sql_parameters else None
    except Exception as exc:
        log_internal_error("duckdb sql", exc)
        return original(*args, **kwargs)
    if statement.lazy and statement.statement_count <= 1:
        relation = original(*args, **kwargs)
        try:
            relations.remember(relation, text, namespace)
        except Exception as exc:
            log_internal_error("duckdb sql", exc)
        return relation
    if statement.lazy:  # a script: the statements before the last run now, the last stays lazy
        head, last = text[: statement.last_start], text[statement.last_start:]
        relation = _traced(tracer, tracer.prepare(head, namespace), original, args, kwargs)
        relations.remember(relation, last, namespace)
        return relation
    relation = _traced(tracer, tracer.prepare(text, namespace), original, args, kwargs, parameters)
    relations.remember(relation, None, namespace)
    return relation


def sql_hook(original: _Original, tracer: QueryTracer, relations: _Relations) -> _Original:
    """``DuckDBPyConnection.sql`` / ``query`` / ``from_query``."""

    def sql(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if not tracer.active or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(self, *args, **kwargs)
        query = args[0] if args else kwargs.get("query")
        return _run_sql(tracer, relations, original, (self, *args), kwargs, query, tracer.namespaces.get(self))

    sql.__wrapped__ = original  # type: ignore[attr-defined]
    sql.__doc__ = getattr(original, "__doc__", None)
    return sql


def module_sql_hook(original: _Original, tracer: QueryTracer, relations: _Relations) -> _Original:
    """Module-level ``duckdb.sql`` / ``query`` / ``from_query`` (default connection unless ``connection=``)."""

    def sql(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if not tracer.active or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(*args, **kwargs)
        query = args[0] if args else kwargs.get("query")
        return _run_sql(tracer, relations, original, args, kwargs, query, _module_namespace(tracer, kwargs))

    sql.__wrapped__ = original  # type: ignore[attr-defined]
    sql.__doc__ = getattr(original, "__doc__", None)
    return sql


def relation_query_hook(original: _Original, tracer: QueryTracer, relations: _Relations) -> _Original:
    """``DuckDBPyRelation.query(virtual_table_name, sql_query)``: like ``sql()`` over the relation."""

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if not tracer.active or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(self, *args, **kwargs)
        text = args[1] if len(args) > 1 else kwargs.get("sql_query")
        try:
            info = relations.info(self)
            namespace = None if info is _RAN else info.namespace
        except Exception:
            namespace = None
        return _run_sql(tracer, relations, original, (self, *args), kwargs, text, namespace)

    query.__wrapped__ = original  # type: ignore[attr-defined]
    query.__doc__ = getattr(original, "__doc__", None)
    return query


# ---------------------------------------------------------------------------- relation terminals
# Terminal -> how the statement it runs is written around the relation's own SQL.
_READ = "{sql}"
TERMINALS: dict[str, str] = {
    # reads (the relation's own statement)
    "fetchall": _READ, "fetchnumpy": _READ, "df": _READ, "fetchdf": _READ, "to_df": _READ,
    "fetch_df_chunk": _READ, "torch": _READ, "tf": _READ, "arrow": _READ, "to_arrow_table": _READ,
    "to_arrow_reader": _READ, "fetch_arrow_table": _READ, "fetch_arrow_reader": _READ,
    "fetch_record_batch": _READ, "record_batch": _READ, "pl": _READ, "to_dicts": _READ,
    "__arrow_c_stream__": _READ, "show": _READ, "preview": _READ, "execute": _READ, "materialize": _READ,
    "fetchone": _READ, "fetchmany": _READ, "iter_rows": _READ,
    # writes built around it
    "create": "CREATE TABLE {name} AS {sql}", "to_table": "CREATE TABLE {name} AS {sql}",
    "insert_into": "INSERT INTO {name} {sql}",
    "create_view": "CREATE VIEW {name} AS {sql}", "to_view": "CREATE VIEW {name} AS {sql}",
    "write_csv": "COPY ({sql}) TO ?", "to_csv": "COPY ({sql}) TO ?",
    "write_parquet": "COPY ({sql}) TO ?", "to_parquet": "COPY ({sql}) TO ?",
    "insert": "INSERT INTO {table} VALUES (?)", "update": "UPDATE {table} SET ?",
    "explain": "EXPLAIN {sql}",
}
_STREAMING = frozenset({"fetchone", "fetchmany"})


def _statement_of(relations: _Relations, tracer: QueryTracer, relation: Any, method: str,
                  template: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Optional[Prepared]:
    info = relations.info(relation)
    if info is _RAN:
        return None
    if method in _STREAMING and info.streaming:
        return None
    if template is _READ:
        text = info.text
    else:
        name = args[0] if args else next(iter(kwargs.values()), "?")
        table = tracer.statement(info.text).collection or "?"
        text = template.format(sql=info.text, name=name, table=table)
    return tracer.prepare(text, info.namespace)


def terminal_hook(original: _Original, tracer: QueryTracer, relations: _Relations, method: str) -> _Original:
    """A relation method where a lazy relation really runs (``fetchall``, ``df``, ``write_parquet``…)."""
    template = TERMINALS[method]
    streaming = method in _STREAMING

    def terminal(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if not tracer.active or getattr(_guard, "busy", False) or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return original(self, *args, **kwargs)
        if method == "pl" and kwargs.get("lazy"):
            return original(self, *args, **kwargs)  # a LazyFrame: the work runs when it is collected
        try:
            prepared = _statement_of(relations, tracer, self, method, template, args, kwargs)
        except Exception as exc:
            log_internal_error(f"duckdb relation.{method}", exc)
            prepared = None
        if prepared is None:
            result = original(self, *args, **kwargs)
        else:
            result = _traced(tracer, prepared, original, (self, *args), kwargs)
        if streaming:
            _note_stream(relations, self, result)
        return result

    terminal.__wrapped__ = original  # type: ignore[attr-defined]
    terminal.__doc__ = getattr(original, "__doc__", None)
    return terminal


def _note_stream(relations: _Relations, relation: Any, result: Any) -> None:
    """duckdb 1.x: fetchone/fetchmany keep reading one result until it is used up; only the first runs it."""
    try:
        info = relations.info(relation)
        if info is not _RAN:
            info.streaming = bool(result)
    except Exception as exc:
        log_internal_error("duckdb relation fetch", exc)


_END = object()


def _next_or_end(rows: Iterator[Any]) -> Any:
    return next(rows, _END)


def iter_rows_hook(original: _Original, tracer: QueryTracer, relations: _Relations, method: str) -> _Original:
    """``iter_rows`` (a generator, duckdb 2.x): the statement runs at the first ``next()``; the span covers it."""

    def traced_rows(relation: Any, rows: Iterator[Any]) -> Iterator[Any]:
        __tracebackhide__ = True
        prepared = None
        if tracer.active and not getattr(_guard, "busy", False) and not get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            try:
                prepared = _statement_of(relations, tracer, relation, method, _READ, (), {})
            except Exception as exc:
                log_internal_error(f"duckdb relation.{method}", exc)
        if prepared is None:
            first = _next_or_end(rows)
        else:
            first = _traced(tracer, prepared, _next_or_end, (rows,), {})
        if first is _END:
            return
        yield first
        yield from rows

    def iter_rows(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return traced_rows(self, original(self, *args, **kwargs))

    iter_rows.__wrapped__ = original  # type: ignore[attr-defined]
    iter_rows.__doc__ = getattr(original, "__doc__", None)
    return iter_rows


# ---------------------------------------------------------------------------- connections
def connect_hook(original: _Original, tracer: QueryTracer) -> _Original:
    """``duckdb.connect``: remember each connection's ``db.namespace`` (we never query the connection)."""

    def connect(*args: Any, **kwargs: Any) -> Any:
        connection = original(*args, **kwargs)
        try:
            database = args[0] if args else kwargs.get("database", ":memory:")
            tracer.namespaces[connection] = namespace_of_database(database)
        except Exception as exc:
            log_internal_error("duckdb connect", exc)
        return connection

    connect.__wrapped__ = original  # type: ignore[attr-defined]
    connect.__doc__ = getattr(original, "__doc__", None)
    return connect


def connection_child_hook(original: _Original, tracer: QueryTracer) -> _Original:
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

    child.__wrapped__ = original  # type: ignore[attr-defined]
    child.__doc__ = getattr(original, "__doc__", None)
    return child


def default_connection_hook(original: _Original, tracer: QueryTracer) -> _Original:
    """``duckdb.default_connection()`` / ``duckdb.cursor()``: the default database is in memory."""

    def default(*args: Any, **kwargs: Any) -> Any:
        connection = original(*args, **kwargs)
        try:
            tracer.namespaces[connection] = _MEMORY
        except Exception as exc:
            log_internal_error("duckdb default connection", exc)
        return connection

    default.__wrapped__ = original  # type: ignore[attr-defined]
    default.__doc__ = getattr(original, "__doc__", None)
    return default
