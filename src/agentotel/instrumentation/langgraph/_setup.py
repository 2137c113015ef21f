"""What every hook needs: the tracer, the instruments and the content settings, taken from the telemetry handle."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.metrics import Counter, Histogram, MeterProvider
from opentelemetry.trace import Tracer, TracerProvider

from agentotel import _telemetry, semconv
from agentotel._config import ContentCapture, Settings
from agentotel._handle import Binding, on_use

__all__ = ["Hooks", "make_hooks"]


class Hooks:
    """Shared by the wrappers of one instrumentation: made in ``_instrument``, never per call.

    The tracer and histograms are those of the providers given to ``instrument()``;
    without any, those in force, re-read (:meth:`bind`) whenever they change, so the
    wrappers read plain attributes on every call.
    """

    __slots__ = (
        "binding",
        "tracer",
        "chat_duration",
        "token_usage",
        "time_to_first_chunk",
        "agent_duration",
        "workflow_duration",
        "tool_duration",
        "cost",
        "content",
        "max_content_length",
        "metadata_keys",
        "_unfollow",
    )

    tracer: Tracer
    chat_duration: Histogram
    token_usage: Histogram
    time_to_first_chunk: Histogram
    agent_duration: Histogram
    workflow_duration: Histogram
    tool_duration: Histogram
    cost: Counter

    def __init__(self, binding: Binding, settings: Settings) -> None:
        self.binding = binding
        self.content: ContentCapture = settings.capture_message_content
        self.max_content_length = settings.max_attribute_length
        self.metadata_keys = settings.langgraph_metadata_keys
        self._unfollow: Callable[[], None] | None = on_use(self.bind) if binding.late else None
        self.bind()

    def bind(self) -> None:
        """Take the tracer and histograms from the binding's current handle."""
        instruments = self.binding.current()
        self.tracer = instruments.tracer
        self.chat_duration = instruments[semconv.GEN_AI_CLIENT_OPERATION_DURATION]
        self.token_usage = instruments[semconv.GEN_AI_CLIENT_TOKEN_USAGE]
        self.time_to_first_chunk = instruments[semconv.GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK]
        self.agent_duration = instruments[semconv.GEN_AI_INVOKE_AGENT_DURATION]
        self.workflow_duration = instruments[semconv.GEN_AI_INVOKE_WORKFLOW_DURATION]
        self.tool_duration = instruments[semconv.GEN_AI_EXECUTE_TOOL_DURATION]
        self.cost = instruments[semconv.GEN_AI_USAGE_COST]

    def close(self) -> None:
        """Stop following the providers in force (at ``uninstrument()``)."""
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None


def make_hooks(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    settings: Settings | None = None,
) -> Hooks:
    """The hooks' tracer and GenAI histograms (from :mod:`agentotel.semconv`, through the telemetry handle)."""
    return Hooks(
        Binding(semconv.SCOPE_LANGGRAPH, tracer_provider, meter_provider),
        settings or _telemetry.current_settings(),
    )
