"""Guarantee 2, never raise from our code: a failure inside agentotel never reaches the application.

Failures are injected into our own hooks (attribute extraction, the SQL
sanitizer, metric recording, the content serializer, span events on the
application's span, the exporter). Each time: the application's call returns
its normal result, exactly one warning is logged however often the failure
repeats, and once the failure is gone the next calls are traced again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import agentotel
from agentotel import _export
from agentotel.testing import TelemetryCapture, capture_telemetry
from tests.reliability.conftest import internal_errors, reset_warning_state
from tests.support.agents import MODEL_NODE
from tests.support.telemetry import traced_duckdb

REPEAT = 5


class Boom(RuntimeError):
    """The failure we inject into our own code."""


def boom(*args: Any, **kwargs: Any) -> Any:
    raise Boom("injected")


def assert_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """At least one internal-error warning, and exactly one per place in our code that failed."""
    errors = internal_errors(caplog.records)
    places = [r.args[0] for r in errors]
    assert errors and len(places) == len(set(places)), places
    assert all(isinstance(r.exc_info[1], Boom) for r in errors), places


# --------------------------------------------------------------------------- DuckDB
@pytest.mark.parametrize(
    "target",
    [
        "agentotel.instrumentation._sql.StatementCache.get",  # the sanitizer / attribute extraction
        "agentotel.instrumentation.duckdb._recorder.DeferredHistogram.record",  # metric recording
        "agentotel._errors.clean_message",  # error message sanitising (every span's exception path)
    ],
)
def test_duckdb_hook_failure_is_contained(
    agentotel_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    with traced_duckdb() as capture:
        con = duckdb.connect()
        with monkeypatch.context() as patch:
            patch.setattr(target, boom)
            for n in range(REPEAT):  # distinct texts: nothing comes from the statement cache
                assert con.execute(f"SELECT {n} + 1").fetchall() == [(n + 1,)]
                assert con.sql(f"SELECT {n} * 2").fetchall() == [(n * 2,)]
                with pytest.raises(duckdb.CatalogException, match="missing_table"):
                    con.execute(f"SELECT {n} FROM missing_table")
        assert_one_warning(agentotel_log)
        if "StatementCache" not in target:  # the spans were still ended and exported, failed queries included
            assert len([s for s in capture.spans() if s.name == "SELECT missing_table"]) == REPEAT
        capture.clear()
        assert con.execute("SELECT 41 + 1").fetchall() == [(42,)]
        assert [s.name for s in capture.spans()] == ["SELECT"]


# --------------------------------------------------------------------------- LangGraph
@pytest.fixture
def react_agent() -> Any:
    from tests.instrumentation.langgraph.fakes import ToolCallingChatModel, lookup_parcel
    from tests.support.agents import build_agent

    return build_agent(ToolCallingChatModel(), [lookup_parcel], name="landuse")


def _ask(agent: Any) -> str:
    return agent.invoke({"messages": [("user", "parcel 42?")]})["messages"][-1].content


@pytest.mark.parametrize(
    "target, options",
    [
        ("agentotel.instrumentation.langgraph._runs._start_run", {}),
        ("agentotel.instrumentation.langgraph._nodes._start_node", {}),
        ("agentotel.instrumentation.langgraph._tools._start_tool", {}),
        ("agentotel.instrumentation.langgraph._chat._start_chat", {}),
        ("agentotel.instrumentation.langgraph._chat.ChatOperation._absorb", {}),
        ("agentotel.instrumentation.langgraph._content.capped_json", {"capture_message_content": "SPAN_ONLY"}),
        ("agentotel.instrumentation.langgraph._tools.ToolOperation.on_result", {}),
        ("agentotel._spanctx.SpanOperation._end", {}),  # duration metric recording of every run/node/tool/chat
    ],
)
def test_langgraph_hook_failure_is_contained(
    agentotel_log: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    react_agent: Any,
    target: str,
    options: dict[str, Any],
) -> None:
    with capture_telemetry(**options) as capture:
        with monkeypatch.context() as patch:
            patch.setattr(target, boom)
            for _ in range(REPEAT):
                assert _ask(react_agent) == "Parcel 42 is farmland."
        assert_one_warning(agentotel_log)
        if target.endswith(("._end", ".capped_json")):  # failures while ending: the spans still end, exported
            names = [s.name for s in capture.spans()]
            assert names.count("chat fake-gpt") == 2 * REPEAT and names.count("invoke_agent landuse") == REPEAT
        capture.clear()
        assert _ask(react_agent) == "Parcel 42 is farmland."
        names = {s.name for s in capture.spans()}
        assert {"invoke_agent landuse", MODEL_NODE, "tools", "execute_tool lookup_parcel", "chat fake-gpt"} <= names


def test_langgraph_failed_span_end_still_ends_the_span(
    agentotel_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, react_agent: Any
) -> None:
    """A failure while ending (content, metric) must not leave the span open: it is still exported."""
    with capture_telemetry(capture_message_content="SPAN_ONLY") as capture:
        monkeypatch.setattr("agentotel.instrumentation.langgraph._content.capped_json", boom)
        assert _ask(react_agent) == "Parcel 42 is farmland."
        names = [s.name for s in capture.spans()]
        assert names.count("chat fake-gpt") == 2
        assert names.count("execute_tool lookup_parcel") == 1


# --------------------------------------------------------------------------- components on a bad span
class HostileSpan(NonRecordingSpan):
    """The application's current span: it says it records, and every write to it raises."""

    def __init__(self) -> None:
        super().__init__(SpanContext(0x1234, 0x5678, is_remote=False, trace_flags=TraceFlags(1)))

    def is_recording(self) -> bool:
        return True

    set_attribute = set_attributes = add_event = record_exception = set_status = update_name = boom


