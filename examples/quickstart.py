"""Quickstart: one import, then DuckDB queries and LangGraph runs are traced (OTEL_TRACES_EXPORTER=console)."""

import agentotel.auto  # noqa: F401  first import: sets up the SDK from OTEL_* variables, instruments all

import duckdb
from langgraph.graph import START, MessagesState, StateGraph


def ask_duckdb(state: MessagesState) -> dict:
    answer = duckdb.sql("SELECT 6 * 7").fetchall()[0][0]  # pyright: ignore[reportOptionalMemberAccess]
    return {"messages": [("ai", f"The answer is {answer}")]}


builder = StateGraph(MessagesState).add_node(ask_duckdb).add_edge(START, "ask_duckdb")
graph = builder.compile(name="quickstart")
print(graph.invoke({"messages": [("user", "What is 6 x 7?")]})["messages"][-1].content)  # pyright: ignore[reportArgumentType]
