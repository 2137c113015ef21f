"""Chat calls that LangChain streams behind ``invoke`` (messages stream mode, ``astream_events``) are streaming."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph import START, MessagesState, StateGraph

from agentotel.testing import TelemetryCapture
from tests.instrumentation.langgraph.fakes import ToolCallingChatModel

QUESTION = {"messages": [("user", "What is parcel 42?")]}
TTFC = "gen_ai.client.operation.time_to_first_chunk"


def _answer_graph(model: Any) -> Any:
    def agent(state: MessagesState) -> MessagesState:
        return {"messages": [model.invoke(state["messages"])]}

    async def aagent(state: MessagesState) -> MessagesState:
        return {"messages": [await model.ainvoke(state["messages"])]}

    sync = StateGraph(MessagesState)
    sync.add_node("agent", agent)
    sync.add_edge(START, "agent")
    asynchronous = StateGraph(MessagesState)
    asynchronous.add_node("agent", aagent)
    asynchronous.add_edge(START, "agent")
    return sync.compile(name="answer"), asynchronous.compile(name="answer")


def _model() -> ToolCallingChatModel:
    return ToolCallingChatModel(tool_name=None, answer="Parcel 42 is farmland on the hill.")


def _assert_streamed(telemetry: TelemetryCapture) -> None:
    span = telemetry.span("chat fake-gpt")
    assert span.attributes["gen_ai.request.stream"] is True
    ttfc = span.attributes["gen_ai.response.time_to_first_chunk"]
    assert 0 <= ttfc <= (span.end_time - span.start_time) / 1e9
    [point] = telemetry.metric_points(TTFC)
    assert point.count == 1
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "fake-gpt",
    }
    assert span.attributes["gen_ai.usage.output_tokens"] == 7  # usage still read from the streamed result


def test_messages_stream_mode_streams_the_chat_call(telemetry: TelemetryCapture) -> None:
    graph, _ = _answer_graph(_model())
    tokens = [chunk.content for chunk, _meta in graph.stream(QUESTION, stream_mode="messages")]

    assert len(tokens) > 1
    _assert_streamed(telemetry)


async def test_async_messages_stream_mode_streams_the_chat_call(telemetry: TelemetryCapture) -> None:
    _, graph = _answer_graph(_model())
    tokens = [chunk.content async for chunk, _meta in graph.astream(QUESTION, stream_mode="messages")]

    assert len(tokens) > 1
    _assert_streamed(telemetry)


@pytest.mark.parametrize("use_async_node", [False, True], ids=["sync_node", "async_node"])
async def test_astream_events_streams_the_chat_call(telemetry: TelemetryCapture, use_async_node: bool) -> None:
    graph = _answer_graph(_model())[use_async_node]
    events = [event["event"] async for event in graph.astream_events(QUESTION, version="v2")]

    assert events.count("on_chat_model_stream") > 1
    _assert_streamed(telemetry)


def test_plain_invoke_inside_a_graph_is_not_streaming(telemetry: TelemetryCapture) -> None:
    graph, _ = _answer_graph(_model())
    graph.invoke(QUESTION)
    list(graph.stream(QUESTION, stream_mode="updates"))

    for span in telemetry.spans("chat fake-gpt"):
        assert span.attributes["gen_ai.request.stream"] is False
        assert "gen_ai.response.time_to_first_chunk" not in span.attributes
    assert not telemetry.metric_points(TTFC)
