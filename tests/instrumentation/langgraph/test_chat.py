"""Chat model calls outside graphs: one span per call, streams, batch, providers, provider-SDK deferral."""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Collection
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.trace import SpanKind, StatusCode

from agentotel.instrumentation.langgraph import _providers
from agentotel.testing import TelemetryCapture
from tests.instrumentation.langgraph.fakes import FailingChatModel, ToolCallingChatModel


def answer_model(**kwargs: Any) -> ToolCallingChatModel:
    return ToolCallingChatModel(tool_name=None, answer="farmland on the hill", **kwargs)


def test_invoke_one_span(telemetry: TelemetryCapture) -> None:
    answer_model().invoke("parcel 42?")

    span = telemetry.span("chat fake-gpt")
    assert span.kind is SpanKind.CLIENT
    assert span.parent is None
    assert span.attributes["gen_ai.request.stream"] is False
    assert "gen_ai.response.time_to_first_chunk" not in span.attributes
    assert not telemetry.metric_points("gen_ai.client.operation.time_to_first_chunk")


def test_stream_span_covers_iteration(telemetry: TelemetryCapture) -> None:
    chunks = list(answer_model().stream("parcel 42?"))

    assert "".join(c.content for c in chunks) == "farmland on the hill"
    span = telemetry.span("chat fake-gpt")
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.usage.output_tokens"] == 7
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    [ttfc] = telemetry.metric_points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.count == 1
    assert dict(ttfc.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "fake-gpt",
    }


async def test_astream_span(telemetry: TelemetryCapture) -> None:
    chunks = [c async for c in answer_model().astream("parcel 42?")]

    assert len(chunks) >= 4
    span = telemetry.span("chat fake-gpt")
    assert span.attributes["gen_ai.usage.input_tokens"] == 11
    assert span.attributes["gen_ai.request.stream"] is True


def test_stream_stopped_after_one_chunk(telemetry: TelemetryCapture) -> None:
    for _ in answer_model().stream("parcel 42?"):
        break
    gc.collect()

    span = telemetry.span("chat fake-gpt")
    assert span.attributes["langgraph.stream.abandoned"] is True
    assert span.status.status_code is StatusCode.UNSET
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert not telemetry.metric_points("gen_ai.client.token.usage")
    assert telemetry.metric_points("gen_ai.client.operation.duration")[0].count == 1


def test_batch_one_span_per_input(telemetry: TelemetryCapture) -> None:
    answer_model().batch(["a", "b", "c"])

    assert len(telemetry.spans("chat fake-gpt")) == 3
    assert len({s.context.trace_id for s in telemetry.spans()}) == 3


async def test_abatch_one_span_per_input(telemetry: TelemetryCapture) -> None:
    await answer_model().abatch(["a", "b"])

    assert len(telemetry.spans("chat fake-gpt")) == 2


def test_stream_falling_back_to_invoke_is_one_span(telemetry: TelemetryCapture) -> None:
    model = FakeMessagesListChatModel(responses=[AIMessage("ok")])

    assert [c.content for c in model.stream("hi")] == ["ok"]

    [span] = telemetry.spans()
    assert span.name == "chat"
    assert span.attributes["gen_ai.provider.name"] == "fakemessageslistchatmodel"  # LangChain default


def test_failure_records_error_and_duration(telemetry: TelemetryCapture) -> None:
    with pytest.raises(RuntimeError, match="model down"):
        FailingChatModel().invoke("x")
    with pytest.raises(RuntimeError, match="model down"):
        list(FailingChatModel().stream("x"))

    spans = telemetry.spans("chat fake-gpt")
    assert len(spans) == 2
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "RuntimeError"
        assert [e.name for e in span.events] == ["exception"]
    [duration] = telemetry.metric_points("gen_ai.client.operation.duration")
    assert duration.count == 2 and duration.attributes["error.type"] == "RuntimeError"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("openai", "openai"),
        ("anthropic", "anthropic"),
        ("bedrock_converse", "aws.bedrock"),
        ("amazon_bedrock_chat", "aws.bedrock"),
        ("google_vertexai", "gcp.vertex_ai"),
        ("google_genai", "gcp.gemini"),
        ("azure", "azure.ai.openai"),
        ("mistralai", "mistral_ai"),
        ("xai", "x_ai"),
        ("Groq", "groq"),
        ("ollama", "ollama"),
    ],
)
def test_provider_names_are_normalised(telemetry: TelemetryCapture, raw: str, expected: str) -> None:
    answer_model(provider=raw).invoke("x")

    assert telemetry.span("chat fake-gpt").attributes["gen_ai.provider.name"] == expected


# ------------------------------------------------------------- provider SDK instrumentation active
class FakeOpenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Stands in for opentelemetry-instrumentation-openai-v2 (emits the chat span itself)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        pass

    def _uninstrument(self, **kwargs: Any) -> None:
        pass


@pytest.fixture
def openai_sdk_instrumented(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = types.ModuleType("fake_openai_v2_instrumentation")
    module.OpenAIInstrumentor = FakeOpenAIInstrumentor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(_providers.PROVIDER_SDK_INSTRUMENTORS, "openai", (f"{module.__name__}:OpenAIInstrumentor",))
    FakeOpenAIInstrumentor().instrument()
    yield
    FakeOpenAIInstrumentor().uninstrument()


def test_no_second_chat_span_when_the_provider_sdk_is_instrumented(
    telemetry: TelemetryCapture, openai_sdk_instrumented: Any
) -> None:
    answer_model(provider="openai").invoke("x")
    answer_model(provider="anthropic").invoke("x")

    assert [s.attributes["gen_ai.provider.name"] for s in telemetry.spans()] == ["anthropic"]
