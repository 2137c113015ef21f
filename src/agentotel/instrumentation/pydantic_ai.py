"""Switch on pydantic-ai's own OpenTelemetry instrumentation with agentotel's providers and content setting.

pydantic-ai emits GenAI agent, chat and tool spans itself once instrumented
(``Agent.instrument_all``). This instrumentor does that for every agent that
does not configure instrumentation itself, so that ``import agentotel.auto``,
``agentotel.instrument()`` or ``opentelemetry-instrument`` (entry point
``pydantic_ai``) put pydantic-ai's spans into the same traces as the rest (when the
application imports pydantic-ai: instrumenting never imports it)::

    from agentotel.instrumentation.pydantic_ai import PydanticAIInstrumentor

    PydanticAIInstrumentor().instrument(tracer_provider=..., meter_provider=...)

Prompts, completions and tool arguments/results are included only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (``capture_message_content``)
asks for content, like everywhere else in agentotel, and are then capped at
``AGENTOTEL_MAX_ATTRIBUTE_LENGTH`` characters (JSON values stay valid JSON): pydantic-ai
has no cap of its own, so its tracers are wrapped to cap string attribute and event
values as they are set. The same wrapper records exceptions through agentotel's one
exception path (:func:`agentotel._errors.record_exception`), so SQL literals quoted
by a database error are cleaned on pydantic-ai's spans too. ``uninstrument()`` restores the previous default.
"""

from __future__ import annotations

import types
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, overload

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentotel import _handle, _telemetry
from agentotel._attributes import AttributedTracer
from agentotel._errors import clean_message, record_exception, sql_involved
from agentotel._jsoncap import cap_text
from agentotel._tracers import CurrentSpanTracer
from agentotel.instrumentation._patching import PatchSet, require_installed

__all__ = ["PydanticAIInstrumentor"]

_instruments = ("pydantic-ai-slim >= 1.0",)


class PydanticAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Turn on ``Agent.instrument_all`` with our tracer/meter providers and content-capture setting.

    Done when the application imports pydantic-ai (at once if it already has);
    instrumenting never imports it. ``uninstrument()`` puts the previous default back,
    unless the application set its own since.
    """

    _patches: PatchSet | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """pydantic-ai (the slim distribution is enough)."""
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        require_installed(_instruments)
        settings_now = _telemetry.current_settings()
        content = settings_now.capture_message_content.enabled
        handle = _handle.current()
        cap = settings_now.max_attribute_length if content else None
        tracer_provider = _GuardedTracerProvider(kwargs.get("tracer_provider") or handle.tracer_provider, cap)
        meter_provider = kwargs.get("meter_provider") or handle.meter_provider
        patches = PatchSet("pydantic_ai")
        self._patches = patches

        def on_import(module: types.ModuleType) -> None:
            agent = vars(module).get("Agent")
            if not isinstance(agent, type) or "_instrument_default" not in vars(agent):
                return
            from pydantic_ai.models.instrumented import InstrumentationSettings  # imported by pydantic_ai.agent

            settings = InstrumentationSettings(
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                include_content=content,
                include_binary_content=content,
                include_model_request_parameters=content,
            )
            # What Agent.instrument_all(settings) does, kept restorable.
            patches.replace(agent, "_instrument_default", lambda previous: settings)

        # The package, not pydantic_ai.agent where Agent is defined: InstrumentationSettings
        # reads pydantic_ai.__version__, which exists only once the package has been imported.
        patches.when_imported("pydantic_ai", on_import)

    def _uninstrument(self, **kwargs: Any) -> None:
        patches, self._patches = self._patches, None
        if patches is not None:
            patches.remove()


@overload
def _capped(attributes: Mapping[str, Any], limit: int | None) -> Mapping[str, Any]: ...
@overload
def _capped(attributes: Mapping[str, Any] | None, limit: int | None) -> Mapping[str, Any] | None: ...
def _capped(attributes: Mapping[str, Any] | None, limit: int | None) -> Mapping[str, Any] | None:
    if limit is None or not attributes or not any(isinstance(v, str) and len(v) > limit for v in attributes.values()):
        return attributes
    return {k: cap_text(v, limit) if isinstance(v, str) else v for k, v in attributes.items()}


class _GuardedSpan(wrapt.ObjectProxy):  # type: ignore[misc]
    """A span that records exceptions through agentotel's path and caps string values (content on)."""

    if TYPE_CHECKING:
        __wrapped__: trace.Span

    def __init__(self, span: trace.Span, limit: int | None) -> None:
        super().__init__(span)  # pyright: ignore[reportUnknownMemberType]
        self._self_limit = limit
        self._self_recorded = False

    def set_attribute(self, key: str, value: Any) -> None:
        if self._self_limit is not None and isinstance(value, str) and len(value) > self._self_limit:
            value = cap_text(value, self._self_limit)
        self.__wrapped__.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.__wrapped__.set_attributes(_capped(attributes, self._self_limit))

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None) -> None:
        self.__wrapped__.add_event(name, _capped(attributes, self._self_limit), timestamp)

    def record_exception(self, exception: BaseException, *args: Any, **kwargs: Any) -> None:
        record_exception(self.__wrapped__, exception)
        self._self_recorded = True

    def set_status(self, status: Any, description: str | None = None) -> None:
        if isinstance(status, trace.Status):
            code, description = status.status_code, status.description
        else:
            code = status
        if code is trace.StatusCode.ERROR:
            if self._self_recorded:
                return  # the exception path set the status with the cleaned message
            if description and sql_involved(_Described(description)):
                description = clean_message(description, _telemetry.current_settings().max_attribute_length)
        self.__wrapped__.set_status(trace.Status(code, description))


class _Described(Exception):
    """Stands for an exception known only by its text (a status description)."""


class _GuardedTracer(CurrentSpanTracer):
    """Starts spans through the real tracer and hands out :class:`_GuardedSpan` proxies."""

    def __init__(self, tracer: trace.Tracer, limit: int | None) -> None:
        self._tracer = tracer
        self._limit = limit

    def start_span(
        self,
        name: str,
        context: Any = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Any = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        span = self._tracer.start_span(
            name,
            context,
            kind,
            _capped(attributes, self._limit),
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        return _GuardedSpan(span, self._limit)  # pyright: ignore[reportReturnType]  # a proxy of the span


class _GuardedTracerProvider(trace.TracerProvider):
    """Wraps the tracer provider handed to pydantic-ai: our exception path, and our cap on captured content."""

    def __init__(self, provider: trace.TracerProvider, limit: int | None) -> None:
        self._provider = provider
        self._limit = limit

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        # pydantic-ai's spans carry the attributes of the `agentotel.attributes` blocks in force, like ours.
        return AttributedTracer(_GuardedTracer(self._provider.get_tracer(*args, **kwargs), self._limit))
