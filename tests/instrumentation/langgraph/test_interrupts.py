"""Interrupts are control flow (event, no error); the resumed run links to the interrupted run's root span."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from opentelemetry.trace import StatusCode

from agentotel.instrumentation.langgraph._resume import INTERRUPTED_RUNS
from agentotel.testing import TelemetryCapture
from tests.instrumentation.langgraph.graphs import State, interrupt_graph

CONFIG = {"configurable": {"thread_id": "approval-1"}}


def _no_error(span) -> None:
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes
    assert "exception" not in [e.name for e in span.events]


def _interrupt_value(graph: Any, result: dict[str, Any]) -> Any:
    """The pending interrupt's value: in the result (LangGraph 0.4+) or, before that, in the saved state."""
    if "__interrupt__" in result:
        return result["__interrupt__"][0].value
    [task] = [t for t in graph.get_state(CONFIG).tasks if t.interrupts]
    return task.interrupts[0].value


def test_interrupt_then_resume_links_to_the_interrupted_root(telemetry: TelemetryCapture) -> None:
    graph = interrupt_graph(InMemorySaver())

    first = graph.invoke({"x": 1}, CONFIG)
    assert _interrupt_value(graph, first) == "approve?"
    [interrupted] = telemetry.roots()
    assert telemetry.tree(interrupted) == "invoke_workflow approval [INTERNAL]\n  plan [INTERNAL]\n  ask [INTERNAL]"
    _no_error(interrupted)
    assert [e.name for e in interrupted.events] == ["langgraph.interrupt"]
    ask = telemetry.span("ask")
    _no_error(ask)
    assert [e.name for e in ask.events] == ["langgraph.interrupt"]

    telemetry.clear()
    second = graph.invoke(Command(resume="yes"), CONFIG)

    assert second["answer"] == "approved=yes"
    [resumed] = telemetry.roots()
    assert telemetry.tree(resumed) == "invoke_workflow approval [INTERNAL]\n  ask [INTERNAL]"
    assert resumed.context.trace_id != interrupted.context.trace_id
    assert [link.context for link in resumed.links] == [interrupted.context]
    assert resumed.attributes["langgraph.resumed"] is True
    assert resumed.attributes["gen_ai.conversation.id"] == "approval-1"
    assert not resumed.events
    assert len(INTERRUPTED_RUNS) == 0


async def test_async_interrupt_then_resume(telemetry: TelemetryCapture) -> None:
    graph = interrupt_graph(InMemorySaver())

    await graph.ainvoke({"x": 1}, CONFIG)
    [interrupted] = telemetry.roots()
    telemetry.clear()
    await graph.ainvoke(Command(resume="ok"), CONFIG)

    [resumed] = telemetry.roots()
    assert [link.context for link in resumed.links] == [interrupted.context]


def test_streamed_interrupt_is_not_an_error(telemetry: TelemetryCapture) -> None:
    graph = interrupt_graph(InMemorySaver())

    chunks = list(graph.stream({"x": 1}, CONFIG, stream_mode="updates"))

    assert "__interrupt__" in chunks[-1]
    root = telemetry.span("invoke_workflow approval")
    _no_error(root)
    assert [e.name for e in root.events] == ["langgraph.interrupt"]
    assert "langgraph.stream.abandoned" not in root.attributes


def test_new_input_on_the_thread_is_not_a_resume(telemetry: TelemetryCapture) -> None:
    graph = interrupt_graph(InMemorySaver())
    graph.invoke({"x": 1}, CONFIG)
    telemetry.clear()

    graph.invoke({"x": 5}, CONFIG)

    [run] = telemetry.roots()
    assert not run.links
    assert "langgraph.resumed" not in run.attributes


def test_static_interrupt_before_a_node(telemetry: TelemetryCapture) -> None:
    graph = interrupt_graph(InMemorySaver())

    graph.invoke({"x": 1}, CONFIG, interrupt_before=["ask"])
    [interrupted] = telemetry.roots()
    assert [e.name for e in interrupted.events] == ["langgraph.interrupt"]
    telemetry.clear()
    graph.invoke(None, {"configurable": {"thread_id": "approval-1"}}, interrupt_before=[])

    resumed = telemetry.roots()[0]
    assert [link.context for link in resumed.links] == [interrupted.context]


def test_interrupted_runs_map_is_bounded(telemetry: TelemetryCapture, monkeypatch) -> None:
    monkeypatch.setattr(INTERRUPTED_RUNS, "capacity", 3)
    graph = interrupt_graph(InMemorySaver())

    for i in range(10):
        graph.invoke({"x": i}, {"configurable": {"thread_id": f"t{i}"}})

    assert len(INTERRUPTED_RUNS) == 3
    assert INTERRUPTED_RUNS.pop("t9") is not None
    assert INTERRUPTED_RUNS.pop("t0") is None


@pytest.mark.skipif(
    tuple(int(p) for p in version("langgraph").split(".")[:2]) < (0, 4),
    reason="LangGraph 0.3 rejects this graph itself (InvalidUpdateError, with or without agentotel)",
)
def test_parent_command_from_a_subgraph_is_not_an_error(telemetry: TelemetryCapture) -> None:
    def hop(state: State) -> Command:
        return Command(graph=Command.PARENT, goto="after", update={"x": state["x"] + 100})

    inner = StateGraph(State)
    inner.add_node("hop", hop)
    inner.add_edge(START, "hop")
    outer = StateGraph(State)
    outer.add_node("sub", inner.compile(name="inner"))
    outer.add_node("after", lambda state: {"x": state["x"] + 1})
    outer.add_edge(START, "sub")
    outer.add_edge("after", END)

    assert outer.compile(name="outer").invoke({"x": 1})["x"] == 102

    assert telemetry.tree() == (
        "invoke_workflow outer [INTERNAL]\n"
        "  sub [INTERNAL]\n"
        "    invoke_workflow inner [INTERNAL]\n"
        "      hop [INTERNAL]\n"
        "  after [INTERNAL]"
    )
    for span in telemetry.spans():
        _no_error(span)
        assert not span.events
