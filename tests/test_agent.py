"""agentotel.agent: invoke_agent spans for functions, methods, coroutines, generators and blocks."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import agentotel
from agentotel.testing import TelemetryCapture


class PlanningError(RuntimeError):
    pass


pytestmark = pytest.mark.usefixtures("no_context_errors")


def _child(telemetry: TelemetryCapture, name: str = "inner") -> None:
    telemetry.tracer_provider.get_tracer("tests").start_span(name).end()


def _duration_points(telemetry: TelemetryCapture, name: str) -> list:
    return telemetry.metric_points("gen_ai.invoke_agent.duration", **{"gen_ai.agent.name": name})


def test_method_decorator(telemetry: TelemetryCapture) -> None:
    class LanduseAgent:
        @agentotel.agent(name="landuse", agent_id="lu-1", description="Answers land-use questions")
        def query(self, question: str) -> str:
            _child(telemetry)
            return question.upper()

    assert LanduseAgent().query("parcel 42?") == "PARCEL 42?"

    assert telemetry.tree() == "invoke_agent landuse [INTERNAL]\n  inner [INTERNAL]"
    span = telemetry.span("invoke_agent landuse")
    assert span.kind is SpanKind.INTERNAL
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "landuse",
        "gen_ai.agent.id": "lu-1",
        "gen_ai.agent.description": "Answers land-use questions",
    }
    [point] = _duration_points(telemetry, "landuse")
    assert point.count == 1
    assert dict(point.attributes) == {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "landuse"}


def test_bare_decorator_uses_the_qualified_name(telemetry: TelemetryCapture) -> None:
    @agentotel.agent
    def summarise(text: str) -> str:
        return text[:3]

    assert summarise("abcdef") == "abc"
    assert telemetry.spans()[0].name.endswith("summarise")
    assert summarise.__name__ == "summarise"


def test_failure_is_recorded_and_reraised_unchanged(telemetry: TelemetryCapture) -> None:
    error = PlanningError("no plan")

    @agentotel.agent(name="planner")
    def plan() -> None:
        raise error

    with pytest.raises(PlanningError) as raised:
        plan()

    assert raised.value is error
    span = telemetry.span("invoke_agent planner")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "tests.test_agent.PlanningError"
    assert [e.name for e in span.events] == ["exception"]
    [point] = _duration_points(telemetry, "planner")
    assert point.attributes["error.type"] == "tests.test_agent.PlanningError"


async def test_coroutine(telemetry: TelemetryCapture) -> None:
    @agentotel.agent(name="async-agent", conversation_id="c-1")
    async def answer(n: int) -> int:
        await asyncio.sleep(0)
        _child(telemetry)
        return n * 2

    assert await asyncio.gather(answer(1), answer(2)) == [2, 4]

    roots = telemetry.roots()
    assert len(roots) == 2 and len({r.context.trace_id for r in roots}) == 2
    for root in roots:
        assert telemetry.tree(root) == "invoke_agent async-agent [INTERNAL]\n  inner [INTERNAL]"
        assert root.attributes["gen_ai.conversation.id"] == "c-1"


def test_generator_span_covers_the_iteration(telemetry: TelemetryCapture) -> None:
    @agentotel.agent(name="streamer")
    def words() -> Iterator[str]:
        for word in ("a", "b"):
            _child(telemetry, word)
            yield word

    outside = []
    for _word in words():
        outside.append(trace.get_current_span())  # the consumer is not inside the agent span

    assert telemetry.tree() == "invoke_agent streamer [INTERNAL]\n  a [INTERNAL]\n  b [INTERNAL]"
    assert all(span is trace.INVALID_SPAN for span in outside)
    assert "langgraph.stream.abandoned" not in telemetry.span("invoke_agent streamer").attributes


def test_generator_stopped_early_is_abandoned(telemetry: TelemetryCapture) -> None:
    @agentotel.agent(name="streamer")
    def numbers() -> Iterator[int]:
        yield from range(10)

    for _ in numbers():
        break
    gc.collect()
    numbers_iterator = numbers()
    next(numbers_iterator)
    numbers_iterator.close()

    spans = telemetry.spans("invoke_agent streamer")
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["langgraph.stream.abandoned"] is True
        assert span.status.status_code is StatusCode.UNSET


async def test_async_generator(telemetry: TelemetryCapture) -> None:
    @agentotel.agent(name="astreamer")
    async def tokens() -> AsyncIterator[str]:
        for token in ("x", "y"):
            await asyncio.sleep(0)
            _child(telemetry, token)
            yield token

    assert [t async for t in tokens()] == ["x", "y"]
    stopped = tokens()
    await stopped.__anext__()
    await stopped.aclose()

    first, second = telemetry.roots()
    assert telemetry.tree(first) == "invoke_agent astreamer [INTERNAL]\n  x [INTERNAL]\n  y [INTERNAL]"
    assert second.attributes["langgraph.stream.abandoned"] is True


def test_context_manager(telemetry: TelemetryCapture) -> None:
    with agentotel.agent(name="block", conversation_id="s-9") as span:
        span.set_attribute("app.step", 3)
        _child(telemetry)
    with pytest.raises(KeyError):
        with agentotel.agent(name="failing-block"):
            raise KeyError("missing")

    assert telemetry.tree(telemetry.span("invoke_agent block")) == "invoke_agent block [INTERNAL]\n  inner [INTERNAL]"
    assert telemetry.span("invoke_agent block").attributes["app.step"] == 3
    assert telemetry.span("invoke_agent failing-block").attributes["error.type"] == "KeyError"


async def test_async_context_manager(telemetry: TelemetryCapture) -> None:
    async with agentotel.agent(name="ablock"):
        await asyncio.sleep(0)
        _child(telemetry)

    assert telemetry.tree() == "invoke_agent ablock [INTERNAL]\n  inner [INTERNAL]"


def test_nothing_after_uninstrument() -> None:
    capture = TelemetryCapture()
    agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)

    @agentotel.agent(name="quiet")
    def run() -> int:
        return 1

    run()
    agentotel.uninstrument()
    assert run() == 1
    with agentotel.agent(name="quiet"):
        pass

    assert len(capture.spans()) == 1
    capture.shutdown()


def test_providers_follow_instrument(telemetry: TelemetryCapture) -> None:
    @agentotel.agent(name="follow")
    def run() -> None:
        pass

    run()
    other = TelemetryCapture()
    agentotel.uninstrument()
    agentotel.instrument(tracer_provider=other.tracer_provider, meter_provider=other.meter_provider)
    run()

    assert len(telemetry.spans()) == 1
    assert len(other.spans()) == 1
    assert _duration_points(other, "follow")[0].count == 1
    other.shutdown()
