"""Start-up, as fresh interpreters see it: nothing imported on the application's behalf, and every target
patched when (and only if) the application imports it — late, from two threads, inside another import,
after a reload — with OTEL_PYTHON_DISABLED_INSTRUMENTATIONS honoured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
TARGETS = ("duckdb", "langgraph", "langchain_core", "cachetools", "pydantic_ai")

#: Helpers every script starts with: the application's own in-memory tracer provider (set before
#: agentotel, which keeps it), ``report()`` printing the finished span names, ``loaded()`` naming the
#: target packages in ``sys.modules``, and ``run_graph()`` building and invoking a one-node LangGraph.
PREAMBLE = f"""
import json, sys
TARGETS = {TARGETS!r}

def loaded():
    return sorted(set(m.split(".")[0] for m in sys.modules) & set(TARGETS))

def report(**extra):
    names = sorted(s.name for s in exporter.get_finished_spans()) if "exporter" in globals() else []
    print("REPORT " + json.dumps({{"spans": names, **extra}}))

def run_graph():
    from typing import TypedDict
    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        x: int

    builder = StateGraph(State)
    builder.add_node("double", lambda s: {{"x": s["x"] * 2}})
    builder.add_edge(START, "double")
    builder.add_edge("double", END)
    assert builder.compile(name="doubler").invoke({{"x": 21}}) == {{"x": 42}}
