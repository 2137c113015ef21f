"""LangChain v1 agents (``langchain.agents.create_agent``), local model: one root; model, tool, middleware spans.

How middleware shows: ``before_model``/``after_model``/``before_agent``/``after_agent`` hooks are
graph nodes of their own, so each run of one is a node span named ``{Middleware}.{hook}``;
``wrap_model_call``/``wrap_tool_call`` run inside the ``model``/``tools`` node, so every model
call they make (a retry, a fallback model) is its own chat span under that node, and a tool
call they let through is the ``execute_tool`` span. Nothing of the middleware's own state or
arguments is recorded.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("langchain.agents")

from langchain.agents import create_agent  # noqa: E402
from langchain.agents.middleware import (  # noqa: E402
    ModelFallbackMiddleware,
    after_model,
    before_model,
    wrap_model_call,
    wrap_tool_call,
)
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

import agentotel  # noqa: E402
from agentotel.testing import TelemetryCapture, capture_telemetry  # noqa: E402
from tests.instrumentation.langgraph.fakes import FailingChatModel, ToolCallingChatModel, lookup_parcel  # noqa: E402
from tests.support.agents import build_react_agent  # noqa: E402

QUESTION = {"messages": [("user", "What is parcel 42?")]}
TREE = """\
invoke_agent landuse [INTERNAL]
  model [INTERNAL]
    chat fake-gpt [CLIENT]
  tools [INTERNAL]
    execute_tool lookup_parcel [INTERNAL]
  model [INTERNAL]
    chat fake-gpt [CLIENT]"""


def test_one_invoke_agent_root_with_model_and_tool_spans(telemetry: TelemetryCapture) -> None:
    agent = create_agent(ToolCallingChatModel(), [lookup_parcel], name="landuse")
    result = agent.invoke(QUESTION, {"configurable": {"thread_id": "conv-9"}})

    assert result["messages"][-1].content == "Parcel 42 is farmland."
    assert telemetry.tree() == TREE
    [root] = telemetry.roots()
    assert root.kind is SpanKind.INTERNAL
    assert dict(root.attributes) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "landuse",
        "gen_ai.conversation.id": "conv-9",
    }
    assert telemetry.span("execute_tool lookup_parcel").attributes["gen_ai.tool.call.id"] == "call_1"
    [point] = telemetry.metric_points("gen_ai.invoke_agent.duration")
    assert dict(point.attributes) == {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "landuse"}
    assert [p.count for p in telemetry.metric_points("gen_ai.client.operation.duration")] == [2]


def test_async_and_streamed_runs_have_the_same_shape(telemetry: TelemetryCapture) -> None:
    agent = create_agent(ToolCallingChatModel(), [lookup_parcel], name="landuse")
    asyncio.run(agent.ainvoke(QUESTION))
    assert telemetry.tree() == TREE
    telemetry.clear()
    list(agent.stream(QUESTION, stream_mode="updates"))
    assert telemetry.tree() == TREE


def test_node_middleware_hooks_are_node_spans(telemetry: TelemetryCapture) -> None:
    seen: list[str] = []

    @before_model
    def check_budget(state: Any, runtime: Any) -> None:
        seen.append("before")

    @after_model
    def audit(state: Any, runtime: Any) -> None:
        seen.append("after")

    agent = create_agent(ToolCallingChatModel(), [lookup_parcel], name="landuse", middleware=[check_budget, audit])
    agent.invoke(QUESTION)

    assert seen == ["before", "after", "before", "after"]
    assert (
        telemetry.tree()
        == """\
invoke_agent landuse [INTERNAL]
  check_budget.before_model [INTERNAL]
  model [INTERNAL]
    chat fake-gpt [CLIENT]
  audit.after_model [INTERNAL]
  tools [INTERNAL]
    execute_tool lookup_parcel [INTERNAL]
  check_budget.before_model [INTERNAL]
  model [INTERNAL]
    chat fake-gpt [CLIENT]
  audit.after_model [INTERNAL]"""
    )
    hook = telemetry.spans("check_budget.before_model")[0]
    assert hook.attributes["langgraph.node"] == "check_budget.before_model"


def test_wrapping_middleware_calls_are_spans_under_their_node(telemetry: TelemetryCapture) -> None:
    @wrap_model_call
    def retry_once(request: Any, handler: Any) -> Any:
        handler(request)  # a first try whose answer the middleware throws away
        return handler(request)

    @wrap_tool_call
    def audited_tool(request: Any, handler: Any) -> Any:
        return handler(request)

    agent = create_agent(ToolCallingChatModel(), [lookup_parcel], name="landuse", middleware=[retry_once, audited_tool])
    agent.invoke(QUESTION)

    model_nodes = telemetry.spans("model")
    assert len(model_nodes) == 2
    for node in model_nodes:
        assert [child.name for child in telemetry.children(node)] == ["chat fake-gpt", "chat fake-gpt"]
    [tool] = telemetry.spans("execute_tool lookup_parcel")
    assert telemetry.children(telemetry.span("tools")) == [tool]


def test_a_fallback_model_after_a_failure(telemetry: TelemetryCapture) -> None:
    failing = FailingChatModel(model="primary-gpt")
    agent = create_agent(
        failing, [lookup_parcel], name="landuse", middleware=[ModelFallbackMiddleware(ToolCallingChatModel())]
    )
    result = agent.invoke(QUESTION)

    assert result["messages"][-1].content == "Parcel 42 is farmland."
    failed = telemetry.spans("chat primary-gpt")
    assert failed and all(span.status.status_code is StatusCode.ERROR for span in failed)
    assert len(telemetry.spans("chat fake-gpt")) == 2
    root = telemetry.span("invoke_agent landuse")
    assert root.status.status_code is StatusCode.UNSET  # the run recovered


def test_a_failing_agent_marks_its_root_and_raises_unchanged(telemetry: TelemetryCapture) -> None:
    agent = create_agent(FailingChatModel(), [lookup_parcel], name="landuse")
    with pytest.raises(RuntimeError, match="model down"):
        agent.invoke(QUESTION)
    root = telemetry.span("invoke_agent landuse")
    assert root.status.status_code is StatusCode.ERROR and root.attributes["error.type"] == "RuntimeError"


def test_session_user_and_cost_on_a_create_agent_run() -> None:
    prices = {"fake-gpt": {"input": 1.0, "output": 2.0, "cached_input": 0.5}}
    with capture_telemetry(prices=prices) as telemetry:
        agent = create_agent(ToolCallingChatModel(), [lookup_parcel], name="landuse")
        with agentotel.attributes(tenant="acme"):
            agent.invoke(QUESTION, {"metadata": {"session_id": "s-1", "user_id": "u-1"}})
    for span in telemetry.spans():
        assert (span.attributes["session.id"], span.attributes["user.id"], span.attributes["tenant"]) == (
            "s-1",
            "u-1",
            "acme",
        )
    assert telemetry.span("invoke_agent landuse").attributes["agentotel.usage.cost_usd"] == pytest.approx(47e-6)


def test_the_deprecated_create_react_agent_still_gives_the_same_spans(telemetry: TelemetryCapture) -> None:
    build_react_agent(ToolCallingChatModel(), [lookup_parcel], name="landuse").invoke(QUESTION)
    assert telemetry.tree() == TREE.replace("  model [", "  agent [")
