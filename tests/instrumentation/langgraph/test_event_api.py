"""LangGraph's v3 event API (``stream_events`` / ``astream_events`` with ``version="v3"``): one run span, ended."""

from __future__ import annotations

import warnings

import pytest
from opentelemetry.trace import StatusCode

from agentotel.testing import TelemetryCapture
from tests.instrumentation.langgraph.conftest import OpenSpans
from tests.instrumentation.langgraph.graphs import async_graph, failing_graph, linear_graph

pytestmark = [
    pytest.mark.skipif(not hasattr(linear_graph(), "_pregel_stream_v3"), reason="no v3 event API in this LangGraph"),
    pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning"),
]


def _open_now(open_spans: OpenSpans) -> list[str]:
    return sorted(open_spans._open.values())  # without a garbage collection


def test_v3_run_read_to_the_end(telemetry: TelemetryCapture, open_spans: OpenSpans) -> None:
    run = linear_graph("flow").stream_events({"x": 1}, version="v3")

    assert run.output["x"] == 20
    assert _open_now(open_spans) == []
    [root] = telemetry.roots()
    assert root.name == "invoke_workflow flow"
    assert [s.name for s in telemetry.children(root)] == ["plan", "act"]
    assert "langgraph.stream.abandoned" not in root.attributes


def test_v3_run_stopped_early_with_abort_ends_at_once(telemetry: TelemetryCapture, open_spans: OpenSpans) -> None:
    with linear_graph("flow").stream_events({"x": 1}, version="v3") as run:
        for _value in run.values:
            break

    assert _open_now(open_spans) == []
    root = telemetry.span("invoke_workflow flow")
    assert root.attributes["langgraph.stream.abandoned"] is True
    assert root.status.status_code is StatusCode.UNSET


def test_v3_run_dropped_early_ends_when_collected(telemetry: TelemetryCapture, open_spans: OpenSpans) -> None:
    run = linear_graph("flow").stream_events({"x": 1}, version="v3")
    gen = run.interleave("values")
    next(gen)
    gen.close()
    del run, gen

    assert open_spans.names() == []  # after a collection: LangGraph's stream sits in a reference cycle
    assert telemetry.span("invoke_workflow flow").attributes["langgraph.stream.abandoned"] is True


def test_v3_failed_run(telemetry: TelemetryCapture, open_spans: OpenSpans) -> None:
    run = failing_graph().stream_events({"x": 1}, version="v3")
    with pytest.raises(Exception, match="parcel"):
        _ = run.output

    assert _open_now(open_spans) == []
    assert telemetry.span("invoke_workflow failing").status.status_code is StatusCode.ERROR


async def test_async_v3_run_and_abort(telemetry: TelemetryCapture, open_spans: OpenSpans) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = await async_graph().astream_events({"x": 1}, version="v3")
        assert (await run.output())["x"] == 20
        stopped = await async_graph().astream_events({"x": 1}, version="v3")
        async for _value in stopped.values:
            break
        await stopped.abort()

    assert _open_now(open_spans) == []
    first, second = telemetry.roots()
    assert "langgraph.stream.abandoned" not in first.attributes
    assert second.attributes["langgraph.stream.abandoned"] is True
    for span in telemetry.spans():
        assert span.status.status_code is StatusCode.UNSET, span.name
