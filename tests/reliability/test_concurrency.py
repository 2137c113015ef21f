"""Guarantee 5, concurrency: 16 threads and 1000 asyncio tasks at once, no deadlock, exact counts, no cross-talk.

Every thread and every task works inside its own root span on the instrumented
paths (DuckDB, LangGraph, cachetools) and the shared components (one Cache, one
CircuitBreaker, one LoadBalancer, one RateLimiter). Every wait has a timeout.
Afterwards the counts are exact (one load per key, every call counted, nothing
in flight) and every span sits in the trace of the worker that caused it.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import cachetools
import duckdb
import pytest
from opentelemetry import trace as trace_api

import agentotel
from agentotel import semconv
from agentotel.testing import TelemetryCapture, capture_telemetry
from tests.reliability.conftest import scaled

THREADS = 16
PER_THREAD = scaled(25, 250)
TASKS = 1000
KEYS = 10
TIMEOUT_S = 60.0


class Shared:
    """The components every worker uses, and the loader-call counts."""

    def __init__(self, capture: TelemetryCapture) -> None:
        self.tracer = capture.tracer_provider.get_tracer("app")
        self.cache = agentotel.Cache("shared", max_entries=1000)
        self.breaker = agentotel.CircuitBreaker("shared", minimum_calls=5)
        self.balancer = agentotel.LoadBalancer("shared", ["a", "b", "c"], strategy="least_requests")
        self.limiter = agentotel.RateLimiter("shared", requests_per_minute=10**9)
        self.loads: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.con = duckdb.connect()
        self.con.execute("CREATE TABLE t AS SELECT range AS i FROM range(100)")

    def loader(self, key: str) -> Any:
        def load() -> str:
            with self.lock:
                self.loads[key] += 1
            return key.upper()

        return load

    def async_loader(self, key: str) -> Any:
        async def load() -> str:
            await asyncio.sleep(0.001)
            with self.lock:
                self.loads[key] += 1
            return key.upper()

        return load


def thread_worker(shared: Shared, index: int, errors: list[BaseException]) -> None:
    from tests.instrumentation.langgraph.graphs import linear_graph

    tracer = shared.tracer
    cursor = shared.con.cursor()
    flow = linear_graph(f"flow_{index}")

    @cachetools.cached(cachetools.LRUCache(maxsize=8))
    def square(n: int) -> int:
        return n * n

    try:
        with tracer.start_as_current_span(f"thread {index}"):
            for n in range(PER_THREAD):
                assert cursor.execute(f"SELECT count(*) AS w{index} FROM t WHERE i < {n}").fetchall() == [
                    (min(n, 100),)
                ]
                key = f"k{n % KEYS}"
                assert shared.cache.get_or_load(key, shared.loader(key)) == key.upper()
                assert shared.breaker.call(lambda n=n: n) == n
                assert shared.balancer.call(lambda instance: instance) in ("a", "b", "c")
                shared.limiter.acquire(timeout=TIMEOUT_S)
                assert square(n % 4) == (n % 4) ** 2
            assert flow.invoke({"x": index})["x"] >= index
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)


async def task_worker(shared: Shared, index: int, graph: Any) -> None:
    with shared.tracer.start_as_current_span(f"task {index}"):
        key = f"a{index % KEYS}"
        assert await shared.cache.aget_or_load(key, shared.async_loader(key)) == key.upper()

        async def call() -> int:
            await asyncio.sleep(0)
            return index

        assert await shared.breaker.acall(call) == index
        assert await shared.balancer.acall(lambda instance: asyncio.sleep(0, instance)) in ("a", "b", "c")
        await shared.limiter.aacquire(timeout=TIMEOUT_S)
        result = await graph.ainvoke({"x": index % 50}, {"run_name": f"run_{index}"})
        assert result["x"] >= index % 50


def run_tasks(shared: Shared, errors: list[BaseException]) -> None:
    from tests.instrumentation.langgraph.graphs import async_graph

    async def main() -> None:
        graph = async_graph()
        await asyncio.wait_for(asyncio.gather(*(task_worker(shared, k, graph) for k in range(TASKS))), TIMEOUT_S)

    try:
        asyncio.run(main())
    except BaseException as exc:
        errors.append(exc)


def _root_of(spans_by_id: dict[int, Any], span: Any) -> Any:
    while span.parent is not None and span.parent.span_id in spans_by_id:
        span = spans_by_id[span.parent.span_id]
    return span


def test_threads_and_tasks_at_once(telemetry_capture: TelemetryCapture) -> None:
    capture = telemetry_capture
    shared = Shared(capture)
    errors: list[BaseException] = []
    workers = [threading.Thread(target=thread_worker, args=(shared, i, errors), daemon=True) for i in range(THREADS)]
    workers.append(threading.Thread(target=run_tasks, args=(shared, errors), daemon=True))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(TIMEOUT_S)
    assert not [w.name for w in workers if w.is_alive()], "deadlock: workers still running"
    assert not errors, errors[:3]

    # Exact invariants.
    calls = THREADS * PER_THREAD + TASKS
    assert shared.loads == Counter({f"k{n}": 1 for n in range(KEYS)} | {f"a{n}": 1 for n in range(KEYS)})
    assert shared.breaker.counters()["calls"]["success"] == calls
    assert all(shared.balancer.inflight(instance) == 0 for instance in ("a", "b", "c"))
    assert capture.metric_value(semconv.LB_PICKS) == calls
    assert shared.limiter.health_snapshot()["admitted"] == calls

    # No cross-talk: every span is in the trace of the worker that caused it.
    spans = capture.spans()
    by_id = {s.context.span_id: s for s in spans}
    roots = {s.name: s for s in spans if s.name.startswith(("thread ", "task "))}
    assert len(roots) == THREADS + TASKS
    queries = [s for s in spans if " AS w" in s.attributes.get(semconv.DB_QUERY_TEXT, "")]
    assert len(queries) == THREADS * PER_THREAD
    for span in queries:
        text = span.attributes[semconv.DB_QUERY_TEXT]
        owner = text.split(" AS w")[1].split(" ")[0]
        assert _root_of(by_id, span).name == f"thread {owner}"
        assert span.context.trace_id == roots[f"thread {owner}"].context.trace_id
    runs = [s for s in spans if s.name.startswith("invoke_workflow ")]
    assert len(runs) == THREADS + TASKS
    for run in runs:
        name = run.name.split(" ", 1)[1]
        owner = f"thread {name[5:]}" if name.startswith("flow_") else f"task {name[4:]}"
        assert run.parent is not None and run.parent.span_id == roots[owner].context.span_id
    for node in (s for s in spans if s.attributes.get(semconv.LANGGRAPH_NODE)):
        assert _root_of(by_id, node).name.startswith(("thread ", "task "))
        assert node.context.trace_id == by_id[node.parent.span_id].context.trace_id


def test_instrument_while_threads_query() -> None:
    """Instrumenting and uninstrumenting while 16 threads query never breaks a query."""
    stop = threading.Event()
    errors: list[BaseException] = []
    con = duckdb.connect()

    def query(index: int) -> None:
        cursor = con.cursor()
        try:
            n = 0
            while not stop.is_set():
                n += 1
                assert cursor.execute(f"SELECT {n} + {index}").fetchall() == [(n + index,)]
                assert cursor.sql(f"SELECT {n}").fetchall() == [(n,)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=query, args=(i,), daemon=True) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for _ in range(scaled(10, 200)):
        with capture_telemetry():
            pass
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert not [t for t in threads if t.is_alive()]
    assert not errors, errors[:3]


@pytest.fixture
def telemetry_capture() -> Iterator[TelemetryCapture]:
    """agentotel into an in-memory capture, which also receives the application's own spans."""
    from tests.instrumentation.langgraph import graphs

    with capture_telemetry() as capture:
        graphs.user_tracer_provider[0] = capture.tracer_provider
        yield capture
        graphs.user_tracer_provider[0] = None


