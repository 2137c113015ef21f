"""instrument/uninstrument, entry point, missing hook points, bounded internal state over many runs."""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel import Pregel
from opentelemetry import trace

import agentotel
from agentotel.instrumentation._patching import watched_modules
from agentotel.instrumentation.langgraph import LangGraphInstrumentor, _patches, _runs
from agentotel.instrumentation.langgraph._resume import INTERRUPTED_RUNS
from agentotel.instrumentation.langgraph._setup import make_hooks
from agentotel.testing import TelemetryCapture
from tests.instrumentation.langgraph.fakes import ToolCallingChatModel, lookup_parcel
from tests.instrumentation.langgraph.graphs import (
    ParcelError,
    async_graph,
    failing_graph,
    interrupt_graph,
    linear_graph,
)


def _first_module(names: tuple[str, ...]) -> Any:
    """The first of ``names`` that imports (LangGraph moved its internals between releases)."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(names)


def _hook_targets() -> dict[str, Any]:
    loop = _first_module(_patches._LOOP)
    runner = _first_module(_patches._RUNNER)

    return {
        "invoke": Pregel.__dict__["invoke"],
        "ainvoke": Pregel.__dict__["ainvoke"],
        "stream": Pregel.__dict__["stream"],
        "astream": Pregel.__dict__["astream"],
        "suppress": loop.PregelLoop.__dict__["_suppress_interrupt"],
        "run_with_retry": runner.run_with_retry,
        "arun_with_retry": runner.arun_with_retry,
        "tool_run": BaseTool.__dict__["run"],
        "tool_arun": BaseTool.__dict__["arun"],
        "chat_invoke": BaseChatModel.__dict__["invoke"],
        "chat_ainvoke": BaseChatModel.__dict__["ainvoke"],
        "chat_stream": BaseChatModel.__dict__["stream"],
        "chat_astream": BaseChatModel.__dict__["astream"],
    }


def test_entry_point_loads_the_instrumentor() -> None:
    [entry] = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "langgraph"]

    assert entry.load() is LangGraphInstrumentor


async def test_uninstrument_removes_every_hook_even_for_graphs_compiled_before() -> None:
    agentotel.uninstrument()
    originals = _hook_targets()
    graph, agraph, model = linear_graph("flow"), async_graph(), ToolCallingChatModel(tool_name=None)
    capture = TelemetryCapture()
    agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    wrapped = _hook_targets()
    assert [name for name in originals if wrapped[name] is originals[name]] == []
    graph.invoke({"x": 1})
    assert [s.name for s in capture.spans()] == ["plan", "act", "invoke_workflow flow"]

    agentotel.uninstrument()
    after = _hook_targets()
    assert [name for name in originals if after[name] is not originals[name]] == []
    graph.invoke({"x": 1})
    list(graph.stream({"x": 1}))
    await agraph.ainvoke({"x": 1})
    model.invoke("x")
    list(model.stream("x"))
    lookup_parcel.invoke({"parcel": 1})

    assert len(capture.spans()) == 3
    assert not INTERRUPTED_RUNS
    capture.shutdown()


def test_missing_hook_point_is_reported_once_and_the_rest_works(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module of the point exists but no longer defines it: reported when that module is imported.
    (tmp_path / "agentotel_moved_hook_point.py").write_text("def run_elsewhere():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "agentotel_moved_hook_point", raising=False)
    missing = _patches.PatchPoint(("agentotel_moved_hook_point",), "", "run", "_runs:invoke_wrapper")
    present = _patches.PatchPoint(_patches._PREGEL, "Pregel", "invoke", "_runs:invoke_wrapper")
    agentotel.uninstrument()
    capture = TelemetryCapture()
    hooks = make_hooks(capture.tracer_provider, capture.meter_provider)
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        applied = _patches.apply(hooks, (missing, present))
        importlib.import_module("agentotel_moved_hook_point")
        _patches.apply(hooks, (missing,)).remove()  # imported already: checked at once, not reported again
    try:
        linear_graph("flow").invoke({"x": 1})
    finally:
        applied.remove()

    messages = [r.getMessage() for r in caplog.records if "agentotel_moved_hook_point" in r.getMessage()]
    assert len(messages) == 1 and "agentotel_moved_hook_point.run not found" in messages[0]
    assert [s.name for s in capture.spans()] == ["invoke_workflow flow"]  # no node hook: only the run
    capture.shutdown()


def test_a_point_whose_module_is_never_imported_is_neither_patched_nor_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    never = _patches.PatchPoint(("agentotel_never_imported_module",), "", "run", "_runs:invoke_wrapper")
    capture = TelemetryCapture()
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        patches = _patches.apply(make_hooks(capture.tracer_provider, capture.meter_provider), (never,))
    assert "agentotel_never_imported_module" in watched_modules()
    patches.remove()
    assert "agentotel_never_imported_module" not in watched_modules()
    assert "agentotel_never_imported_module" not in sys.modules
    assert not [r for r in caplog.records if "agentotel_never_imported_module" in r.getMessage()]
    capture.shutdown()


RUNS = 10_000 if os.environ.get("AGENTOTEL_SOAK") else 600


def test_internal_state_stays_bounded_over_many_runs(
    telemetry: TelemetryCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(INTERRUPTED_RUNS, "capacity", 50)
    gc.collect()
    before = len(_runs._agent_graphs)  # graphs other tests' libraries still hold (LangGraph 0.3 keeps some)
    graph, failing, approval = linear_graph("flow"), failing_graph(), interrupt_graph(InMemorySaver())
    for i in range(RUNS):
        kind = i % 4
        if kind == 0:
            graph.invoke({"x": 1})
        elif kind == 1:
            for _ in graph.stream({"x": 1}):
                break  # abandoned
        elif kind == 2:
            with pytest.raises(ParcelError):
                failing.invoke({"x": 1})
        else:
            approval.invoke({"x": 1}, {"configurable": {"thread_id": f"t{i}"}})
        if i % 100 == 99:
            telemetry.clear()
    gc.collect()

    assert len(INTERRUPTED_RUNS) == 50
    assert len(_runs._agent_graphs) == before + 3
    assert trace.get_current_span() is trace.INVALID_SPAN
    del graph, failing, approval
    gc.collect()
    assert len(_runs._agent_graphs) == before
