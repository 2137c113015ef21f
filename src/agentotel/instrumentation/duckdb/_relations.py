"""Hooks for ``sql()`` and for the relation methods where a lazy relation really runs.

``con.sql("SELECT …")`` only builds a relation: we remember its text (and
namespace) in a ``WeakKeyDictionary`` and start the span at the terminal that
runs it (``fetchall``, ``df``, ``write_parquet`` …). A statement that runs at
the ``sql()`` call (DDL, DML) is spanned there, and reading the relation it
returns is not another execution.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from functools import partial
from types import FrameType
from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value  # pyright: ignore[reportPrivateUsage]

from agentotel._telemetry import log_internal_error
from agentotel.instrumentation.duckdb import _rows as rows
from agentotel.instrumentation.duckdb._connections import DEFAULT
from agentotel.instrumentation.duckdb._hooks import (
    Original,
    adopt,
    guard,
    module_namespace,
    query_text,
    run_failing_lazily,
    traced,
)
from agentotel.instrumentation.duckdb._scope import call_in_scope, caller_scope, frame
from agentotel.instrumentation.duckdb._tracer import Prepared, QueryTracer

__all__ = [
    "Relations",
    "TERMINALS",
    "iter_rows_hook",
    "module_sql_hook",
    "relation_query_hook",
    "sql_hook",
    "terminal_hook",
]


class _Ran:
    """Marks a relation whose statement already ran (an eager ``con.sql``): reading it is not a new span."""

    def __repr__(self) -> str:
        return "<ran>"


_RAN = _Ran()


class _RelationInfo:
    """What a relation runs: its SQL text, namespace and connection (weakly); ``streaming`` while a
    fetchone/fetchmany result is open."""

    __slots__ = ("text", "namespace", "_connection", "streaming")

    def __init__(self, text: str, namespace: str | None, connection: Any = None) -> None:
        self.text = text
        self.namespace = namespace
        self._connection: weakref.ref[Any] | None = None
        if connection is not None:
            try:
                self._connection = weakref.ref(connection)
            except TypeError:
                pass
        self.streaming = False

    @property
    def connection(self) -> Any:
        """The connection the relation runs on, while it is alive and known."""
        return None if self._connection is None else self._connection()


class Relations:
    """Relation -> :class:`_RelationInfo`, weakly keyed (relations have no ``__dict__`` in duckdb 1.x)."""

    def __init__(self, tracer: QueryTracer) -> None:
        self._tracer = tracer
        self._map: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def remember(self, relation: Any, text: str | None, namespace: str | None, connection: Any = None) -> None:
        """Note what ``relation`` will run (``text``) and where, or that it already ran (``text=None``);
        never raises."""
        if relation is None:
            return
        try:
            self._map[relation] = _RAN if text is None else _RelationInfo(text, namespace, connection)
        except TypeError:  # not weakly referenceable: the text is read back at the terminal instead
            pass
        except Exception as exc:
            log_internal_error("duckdb relation", exc)

    def info(self, relation: Any) -> Any:
        """The relation's info (read from the relation once when we did not see it made), or ``_RAN``."""
        try:
            found = self._map.get(relation)
        except TypeError:
            found = None
        if found is not None:
            return found
        connection = getattr(relation, "_con", None)  # duckdb 2.x; 1.x relations do not show theirs
        namespace = None if connection is None else self._tracer.connections.get(connection)
        found = _RelationInfo(relation.sql_query(), namespace, connection)
        try:
            self._map[relation] = found
        except TypeError:
            pass
        return found


