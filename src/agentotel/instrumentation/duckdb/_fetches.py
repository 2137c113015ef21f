"""The fetch and close hooks: where the span of a statement whose rows wait on its connection ends.

``con.execute(q)`` leaves its rows on the connection (see :mod:`._connections`):
the first fetch (``fetchall``, ``df``, ``fetchone`` …, on the connection or at
module level for the default connection) ends the statement's span as of its own
end, with ``db.response.returned_rows`` when it read the whole result; ``close()``
ends it without a count.
"""

from __future__ import annotations

from functools import partial
from types import FunctionType
from typing import Any

from agentotel._telemetry import log_internal_error
from agentotel.instrumentation.duckdb import _rows
from agentotel.instrumentation.duckdb._connections import DEFAULT, WaitingResult
from agentotel.instrumentation.duckdb._hooks import Original, adopt
from agentotel.instrumentation.duckdb._scope import call_in_scope, caller_scope, frame
from agentotel.instrumentation.duckdb._tracer import Execution, QueryTracer

__all__ = ["close_hook", "fetch_hook", "module_fetch_hook"]


def _take_waiting(tracer: QueryTracer, connection: Any) -> WaitingResult | None:
    """The result waiting on ``connection`` (no longer there afterwards): under the connection itself, or
    under :data:`DEFAULT` when it is duckdb's default connection and the statement ran through a
    module-level call (or the reverse)."""
    connections = tracer.connections
    waiting = connections.take(connection)
    if waiting is None and connections.waiting:
        default = tracer.default_connection()
        if connection is DEFAULT:
            waiting = connections.take(default)
        elif connection is default:
            waiting = connections.take(DEFAULT)
    return waiting


def _fetched(
    waiting: WaitingResult, connection: Any, method: str, result: Any, args: tuple[Any, ...], kwargs: Any
) -> None:
    """After ``method`` fetched from ``connection``: end the span that waited there, with the rows it
    returned when this fetch read them all."""
    if not isinstance(waiting, Execution):
        waiting.end()
    elif method in _rows.ALL or (method in _rows.PART and _rows.used_up(method, result, args, kwargs)):
        waiting.fetched(connection, _rows.count_rows(method, result))  # read to the end: the count is known
    else:  # more may follow (fetchone, fetchmany), or a reader hands the rows over later: not counted
        waiting.fetched(connection, None)


def fetch_hook(original: Original, tracer: QueryTracer, method: str) -> Original:
    """``DuckDBPyConnection.fetchall`` / ``df`` / ``fetchone`` …: gives the waiting span its returned rows.

    A fetch written in Python (duckdb 2.x's ``to_arrow_table``) runs in the caller's scope, so that the
    warnings it gives name the caller's line, as without us.
    """
    connections = tracer.connections
    rule = tracer.scope_rule
    in_scope = isinstance(original, FunctionType)

    def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if in_scope:
            result = call_in_scope(caller_scope(frame(1), rule), partial(original, self, *args, **kwargs))
        else:
            result = original(self, *args, **kwargs)
        if connections.waiting:
            try:
                waiting = _take_waiting(tracer, self)
                if waiting is not None:
                    _fetched(waiting, self, method, result, args, kwargs)
            except Exception as exc:
                log_internal_error(f"duckdb {method}", exc)
        return result

    return adopt(fetch, original)


def module_fetch_hook(original: Original, tracer: QueryTracer, method: str) -> Original:
    """Module-level ``duckdb.fetchall`` / ``df`` …, which fetch from ``connection=`` or the default connection."""
    connections = tracer.connections

    def fetch(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        try:
            if connections.waiting:
                connection = kwargs.get("connection") or DEFAULT
                waiting = _take_waiting(tracer, connection)
                if waiting is not None:
                    _fetched(waiting, connection, method, result, args, kwargs)
        except Exception as exc:
            log_internal_error(f"duckdb {method}", exc)
        return result

    return adopt(fetch, original)


def close_hook(original: Original, tracer: QueryTracer, *, module: bool = False) -> Original:
    """``con.close()`` / ``duckdb.close()``: the waiting span ends without a count."""
    connections = tracer.connections

    def close(*args: Any, **kwargs: Any) -> Any:
        try:
            connection = (kwargs.get("connection") or DEFAULT) if module else args[0]
            earlier = _take_waiting(tracer, connection) if connections.waiting else None
            if earlier is not None:
                earlier.end()
        except Exception as exc:
            log_internal_error("duckdb close", exc)
        return original(*args, **kwargs)

    return adopt(close, original)
