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
from collections.abc import Callable, Collection
from typing import Any

import duckdb
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentotel._telemetry import current_settings, get_meter, get_tracer, log_internal_error
from agentotel.instrumentation._patching import Patch, install
from agentotel.instrumentation.duckdb import _hooks, _relations, _rows
from agentotel.instrumentation.duckdb._tracer import QueryTracer
from agentotel.instrumentation.duckdb.package import _instruments

__all__ = ["DuckDBInstrumentor"]

_SCOPE = "agentotel.instrumentation.duckdb"


class DuckDBInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces DuckDB statements; ``instrument(tracer_provider=, meter_provider=)``, ``uninstrument()``."""

    _patches: list[Patch]
    _tracer: QueryTracer | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The duckdb versions supported."""
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        tracer = QueryTracer(
            get_tracer(_SCOPE, kwargs.get("tracer_provider")),
            get_meter(_SCOPE, kwargs.get("meter_provider")),
            current_settings(),
        )
        relations = _relations.Relations(tracer)
        self._tracer = tracer
        atexit.register(tracer.connections.end_all)  # before the SDK's own exit hook exports the spans
        self._patches = []
        for owner, name, make in _targets(tracer, relations):
            if name not in dir(owner):
                continue  # not in this duckdb version
            try:
                self._patches.append(install(owner, name, make))
            except Exception as exc:  # one attribute we cannot patch must not stop the others
                log_internal_error(f"duckdb instrument {name}", exc)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._tracer is not None:
            self._tracer.active = False
            atexit.unregister(self._tracer.connections.end_all)
            self._tracer.connections.end_all()
            self._tracer.durations.flush()
        for patch in reversed(getattr(self, "_patches", [])):
            try:
                patch.restore()
            except Exception as exc:
                log_internal_error(f"duckdb uninstrument {patch.name}", exc)
        self._patches = []
        self._tracer = None


def _targets(tracer: QueryTracer, relations: _relations.Relations) -> list[tuple[Any, str, Callable[[Any], Any]]]:
    """Every (owner, attribute, factory) we patch; attributes missing from this duckdb version are skipped."""
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
        targets.append((connection, name, lambda o, n=name: _hooks.fetch_hook(o, tracer, n)))
        targets.append((duckdb, name, lambda o, n=name: _hooks.module_fetch_hook(o, tracer, n)))
    targets.append((connection, "close", lambda o: _hooks.close_hook(o, tracer)))
    targets.append((duckdb, "close", lambda o: _hooks.close_hook(o, tracer, module=True)))
    for name in _relations.TERMINALS:
        factory = _relations.iter_rows_hook if name == "iter_rows" else _relations.terminal_hook
        targets.append((relation, name, lambda o, n=name, f=factory: f(o, tracer, relations, n)))
    return targets
