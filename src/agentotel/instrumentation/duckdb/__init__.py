"""OpenTelemetry instrumentation for DuckDB (duckdb 1.1+ and 2.x).

One CLIENT span per executed statement, named by its ``db.query.summary``
(``SELECT landuse_transitions``), and the ``db.client.operation.duration``
histogram, for every way a query runs:

* ``DuckDBPyConnection.execute`` / ``executemany`` (and so cursors);
* module-level ``duckdb.execute`` / ``executemany`` / ``sql`` / ``query`` / ``from_query``;
* ``con.sql()`` / ``con.query()`` when the statement runs at the call (DDL, DML);
* relation methods where a lazy relation really runs: ``fetchall``, ``df``,
  ``arrow``, ``pl``, ``fetchnumpy``, ``show``, ``create``, ``insert_into``,
  ``write_csv``, ``write_parquet``, ``to_*`` …

Usage::

    import duckdb
    from agentotel.instrumentation.duckdb import DuckDBInstrumentor

    DuckDBInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
    con = duckdb.connect("landuse.duckdb")
    con.execute("SELECT * FROM landuse_transitions WHERE year = 2020").fetchall()
    # -> span "SELECT landuse_transitions", db.namespace="landuse",
    #    db.query.text="SELECT * FROM landuse_transitions WHERE year = ?"

Literals are replaced by ``?`` in ``db.query.text`` unless
``capture_sql_parameters`` (``AGENTOTEL_CAPTURE_SQL_PARAMETERS``) is on, which
also records ``db.query.parameter.<n>``. See ``docs/duckdb.md``.
"""

from __future__ import annotations

import atexit
import threading
import types
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentotel import semconv
from agentotel._handle import Binding, on_use
from agentotel._telemetry import current_settings, log_internal_error
from agentotel.instrumentation._patching import PatchSet, require_installed
from agentotel.instrumentation.duckdb.package import _instruments  # pyright: ignore[reportPrivateUsage]

if TYPE_CHECKING:  # pragma: no cover
    from agentotel.instrumentation.duckdb._relations import Relations
    from agentotel.instrumentation.duckdb._tracer import QueryTracer

__all__ = ["DuckDBInstrumentor"]


class DuckDBInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces DuckDB statements; ``instrument(tracer_provider=, meter_provider=)``, ``uninstrument()``.

    ``duckdb`` is patched when the application imports it (at once if it already
    has), and again after ``importlib.reload(duckdb)``; instrumenting never imports it.
    """

    _patches: PatchSet | None = None
    _tracer: QueryTracer | None = None
    _relations: Relations | None = None
    _unfollow: Callable[[], None] | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The duckdb versions supported."""
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        require_installed(_instruments)
        binding = Binding(semconv.SCOPE_DUCKDB, kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        patches = PatchSet("duckdb")
        self._patches, self._tracer, self._relations = patches, None, None
        lock = threading.Lock()

        def on_import(duckdb: types.ModuleType) -> None:
            from agentotel.instrumentation.duckdb._recorder import DeferredHistogram
            from agentotel.instrumentation.duckdb._relations import Relations
            from agentotel.instrumentation.duckdb._tracer import QueryTracer

            if self._tracer is None:  # first import: one tracer per instrument(), kept across reloads
                instruments = binding.current()
                tracer = QueryTracer(instruments.tracer, DeferredHistogram.of(instruments), current_settings())
                with lock:
                    if self._patches is not patches:
                        return  # uninstrumented meanwhile
                    if self._tracer is None:
                        self._tracer, self._relations = tracer, Relations(tracer)
                        if binding.late:  # no providers of its own: follow those in force, no lookup per query

                            def rebind(tracer: QueryTracer = tracer) -> None:
                                now = binding.current()
                                tracer.tracer, tracer.durations = now.tracer, DeferredHistogram.of(now)

                            self._unfollow = on_use(rebind)
                        # Before the SDK's own exit hook exports them: spans still waiting for their rows.
                        atexit.register(tracer.connections.end_all)
            tracer, relations = self._tracer, self._relations
            if tracer is not None and relations is not None:  # pyright: ignore[reportUnnecessaryComparison]
                _patch(patches, duckdb, tracer, relations)

        patches.when_imported("duckdb", on_import)

    def _uninstrument(self, **kwargs: Any) -> None:
        unfollow, self._unfollow = self._unfollow, None
        if unfollow is not None:
            unfollow()
        patches, self._patches = self._patches, None
        tracer, self._tracer, self._relations = self._tracer, None, None
        if tracer is not None:
            tracer.active = False
            atexit.unregister(tracer.connections.end_all)
            tracer.connections.end_all()
            tracer.durations.flush()
        if patches is not None:
            patches.remove()


def _patch(patches: PatchSet, duckdb: types.ModuleType, tracer: QueryTracer, relations: Relations) -> None:
    """Patch every target this duckdb version has (a no-op for those patched already)."""
    for owner, name, make in _targets(duckdb, tracer, relations):
        if not callable(getattr(owner, name, None)):
            continue  # not in this duckdb version (or not a function there: 1.1's default_connection)
        try:
            patches.replace(owner, name, make)
        except Exception as exc:  # one attribute we cannot patch must not stop the others
            log_internal_error(f"duckdb instrument {name}", exc)


def _targets(
    duckdb: types.ModuleType, tracer: QueryTracer, relations: Relations
) -> list[tuple[Any, str, Callable[[Any], Any]]]:
    """Every (owner, attribute, factory) we patch: plain functions, all of them on per-query or per-connection paths."""
    from agentotel.instrumentation.duckdb import _fetches, _hooks, _relations, _rows

    connection = duckdb.DuckDBPyConnection
    relation = duckdb.DuckDBPyRelation
    targets: list[tuple[Any, str, Callable[[Any], Any]]] = [
        (connection, "execute", lambda o: _hooks.execute_hook(o, tracer)),
        (connection, "executemany", lambda o: _hooks.execute_hook(o, tracer, many=True)),
        (duckdb, "execute", lambda o: _hooks.module_execute_hook(o, tracer)),
        (duckdb, "executemany", lambda o: _hooks.module_execute_hook(o, tracer, many=True)),
        (duckdb, "connect", lambda o: _hooks.connect_hook(o, tracer)),
        (duckdb, "default_connection", lambda o: _hooks.default_connection_hook(o, tracer)),
        (duckdb, "cursor", lambda o: _hooks.default_connection_hook(o, tracer)),
        (connection, "cursor", lambda o: _hooks.connection_child_hook(o, tracer)),
        (connection, "duplicate", lambda o: _hooks.connection_child_hook(o, tracer)),
        (relation, "query", lambda o: _relations.relation_query_hook(o, tracer, relations)),
    ]
    for name in ("sql", "query", "from_query"):
        targets.append((connection, name, lambda o: _relations.sql_hook(o, tracer, relations)))
        targets.append((duckdb, name, lambda o: _relations.module_sql_hook(o, tracer, relations)))
    for name in sorted(_rows.ALL | _rows.PART | _rows.READER):
        targets.append((connection, name, lambda o, n=name: _fetches.fetch_hook(o, tracer, n)))
        targets.append((duckdb, name, lambda o, n=name: _fetches.module_fetch_hook(o, tracer, n)))
    targets.append((connection, "close", lambda o: _fetches.close_hook(o, tracer)))
    targets.append((duckdb, "close", lambda o: _fetches.close_hook(o, tracer, module=True)))
    for name in _relations.TERMINALS:
        factory = _relations.iter_rows_hook if name == "iter_rows" else _relations.terminal_hook
        targets.append((relation, name, lambda o, n=name, f=factory: f(o, tracer, relations, n)))
    return targets
