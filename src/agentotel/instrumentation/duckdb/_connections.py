"""What agentotel knows about each DuckDB connection: its ``db.namespace`` and the span of its unread result.

Connections have no ``__dict__`` and reject attributes, so the state lives here,
looked up by ``id()`` (a lookup on the per-query path allocates nothing) and
forgotten through a weak-reference callback when the connection is collected,
before its ``id`` can be reused.

A statement run by ``execute()`` leaves its rows on the connection, and DuckDB
does much of the work while they are fetched (a query that streams its result
returns from ``execute()`` after its first chunk). So the statement's span
waits there until the first fetch (``fetchall()``, ``df()``, ``fetchone()`` …)
and ends when that fetch does, or, when something else happens to the
connection first (its next statement, ``close()``, its collection,
``uninstrument()``, process exit), ends as of the moment ``execute()`` returned.
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol

__all__ = ["DEFAULT", "Connections", "WaitingResult"]


class _DefaultConnection:
    """Stands for duckdb's default connection, whose Python object module-level calls do not keep."""

    __slots__ = ("__weakref__",)

    def __repr__(self) -> str:
        return "<duckdb default connection>"


#: The key of the default connection's state (``duckdb.execute(…)`` then ``duckdb.fetchall()``).
DEFAULT: Any = _DefaultConnection()


class WaitingResult(Protocol):
    """A statement execution waiting on its connection for its rows to be fetched."""

    def end(self) -> None:
        """End it without a fetch (the rows were dropped); never raises."""


class Connections:
    """Connection -> (namespace, unread result), forgotten when the connection is collected."""

    __slots__ = ("_namespaces", "_unread", "_refs")

    def __init__(self) -> None:
        self._namespaces: dict[int, str] = {}
        self._unread: dict[int, WaitingResult] = {}
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
    def leave(self, connection: Any, result: WaitingResult) -> None:
        """``result``'s rows wait on ``connection``; whatever waited there before is ended first."""
        key = id(connection)
        previous = self._unread.pop(key, None)
        if previous is not None:
            previous.end()
        if self._watch(connection):
            self._unread[key] = result
        else:
            result.end()

    def take(self, connection: Any) -> WaitingResult | None:
        """The result waiting on ``connection`` (no longer there afterwards), or None."""
        return self._unread.pop(id(connection), None) if self._unread else None

    def peek(self, connection: Any) -> WaitingResult | None:
        """The result waiting on ``connection`` (still there), or None."""
        return self._unread.get(id(connection)) if self._unread else None

    @property
    def waiting(self) -> int:
        """How many connections have an unread result (a cheap test before a lookup)."""
        return len(self._unread)

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
