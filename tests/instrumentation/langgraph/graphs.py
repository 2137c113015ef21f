"""Small real LangGraph graphs used by the tests (nodes, routing, Send fan-out, subgraph, interrupt, failure)."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt
from opentelemetry import trace
from opentelemetry.trace import TracerProvider

#: Where nodes send "user work" spans (the test's capture; set by the ``telemetry`` fixture).
user_tracer_provider: list[TracerProvider | None] = [None]


def user_span(name: str = "user work") -> None:
    """Open and end one span of the application's own, as code inside a node would."""
    trace.get_tracer("tests", tracer_provider=user_tracer_provider[0]).start_span(name).end()


class State(TypedDict, total=False):
    x: int
    items: Annotated[list, operator.add]
    answer: str


def _plan(state: State) -> State:
    return {"x": state["x"] + 1}


def _act(state: State) -> State:
    user_span()
    return {"x": state["x"] * 10}


def _route(state: State) -> str:
    return "act" if state["x"] < 100 else END


def linear_graph(name: str | None = None) -> Any:
    """``plan -> (route) -> act -> END``."""
    builder = StateGraph(State)
    builder.add_node("plan", _plan)
    builder.add_node("act", _act)
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", _route, ["act", END])
    builder.add_edge("act", END)
    return builder.compile(name=name) if name else builder.compile()


async def _aplan(state: State) -> State:
    await asyncio.sleep(0)
    return {"x": state["x"] + 1}


async def _aact(state: State) -> State:
    await asyncio.sleep(0)
    user_span()
    return {"x": state["x"] * 10}


def async_graph() -> Any:
    """The linear graph with async nodes."""
    builder = StateGraph(State)
    builder.add_node("plan", _aplan)
    builder.add_node("act", _aact)
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", _route, ["act", END])
    builder.add_edge("act", END)
    return builder.compile(name="async_flow")


def _split(state: State) -> State:
    return {}


def _fan_out(state: State) -> list[Send]:
    return [Send("work", {"x": i}) for i in range(3)]


def _work(state: State) -> State:
    return {"items": [state["x"]]}


def _join(state: State) -> State:
    return {"answer": ",".join(str(i) for i in sorted(state["items"]))}


def fanout_graph() -> Any:
    """``split -> Send(work) x3 -> join``."""
    builder = StateGraph(State)
    builder.add_node("split", _split)
    builder.add_node("work", _work)
    builder.add_node("join", _join)
    builder.add_edge(START, "split")
    builder.add_conditional_edges("split", _fan_out, ["work"])
    builder.add_edge("work", "join")
    builder.add_edge("join", END)
    return builder.compile(name="fanout")


class ParcelError(ValueError):
    """The user's own exception."""


def _boom(state: State) -> State:
    raise ParcelError("bad parcel")


def failing_graph() -> Any:
    """``plan -> boom`` where ``boom`` raises :class:`ParcelError`."""
    builder = StateGraph(State)
    builder.add_node("plan", _plan)
    builder.add_node("boom", _boom)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "boom")
    builder.add_edge("boom", END)
    return builder.compile(name="failing")


def _ask(state: State) -> State:
    approved = interrupt("approve?")
    return {"answer": f"approved={approved}"}


def interrupt_graph(checkpointer: Any) -> Any:
    """``plan -> ask`` where ``ask`` interrupts until resumed."""
    builder = StateGraph(State)
    builder.add_node("plan", _plan)
    builder.add_node("ask", _ask)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=checkpointer, name="approval")


def parent_graph() -> Any:
    """``prepare -> sub`` where ``sub`` is the compiled linear graph named ``inner``."""
    builder = StateGraph(State)
    builder.add_node("prepare", _plan)
    builder.add_node("sub", linear_graph("inner"))
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "sub")
    builder.add_edge("sub", END)
    return builder.compile(name="outer")