def _component_ops() -> dict[str, Callable[[], Any]]:
    cache = agentotel.Cache("hostile", max_entries=8)
    cache.set("k", 1)
    breaker = agentotel.CircuitBreaker("hostile", minimum_calls=1, window_size=2, open_duration=60.0)
    balancer = agentotel.LoadBalancer("hostile", ["a", "b"], strategy="round_robin")
    limiter = agentotel.RateLimiter("hostile", requests_per_minute=10**9)

    def fail() -> None:
        raise ValueError("the dependency failed")

    def trip() -> str:
        try:
            breaker.call(fail)
        except (ValueError, agentotel.CircuitOpenError):
            pass
        return breaker.state.value

    return {
        "cache.get": lambda: cache.get("k"),
        "cache.get_or_load": lambda: cache.get_or_load("new", lambda: 2) and cache.get_or_load("new", lambda: 3),
        "breaker.transition": trip,
        "balancer.call": lambda: balancer.call(lambda instance: instance in ("a", "b")),
        "limiter.acquire": lambda: limiter.acquire(),
    }


@pytest.mark.parametrize("op", sorted(_component_ops()))
def test_component_survives_a_hostile_current_span(agentotel_log: pytest.LogCaptureFixture, op: str) -> None:
    with capture_telemetry():
        run = _component_ops()[op]
        expected = run() if op != "breaker.transition" else "open"
        reset_warning_state()
        agentotel_log.clear()
        with trace.use_span(HostileSpan(), end_on_exit=False):
            for _ in range(REPEAT):
                assert run() == expected
        writes_to_span = op != "limiter.acquire"  # the rate limiter never touches the current span
        assert len(internal_errors(agentotel_log.records)) == (1 if writes_to_span else 0)


