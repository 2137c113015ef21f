"""Tool spans: one per execution whichever entry point is used; handled tool errors; async tools."""

from __future__ import annotations

import pytest
from langchain_core.tools import ToolException, tool
from opentelemetry.trace import StatusCode

from agentotel.testing import TelemetryCapture
from tests.instrumentation.langgraph.fakes import lookup_parcel

CALL = {"name": "lookup_parcel", "args": {"parcel": 7}, "id": "call_7", "type": "tool_call"}


def test_invoke_run_and_tool_call_each_give_one_span(telemetry: TelemetryCapture) -> None:
    lookup_parcel.invoke({"parcel": 1})
    lookup_parcel.run({"parcel": 2})
    message = lookup_parcel.invoke(CALL)

    assert message.tool_call_id == "call_7"
    spans = telemetry.spans("execute_tool lookup_parcel")
    assert len(spans) == 3
    assert [s.attributes.get("gen_ai.tool.call.id") for s in spans] == [None, None, "call_7"]
    [point] = telemetry.metric_points("gen_ai.execute_tool.duration")
    assert point.count == 3


async def test_ainvoke_of_a_sync_tool_is_one_span(telemetry: TelemetryCapture) -> None:
    await lookup_parcel.ainvoke(CALL)

    [span] = telemetry.spans()
    assert span.name == "execute_tool lookup_parcel"
    assert span.attributes["gen_ai.tool.call.id"] == "call_7"


async def test_async_tool(telemetry: TelemetryCapture) -> None:
    @tool
    async def area(parcel: int) -> float:
        """Area of a parcel in hectares."""
        return 1.5

    assert await area.ainvoke({"parcel": 1}) == 1.5
    assert telemetry.span("execute_tool area").attributes["gen_ai.tool.type"] == "function"


def test_raising_tool_marks_error_and_keeps_the_exception(telemetry: TelemetryCapture) -> None:
    class Closed(Exception):
        pass

    @tool
    def closed(parcel: int) -> str:
        """Always fails."""
        raise Closed("registry closed")

    with pytest.raises(Closed, match="registry closed"):
        closed.invoke({"parcel": 1})

    span = telemetry.span("execute_tool closed")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"].endswith("Closed")
    [point] = telemetry.metric_points("gen_ai.execute_tool.duration")
    assert point.attributes["error.type"] == span.attributes["error.type"]


def test_handled_tool_error_is_marked_on_the_span(telemetry: TelemetryCapture) -> None:
    @tool
    def flaky(parcel: int) -> str:
        """Fails in a way the tool reports to the model."""
        raise ToolException("try later")

    flaky.handle_tool_error = True

    message = flaky.invoke({**CALL, "name": "flaky"})

    assert message.status == "error"
    span = telemetry.span("execute_tool flaky")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "tool_error"
