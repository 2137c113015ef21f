"""agentotel.workflow and agentotel.tool: invoke_workflow and execute_tool spans for hand-written code."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import agentotel
from agentotel.testing import TelemetryCapture, capture_telemetry


class LookupError_(RuntimeError):
    pass


pytestmark = pytest.mark.usefixtures("no_context_errors")


def test_workflow_root_with_agents_and_tools_nested(telemetry: TelemetryCapture) -> None:
    @agentotel.tool(name="lookup", description="Look up a parcel")
    def lookup(parcel: int, tool_call_id: str | None = None) -> str:
        return f"parcel {parcel}"

    @agentotel.agent(name="planner")
    def plan() -> str:
        return lookup(42, tool_call_id="call_7")

    @agentotel.workflow(name="nightly", conversation_id="conv-3")
    def nightly() -> str:
        return plan()

    assert nightly() == "parcel 42"
    assert telemetry.tree() == (
        "invoke_workflow nightly [INTERNAL]\n  invoke_agent planner [INTERNAL]\n    execute_tool lookup [INTERNAL]"
    )
    assert dict(telemetry.span("invoke_workflow nightly").attributes) == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": "nightly",
        "gen_ai.conversation.id": "conv-3",
    }
    tool = telemetry.span("execute_tool lookup")
    assert tool.kind is SpanKind.INTERNAL
    assert dict(tool.attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "Look up a parcel",
        "gen_ai.tool.call.id": "call_7",
    }
    [workflow_point] = telemetry.metric_points("gen_ai.invoke_workflow.duration")
    assert dict(workflow_point.attributes) == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": "nightly",
    }
    [tool_point] = telemetry.metric_points("gen_ai.execute_tool.duration")
    assert dict(tool_point.attributes) == {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"}
    assert "content" not in json.dumps(dict(tool.attributes))  # no arguments or results without opt-in
    assert not tool.events


def test_bare_decorators_use_the_qualified_name(telemetry: TelemetryCapture) -> None:
    @agentotel.workflow
    def pipeline() -> int:
        return search()

    @agentotel.tool
    def search() -> int:
        return 3

    assert pipeline() == 3
    names = {span.name for span in telemetry.spans()}
    assert any(n.startswith("invoke_workflow ") and n.endswith("pipeline") for n in names)
    assert any(n.startswith("execute_tool ") and n.endswith("search") for n in names)


def test_context_managers_and_call_id(telemetry: TelemetryCapture) -> None:
    with agentotel.workflow("etl") as workflow_span:
        workflow_span.set_attribute("app.batch", 9)
        with agentotel.tool("fetch", call_id="call_1") as tool_span:
            tool_span.set_attribute("app.rows", 3)

    async def main() -> None:
        async with agentotel.tool("async-fetch"):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert telemetry.span("invoke_workflow etl").attributes["app.batch"] == 9
    fetch = telemetry.span("execute_tool fetch")
    assert fetch.attributes["gen_ai.tool.call.id"] == "call_1" and fetch.attributes["app.rows"] == 3
    assert fetch.parent.span_id == telemetry.span("invoke_workflow etl").context.span_id
    assert "gen_ai.tool.call.id" not in telemetry.span("execute_tool async-fetch").attributes


def test_failures_are_recorded_and_re_raised_unchanged(telemetry: TelemetryCapture) -> None:
    error = LookupError_("parcel missing")

    @agentotel.tool(name="lookup")
    def lookup() -> None:
        raise error

    @agentotel.workflow(name="flow")
    async def flow() -> None:
        lookup()

    with pytest.raises(LookupError_) as raised:
        asyncio.run(flow())
    assert raised.value is error
    for name in ("execute_tool lookup", "invoke_workflow flow"):
        span = telemetry.span(name)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"].endswith("LookupError_")
    [point] = telemetry.metric_points("gen_ai.execute_tool.duration")
    assert point.attributes["error.type"].endswith("LookupError_")


def test_generators_cover_the_iteration_and_abandon_cleanly(telemetry: TelemetryCapture) -> None:
    @agentotel.tool(name="rows")
    def rows() -> Iterator[int]:
        yield from range(3)

    @agentotel.workflow(name="stream")
    async def stream() -> AsyncIterator[int]:
        for item in range(3):
            yield item

    async def consume() -> list[int]:
        return [item async for item in stream()]

    assert list(rows()) == [0, 1, 2]
    assert asyncio.run(consume()) == [0, 1, 2]
    iterator = rows()
    next(iterator)
    del iterator
    gc.collect()
    spans = telemetry.spans("execute_tool rows")
    assert len(spans) == 2
    assert sorted(bool(s.attributes.get("langgraph.stream.abandoned")) for s in spans) == [False, True]
    assert telemetry.span("invoke_workflow stream").status.status_code is StatusCode.UNSET


def test_tool_content_only_with_capture_on() -> None:
    @agentotel.tool(name="lookup")
    def lookup(parcel: int, *, detail: str = "short") -> dict:
        return {"parcel": parcel, "use": "farmland"}

    class Agent:
        @agentotel.tool(name="method")
        def method(self, query: str) -> str:
            return query.upper()

    with capture_telemetry(capture_message_content="SPAN_AND_EVENT") as telemetry:
        lookup(42, detail="long")
        Agent().method("q")
    span = telemetry.span("execute_tool lookup")
    assert json.loads(span.attributes["gen_ai.tool.call.arguments"]) == {"parcel": 42, "detail": "long"}
    assert json.loads(span.attributes["gen_ai.tool.call.result"]) == {"parcel": 42, "use": "farmland"}
    [event] = span.events
    assert event.name == "langgraph.tool.content"
    assert json.loads(telemetry.span("execute_tool method").attributes["gen_ai.tool.call.arguments"]) == {"query": "q"}


def test_a_langchain_tool_made_from_a_decorated_function_gives_one_span(telemetry: TelemetryCapture) -> None:
    from langchain_core.tools import tool as langchain_tool

    @langchain_tool
    @agentotel.tool(name="lookup_parcel")
    def lookup_parcel(parcel: int) -> str:
        """Look up a parcel."""
        return f"parcel {parcel}"

    assert lookup_parcel.invoke({"parcel": 1}) == "parcel 1"
    assert [s.name for s in telemetry.spans()] == ["execute_tool lookup_parcel"]


def test_nothing_after_uninstrument() -> None:
    @agentotel.tool(name="quiet")
    def quiet() -> int:
        return 1

    with capture_telemetry() as telemetry:
        agentotel.uninstrument()
        assert quiet() == 1
        with agentotel.workflow("quiet"):
            pass
        assert telemetry.spans() == []