def test_shared_agent_context_manager_across_threads(telemetry_capture: TelemetryCapture) -> None:
    """One ``agentotel.agent(...)`` object used as a context manager by many threads at once."""
    capture = telemetry_capture
    tracer = capture.tracer_provider.get_tracer("app")
    shared_agent = agentotel.agent(name="shared")
    entered = threading.Barrier(THREADS, timeout=TIMEOUT_S)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with shared_agent as span:
                entered.wait()  # every thread is inside before any leaves
                tracer.start_span(f"step {index}").end()
                own = span.get_span_context().span_id
            assert trace_api.get_current_span().get_span_context().is_valid is False  # nothing left attached
            with tracer.start_as_current_span(f"after {index}") as after:
                assert after.parent is None or after.parent.span_id != own
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert not [t for t in threads if t.is_alive()] and not errors, errors[:3]
    spans = capture.spans()
    agents = {s.context.span_id: s for s in spans if s.name == "invoke_agent shared"}
    assert len(agents) == THREADS
    for step in (s for s in spans if s.name.startswith("step ")):
        assert step.parent is not None and step.parent.span_id in agents
    assert len({s.parent.span_id for s in spans if s.name.startswith("step ")}) == THREADS
    assert [s for s in spans if s.name.startswith("after ") and s.parent is not None] == []