"""
PROVIDERS = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTOTEL_"))}
    env.update(
        OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none", PYTHONUNBUFFERED="1"
    )
    env.update(extra)
    return env


def _run(
    code: str,
    tmp_path: Path,
    *,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
    providers: bool = True,
) -> dict:
    app = tmp_path / "app.py"
    app.write_text(PREAMBLE + (PROVIDERS if providers else "") + textwrap.dedent(code))
    result = subprocess.run(
        [*(prefix or []), sys.executable, str(app)],
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, result.stdout + result.stderr
    report = json.loads(lines[-1].removeprefix("REPORT "))
    report["stderr"] = result.stderr
    return report


def test_import_agentotel_auto_with_unused_targets_imports_none_of_them(tmp_path: Path) -> None:
    report = _run(
        """
        import agentotel.auto, agentotel
        machinery = [m for m in sys.modules if m.startswith("opentelemetry.instrumentation")]
        report(loaded=loaded(), instrumentation=machinery, state=agentotel.instrumented())
        """,
        tmp_path,
    )
    assert report["loaded"] == []
    # Every installed target is armed, and nothing of the instrumentation machinery was loaded for it.
    assert report["state"] == {"duckdb": True, "langgraph": True, "cachetools": True, "pydantic_ai": True}
    assert report["instrumentation"] == []


def test_agentotel_help_imports_no_target(tmp_path: Path) -> None:
    report = _run(
        """
        import contextlib, io, json, sys
        from agentotel.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = main(["--help"])
        report(code=code, usage=out.getvalue(), loaded=loaded())
        """,
        tmp_path,
    )
    assert report["code"] == 0 and "usage: agentotel" in report["usage"]
    assert report["loaded"] == []


def test_targets_imported_after_the_one_import_are_traced(tmp_path: Path) -> None:
    report = _run(
        """
        import agentotel.auto
        import duckdb
        duckdb.connect().execute("SELECT 42").fetchall()
        run_graph()
        import cachetools
        cache = cachetools.LRUCache(8)
        assert cache.get("k") is None
        from pydantic_ai import Agent
        from pydantic_ai.models.test import TestModel
        Agent(TestModel(), name="helper").run_sync("What is parcel 42?")
        report(counted=getattr(cache, "_agentotel_lookups", 0))
        """,
        tmp_path,
    )
    assert "SELECT" in report["spans"]
    assert "invoke_workflow doubler" in report["spans"] and "double" in report["spans"]
    assert report["counted"] == 1
    assert "invoke_agent helper" in report["spans"] and "chat test" in report["spans"]
    assert "internal error" not in report["stderr"], report["stderr"]


def test_langchain_alone_is_patched_without_importing_langgraph(tmp_path: Path) -> None:
    report = _run(
        """
        import agentotel.auto
        from langchain_core.tools import tool

        @tool
        def parcel(number: int) -> str:
            \"\"\"Look a parcel up.\"\"\"
            return f"parcel {number}"

        assert parcel.invoke({"number": 7}) == "parcel 7"
        report(loaded=loaded())
        """,
        tmp_path,
    )
    assert "execute_tool parcel" in report["spans"]
    assert "langgraph" not in report["loaded"]


def test_two_threads_importing_targets_at_startup_are_both_traced(tmp_path: Path) -> None:
    report = _run(
        """
        import threading
        import agentotel.auto
        barrier = threading.Barrier(3)
        errors = []

        def use_duckdb():
            barrier.wait()
            try:
                import duckdb
                duckdb.connect().execute("SELECT 1").fetchall()
            except BaseException as exc:
                errors.append(repr(exc))

        def use_langgraph():
            barrier.wait()
            try:
                run_graph()
            except BaseException as exc:
                errors.append(repr(exc))

        def use_cachetools():
            barrier.wait()
            import cachetools
            cachetools.TTLCache(8, ttl=60).get("k")

        threads = [threading.Thread(target=f) for f in (use_duckdb, use_langgraph, use_cachetools)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        report(errors=errors, alive=[t.is_alive() for t in threads])
        """,
        tmp_path,
    )
    assert report["errors"] == [] and report["alive"] == [False, False, False]
    assert "SELECT" in report["spans"] and "invoke_workflow doubler" in report["spans"]
    assert "internal error" not in report["stderr"]


def test_a_target_imported_inside_another_import_is_traced(tmp_path: Path) -> None:
    (tmp_path / "landuse_repo.py").write_text(
        textwrap.dedent(
            """
            import duckdb            # a target imported while this module is being imported
            CON = duckdb.connect()
            CON.execute("CREATE TABLE parcels (id INTEGER)")   # and used during that import
            """
        )
    )
    report = _run(
        """
        import agentotel.auto
        import landuse_repo
        landuse_repo.CON.execute("SELECT count(*) FROM parcels").fetchall()
        report()
        """,
        tmp_path,
    )
    assert "CREATE TABLE parcels" in report["spans"] and "SELECT parcels" in report["spans"]


def test_duckdb_reload_re_patches_and_uninstrument_restores_the_originals(tmp_path: Path) -> None:
    report = _run(
        """
        import importlib
        import agentotel.auto, agentotel
        import duckdb
        duckdb = importlib.reload(duckdb)   # duckdb 2 re-sets DuckDBPyConnection.sql and duckdb.sql here
        con = duckdb.connect()
        con.sql("CREATE TABLE parcels AS SELECT 1 AS id")   # runs at the sql() call: only a patched sql() sees it
        con.sql("SELECT 1 AS a").fetchall()
        duckdb.sql("SELECT 2 AS b").fetchall()
        con.execute("SELECT 3").fetchall()
        after_reload = sorted(s.name for s in exporter.get_finished_spans())
        repatched = [hasattr(vars(duckdb.DuckDBPyConnection)["sql"], "__agentotel_patch__"),
                     hasattr(duckdb.sql, "__agentotel_patch__")]
        agentotel.uninstrument()
        relation = getattr(duckdb, "_relation", None)
        exact = None
        if relation is not None and hasattr(relation, "CONNECTION_METHODS"):
            exact = (vars(duckdb.DuckDBPyConnection)["sql"] is relation.CONNECTION_METHODS["sql"]
                     and duckdb.sql is relation.module_sql)
        exporter.clear()
        con.sql("SELECT 4").fetchall()
        report(after_reload=after_reload, repatched=repatched, exact=exact,
               marked=[n for n, v in vars(duckdb.DuckDBPyConnection).items() if hasattr(v, "__agentotel_patch__")])
        """,
        tmp_path,
    )
    assert report["after_reload"] == ["CREATE TABLE parcels", "SELECT", "SELECT", "SELECT"]
    assert report["repatched"] == [True, True]
    assert report["exact"] in (True, None)  # None: duckdb 1.x, whose module body sets nothing on the class
    assert report["marked"] == [] and report["spans"] == []


@pytest.mark.parametrize(
    ("disabled", "traced"),
    [(" DuckDB , langgraph ", {"cachetools"}), ("*", set()), ("fastapi,cachetools", {"duckdb", "langgraph"})],
)
def test_disabled_instrumentations_are_matched_trimmed_and_in_any_case(
    tmp_path: Path, disabled: str, traced: set[str]
) -> None:
    report = _run(
        """
        import agentotel.auto, agentotel
        import duckdb, cachetools
        duckdb.connect().execute("SELECT 1").fetchall()
        cache = cachetools.LRUCache(8)
        cache.get("k")
        run_graph()
        report(state=agentotel.instrumented(), counted=hasattr(cache, "_agentotel_lookups"))
        """,
        tmp_path,
        env=_env(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=disabled),
    )
    active = {name for name, on in report["state"].items() if on}
    assert active - {"pydantic_ai"} == traced
    assert ("SELECT" in report["spans"]) is ("duckdb" in traced)
    assert ("invoke_workflow doubler" in report["spans"]) is ("langgraph" in traced)
    assert report["counted"] is ("cachetools" in traced)
    assert "no installed instrumentation answers to" not in report["stderr"]  # fastapi's is installed


def test_a_misspelt_disabled_instrumentation_gets_one_warning_naming_it(tmp_path: Path) -> None:
    report = _run(
        """
        import agentotel.auto, agentotel
        agentotel.instrument()
        import duckdb
        duckdb.connect().execute("SELECT 1").fetchall()
        report()
        """,
        tmp_path,
        env=_env(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="duckbd, fastapi"),
    )
    warnings = [line for line in report["stderr"].splitlines() if "no installed instrumentation" in line]
    assert len(warnings) == 1, report["stderr"]
    assert "'duckbd'" in warnings[0] and "cachetools, duckdb, langgraph, pydantic_ai" in warnings[0]
    assert "fastapi" not in warnings[0]
    assert "SELECT" in report["spans"]  # the misspelt name disabled nothing


def test_opentelemetry_instrument_imports_no_unused_target(tmp_path: Path) -> None:
    report = _run(
        """
        report(loaded=loaded())
        """,
        tmp_path,
        prefix=[str(BIN / "opentelemetry-instrument")],
        providers=False,
    )
    assert report["loaded"] == []


def test_dependency_checks_read_metadata_only(tmp_path: Path) -> None:
    report = _run(
        """
        import json, sys
        from importlib.metadata import distribution
        from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts
        from agentotel.instrumentation.duckdb import DuckDBInstrumentor
        from agentotel.instrumentation.langgraph import LangGraphInstrumentor
        from agentotel.instrumentation.pydantic_ai import PydanticAIInstrumentor
        conflict = get_dist_dependency_conflicts(distribution("agentotel"))   # the instruments-any check
        for cls in (DuckDBInstrumentor, LangGraphInstrumentor, PydanticAIInstrumentor):
            cls().instrument()          # BaseInstrumentor's own dependency check, then our lazy patching
        report(loaded=loaded(), conflict=str(conflict) if conflict else None)
        """,
        tmp_path,
    )
    assert report["conflict"] is None and report["loaded"] == []


def test_uninstrument_cancels_pending_patches_and_instrument_again_works(tmp_path: Path) -> None:
    report = _run(
        """
        import agentotel.auto, agentotel
        from agentotel.instrumentation._patching import watched_modules
        armed = sorted(watched_modules())
        agentotel.uninstrument()
        left = sorted(watched_modules())
        meta_path = [type(f).__name__ for f in sys.meta_path]
        import duckdb
        duckdb.connect().execute("SELECT 1").fetchall()
        untraced = sorted(s.name for s in exporter.get_finished_spans())
        agentotel.instrument()
        duckdb.connect().execute("SELECT 2").fetchall()
        report(armed=armed, left=left, meta_path=meta_path, untraced=untraced)
        """,
        tmp_path,
    )
    assert "duckdb" in report["armed"] and "cachetools" in report["armed"]
    assert report["left"] == [] and "_ImportWatcher" not in report["meta_path"]
    assert report["untraced"] == [] and report["spans"] == ["SELECT"]
