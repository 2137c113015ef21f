"""Guarantee 4, bounded memory: long runs keep our internal maps bounded, RSS flat, no span left open.

Stated for 100k DuckDB queries with distinct texts, 10k graph runs (with
abandoned streams and errors) and 1M cache operations (``AGENTOTEL_SOAK=1``);
CI runs a tenth of each with the same limits. Spans go to a counting processor
(an in-memory exporter would itself grow), which also proves every started span
was ended. RSS is measured with psutil after a warm-up and a ``gc.collect()``.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import psutil
import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

import agentotel
from agentotel.instrumentation.duckdb import DuckDBInstrumentor
from tests.reliability.conftest import SOAK, scaled

QUERIES = scaled(5_000, 100_000)
GRAPH_RUNS = scaled(500, 10_000)
CACHE_OPS = scaled(100_000, 1_000_000)
#: RSS growth allowed over a whole run (after warm-up), in MiB.
RSS_LIMIT_MIB = {"duckdb": 40, "langgraph": 40, "cache": 30}
#: Where each test writes what it measured (docs/reliability.md quotes these).
MEASURED: dict[str, dict[str, float]] = {}


class SpanCounter(SpanProcessor):
    """Counts started and ended spans; keeps none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = 0
        self.ended = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        with self._lock:
            self.started += 1

    def on_end(self, span: Any) -> None:
        with self._lock:
            self.ended += 1

    @property
    def open(self) -> int:
        return self.started - self.ended


@pytest.fixture
def counted() -> Iterator[SpanCounter]:
    counter = SpanCounter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(counter)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    agentotel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, process_metrics=False)
    yield counter
    agentotel.uninstrument()
    reader.collect()
    tracer_provider.shutdown()
    meter_provider.shutdown()


def rss_mib() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def measure(name: str, warmup: Callable[[], None], work: Callable[[], None], ops: int) -> float:
    warmup()
    before = rss_mib()
    work()
    growth = rss_mib() - before
    MEASURED[name] = {"ops": ops, "rss_growth_mib": round(growth, 1), "limit_mib": RSS_LIMIT_MIB[name]}
    print(f"\n{name}: {ops} operations, RSS growth {growth:.1f} MiB (limit {RSS_LIMIT_MIB[name]} MiB)")
    return growth


def assert_no_leaked_context() -> None:
    assert dict(otel_context.get_current()) == {}


# --------------------------------------------------------------------------- DuckDB
def test_duckdb_distinct_queries(counted: SpanCounter) -> None:
    tracer = DuckDBInstrumentor()._tracer
    connections = [duckdb.connect() for _ in range(4)]
    for con in connections:
        con.execute("CREATE TABLE t AS SELECT range AS i FROM range(10)")

    def run(start: int, count: int) -> None:
        for n in range(start, start + count):
            con = connections[n % 4]
            if n % 3 == 0:
                con.execute(f"SELECT i + {n} FROM t WHERE i = {n % 10}").fetchall()
            elif n % 3 == 1:
                con.sql(f"SELECT count(*) AS c{n} FROM t").fetchall()
            else:
                try:
                    con.execute(f"SELECT * FROM missing_{n}")
                except duckdb.CatalogException:
                    pass
            if n % 1000 == 0:  # connections come and go
                duckdb.connect().close()

    growth = measure("duckdb", lambda: run(0, 2_000), lambda: run(2_000, QUERIES), QUERIES)
    assert len(tracer._prepared) <= tracer.settings.sql_cache_size
    assert len(tracer.connections) <= len(connections) + 2
    assert counted.open == 0 and counted.ended >= QUERIES
    assert growth < RSS_LIMIT_MIB["duckdb"]
    assert_no_leaked_context()


