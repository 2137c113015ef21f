"""What agentotel knows about each DuckDB connection: its ``db.namespace`` and the span of its unread result.

Connections have no ``__dict__`` and reject attributes, so the state lives here,
looked up by ``id()`` (a lookup on the per-query path allocates nothing) and
forgotten through a weak-reference callback when the connection is collected,
before its ``id`` can be reused.

A statement run by ``execute()`` leaves its rows on the connection: its span
waits there, already timed, until the first fetch (``fetchall()``, ``df()``,
``fetchone()`` …; one that reads the whole result gives
``db.response.returned_rows``), or until something else happens to the
connection (its next statement, ``close()``, its collection,
``uninstrument()``, process exit), which ends it without a count.
"""

from __future__ import annotations

import weakref
from typing import Any

from opentelemetry.trace import Span

from agentotel import semconv
from agentotel._telemetry import log_internal_error

__all__ = ["DEFAULT", "Connections", "UnreadResult"]


class _DefaultConnection:
    """Stands for duckdb's default connection, whose Python object module-level calls do not keep."""

    __slots__ = ("__weakref__",)

    def __repr__(self) -> str:
        return "<duckdb default connection>"


#: The key of the default connection's state (``duckdb.execute(…)`` then ``duckdb.fetchall()``).
DEFAULT: Any = _DefaultConnection()


class UnreadResult:
    """The span of a statement whose rows are still on its connection (ended with a wall-clock ``end_time``)."""

    __slots__ = ("span", "end_time")

    def __init__(self, span: Span, end_time: int) -> None:
        self.span = span
        self.end_time = end_time

    def end(self, rows: int | None = None) -> None:
        """End the span, with ``db.response.returned_rows`` when the count is known; never raises."""
        try:
            if rows is not None:
                self.span.set_attribute(semconv.DB_RESPONSE_RETURNED_ROWS, rows)
            self.span.end(end_time=self.end_time)
        except Exception as exc:
            log_internal_error("duckdb result span", exc)


class Connections:
    """Connection -> (namespace, unread result), forgotten when the connection is collected."""

    __slots__ = ("_namespaces", "_unread", "_refs")

    def __init__(self) -> None:
        self._namespaces: dict[int, str] = {}
        self._unread: dict[int, UnreadResult] = {}
        self._refs: dict[int, weakref.ref[Any]] = {}

    # ---------------------------------------------------------------- namespaces
    def get(self, connection: Any) -> str | None:
        """The connection's ``db.namespace``, or None when we did not see it opened."""
        return self._namespaces.get(id(connection))

    def __setitem__(self, connection: Any, namespace: str) -> None:
        if self._watch(connection):
            self._namespaces[id(connection)] = namespace

    def __len__(self) -> int:
        return len(self._refs)

    # ---------------------------------------------------------------- unread results
    def leave(self, connection: Any, result: UnreadResult) -> None:
        """``result``'s rows wait on ``connection``; whatever waited there before is ended first."""
        key = id(connection)
        previous = self._unread.pop(key, None)
        if previous is not None:
            previous.end()
        if self._watch(connection):
            self._unread[key] = result
        else:
            result.end()

    def take(self, connection: Any) -> UnreadResult | None:
        """The result waiting on ``connection`` (no longer there afterwards), or None."""
        return self._unread.pop(id(connection), None) if self._unread else None

    def peek(self, connection: Any) -> UnreadResult | None:
        """The result waiting on ``connection`` (still there), or None."""
        return self._unread.get(id(connection)) if self._unread else None

    @property
    def waiting(self) -> bool:
        """Whether any connection has an unread result (a cheap test before a lookup)."""
        return bool(self._unread)

    def end_all(self) -> None:
        """End every waiting result's span (at uninstrument and at process exit)."""
        while self._unread:
            try:
                _, result = self._unread.popitem()
            except KeyError:
                return
            result.end()

    # ---------------------------------------------------------------- lifetime
    def _watch(self, connection: Any) -> bool:
        """Forget ``connection`` when it is collected; False when it cannot be weakly referenced."""
        key = id(connection)
        if key in self._refs:
            return True
        namespaces, unread, refs = self._namespaces, self._unread, self._refs

        def forget(_: Any, key: int = key) -> None:
            namespaces.pop(key, None)
            refs.pop(key, None)
            result = unread.pop(key, None)
            if result is not None:
                result.end()

        try:
            refs[key] = weakref.ref(connection, forget)
        except TypeError:  # not weakly referenceable: nothing can be kept for it safely
            return False
        return True
