"""Token cost: agentotel.usage.cost_usd on chat spans and run roots, the agentotel.gen_ai.usage.cost counter."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph.graph import END, START, MessagesState, StateGraph

import agentotel
from agentotel.testing import capture_telemetry
from tests.instrumentation.langgraph.fakes import ToolCallingChatModel, lookup_parcel
from tests.support.agents import build_agent

# The fake model reports 11 input tokens (3 of them read from the cache) and 7 output tokens per call,
# and answers as "fake-gpt-2026-01-01": the dated name finds the "fake-gpt" price.
PRICES = {"fake-gpt": {"input": 1.0, "output": 2.0, "cached_input": 0.5}}
PER_CALL = (8 * 1.0 + 3 * 0.5 + 7 * 2.0) / 1e6
QUESTION = {"messages": [("user", "What is parcel 42?")]}


def react_agent(model: Any = None, name: str = "landuse") -> Any:
    return build_agent(model or ToolCallingChatModel(), [lookup_parcel], name=name)


def test_chat_spans_the_root_and_the_counter_carry_the_cost() -> None:
    with capture_telemetry(prices=PRICES) as telemetry:
        react_agent().invoke(QUESTION)

    chats = telemetry.spans("chat fake-gpt")
    assert len(chats) == 2
    for chat in chats:
        assert chat.attributes["agentotel.usage.cost_usd"] == pytest.approx(PER_CALL)
    root = telemetry.span("invoke_agent landuse")
    assert root.attributes["agentotel.usage.cost_usd"] == pytest.approx(2 * PER_CALL)
    [point] = telemetry.metric_points("agentotel.gen_ai.usage.cost")
    assert point.value == pytest.approx(2 * PER_CALL)
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "fake-gpt",
        "gen_ai.response.model": "fake-gpt-2026-01-01",
    }
    assert telemetry.metrics()["agentotel.gen_ai.usage.cost"].unit == "USD"
    for span in telemetry.spans():
        if span.name not in ("chat fake-gpt", "invoke_agent landuse"):
            assert "agentotel.usage.cost_usd" not in span.attributes, span.name


def test_no_price_no_cost_attribute_and_no_counter() -> None:
    with capture_telemetry() as telemetry:  # the bundled table has no "fake-gpt"
        react_agent().invoke(QUESTION)
    assert all("agentotel.usage.cost_usd" not in span.attributes for span in telemetry.spans())
    assert telemetry.metric_points("agentotel.gen_ai.usage.cost") == []


def test_no_usage_no_cost() -> None:
    class Silent(ToolCallingChatModel):
        def _respond(self, messages: Any) -> Any:
            message = super()._respond(messages)
            message.usage_metadata = None
            return message

    with capture_telemetry(prices=PRICES) as telemetry:
        react_agent(Silent()).invoke(QUESTION)
    assert all("agentotel.usage.cost_usd" not in span.attributes for span in telemetry.spans())


def test_a_bundled_price_is_used_for_a_hosted_model_name() -> None:
    model = ToolCallingChatModel(model="gpt-4o-mini", tool_name=None)
    with capture_telemetry() as telemetry:
        model.invoke("hello")
    # 8 uncached + 3 cached input tokens, 7 output tokens at 0.15 / 0.075 / 0.60 USD per 1M.
    expected = (8 * 0.15 + 3 * 0.075 + 7 * 0.60) / 1e6
    assert telemetry.span("chat gpt-4o-mini").attributes["agentotel.usage.cost_usd"] == pytest.approx(expected)


def test_nested_runs_each_carry_the_sum_of_the_calls_inside() -> None:
    inner_agent = react_agent(name="inner")

    def delegate(state: MessagesState) -> dict[str, Any]:
        inner_agent.invoke(QUESTION)
        ToolCallingChatModel(tool_name=None).invoke("summarise")
        return {}

    builder = StateGraph(MessagesState)
    builder.add_node("delegate", delegate)
    builder.add_edge(START, "delegate")
    builder.add_edge("delegate", END)
    outer = builder.compile(name="outer")

    with capture_telemetry(prices=PRICES) as telemetry:
        with agentotel.workflow(name="request"):
            outer.invoke(QUESTION)
    assert telemetry.span("invoke_agent inner").attributes["agentotel.usage.cost_usd"] == pytest.approx(2 * PER_CALL)
    assert telemetry.span("invoke_workflow outer").attributes["agentotel.usage.cost_usd"] == pytest.approx(3 * PER_CALL)
    assert telemetry.span("invoke_workflow request").attributes["agentotel.usage.cost_usd"] == pytest.approx(
        3 * PER_CALL
    )


def test_streamed_and_async_runs_are_priced() -> None:
    with capture_telemetry(prices=PRICES) as telemetry:
        list(react_agent(name="streamed").stream(QUESTION, stream_mode="values"))
        asyncio.run(react_agent(name="async").ainvoke(QUESTION))
    for name in ("invoke_agent streamed", "invoke_agent async"):
        assert telemetry.span(name).attributes["agentotel.usage.cost_usd"] == pytest.approx(2 * PER_CALL)


def test_parallel_calls_in_threads_add_up_exactly() -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = ToolCallingChatModel(tool_name=None)
    with capture_telemetry(prices=PRICES) as telemetry:

        @agentotel.agent(name="fan-out")
        def fan_out() -> None:
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda _: model.invoke("hi"), range(40)))

        fan_out()
    assert telemetry.span("invoke_agent fan-out").attributes["agentotel.usage.cost_usd"] == pytest.approx(40 * PER_CALL)
