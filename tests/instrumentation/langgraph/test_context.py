"""Spans opened inside nodes and tools (DuckDB queries, the user's own) nest under them, in threads and tasks."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import duckdb
import pytest
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from agentotel.testing import TelemetryCapture
from tests.instrumentation.langgraph.graphs import user_span

pytest.importorskip("agentotel.instrumentation.duckdb")


class State(TypedDict, total=False):
    parcel: int
    uses: Annotated[list, operator.add]


@pytest.fixture
def database() -> Any:
    con = duckdb.connect()
    con.execute("CREATE TABLE parcels (id INTEGER, land_use VARCHAR)")
    con.execute("INSERT INTO parcels VALUES (1, 'farmland'), (2, 'forest'), (3, 'urban')")
    yield con
    con.close()


def _query(con: Any, parcel: int) -> str:
    cursor = con.cursor()  # one cursor per thread, as DuckDB wants
    try:
        return cursor.execute("SELECT land_use FROM parcels WHERE id = ?", [parcel]).fetchone()[0]
    finally:
        cursor.close()


def test_duckdb_query_in_parallel_sync_nodes_nests_under_each_node(telemetry: TelemetryCapture, database: Any) -> None:
    def fan_out(state: State) -> list[Send]:
        return [Send("classify", {"parcel": p}) for p in (1, 2, 3)]

    def classify(state: State) -> State:  # runs in LangGraph's thread pool (three at once)
        return {"uses": [_query(database, state["parcel"])]}

    builder = StateGraph(State)
    builder.add_node("start", lambda state: {})
    builder.add_node("classify", classify)
    builder.add_edge(START, "start")
    builder.add_conditional_edges("start", fan_out, ["classify"])
    builder.add_edge("classify", END)
    telemetry.clear()

    result = builder.compile(name="survey").invoke({"parcel": 0})

    assert sorted(result["uses"]) == ["farmland", "forest", "urban"]
    assert telemetry.tree() == (
        "invoke_workflow survey [INTERNAL]\n"
        "  start [INTERNAL]\n"
        "  classify [INTERNAL]\n"
        "    SELECT parcels [CLIENT]\n"
        "  classify [INTERNAL]\n"
        "    SELECT parcels [CLIENT]\n"
        "  classify [INTERNAL]\n"
        "    SELECT parcels [CLIENT]"
    )
    assert {s.attributes["db.system.name"] for s in telemetry.spans("SELECT parcels")} == {"duckdb"}


def test_duckdb_query_in_a_single_sync_node(telemetry: TelemetryCapture, database: Any) -> None:
    builder = StateGraph(State)
    builder.add_node("lookup", lambda state: {"uses": [_query(database, state["parcel"])]})
    builder.add_edge(START, "lookup")
    builder.add_edge("lookup", END)
    telemetry.clear()

    builder.compile(name="single").invoke({"parcel": 2})

    assert telemetry.tree() == ("invoke_workflow single [INTERNAL]\n  lookup [INTERNAL]\n    SELECT parcels [CLIENT]")


def test_tool_spans_nest_duckdb_and_user_spans(telemetry: TelemetryCapture, database: Any) -> None:
    @tool
    def land_use(parcel: int) -> str:
        """Land use of a parcel."""
        user_span("tool work")
        return _query(database, parcel)

    telemetry.clear()
    message = land_use.invoke({"name": "land_use", "args": {"parcel": 3}, "id": "call_9", "type": "tool_call"})

    assert message.content == "urban"
    assert telemetry.tree() == ("execute_tool land_use [INTERNAL]\n  tool work [INTERNAL]\n  SELECT parcels [CLIENT]")


async def test_async_node_tasks_nest_their_own_tasks(telemetry: TelemetryCapture) -> None:
    async def gather_children(state: State) -> State:
        async def child(i: int) -> int:
            await asyncio.sleep(0)
            user_span(f"child {i}")
            return i

        return {"uses": await asyncio.gather(*(asyncio.create_task(child(i)) for i in range(2)))}

    builder = StateGraph(State)
    builder.add_node("gather", gather_children)
    builder.add_edge(START, "gather")
    builder.add_edge("gather", END)

    await builder.compile(name="tasks").ainvoke({"parcel": 0})

    assert telemetry.tree() == (
        "invoke_workflow tasks [INTERNAL]\n  gather [INTERNAL]\n    child 0 [INTERNAL]\n    child 1 [INTERNAL]"
    )
