"""pydantic-ai: agentotel switches on its own instrumentation with our providers and content setting."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

pydantic_ai = pytest.importorskip("pydantic_ai")

from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.models.test import TestModel  # noqa: E402

import agentotel  # noqa: E402
from agentotel.instrumentation.pydantic_ai import PydanticAIInstrumentor  # noqa: E402
from agentotel.testing import TelemetryCapture, capture_telemetry  # noqa: E402


def make_agent() -> Agent:
    agent = Agent(TestModel(), name="helper")

    @agent.tool_plain
    def lookup(parcel: int) -> str:
        """Look up a parcel."""
        return "farmland"

    return agent


def test_entry_point() -> None:
    [entry] = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "pydantic_ai"]

    assert entry.load() is PydanticAIInstrumentor


def test_agent_chat_and_tool_spans_in_one_trace_without_content(telemetry: TelemetryCapture) -> None:
    result = make_agent().run_sync("What is parcel 42?")

    assert "farmland" in result.output
    assert telemetry.tree() == (
        "invoke_agent helper [INTERNAL]\n  chat test [CLIENT]\n  execute_tool lookup [INTERNAL]\n  chat test [CLIENT]"
    )
    chat = telemetry.spans("chat test")[0]
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert "parcel 42" not in json.dumps(dict(chat.attributes))
    assert telemetry.metric_points("gen_ai.client.token.usage")


def test_content_follows_our_setting() -> None:
    with capture_telemetry(capture_message_content=True) as telemetry:
        make_agent().run_sync("What is parcel 42?")

    chat = telemetry.spans("chat test")[0]
    assert "What is parcel 42?" in chat.attributes["gen_ai.input.messages"]


def test_uninstrument_switches_it_off() -> None:
    agent = make_agent()
    capture = TelemetryCapture()
    agentotel.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    agent.run_sync("one")
    emitted = len(capture.spans())
    agentotel.uninstrument()

    agent.run_sync("two")

    assert emitted == 4
    assert len(capture.spans()) == emitted
    assert Agent._instrument_default is False
    capture.shutdown()


def test_captured_content_is_capped_and_stays_valid_json() -> None:
    prompt = "What is parcel 42? " + "very long question " * 200
    with capture_telemetry(capture_message_content=True, max_attribute_length=300) as telemetry:
        make_agent().run_sync(prompt)

    assert telemetry.tree().startswith("invoke_agent helper [INTERNAL]")  # spans nest as before
    chat = telemetry.spans("chat test")[0]
    messages = chat.attributes["gen_ai.input.messages"]
    assert len(messages) <= 300
    assert "What is parcel 42?" in json.dumps(json.loads(messages))
    for span in telemetry.spans():
        for value in (span.attributes or {}).values():
            assert not (isinstance(value, str) and len(value) > 300)


def test_attributes_blocks_reach_pydantic_ai_spans(telemetry: TelemetryCapture) -> None:
    with agentotel.attributes(session_id="s-3", user_id="u-3", tenant="acme"):
        make_agent().run_sync("What is parcel 42?")
    spans = telemetry.spans()
    assert {s.name for s in spans} >= {"invoke_agent helper", "chat test", "execute_tool lookup"}
    for span in spans:
        assert (span.attributes["session.id"], span.attributes["user.id"], span.attributes["tenant"]) == (
            "s-3",
            "u-3",
            "acme",
        ), span.name
