"""A run's metadata and tags: session.id and user.id on every span of the run, allow-listed keys, tags on the root."""

from __future__ import annotations

import asyncio

import duckdb
from langgraph.graph import END, START, StateGraph

import agentotel
from agentotel.testing import TelemetryCapture, capture_telemetry
from tests.instrumentation.langgraph.graphs import State, async_graph, linear_graph, parent_graph

METADATA = {"session_id": "s-42", "user_id": "u-7", "tenant": "acme", "email": "a@example.com"}


def _query_node(state: State) -> State:
    duckdb.connect().execute("SELECT 1").fetchall()
    return {"x": state["x"] + 1}


def _query_graph() -> object:
    builder = StateGraph(State)
    builder.add_node("query", _query_node)
    builder.add_edge(START, "query")
    builder.add_edge("query", END)
    return builder.compile(name="querying")


def test_metadata_session_and_user_go_on_every_span_of_the_run(telemetry: TelemetryCapture) -> None:
    _query_graph().invoke({"x": 1}, {"metadata": METADATA, "configurable": {"thread_id": "t-1"}})

    spans = telemetry.spans()
    assert {span.name for span in spans} == {"invoke_workflow querying", "query", "SELECT"}
    for span in spans:
        assert span.attributes["session.id"] == "s-42", span.name
        assert span.attributes["user.id"] == "u-7", span.name
        assert "tenant" not in span.attributes and "email" not in span.attributes  # not allow-listed
    root = telemetry.span("invoke_workflow querying")
    assert root.attributes["gen_ai.conversation.id"] == "t-1"  # thread_id stays the conversation id


def test_allow_listed_metadata_keys_are_recorded_under_their_own_names() -> None:
    with capture_telemetry(langgraph_metadata_keys={"tenant", "absent"}) as telemetry:
        linear_graph("listed").invoke({"x": 1}, {"metadata": METADATA})
    for span in telemetry.spans():
        assert span.attributes["tenant"] == "acme"
        assert "email" not in span.attributes and "absent" not in span.attributes


def test_tags_go_on_the_root_of_a_top_level_run_only(telemetry: TelemetryCapture) -> None:
    graph = parent_graph().with_config(tags=["nightly"])
    graph.invoke({"x": 1}, {"tags": ["prod", "nightly", 7]})

    assert telemetry.span("invoke_workflow outer").attributes["langgraph.tags"] == ("nightly", "prod")
    assert "langgraph.tags" not in telemetry.span("invoke_workflow inner").attributes
    assert all("langgraph.tags" not in s.attributes for s in telemetry.spans() if s.name != "invoke_workflow outer")


def test_no_metadata_no_tags_no_attributes(telemetry: TelemetryCapture) -> None:
    linear_graph("plain").invoke({"x": 1})
    for span in telemetry.spans():
        assert not {"session.id", "user.id", "langgraph.tags"} & set(span.attributes), span.name


def test_subgraph_spans_carry_the_outer_run_s_metadata(telemetry: TelemetryCapture) -> None:
    parent_graph().invoke({"x": 1}, {"metadata": {"session_id": "s-sub"}})
    assert {span.attributes.get("session.id") for span in telemetry.spans() if span.name != "user work"} == {"s-sub"}


def test_metadata_inside_an_attributes_block_wins_where_it_speaks(telemetry: TelemetryCapture) -> None:
    with agentotel.attributes(session_id="from-block", user_id="block-user", tenant="acme"):
        linear_graph("mixed").invoke({"x": 1}, {"metadata": {"session_id": "from-metadata"}})
    root = telemetry.span("invoke_workflow mixed")
    assert root.attributes["session.id"] == "from-metadata"
    assert root.attributes["user.id"] == "block-user"
    assert root.attributes["tenant"] == "acme"


def test_async_runs_and_graph_config_metadata(telemetry: TelemetryCapture) -> None:
    graph = async_graph().with_config(metadata={"user_id": 1234})
    asyncio.run(graph.ainvoke({"x": 1}, {"metadata": {"session_id": "s-async"}}))
    for span in telemetry.spans():
        if span.name == "user work":  # the application's own span: not ours
            assert "session.id" not in span.attributes
            continue
        assert span.attributes["session.id"] == "s-async"
        assert span.attributes["user.id"] == "1234"


def test_bad_metadata_values_are_left_out_with_a_warning(telemetry: TelemetryCapture, caplog) -> None:
    linear_graph("bad").invoke({"x": 1}, {"metadata": {"session_id": {"not": "an id"}, "user_id": "u-ok"}})
    root = telemetry.span("invoke_workflow bad")
    assert "session.id" not in root.attributes and root.attributes["user.id"] == "u-ok"
    assert any("session_id" in r.getMessage() for r in caplog.records)
