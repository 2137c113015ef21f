"""Spans opened in the application's own threads nest under the span current where the work was handed over."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypedDict

import duckdb
import pytest
from langgraph.graph import END, START, StateGraph

from agentotel.instrumentation import _threads
from agentotel.instrumentation.threading import ThreadContextInstrumentor
from agentotel.testing import TelemetryCapture, capture_telemetry


class State(TypedDict):
    answer: int


def _query() -> int:
    return duckdb.connect().execute("SELECT 41 + 1").fetchall()[0][0]


def in_executor() -> int:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_query).result()


def in_thread() -> int:
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(_query()))
    worker.start()
    worker.join()
    return result[0]


class _OwnThread(threading.Thread):
    """A thread class that overrides run(), as applications often write them."""

    def __init__(self) -> None:
        super().__init__()
        self.result = 0

    def run(self) -> None:
        self.result = _query()


def in_thread_subclass() -> int:
    worker = _OwnThread()
    worker.start()
    worker.join()
    return worker.result


async def in_to_thread() -> int:
    return await asyncio.to_thread(_query)


async def in_run_in_executor() -> int:
    return await asyncio.get_running_loop().run_in_executor(None, _query)


def _graph(work: Callable[[], Any]) -> Any:
    if asyncio.iscoroutinefunction(work):

        async def node(state: State) -> State:  # pyright: ignore[reportRedeclaration]
            return {"answer": await work()}

    else:

        def node(state: State) -> State:  # type: ignore[misc]
            return {"answer": work()}

    graph = StateGraph(State)
    graph.add_node("work", node)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile(name="threads")


def _run(work: Callable[[], Any]) -> int:
    graph = _graph(work)
    if asyncio.iscoroutinefunction(work):
        return asyncio.run(graph.ainvoke({"answer": 0}))["answer"]
    return graph.invoke({"answer": 0})["answer"]


CASES = [in_executor, in_thread, in_thread_subclass, in_to_thread, in_run_in_executor]


@pytest.mark.parametrize("work", CASES, ids=[case.__name__ for case in CASES])
def test_query_in_own_thread_nests_under_the_node(telemetry: TelemetryCapture, work: Callable[[], Any]) -> None:
    assert _run(work) == 42
    node = telemetry.span("work")
    query = telemetry.span("SELECT")
    assert query.parent is not None and query.parent.span_id == node.context.span_id
    assert query.context.trace_id == node.context.trace_id
    assert len(telemetry.roots()) == 1


def test_switched_off_with_disabled_instrumentations() -> None:
    with capture_telemetry(disabled_instrumentations={"threading"}) as telemetry:
        assert _run(in_thread) == 42
        assert telemetry.span("SELECT").parent is None  # an orphan: nothing carried the context
        assert not _threads.installed()


def test_uninstrument_restores_the_standard_library() -> None:
    originals = (
        vars(ThreadPoolExecutor)["submit"],
        vars(threading.Thread)["start"],
        vars(threading.Thread).get("_bootstrap_inner"),
    )
    with capture_telemetry():
        assert vars(ThreadPoolExecutor)["submit"] is not originals[0]
    assert (
        vars(ThreadPoolExecutor)["submit"],
        vars(threading.Thread)["start"],
        vars(threading.Thread).get("_bootstrap_inner"),
    ) == originals


def test_nothing_wrapped_without_a_context(telemetry: TelemetryCapture) -> None:
    seen: list[Any] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(lambda: 7).result() == 7
        pool.submit(lambda: seen.append(threading.current_thread())).result()
    assert telemetry.spans() == [] and len(seen) == 1


def test_the_instrumentor_for_opentelemetry_instrument(providers: TelemetryCapture) -> None:
    instrumentor = ThreadContextInstrumentor()
    instrumentor.instrument()
    try:
        assert _threads.installed()
        tracer = providers.tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("parent"):
            worker = threading.Thread(target=lambda: tracer.start_span("child").end())
            worker.start()
            worker.join()
        assert providers.span("child").parent.span_id == providers.span("parent").context.span_id
    finally:
        instrumentor.uninstrument()
    assert not _threads.installed()