# --------------------------------------------------------------------------- LangGraph
def test_langgraph_runs_with_abandoned_streams_and_errors(counted: SpanCounter) -> None:
    from agentotel.instrumentation.langgraph import _runs
    from agentotel.instrumentation.langgraph._resume import INTERRUPTED_RUNS
    from tests.instrumentation.langgraph.fakes import FailingChatModel, ToolCallingChatModel, lookup_parcel
    from tests.instrumentation.langgraph.graphs import failing_graph, linear_graph
    from tests.support.agents import build_agent

    agent = build_agent(ToolCallingChatModel(), [lookup_parcel], name="landuse")
    broken = build_agent(FailingChatModel(), [lookup_parcel], name="broken")
    prompt = {"messages": [("user", "parcel 42?")]}

    def run(count: int) -> None:
        flow = linear_graph("flow")
        for n in range(count):
            kind = n % 6
            if kind == 0:
                agent.invoke(prompt)
            elif kind == 1:
                for _ in agent.stream(prompt):
                    break  # abandoned stream
            elif kind == 2:
                with pytest.raises(RuntimeError):
                    broken.invoke(prompt)
            elif kind == 3:
                with pytest.raises(ValueError):
                    failing_graph().invoke({"x": n})
            elif kind == 4:
                flow.invoke({"x": n % 50})
            else:

                async def partial() -> None:
                    async for _ in agent.astream(prompt):
                        break

                asyncio.run(partial())
            if n % 200 == 0:
                flow = linear_graph("flow")  # compiled graphs come and go

    growth = measure("langgraph", lambda: run(60), lambda: run(GRAPH_RUNS), GRAPH_RUNS)
    gc.collect()
    assert counted.open == 0, f"{counted.open} spans never ended"
    assert len(_runs._agent_graphs) <= 10
    assert len(INTERRUPTED_RUNS) == 0
    assert growth < RSS_LIMIT_MIB["langgraph"]
    assert_no_leaked_context()


# --------------------------------------------------------------------------- caches
def test_cache_operations(counted: SpanCounter) -> None:
    import cachetools

    from agentotel.instrumentation import cachetools as cachetools_instrumentation

    cache = agentotel.Cache("soak", max_entries=1_000, ttl=30.0)
    plain = cachetools.TTLCache(maxsize=1_000, ttl=30.0)

    @cachetools.cached(cachetools.LRUCache(maxsize=500))
    def square(n: int) -> int:
        return n * n

    def run(start: int, count: int) -> None:
        for n in range(start, start + count, 5):
            key = f"key-{n}"
            cache.set(key, n)
            cache.get(key)
            cache.get_or_load(f"load-{n % 3000}", lambda n=n: n)
            plain[key] = n
            square(n % 2000)

    growth = measure("cache", lambda: run(0, 20_000), lambda: run(20_000, CACHE_OPS), CACHE_OPS)
    assert len(cache._data) <= 1_000 and not cache._flights
    assert len(plain) <= 1_000
    state = cachetools_instrumentation._state
    assert state is not None and len(state.caches) <= 3 and len(state.loads) <= 1
    assert counted.open == 0
    assert growth < RSS_LIMIT_MIB["cache"]
    assert_no_leaked_context()


@pytest.mark.soak
@pytest.mark.skipif(not SOAK, reason="opt in with AGENTOTEL_SOAK=1")
def test_soak_counts_are_the_stated_ones() -> None:
    """Under AGENTOTEL_SOAK=1 the counts above are the ones the guarantee states."""
    assert (QUERIES, GRAPH_RUNS, CACHE_OPS) == (100_000, 10_000, 1_000_000)


def test_dropped_providers_are_not_kept_alive() -> None:
    """Components that report through a provider the application drops do not pin it (nor its data)."""
    import weakref

    def cycle() -> weakref.ref[MeterProvider]:
        provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
        tracer_provider = TracerProvider(shutdown_on_exit=False)
        cache = agentotel.Cache("short", meter_provider=provider, tracer_provider=tracer_provider)
        cache.get_or_load("k", lambda: 1)
        agentotel.CircuitBreaker("short", meter_provider=provider).call(lambda: 1)
        agentotel.LoadBalancer("short", ["a"], meter_provider=provider).call(lambda instance: instance)
        agentotel.RateLimiter("short", requests_per_minute=60, meter_provider=provider).acquire()
        provider.shutdown()
        return weakref.ref(provider)

    refs = [cycle() for _ in range(20)]
    gc.collect()
    assert [ref for ref in refs if ref() is not None] == []