# ---------------------------------------------------------------------------- sql / query
def _run_sql(
    tracer: QueryTracer,
    relations: Relations,
    scope: FrameType,
    call: Callable[[], Any],
    query: Any,
    kwargs: dict[str, Any],
    namespace: str | None,
    connection: Any,
) -> Any:
    """``sql()``: a span for what runs now; a lazy SELECT is remembered for its terminal (spanned here only if
    building it fails)."""
    __tracebackhide__ = True
    text = None
    now: Prepared | None = None  # what runs at the call
    later: str | None = None  # the lazy SELECT a terminal will run
    parameters = None
    try:
        text = query_text(query)
        if text is not None:
            statement = tracer.statement(text)
            if statement.lazy and statement.statement_count <= 1:
                later = text
            elif statement.lazy:  # a script: the statements before the last run now, the last stays lazy
                now, later = tracer.prepare(text[: statement.last_start], namespace), text[statement.last_start :]
            else:
                now = tracer.prepare(text, namespace)
            parameters = kwargs.get("params") if tracer.settings.capture_sql_parameters else None
    except Exception as exc:
        log_internal_error("duckdb sql", exc)
        text = None
    if text is None:
        return call_in_scope(scope, call)
    if now is None:
        relation = run_failing_lazily(tracer, later, namespace, scope, call)
    else:
        relation = traced(tracer, now, scope, call, parameters if later is None else None, connection=connection)
    relations.remember(relation, later, namespace, connection)
    return relation