def test_statement_cache_evictions_under_contention() -> None:
    """16 threads of distinct texts through a tiny statement LRU: every query traced once, the LRU bounded."""
    from agentotel.instrumentation.duckdb import DuckDBInstrumentor
    from tests.support.telemetry import traced_duckdb

    per_thread = scaled(150, 1500)
    errors: list[BaseException] = []
    with traced_duckdb(sql_cache_size=8) as capture:
        con = duckdb.connect()

        def query(index: int) -> None:
            cursor = con.cursor()
            try:
                for n in range(per_thread):
                    text = f"SELECT {n} AS t{index}_{n % 40}"
                    assert cursor.execute(text).fetchall() == [(n,)]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=query, args=(i,), daemon=True) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT_S)
        assert not [t for t in threads if t.is_alive()] and not errors, errors[:3]
        assert len(capture.spans()) == THREADS * per_thread
        assert len(DuckDBInstrumentor()._tracer._prepared) <= 8


async def test_cancelled_tasks_leak_nothing(telemetry_capture: TelemetryCapture) -> None:
    """1000 tasks, every other one cancelled mid-call: no lease, flight or open span is left behind."""
    shared = Shared(telemetry_capture)
    gate = asyncio.Event()

    async def slow(instance: str) -> str:
        await gate.wait()
        return instance

    async def load() -> str:
        await gate.wait()
        return "loaded"

    async def work(index: int) -> Any:
        with shared.tracer.start_as_current_span(f"task {index}"):
            if index % 2:
                return await shared.balancer.acall(slow)
            return await shared.cache.aget_or_load(f"c{index % 7}", load)

    tasks = [asyncio.create_task(work(k)) for k in range(TASKS)]
    await asyncio.sleep(0.05)
    for task in tasks[::3]:
        task.cancel()
    gate.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), TIMEOUT_S)
    cancelled = sum(isinstance(r, asyncio.CancelledError) for r in results)
    assert cancelled == len(tasks[::3])  # both the balancer and the cache paths
    assert all(r in ("a", "b", "c", "loaded") for r in results if not isinstance(r, BaseException))
    assert all(shared.balancer.inflight(instance) == 0 for instance in ("a", "b", "c"))
    assert not shared.cache._flights
    roots = [s for s in telemetry_capture.spans() if s.name.startswith("task ")]
    assert len(roots) == TASKS  # every span ended, cancelled ones included
