"""Control flow is not failure: interrupting, handing off and drained tools; nodes cancelled by LangGraph."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph import errors
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import ParentCommand
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import create_react_agent
from langgraph.types import Command, interrupt
from opentelemetry.trace import StatusCode

from agentotel.testing import TelemetryCapture
from tests.instrumentation.langgraph.conftest import OpenSpans
from tests.instrumentation.langgraph.fakes import ToolCallingChatModel
from tests.instrumentation.langgraph.graphs import State


def _tool_duration_attributes(telemetry: TelemetryCapture, name: str) -> list[dict[str, Any]]:
    points = telemetry.metric_points("gen_ai.execute_tool.duration", **{"gen_ai.tool.name": name})
    return [dict(point.attributes) for point in points]


def _assert_not_failed(span: Any) -> None:
    assert span.status.status_code is StatusCode.UNSET, span.name
    assert "error.type" not in span.attributes, span.name
    assert not [e for e in span.events if e.name == "exception"], span.name


def test_tool_calling_interrupt_is_not_an_error(telemetry: TelemetryCapture) -> None:
    @tool
    def approve(parcel: int) -> str:
        """Ask a human to approve the sale of a parcel."""
        return f"approved={interrupt('approve?')}"

    agent = create_react_agent(ToolCallingChatModel(tool_name="approve"), [approve], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t-approve"}}

    agent.invoke({"messages": [("user", "sell parcel 42")]}, config)
    assert agent.get_state(config).tasks[0].interrupts[0].value == "approve?"
    result = agent.invoke(Command(resume="yes"), config)
    assert [m.content for m in result["messages"] if m.type == "tool"] == ["approved=yes"]

    first, second = telemetry.spans("execute_tool approve")
    for span in (first, second):
        _assert_not_failed(span)
    assert [e.name for e in first.events] == ["langgraph.interrupt"]
    for attributes in _tool_duration_attributes(telemetry, "approve"):
        assert "error.type" not in attributes
    for span in telemetry.spans():
        _assert_not_failed(span)


# GraphDrained and NodeCancelledError are recent (LangGraph 1.2); older versions have neither.
GraphDrained = getattr(errors, "GraphDrained", None)
NodeCancelledError = getattr(errors, "NodeCancelledError", asyncio.CancelledError)
SIGNALS = [ParentCommand(Command(graph=Command.PARENT, goto="supervisor"))]
if GraphDrained is not None:
    SIGNALS.append(GraphDrained("shutdown"))


@pytest.mark.parametrize("signal", SIGNALS, ids=lambda signal: type(signal).__name__)
def test_tool_handing_off_or_drained_is_not_an_error(telemetry: TelemetryCapture, signal: Exception) -> None:
    @tool
    def hand_off(parcel: int) -> str:
        """Hand the conversation to another agent."""
        raise signal

    with pytest.raises(type(signal)) as raised:
        hand_off.invoke({"parcel": 1})

    assert raised.value is signal
    _assert_not_failed(telemetry.span("execute_tool hand_off"))
    [attributes] = _tool_duration_attributes(telemetry, "hand_off")
    assert "error.type" not in attributes


def test_handoff_from_a_subgraph_called_by_a_tool_is_not_an_error(telemetry: TelemetryCapture) -> None:
    def hop(state: State) -> Command:
        return Command(graph=Command.PARENT, goto="after", update={"answer": "handed off"})

    inner = StateGraph(State)
    inner.add_node("hop", hop)
    inner.add_edge(START, "hop")
    inner_graph = inner.compile(name="inner")

    @tool
    def transfer(parcel: int) -> str:
        """Transfer to the inner team."""
        inner_graph.invoke({"x": parcel})
        return "unreachable"

    def call_tool(state: State) -> State:
        transfer.invoke({"parcel": state["x"]})
        return {"x": -1}

    outer = StateGraph(State)
    outer.add_node("call", call_tool)
    outer.add_node("after", lambda state: {"x": state["x"] + 1})
    outer.add_edge(START, "call")
    outer.add_edge("after", END)

    result = outer.compile(name="outer").invoke({"x": 1})
    assert (result["answer"], result["x"]) == ("handed off", 2)  # handed off to "after"

    _assert_not_failed(telemetry.span("execute_tool transfer"))
    [attributes] = _tool_duration_attributes(telemetry, "transfer")
    assert "error.type" not in attributes


def _racing_graph(slow_started: asyncio.Event, fast: Any) -> Any:
    async def slow(state: State) -> State:
        slow_started.set()
        await asyncio.sleep(30)
        return {"items": ["slow"]}

    builder = StateGraph(State)
    builder.add_node("slow", slow)
    builder.add_node("fast", fast)
    builder.add_edge(START, "slow")
    builder.add_edge(START, "fast")
    builder.add_edge("slow", END)
    builder.add_edge("fast", END)
    return builder.compile(name="race")


async def test_sibling_cancelled_when_the_consumer_stops_is_not_an_error(
    telemetry: TelemetryCapture, open_spans: OpenSpans
) -> None:
    slow_started = asyncio.Event()

    async def fast(state: State) -> State:
        await slow_started.wait()
        return {"items": ["fast"]}

    stream = _racing_graph(slow_started, fast).astream({"x": 1}, stream_mode="updates")
    async for chunk in stream:
        assert chunk == {"fast": {"items": ["fast"]}}
        break
    await stream.aclose()

    slow = telemetry.span("slow")
    _assert_not_failed(slow)
    root = telemetry.span("invoke_workflow race")
    _assert_not_failed(root)
    assert root.attributes["langgraph.stream.abandoned"] is True
    assert open_spans.names() == []


async def test_node_raising_cancelled_error_itself_is_a_failure(telemetry: TelemetryCapture) -> None:
    async def gives_up(state: State) -> State:
        raise asyncio.CancelledError("gave up")

    builder = StateGraph(State)
    builder.add_node("gives_up", gives_up)
    builder.add_edge(START, "gives_up")
    graph = builder.compile(name="quitter")

    with pytest.raises((NodeCancelledError, asyncio.CancelledError)):
        await graph.ainvoke({"x": 1})

    node = telemetry.span("gives_up")
    assert node.status.status_code is StatusCode.ERROR
    assert telemetry.span("invoke_workflow quitter").status.status_code is StatusCode.ERROR
