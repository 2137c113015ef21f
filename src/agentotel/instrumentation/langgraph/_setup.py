"""What every hook needs: the tracer, the instruments and the content settings, made once per ``instrument()``."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.metrics import Histogram, Meter, MeterProvider
from opentelemetry.trace import Tracer, TracerProvider

from agentotel import _telemetry, semconv
from agentotel._config import ContentCapture, Settings

__all__ = ["Hooks", "make_hooks"]

_SECONDS = list(semconv.GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS)


@dataclass(frozen=True)
class Hooks:
    """Shared by the wrappers of one instrumentation: created in ``_instrument``, never per call."""

    tracer: Tracer
    chat_duration: Histogram
    token_usage: Histogram
    time_to_first_chunk: Histogram
    agent_duration: Histogram
    workflow_duration: Histogram
    tool_duration: Histogram
    content: ContentCapture
    max_content_length: int


def _histogram(meter: Meter, name: str, unit: str, description: str, buckets: list[float]) -> Histogram:
    return meter.create_histogram(name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets)


def make_hooks(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    settings: Settings | None = None,
) -> Hooks:
    """Build the tracer and the GenAI histograms (names, units, buckets from :mod:`agentotel.semconv`)."""
    settings = settings or _telemetry.current_settings()
    meter = _telemetry.get_meter(meter_provider=meter_provider)
    return Hooks(
        tracer=_telemetry.get_tracer(tracer_provider=tracer_provider),
        chat_duration=_histogram(
            meter, semconv.GEN_AI_CLIENT_OPERATION_DURATION, "s", "Duration of chat model calls.", _SECONDS
        ),
        token_usage=_histogram(
            meter,
            semconv.GEN_AI_CLIENT_TOKEN_USAGE,
            "{token}",
            "Tokens used per chat call, by type.",
            list(semconv.GEN_AI_CLIENT_TOKEN_USAGE_BUCKETS),
        ),
        time_to_first_chunk=_histogram(
            meter,
            semconv.GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
            "s",
            "Time to the first chunk of streamed chat calls.",
            _SECONDS,
        ),
        agent_duration=_histogram(
            meter, semconv.GEN_AI_INVOKE_AGENT_DURATION, "s", "Duration of agent runs.", _SECONDS
        ),
        workflow_duration=_histogram(
            meter, semconv.GEN_AI_INVOKE_WORKFLOW_DURATION, "s", "Duration of workflow (graph) runs.", _SECONDS
        ),
        tool_duration=_histogram(
            meter, semconv.GEN_AI_EXECUTE_TOOL_DURATION, "s", "Duration of tool executions.", _SECONDS
        ),
        content=settings.capture_message_content,
        max_content_length=settings.max_attribute_length,
    )
