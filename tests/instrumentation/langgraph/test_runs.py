"""Graph runs and nodes: exact span trees for invoke/ainvoke/stream/astream/batch, subgraphs, fan-out, errors."""

from __future__ import annotations

import asyncio
import gc

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from agentotel.testing import TelemetryCapture
from tests.instrumentation.langgraph.graphs import (
    ParcelError,
    async_graph,
    failing_graph,
    fanout_graph,
    linear_graph,
    parent_graph,
)

LINEAR_TREE = """\
invoke_workflow flow [INTERNAL]
  plan [INTERNAL]
  act [INTERNAL]
    user work [INTERNAL]"""


def _workflow_points(telemetry: TelemetryCapture, name: str) -> list:
    return telemetry.metric_points("gen_ai.invoke_workflow.duration", **{"gen_ai.workflow.name": name})


def test_invoke_gives_one_root_with_node_spans(telemetry: TelemetryCapture) -> None:
    result = linear_graph("flow").invoke({"x": 1}, {"configurable": {"thread_id": "t-7"}})

    assert result["x"] == 20
    assert telemetry.tree() == LINEAR_TREE
    root = telemetry.span("invoke_workflow flow")
    assert dict(root.attributes) == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": "flow",
        "gen_ai.conversation.id": "t-7",
    }
    assert root.status.status_code is StatusCode.UNSET
    plan = telemetry.span("plan")
    assert plan.attributes["langgraph.node"] == "plan"
    assert plan.attributes["langgraph.step"] == 1
    assert plan.attributes["langgraph.checkpoint_ns"].startswith("plan:")
    assert telemetry.span("act").attributes["langgraph.step"] == 2
    [point] = _workflow_points(telemetry, "flow")
    assert point.count == 1
    assert dict(point.attributes) == {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "flow"}


def test_default_graph_name_and_run_name(telemetry: TelemetryCapture) -> None:
    linear_graph().invoke({"x": 200})
    linear_graph().invoke({"x": 200}, {"run_name": "renamed"})

    assert [s.name for s in telemetry.roots()] == ["invoke_workflow LangGraph", "invoke_workflow renamed"]
    assert "gen_ai.conversation.id" not in telemetry.roots()[0].attributes


async def test_ainvoke_nests_async_nodes(telemetry: TelemetryCapture) -> None:
    assert (await async_graph().ainvoke({"x": 1}))["x"] == 20

    assert telemetry.tree() == LINEAR_TREE.replace(" flow", " async_flow")


def test_stream_gives_one_root(telemetry: TelemetryCapture) -> None:
    chunks = list(linear_graph("flow").stream({"x": 1}, stream_mode="updates"))

    assert chunks == [{"plan": {"x": 2}}, {"act": {"x": 20}}]
    assert telemetry.tree() == LINEAR_TREE
    assert "langgraph.stream.abandoned" not in telemetry.span("invoke_workflow flow").attributes


async def test_astream_gives_one_root(telemetry: TelemetryCapture) -> None:
    chunks = [chunk async for chunk in async_graph().astream({"x": 1}, stream_mode="values")]

    assert chunks[-1]["x"] == 20
    assert telemetry.tree() == LINEAR_TREE.replace(" flow", " async_flow")


async def test_astream_events_gives_one_root(telemetry: TelemetryCapture) -> None:
    events = [event async for event in async_graph().astream_events({"x": 1}, version="v2")]

    assert events
    assert telemetry.tree() == LINEAR_TREE.replace(" flow", " async_flow")


def test_batch_gives_one_root_per_input(telemetry: TelemetryCapture) -> None:
    assert [r["x"] for r in linear_graph("flow").batch([{"x": 1}, {"x": 200}])] == [20, 201]

    roots = telemetry.roots()
    assert [r.name for r in roots] == ["invoke_workflow flow"] * 2
    assert sorted(len(telemetry.children(r)) for r in roots) == [1, 2]
    assert _workflow_points(telemetry, "flow")[0].count == 2


async def test_abatch_gives_one_root_per_input(telemetry: TelemetryCapture) -> None:
    await async_graph().abatch([{"x": 1}, {"x": 2}])

    assert [r.name for r in telemetry.roots()] == ["invoke_workflow async_flow"] * 2


