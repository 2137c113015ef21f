"""Switch on pydantic-ai's own OpenTelemetry instrumentation with agentotel's providers and content setting.

pydantic-ai emits GenAI agent, chat and tool spans itself once instrumented
(``Agent.instrument_all``). This instrumentor does that for every agent that
does not configure instrumentation itself, so that ``import agentotel.auto``,
``agentotel.instrument()`` or ``opentelemetry-instrument`` (entry point
``pydantic_ai``) put pydantic-ai's spans into the same traces as the rest::

    from agentotel.instrumentation.pydantic_ai import PydanticAIInstrumentor

    PydanticAIInstrumentor().instrument(tracer_provider=..., meter_provider=...)

Prompts, completions and tool arguments/results are included only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (``capture_message_content``)
asks for content, like everywhere else in agentotel. ``uninstrument()`` restores
the previous default.
"""

from __future__ import annotations

from typing import Any, Collection

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from pydantic_ai import Agent
from pydantic_ai.models.instrumented import InstrumentationSettings

from agentotel import _telemetry

__all__ = ["PydanticAIInstrumentor"]

_instruments = ("pydantic-ai-slim >= 1.0",)


class PydanticAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Turn on ``Agent.instrument_all`` with our tracer/meter providers and content-capture setting."""

    _previous: Any = False

    def instrumentation_dependencies(self) -> Collection[str]:
        """pydantic-ai (the slim distribution is enough)."""
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        content = _telemetry.current_settings().capture_message_content.enabled
        settings = InstrumentationSettings(
            tracer_provider=kwargs.get("tracer_provider") or _telemetry._tracer_provider,
            meter_provider=kwargs.get("meter_provider") or _telemetry._meter_provider,
            include_content=content,
            include_binary_content=content,
            include_model_request_parameters=content,
        )
        self._previous = Agent._instrument_default
        Agent.instrument_all(settings)

    def _uninstrument(self, **kwargs: Any) -> None:
        Agent.instrument_all(self._previous)
        self._previous = False
