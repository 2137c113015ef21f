"""Functional API: an ``@entrypoint`` is its run's root span and its ``@task`` spans nest directly under it."""

from __future__ import annotations

import asyncio

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import entrypoint, task
from langgraph.types import Command, interrupt
from opentelemetry.trace import StatusCode

from agentotel.testing import TelemetryCapture


@task
def double(x: int) -> int:
    return x * 2


@task
async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


TREE = """\
invoke_workflow {name} [INTERNAL]
  {task} [INTERNAL]
  {task} [INTERNAL]"""


def test_entrypoint_is_the_root_and_tasks_nest_under_it(telemetry: TelemetryCapture) -> None:
    @entrypoint(checkpointer=InMemorySaver())
    def totals(x: int) -> int:
        return sum(future.result() for future in [double(x), double(x + 1)])

    assert totals.invoke(3, {"configurable": {"thread_id": "f-1"}}) == 14
    assert list(totals.stream(3, {"configurable": {"thread_id": "f-2"}}))[-1] == {"totals": 14}

    trees = [telemetry.tree(root) for root in telemetry.roots()]
    assert trees == [TREE.format(name="totals", task="double")] * 2
    root = telemetry.roots()[0]
    assert root.attributes["gen_ai.workflow.name"] == "totals"
    assert root.attributes["gen_ai.conversation.id"] == "f-1"


async def test_async_entrypoint(telemetry: TelemetryCapture) -> None:
    @entrypoint()
    async def atotals(x: int) -> int:
        return sum(await asyncio.gather(adouble(x), adouble(x + 1)))

    assert await atotals.ainvoke(3) == 14

    assert telemetry.tree() == TREE.format(name="atotals", task="adouble")


def test_entrypoint_error_marks_the_run(telemetry: TelemetryCapture) -> None:
    @entrypoint()
    def broken(x: int) -> int:
        double(x).result()
        raise ValueError("no parcel")

    with pytest.raises(ValueError, match="no parcel"):
        broken.invoke(1)

    root = telemetry.span("invoke_workflow broken")
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["error.type"] == "ValueError"
    assert [s.name for s in telemetry.children(root)] == ["double"]


def test_entrypoint_interrupt_and_resume(telemetry: TelemetryCapture) -> None:
    @entrypoint(checkpointer=InMemorySaver())
    def approve(x: int) -> str:
        value = double(x).result()
        return f"{value}:{interrupt('ok?')}"

    config = {"configurable": {"thread_id": "f-approve"}}
    approve.invoke(1, config)
    assert approve.invoke(Command(resume="yes"), config) == "2:yes"

    first, second = telemetry.roots()
    assert first.name == second.name == "invoke_workflow approve"
    assert [e.name for e in first.events] == ["langgraph.interrupt"]
    assert second.attributes["langgraph.resumed"] is True
    assert first.status.status_code is second.status.status_code is StatusCode.UNSET


def test_run_name_still_wins_and_graph_nodes_keep_their_spans(telemetry: TelemetryCapture) -> None:
    @entrypoint()
    def named(x: int) -> int:
        return double(x).result()

    named.with_config(run_name="nightly").invoke(2)

    assert telemetry.tree() == "invoke_workflow nightly [INTERNAL]\n  double [INTERNAL]"