def test_send_fan_out_branches_are_siblings(telemetry: TelemetryCapture) -> None:
    assert fanout_graph().invoke({"x": 0})["answer"] == "0,1,2"

    assert telemetry.tree() == (
        "invoke_workflow fanout [INTERNAL]\n"
        "  split [INTERNAL]\n"
        "  work [INTERNAL]\n"
        "  work [INTERNAL]\n"
        "  work [INTERNAL]\n"
        "  join [INTERNAL]"
    )
    assert {s.attributes["langgraph.step"] for s in telemetry.spans("work")} == {2}


def test_subgraph_is_nested_in_the_same_trace(telemetry: TelemetryCapture) -> None:
    assert parent_graph().invoke({"x": 1})["x"] == 30

    assert telemetry.tree() == (
        "invoke_workflow outer [INTERNAL]\n"
        "  prepare [INTERNAL]\n"
        "  sub [INTERNAL]\n"
        "    invoke_workflow inner [INTERNAL]\n"
        "      plan [INTERNAL]\n"
        "      act [INTERNAL]\n"
        "        user work [INTERNAL]"
    )
    assert len({s.context.trace_id for s in telemetry.spans()}) == 1
    inner_plan = telemetry.span("plan")
    assert "sub:" in inner_plan.attributes["langgraph.checkpoint_ns"]
    assert len(_workflow_points(telemetry, "inner")) == 1


def test_node_error_marks_node_and_root_and_keeps_the_exception(telemetry: TelemetryCapture) -> None:
    with pytest.raises(ParcelError, match="bad parcel") as raised:
        failing_graph().invoke({"x": 1})

    assert type(raised.value) is ParcelError
    assert telemetry.tree() == "invoke_workflow failing [INTERNAL]\n  plan [INTERNAL]\n  boom [INTERNAL]"
    error_type = "tests.instrumentation.langgraph.graphs.ParcelError"
    for name in ("boom", "invoke_workflow failing"):
        span = telemetry.span(name)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == error_type
        assert [e.name for e in span.events] == ["exception"]
    assert telemetry.span("plan").status.status_code is StatusCode.UNSET
    [point] = _workflow_points(telemetry, "failing")
    assert point.attributes["error.type"] == error_type


async def test_async_node_error(telemetry: TelemetryCapture) -> None:
    with pytest.raises(ParcelError):
        await failing_graph().ainvoke({"x": 1})

    assert telemetry.span("invoke_workflow failing").status.status_code is StatusCode.ERROR
    assert telemetry.span("boom").attributes["error.type"].endswith("ParcelError")


async def test_concurrent_ainvoke_give_separate_traces(telemetry: TelemetryCapture) -> None:
    graph = async_graph()

    results = await asyncio.gather(
        *(graph.ainvoke({"x": i}, {"configurable": {"thread_id": f"c{i}"}}) for i in range(5))
    )

    assert [r["x"] for r in results] == [(i + 1) * 10 for i in range(5)]
    roots = telemetry.roots()
    assert len(roots) == 5
    assert len({r.context.trace_id for r in roots}) == 5
    for root in roots:
        in_trace = [s for s in telemetry.spans() if s.context.trace_id == root.context.trace_id]
        assert len(in_trace) == 4  # root, plan, act, user work
        assert telemetry.tree(root) == LINEAR_TREE.replace(" flow", " async_flow")
    assert {r.attributes["gen_ai.conversation.id"] for r in roots} == {f"c{i}" for i in range(5)}


def test_spans_kinds_are_internal(telemetry: TelemetryCapture) -> None:
    linear_graph("flow").invoke({"x": 1})

    assert {s.kind for s in telemetry.spans()} == {SpanKind.INTERNAL}


# ------------------------------------------------------------------ streams stopped early
def _assert_abandoned(telemetry: TelemetryCapture, name: str) -> None:
    root = telemetry.span(name)
    assert root.attributes["langgraph.stream.abandoned"] is True
    assert root.status.status_code is StatusCode.UNSET
    assert not root.events
    assert root.parent is None