# --------------------------------------------------------------------------- cachetools
def test_cachetools_load_span_failure_is_contained(
    agentotel_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cachetools

    calls = []

    @cachetools.cached(cachetools.LRUCache(64))
    def double(n: int) -> int:
        calls.append(n)
        return 2 * n

    with capture_telemetry() as capture:
        with monkeypatch.context() as patch:
            patch.setattr("agentotel.instrumentation.cachetools._State.count_load", boom)
            assert [double(n) for n in range(REPEAT)] == [0, 2, 4, 6, 8]
        assert calls == list(range(REPEAT))
        assert_one_warning(agentotel_log)
        assert double(100) == 200
        assert [s.name for s in capture.spans()][-1].startswith("cache.load")


# --------------------------------------------------------------------------- exporter
class FailingExporter(SpanExporter):
    """Raises on export until ``healthy`` is set; then keeps what it receives."""

    def __init__(self) -> None:
        self.healthy = threading.Event()
        self.received: list[Any] = []

    def export(self, spans: Any) -> SpanExportResult:
        if not self.healthy.is_set():
            raise ConnectionError("collector unreachable")
        self.received.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


@pytest.fixture
def export_throttle() -> Iterator[_export.ExportLogThrottle]:
    throttle = _export.ExportLogThrottle(interval=3600.0)
    loggers = [logging.getLogger(name) for name in _export.EXPORT_LOGGERS]
    for logger in loggers:
        logger.addFilter(throttle)
    yield throttle
    for logger in loggers:
        logger.removeFilter(throttle)


def test_exporter_failure_never_reaches_the_app(
    agentotel_log: pytest.LogCaptureFixture, export_throttle: _export.ExportLogThrottle
) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    exporter = FailingExporter()
    processor = _export.BoundedBatchSpanProcessor(
        exporter,
        max_queue_size=64,
        max_export_batch_size=8,
        schedule_delay_millis=10_000,
        export_timeout_millis=1000,
        shutdown_timeout_millis=1000,
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    capture = TelemetryCapture()
    agentotel.instrument(tracer_provider=provider, meter_provider=capture.meter_provider)
    try:
        con = duckdb.connect()
        for batch in range(REPEAT):
            for n in range(8):
                assert con.execute(f"SELECT {batch * 8 + n}").fetchall() == [(batch * 8 + n,)]
            assert processor.force_flush(timeout_millis=5000) in (True, False)
        export_logs = [r for r in agentotel_log.records if r.name in _export.EXPORT_LOGGERS]
        assert len(export_logs) == 1, [r.getMessage() for r in export_logs]
        exporter.healthy.set()
        assert con.execute("SELECT 'after'").fetchall() == [("after",)]
        assert processor.force_flush(timeout_millis=5000)
        assert [s.name for s in exporter.received] == ["SELECT"]
    finally:
        agentotel.uninstrument()
        provider.shutdown()
        capture.shutdown()


# --------------------------------------------------------------------------- agentotel.agent
def test_agent_decorator_failure_is_contained(
    agentotel_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    @agentotel.agent(name="plain")
    def plain(x: int) -> int:
        return x + 1

    @agentotel.agent(name="coro")
    async def coro(x: int) -> int:
        return x + 2

    @agentotel.agent(name="gen")
    def gen(x: int) -> Iterator[int]:
        yield x + 3

    def block(x: int) -> int:
        with agentotel.agent(name="block"):
            return x + 4

    def run_all() -> list[int]:
        return [plain(1), asyncio.run(coro(1)), next(iter(gen(1))), block(1)]

    with capture_telemetry() as capture:
        with monkeypatch.context() as patch:
            patch.setattr("agentotel._agent._BINDING", SimpleNamespace(current=boom))  # where its spans come from
            for _ in range(REPEAT):
                assert run_all() == [2, 3, 4, 5]
        assert_one_warning(agentotel_log)
        assert capture.spans() == []
        assert run_all() == [2, 3, 4, 5]
        assert sorted(s.name for s in capture.spans()) == [
            "invoke_agent block",
            "invoke_agent coro",
            "invoke_agent gen",
            "invoke_agent plain",
        ]
