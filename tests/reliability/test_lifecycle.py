"""Guarantee 6, lifecycle: exactly one layer of hooks, silence after uninstrument, the switches, fork safety.

* 100 instrument -> uninstrument -> instrument cycles leave exactly one layer:
  each patched attribute wraps the library's own original, one query gives one
  span, one graph run one run span; after ``uninstrument()`` the originals are
  back (the same objects).
* After ``uninstrument()`` nothing of ours is emitted: no span, no metric point.
* ``OTEL_SDK_DISABLED=true`` and ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` are honoured.
* A ``multiprocessing`` child started with ``fork`` keeps exporting its own spans
  through the batch processor agentotel set up in the parent.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import agentotel
from agentotel import _export
from agentotel.testing import TelemetryCapture, capture_telemetry
from tests.reliability.conftest import scaled

CYCLES = 100


def _patched_attributes() -> dict[tuple[Any, str], Any]:
    """The raw attributes our instrumentors replace (DuckDB, LangGraph, cachetools), as they are now."""
    import cachetools
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.tools import BaseTool
    from langgraph.pregel import Pregel

    owners: list[tuple[Any, Sequence[str]]] = [
        (duckdb.DuckDBPyConnection, ("execute", "executemany", "sql", "cursor")),
        (duckdb.DuckDBPyRelation, ("fetchall", "df", "iter_rows")),
        (duckdb, ("execute", "sql", "connect")),
        (Pregel, ("invoke", "ainvoke", "stream", "astream")),
        (BaseTool, ("run", "arun")),
        (BaseChatModel, ("invoke", "stream")),
        (cachetools.Cache, ("get", "__getitem__")),
    ]
    return {(owner, name): vars(owner)[name] for owner, names in owners for name in names if name in vars(owner)}


def _unwrapped(value: Any) -> Any:
    return getattr(value, "__wrapped__", None)


def test_cycles_leave_exactly_one_layer() -> None:
    from tests.instrumentation.langgraph.graphs import linear_graph

    originals = _patched_attributes()
    capture = TelemetryCapture()
    for _ in range(CYCLES):
        agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
        agentotel.uninstrument()
    assert _patched_attributes() == originals  # the very same objects are back
    agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    try:
        hooked = _patched_attributes()
        for key, original in originals.items():
            assert hooked[key] is not original, key
            assert _unwrapped(hooked[key]) is original, key  # one layer, around the original
        assert all(agentotel.instrumented().values())
        con = duckdb.connect()
        capture.clear()
        con.execute("SELECT 42").fetchall()
        assert [s.name for s in capture.spans()] == ["SELECT"]
        capture.clear()
        linear_graph("once").invoke({"x": 1})
        assert [s.name for s in capture.spans()].count("invoke_workflow once") == 1
    finally:
        agentotel.uninstrument()
        capture.shutdown()
    assert _patched_attributes() == originals


def test_repeated_instrument_is_idempotent() -> None:
    capture = TelemetryCapture()
    for _ in range(10):
        agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    duckdb.connect().execute("SELECT 1").fetchall()
    assert len(capture.spans()) == 1
    agentotel.uninstrument()
    capture.shutdown()


def test_uninstrument_yields_zero_telemetry() -> None:
    import cachetools

    from tests.instrumentation.langgraph.graphs import linear_graph

    with capture_telemetry() as capture:
        graph = linear_graph("after")
        con = duckdb.connect()
        providers = {"meter_provider": capture.meter_provider}
        cache = agentotel.Cache("after", tracer_provider=capture.tracer_provider, **providers)
        breaker = agentotel.CircuitBreaker("after", minimum_calls=1, **providers)
        balancer = agentotel.LoadBalancer("after", ["a"], **providers)
        limiter = agentotel.RateLimiter("after", requests_per_minute=10**6, **providers)
        ttl = cachetools.TTLCache(maxsize=4, ttl=60)
        agentotel.uninstrument()
        capture.clear()
        capture.metrics()  # drop what was recorded before (the last collection, made by uninstrument())
        con.execute("SELECT 1").fetchall()
        con.sql("SELECT 2").fetchall()
        graph.invoke({"x": 1})
        cache.get_or_load("k", lambda: 1)
        cache.get("k")
        breaker.call(lambda: 1)
        balancer.call(lambda instance: instance)
        limiter.acquire()
        ttl["k"] = 1
        assert ttl.get("k") == 1
        assert capture.spans() == []
        # Not ours: the SDK's own otel.sdk.* metrics (its collection duration, from SDK 1.41 on some versions).
        assert {name for name in capture.metrics() if not name.startswith("otel.sdk.")} == set()


# --------------------------------------------------------------------------- switches
def _python(code: str, **env: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints one JSON line, returned here."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTOTEL_"))}
    environ.update(env, OTEL_METRICS_EXPORTER="none", OTEL_TRACES_EXPORTER="console")
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


_REPORT = """
import json, duckdb
from opentelemetry import trace
duckdb.connect().execute("SELECT 1").fetchall()
print(json.dumps({"instrumented": agentotel.instrumented(),
                  "provider": type(trace.get_tracer_provider()).__name__}))
