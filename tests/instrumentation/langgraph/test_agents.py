"""Agent graphs (``create_agent``, hand-made ReAct loops): span tree, attributes, metrics, content capture."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from opentelemetry.trace import SpanKind

from agentotel.testing import TelemetryCapture, capture_telemetry
from tests.instrumentation.langgraph.fakes import ToolCallingChatModel, lookup_parcel
from tests.support.agents import MODEL_NODE, build_agent

REACT_TREE = f"""\
invoke_agent landuse [INTERNAL]
  {MODEL_NODE} [INTERNAL]
    chat fake-gpt [CLIENT]
  tools [INTERNAL]
    execute_tool lookup_parcel [INTERNAL]
  {MODEL_NODE} [INTERNAL]
    chat fake-gpt [CLIENT]"""

QUESTION = {"messages": [("user", "What is parcel 42?")]}


def react_agent(model: Any = None) -> Any:
    return build_agent(model or ToolCallingChatModel(), [lookup_parcel], name="landuse")


def test_agent_tree_attributes_and_metrics(telemetry: TelemetryCapture) -> None:
    result = react_agent().invoke(QUESTION, {"configurable": {"thread_id": "conv-1"}})

    assert result["messages"][-1].content == "Parcel 42 is farmland."
    assert telemetry.tree() == REACT_TREE
    root = telemetry.span("invoke_agent landuse")
    assert dict(root.attributes) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "landuse",
        "gen_ai.conversation.id": "conv-1",
    }
    first_chat = telemetry.spans("chat fake-gpt")[0]
    assert first_chat.kind is SpanKind.CLIENT
    assert dict(first_chat.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "fake-gpt",
        "gen_ai.request.stream": False,
        "gen_ai.request.temperature": 0.0,
        "gen_ai.response.model": "fake-gpt-2026-01-01",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.finish_reasons": ("tool_calls",),
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.usage.cache_read.input_tokens": 3,
    }
    assert telemetry.spans("chat fake-gpt")[1].attributes["gen_ai.response.finish_reasons"] == ("stop",)
    tool = telemetry.span("execute_tool lookup_parcel")
    assert dict(tool.attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup_parcel",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.type": "function",
    }

    chat_attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "fake-gpt",
        "gen_ai.response.model": "fake-gpt-2026-01-01",
    }
    [duration] = telemetry.metric_points("gen_ai.client.operation.duration")
    assert dict(duration.attributes) == chat_attrs and duration.count == 2
    tokens = {p.attributes["gen_ai.token.type"]: p for p in telemetry.metric_points("gen_ai.client.token.usage")}
    assert set(tokens) == {"input", "output"}
    assert (tokens["input"].sum, tokens["input"].count) == (22, 2)
    assert (tokens["output"].sum, tokens["output"].count) == (14, 2)
    assert dict(tokens["input"].attributes) == {**chat_attrs, "gen_ai.token.type": "input"}
    [tool_duration] = telemetry.metric_points("gen_ai.execute_tool.duration")
    assert dict(tool_duration.attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup_parcel",
    }
    [agent_duration] = telemetry.metric_points("gen_ai.invoke_agent.duration")
    assert dict(agent_duration.attributes) == {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "landuse"}
    assert list(telemetry.metrics()["gen_ai.client.operation.duration"].data.data_points[0].explicit_bounds)[:3] == [
        0.01,
        0.02,
        0.04,
    ]
    assert not telemetry.metric_points("gen_ai.invoke_workflow.duration")


async def test_agent_async(telemetry: TelemetryCapture) -> None:
    await react_agent().ainvoke(QUESTION)

    assert telemetry.tree() == REACT_TREE


def test_streamed_agent_with_messages_mode(telemetry: TelemetryCapture) -> None:
    chunks = list(react_agent().stream(QUESTION, stream_mode="messages"))

    assert chunks
    assert telemetry.tree() == REACT_TREE


def test_hand_made_react_loop_is_an_agent(telemetry: TelemetryCapture) -> None:
    model = ToolCallingChatModel().bind_tools([lookup_parcel])
    builder = StateGraph(MessagesState)
    builder.add_node("llm", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_node("tools", ToolNode([lookup_parcel]))
    builder.add_edge(START, "llm")
    builder.add_conditional_edges("llm", tools_condition)
    builder.add_edge("tools", "llm")
    builder.add_edge("llm", END)

    builder.compile().invoke(QUESTION)

    assert telemetry.roots()[0].name == "invoke_agent LangGraph"
    assert telemetry.tree().count("execute_tool lookup_parcel") == 1


def test_model_failure_inside_agent(telemetry: TelemetryCapture) -> None:
    from tests.instrumentation.langgraph.fakes import FailingChatModel

    with pytest.raises(RuntimeError, match="model down"):
        react_agent(FailingChatModel()).invoke(QUESTION)

    assert telemetry.tree() == f"invoke_agent landuse [INTERNAL]\n  {MODEL_NODE} [INTERNAL]\n    chat fake-gpt [CLIENT]"
    for span in telemetry.spans():
        assert span.attributes["error.type"] == "RuntimeError"
    [duration] = telemetry.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "RuntimeError"
    assert not telemetry.metric_points("gen_ai.client.token.usage")
    [agent_duration] = telemetry.metric_points("gen_ai.invoke_agent.duration")
    assert agent_duration.attributes["error.type"] == "RuntimeError"


# --------------------------------------------------------------------------- content capture
CONTENT_KEYS = {
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
}


def test_no_content_by_default(telemetry: TelemetryCapture) -> None:
    react_agent().invoke(QUESTION)

    for span in telemetry.spans():
        assert not CONTENT_KEYS & set(span.attributes)
        assert all(e.name == "exception" for e in span.events)
        assert "42?" not in json.dumps(dict(span.attributes))


def test_content_on_spans_when_asked() -> None:
    with capture_telemetry(capture_message_content="SPAN_ONLY") as telemetry:
        react_agent().invoke({"messages": [("system", "Be brief."), ("user", "What is parcel 42?")]})

    first_chat = telemetry.spans("chat fake-gpt")[0]
    assert json.loads(first_chat.attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(first_chat.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "What is parcel 42?"}]}
    ]
    assert json.loads(first_chat.attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_2", "name": "lookup_parcel", "arguments": {"parcel": 42}}],
            "finish_reason": "tool_calls",
        }
    ]
    second_input = json.loads(telemetry.spans("chat fake-gpt")[1].attributes["gen_ai.input.messages"])
    assert second_input[-1] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call_2", "response": "parcel 42: farmland"}],
    }
    tool = telemetry.span("execute_tool lookup_parcel")
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"parcel": 42}
    assert json.loads(tool.attributes["gen_ai.tool.call.result"]) == "parcel 42: farmland"
    assert not [e for s in telemetry.spans() for e in s.events]


def test_content_as_events_only() -> None:
    with capture_telemetry(capture_message_content="EVENT_ONLY") as telemetry:
        react_agent().invoke(QUESTION)

    chat = telemetry.spans("chat fake-gpt")[0]
    assert not CONTENT_KEYS & set(chat.attributes)
    [event] = chat.events
    assert event.name == "langgraph.chat.content"
    assert set(event.attributes) == {"gen_ai.input.messages", "gen_ai.output.messages"}
    [tool_event] = telemetry.span("execute_tool lookup_parcel").events
    assert tool_event.name == "langgraph.tool.content"
    assert set(tool_event.attributes) == {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}


def test_content_is_capped_and_stays_json() -> None:
    long_question = "x" * 5000
    with capture_telemetry(capture_message_content="true", max_attribute_length=300) as telemetry:
        react_agent().invoke({"messages": [("user", long_question)]})

    value = telemetry.spans("chat fake-gpt")[0].attributes["gen_ai.input.messages"]
    assert len(value) <= 300
    parsed = json.loads(value)
    assert parsed[0]["parts"][0]["content"].endswith("…")