def test_stream_break_after_one_chunk_ends_the_root_as_abandoned(telemetry: TelemetryCapture) -> None:
    stream = linear_graph("flow").stream({"x": 1}, stream_mode="updates")
    for chunk in stream:
        assert chunk == {"plan": {"x": 2}}
        break
    del stream
    gc.collect()

    _assert_abandoned(telemetry, "invoke_workflow flow")
    assert [s.name for s in telemetry.children(telemetry.span("invoke_workflow flow"))] == ["plan"]


def test_stream_close_ends_the_root_as_abandoned(telemetry: TelemetryCapture) -> None:
    stream = linear_graph("flow").stream({"x": 1}, stream_mode="updates")
    next(stream)
    stream.close()

    _assert_abandoned(telemetry, "invoke_workflow flow")


def test_stream_closed_in_another_context_logs_nothing(telemetry: TelemetryCapture) -> None:
    import contextvars
    import threading

    stream = linear_graph("flow").stream({"x": 1}, stream_mode="updates")
    next(stream)
    thread = threading.Thread(target=contextvars.Context().run, args=(stream.close,))
    thread.start()
    thread.join(timeout=10)

    _assert_abandoned(telemetry, "invoke_workflow flow")


def test_stream_never_iterated_is_abandoned_when_collected(telemetry: TelemetryCapture) -> None:
    linear_graph("flow").stream({"x": 1})
    gc.collect()

    _assert_abandoned(telemetry, "invoke_workflow flow")


async def test_astream_aclose_ends_the_root_as_abandoned(telemetry: TelemetryCapture) -> None:
    stream = async_graph().astream({"x": 1}, stream_mode="updates")
    assert await stream.__anext__() == {"plan": {"x": 2}}
    await stream.aclose()

    _assert_abandoned(telemetry, "invoke_workflow async_flow")


async def test_astream_break_and_collect_ends_the_root_as_abandoned(telemetry: TelemetryCapture) -> None:
    async def consume_one() -> None:
        async for _ in async_graph().astream({"x": 1}, stream_mode="updates"):
            break

    await asyncio.wait_for(consume_one(), timeout=10)
    gc.collect()
    await asyncio.sleep(0)

    _assert_abandoned(telemetry, "invoke_workflow async_flow")


async def test_async_subgraph_is_nested(telemetry: TelemetryCapture) -> None:
    from langgraph.graph import END, START, StateGraph

    from tests.instrumentation.langgraph.graphs import State

    builder = StateGraph(State)
    builder.add_node("prepare", lambda state: {"x": state["x"] + 1})
    builder.add_node("sub", async_graph())
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "sub")
    builder.add_edge("sub", END)

    async for _ in builder.compile(name="outer").astream({"x": 1}, stream_mode="messages"):
        pass

    assert telemetry.tree() == (
        "invoke_workflow outer [INTERNAL]\n"
        "  prepare [INTERNAL]\n"
        "  sub [INTERNAL]\n"
        "    invoke_workflow async_flow [INTERNAL]\n"
        "      plan [INTERNAL]\n"
        "      act [INTERNAL]\n"
        "        user work [INTERNAL]"
    )


def test_with_config_run_name_names_the_run(telemetry: TelemetryCapture) -> None:
    graph = linear_graph("flow").with_config(run_name="nightly")
    graph.invoke({"x": 200})
    list(graph.stream({"x": 200}))
    graph.invoke({"x": 200}, {"run_name": "explicit"})  # the call's own config wins, as in LangGraph

    assert [s.name for s in telemetry.roots()] == [
        "invoke_workflow nightly",
        "invoke_workflow nightly",
        "invoke_workflow explicit",
    ]
    assert telemetry.roots()[0].attributes["gen_ai.workflow.name"] == "nightly"


async def test_streams_are_generators_as_without_instrumentation(telemetry: TelemetryCapture) -> None:
    import inspect
    import types

    graph = linear_graph("flow")
    stream = graph.stream({"x": 1})
    astream = graph.astream({"x": 1})

    assert inspect.isgenerator(stream) and isinstance(stream, types.GeneratorType)
    assert inspect.isasyncgen(astream) and isinstance(astream, types.AsyncGeneratorType)
    assert list(stream)[-1] == {"act": {"x": 20}}
    assert [chunk async for chunk in astream][-1] == {"act": {"x": 20}}
    assert [s.name for s in telemetry.roots()] == ["invoke_workflow flow", "invoke_workflow flow"]