def sql_hook(original: Original, tracer: QueryTracer, relations: Relations) -> Original:
    """``DuckDBPyConnection.sql`` / ``query`` / ``from_query``."""
    rule = tracer.scope_rule

    def sql(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        scope = caller_scope(frame(1), rule)
        call = partial(original, self, *args, **kwargs)
        if not tracer.active or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return call_in_scope(scope, call)
        query = args[0] if args else kwargs.get("query")
        return _run_sql(tracer, relations, scope, call, query, kwargs, tracer.connections.get(self), self)

    return adopt(sql, original)


def module_sql_hook(original: Original, tracer: QueryTracer, relations: Relations) -> Original:
    """Module-level ``duckdb.sql`` / ``query`` / ``from_query`` (default connection unless ``connection=``)."""
    rule = tracer.scope_rule

    def sql(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        scope = caller_scope(frame(1), rule)
        call = partial(original, *args, **kwargs)
        if not tracer.active or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return call_in_scope(scope, call)
        query = args[0] if args else kwargs.get("query")
        connection = kwargs.get("connection") or DEFAULT
        return _run_sql(tracer, relations, scope, call, query, kwargs, module_namespace(tracer, kwargs), connection)

    return adopt(sql, original)


def relation_query_hook(original: Original, tracer: QueryTracer, relations: Relations) -> Original:
    """``DuckDBPyRelation.query(virtual_table_name, sql_query)``: like ``sql()`` over the relation."""
    rule = tracer.scope_rule

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        scope = caller_scope(frame(1), rule)
        call = partial(original, self, *args, **kwargs)
        if not tracer.active or get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return call_in_scope(scope, call)
        text = args[1] if len(args) > 1 else kwargs.get("sql_query")
        try:
            info = relations.info(self)
            namespace, connection = (None, None) if info is _RAN else (info.namespace, info.connection)
        except Exception:
            namespace = connection = None
        return _run_sql(tracer, relations, scope, call, text, kwargs, namespace, connection)

    return adopt(query, original)


# ---------------------------------------------------------------------------- relation terminals
# Terminal -> how the statement it runs is written around the relation's own SQL.
_READ = "{sql}"
TERMINALS: dict[str, str] = {
    # reads (the relation's own statement)
    "fetchall": _READ,
    "fetchnumpy": _READ,
    "df": _READ,
    "fetchdf": _READ,
    "to_df": _READ,
    "fetch_df_chunk": _READ,
    "torch": _READ,
    "tf": _READ,
    "arrow": _READ,
    "to_arrow_table": _READ,
    "to_arrow_reader": _READ,
    "fetch_arrow_table": _READ,
    "fetch_arrow_reader": _READ,
    "fetch_record_batch": _READ,
    "record_batch": _READ,
    "pl": _READ,
    "to_dicts": _READ,
    "__arrow_c_stream__": _READ,
    "show": _READ,
    "preview": _READ,
    "execute": _READ,
    "materialize": _READ,
    "fetchone": _READ,
    "fetchmany": _READ,
    "iter_rows": _READ,
    # writes built around it
    "create": "CREATE TABLE {name} AS {sql}",
    "to_table": "CREATE TABLE {name} AS {sql}",
    "insert_into": "INSERT INTO {name} {sql}",
    "create_view": "CREATE VIEW {name} AS {sql}",
    "to_view": "CREATE VIEW {name} AS {sql}",
    "write_csv": "COPY ({sql}) TO ?",
    "to_csv": "COPY ({sql}) TO ?",
    "write_parquet": "COPY ({sql}) TO ?",
    "to_parquet": "COPY ({sql}) TO ?",
    "insert": "INSERT INTO {table} VALUES (?)",
    "update": "UPDATE {table} SET ?",
    "explain": "EXPLAIN {sql}",
}
_STREAMING = frozenset({"fetchone", "fetchmany"})
#: Terminals that return every row of the relation: their result gives ``db.response.returned_rows``.
_WHOLE_READS = rows.ALL | frozenset({"to_df", "to_arrow_table", "to_dicts"})


def _statement_of(
    relations: Relations,
    tracer: QueryTracer,
    relation: Any,
    method: str,
    template: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[Prepared, _RelationInfo] | None:
    """What a terminal runs and where, or None when it runs nothing new."""
    info = relations.info(relation)
    if info is _RAN:
        return None
    if method in _STREAMING and info.streaming:
        return None
    if template == _READ:
        text = info.text
    else:
        name = args[0] if args else next(iter(kwargs.values()), "?")
        table = tracer.statement(info.text).collection or "?"
        text = template.format(sql=info.text, name=name, table=table)
    return tracer.prepare(text, info.namespace), info


def terminal_hook(original: Original, tracer: QueryTracer, relations: Relations, method: str) -> Original:
    """A relation method where a lazy relation really runs (``fetchall``, ``df``, ``write_parquet``…)."""
    template = TERMINALS[method]
    streaming = method in _STREAMING
    counted = method if method in _WHOLE_READS else None
    rule = tracer.scope_rule

    def terminal(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        scope = caller_scope(frame(1), rule)
        call = partial(original, self, *args, **kwargs)
        if (
            not tracer.active
            or getattr(guard, "busy", False)
            or get_value(_SUPPRESS_INSTRUMENTATION_KEY)
            or (method == "pl" and kwargs.get("lazy"))  # a LazyFrame: the work runs when it is collected
        ):
            return call_in_scope(scope, call)
        try:
            found = _statement_of(relations, tracer, self, method, template, args, kwargs)
        except Exception as exc:
            log_internal_error(f"duckdb relation.{method}", exc)
            found = None
        if found is None:
            result = call_in_scope(scope, call)
        else:
            prepared, info = found
            result = traced(tracer, prepared, scope, call, connection=info.connection, count=counted)
        if streaming:
            _note_stream(relations, self, result)
        return result

    return adopt(terminal, original)


def _note_stream(relations: Relations, relation: Any, result: Any) -> None:
    """duckdb 1.x: fetchone/fetchmany keep reading one result until it is used up; only the first runs it."""
    try:
        info = relations.info(relation)
        if info is not _RAN:
            info.streaming = bool(result)
    except Exception as exc:
        log_internal_error("duckdb relation fetch", exc)


_END = object()


def iter_rows_hook(original: Original, tracer: QueryTracer, relations: Relations, method: str) -> Original:
    """``iter_rows`` (a generator, duckdb 2.x): the statement runs at the first ``next()``; the span covers it."""
    rule = tracer.scope_rule

    def traced_rows(relation: Any, rows: Iterator[Any]) -> Iterator[Any]:
        __tracebackhide__ = True
        scope = caller_scope(frame(1), rule)  # the frame that asked for the first row
        first_row = partial(next, rows, _END)
        found = None
        if tracer.active and not getattr(guard, "busy", False) and not get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            try:
                found = _statement_of(relations, tracer, relation, method, _READ, (), {})
            except Exception as exc:
                log_internal_error(f"duckdb relation.{method}", exc)
                found = None
        if found is None:
            first = call_in_scope(scope, first_row)
        else:
            first = traced(tracer, found[0], scope, first_row, connection=found[1].connection)
        if first is _END:
            return
        yield first
        yield from rows

    def iter_rows(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return traced_rows(self, original(self, *args, **kwargs))

    return adopt(iter_rows, original)
