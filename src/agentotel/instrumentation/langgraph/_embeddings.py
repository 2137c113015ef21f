"""Embeddings spans: ``embeddings {model}`` (CLIENT) around LangChain ``Embeddings.embed_query/embed_documents``.

Also ``aembed_query``/``aembed_documents``, in the base class and in every integration
that defines them (see :mod:`._families`). One span per call: a method that calls
another one of the same object (``embed_query`` → ``embed_documents``, the async
defaults → the sync methods in a thread) is seen inside our span and adds none.

Attributes: ``gen_ai.operation.name=embeddings``, ``gen_ai.provider.name`` (from the
integration's package, e.g. ``langchain_openai`` → ``openai``), ``gen_ai.request.model``
(the object's ``model``, ``model_name``, ``model_id`` or ``deployment``),
``gen_ai.embeddings.dimension.count`` (of the returned vectors). LangChain's interface
reports no token usage, so none is recorded. The texts are never recorded.
Metric: ``gen_ai.client.operation.duration`` (with ``error.type`` on failure).
"""

from __future__ import annotations

import functools
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from agentotel import _telemetry, semconv
from agentotel._spanctx import SpanOperation, current_context
from agentotel.instrumentation.langgraph._calls import acall_wrapper, call_wrapper
from agentotel.instrumentation.langgraph._providers import normalize_provider
from agentotel.instrumentation.langgraph._setup import Hooks

__all__ = ["EmbeddingsOperation", "embed_wrapper", "aembed_wrapper", "model_of", "provider_of"]

#: Context key holding the :class:`EmbeddingsOperation` we made current (to spot inner calls of the same object).
EMBEDDINGS_KEY = otel_context.create_key("agentotel.langgraph.embeddings")
_MODEL_ATTRIBUTES = ("model", "model_name", "model_id", "deployment")


class EmbeddingsOperation(SpanOperation):
    """One embeddings call: span, duration, dimension count."""

    __slots__ = ("instance",)
    context_key = EMBEDDINGS_KEY

    def __init__(self, instance: Any, span: Any, histogram: Any, metric_attributes: Any, parent: Any) -> None:
        super().__init__(span, histogram, metric_attributes, parent)
        self.instance = instance


def model_of(instance: Any) -> str | None:
    """The model an embeddings object calls, from its usual attribute names."""
    for name in _MODEL_ATTRIBUTES:
        value = getattr(instance, name, None)
        if isinstance(value, str) and value:
            return value
    return None


@functools.lru_cache(maxsize=256)
def _provider_of_class(cls: type) -> str:
    package = (cls.__module__ or "").partition(".")[0]
    name = cls.__name__
    if package.startswith("langchain_") and package not in ("langchain_core", "langchain_community"):
        key = package.removeprefix("langchain_")
        if key == "openai" and name.startswith("Azure"):
            key = "azure_openai"
        return normalize_provider(key)
    lowered = name.lower()
    for suffix in ("embeddings", "embedding"):
        lowered = lowered.removesuffix(suffix)
    return normalize_provider(lowered or name)


def provider_of(instance: object) -> str:
    """``gen_ai.provider.name`` for an embeddings object: its integration package, else its class name."""
    return _provider_of_class(type(instance))


def _start(hooks: Hooks, instance: Any) -> EmbeddingsOperation | None:
    parent = current_context()
    inner: EmbeddingsOperation | None = parent.get(EMBEDDINGS_KEY)  # type: ignore[assignment]
    if inner is not None and inner.instance is instance and inner.span is trace.get_current_span(parent):
        return None  # the same call, one method further down
    model = model_of(instance)
    metric_attributes: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_EMBEDDINGS,
        semconv.GEN_AI_PROVIDER_NAME: provider_of(instance),
    }
    if model:
        metric_attributes[semconv.GEN_AI_REQUEST_MODEL] = model
    span = hooks.tracer.start_span(
        semconv.EMBEDDINGS_SPAN.render(model) if model else semconv.GEN_AI_OPERATION_EMBEDDINGS,
        context=parent,
        kind=SpanKind.CLIENT,
        attributes=metric_attributes,
    )
    return EmbeddingsOperation(instance, span, hooks.chat_duration, metric_attributes, parent)


def _safe_start(hooks: Hooks, instance: Any, args: Any, kwargs: Any) -> EmbeddingsOperation | None:
    try:
        return _start(hooks, instance)
    except Exception as exc:
        _telemetry.log_internal_error("langchain embeddings", exc)
        return None


def _on_result(operation: EmbeddingsOperation, result: Any) -> None:
    try:
        vector = result[0] if result and isinstance(result[0], (list, tuple)) else result
        if isinstance(vector, (list, tuple)) and vector and operation.span.is_recording():
            operation.span.set_attribute(semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector))  # pyright: ignore[reportUnknownArgumentType]
    except Exception as exc:
        _telemetry.log_internal_error("langchain embeddings result", exc)


#: Wrapper for ``embed_query`` / ``embed_documents``.
embed_wrapper = call_wrapper(_safe_start, _on_result)
#: Wrapper for ``aembed_query`` / ``aembed_documents``.
aembed_wrapper = acall_wrapper(_safe_start, _on_result)