"""


def test_otel_sdk_disabled_is_honoured() -> None:
    found = _python("import agentotel.auto, agentotel" + _REPORT, OTEL_SDK_DISABLED="true")
    assert found == {
        "instrumented": {name: False for name in agentotel.INSTRUMENTORS},
        "provider": "ProxyTracerProvider",
    }


def test_disabled_instrumentations_are_honoured() -> None:
    found = _python(
        "import agentotel.auto, agentotel" + _REPORT, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="duckdb, cachetools"
    )
    assert found["instrumented"] == {
        "duckdb": False,
        "langgraph": True,
        "cachetools": False,
        "pydantic_ai": True,
    }
    assert found["provider"] == "TracerProvider"


def test_disabled_instrumentations_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "langgraph")
    with capture_telemetry() as capture:
        assert agentotel.instrumented()["langgraph"] is False
        duckdb.connect().execute("SELECT 1").fetchall()
        assert len(capture.spans()) == 1


# --------------------------------------------------------------------------- fork
class FileExporter(SpanExporter):
    """Appends ``pid name`` lines to a file: what each process exported."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Any) -> SpanExportResult:
        with self.path.open("a") as out:
            for span in spans:
                out.write(f"{os.getpid()} {span.name}\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _child(path: str) -> None:
    duckdb.connect().execute("SELECT 'child'").fetchall()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the batch worker thread, restarted after fork, exports it
        if f"{os.getpid()} SELECT" in Path(path).read_text():
            os._exit(0)
        time.sleep(0.05)
    os._exit(3)


@pytest.mark.skipif(sys.platform == "win32", reason="no fork")
def test_forked_child_keeps_exporting_its_own_spans(tmp_path: Path) -> None:
    path = tmp_path / "exported.txt"
    path.touch()
    processor = _export.BoundedBatchSpanProcessor(
        FileExporter(path),
        max_queue_size=1024,
        max_export_batch_size=64,
        schedule_delay_millis=50,
        export_timeout_millis=1000,
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    capture = TelemetryCapture()
    agentotel.instrument(tracer_provider=provider, meter_provider=capture.meter_provider)
    try:
        duckdb.connect().execute("SELECT 'parent'").fetchall()
        children = [
            multiprocessing.get_context("fork").Process(target=_child, args=(str(path),)) for _ in range(scaled(2, 8))
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        assert [child.exitcode for child in children] == [0] * len(children)
        assert provider.force_flush(5000)
        lines = path.read_text().splitlines()
        assert f"{os.getpid()} SELECT" in lines
        for child in children:
            assert f"{child.pid} SELECT" in lines
    finally:
        agentotel.uninstrument()
        provider.shutdown()
        capture.shutdown()
