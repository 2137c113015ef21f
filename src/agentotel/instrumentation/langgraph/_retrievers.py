"""Retrieval spans: ``retrieval {data source}`` (CLIENT) around LangChain ``BaseRetriever.invoke/ainvoke``.

The GenAI conventions' retrieval span: ``gen_ai.operation.name=retrieval``, named
``retrieval {gen_ai.data_source.id}``. The data source is the retriever's ``name`` when
it has one, else its vector store's collection (``collection_name``, ``index_name``),
else the vector store's class (``InMemoryVectorStore``), else the retriever's class.
``gen_ai.request.top_k`` comes from ``search_kwargs["k"]`` (or a ``k`` field), and
``agentotel.retrieval.documents.count`` says how many documents came back. The query
(``gen_ai.retrieval.query.text``) and the documents (``gen_ai.retrieval.documents``: id,
score, content, metadata) are recorded only with content capture on, like prompts.

A retriever that calls other retrievers (ensembles, multi-query) gives a span per
retriever, nested; a subclass whose ``invoke`` calls ``super().invoke`` gives one.
Metric: ``gen_ai.client.operation.duration`` with ``gen_ai.operation.name=retrieval``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from agentotel import _telemetry, semconv
from agentotel._jsoncap import capped_json
from agentotel._spanctx import SpanOperation, current_context
from agentotel.instrumentation.langgraph._calls import acall_wrapper, call_wrapper
from agentotel.instrumentation.langgraph._setup import Hooks

__all__ = ["RetrievalOperation", "invoke_wrapper", "ainvoke_wrapper", "data_source_of"]

#: Context key holding the :class:`RetrievalOperation` we made current (to spot ``super().invoke``).
RETRIEVAL_KEY = otel_context.create_key("agentotel.langgraph.retrieval")
_COLLECTION_ATTRIBUTES = ("collection_name", "_collection_name", "index_name")
_SCORE_KEYS = ("score", "relevance_score", "_similarity_score")


class RetrievalOperation(SpanOperation):
    """One retrieval: span, duration, document count, captured query and documents (opt-in)."""

    __slots__ = ("instance", "hooks", "captured")
    context_key = RETRIEVAL_KEY

    def __init__(self, hooks: Hooks, instance: Any, span: Any, metric_attributes: Any, parent: Any) -> None:
        super().__init__(span, hooks.chat_duration, metric_attributes, parent)
        self.hooks = hooks
        self.instance = instance
        self.captured: dict[str, Any] | None = None

    def on_result(self, documents: Any) -> None:
        """Count the documents; keep them for the span when content capture is on."""
        try:
            if not isinstance(documents, (list, tuple)):
                return
            if self.span.is_recording():
                self.span.set_attribute(semconv.AGENTOTEL_RETRIEVAL_DOCUMENTS_COUNT, len(documents))  # pyright: ignore[reportUnknownArgumentType]
            if self.captured is not None:
                self.captured[semconv.GEN_AI_RETRIEVAL_DOCUMENTS] = [_document(doc) for doc in documents]  # pyright: ignore[reportUnknownVariableType]
        except Exception as exc:
            _telemetry.log_internal_error("langchain retrieval result", exc)

    def _end(self, metric_attributes: Any) -> None:
        captured, span, hooks = self.captured, self.span, self.hooks
        if captured is not None and span.is_recording():
            limit = hooks.max_content_length
            attributes: dict[str, Any] = {}
            query = captured.get(semconv.GEN_AI_RETRIEVAL_QUERY_TEXT)
            if isinstance(query, str):
                attributes[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] = query[:limit]  # a string attribute, not JSON
            documents = captured.get(semconv.GEN_AI_RETRIEVAL_DOCUMENTS)
            if documents is not None:
                attributes[semconv.GEN_AI_RETRIEVAL_DOCUMENTS] = capped_json(documents, limit)
            if hooks.content.on_span:
                span.set_attributes(attributes)
            if hooks.content.on_event:
                span.add_event(semconv.LANGGRAPH_RETRIEVAL_CONTENT_EVENT, attributes)
        super()._end(metric_attributes)


def _document(document: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    document_id = getattr(document, "id", None)
    if document_id is not None:
        entry["id"] = str(document_id)
    metadata: Mapping[str, Any] | None = getattr(document, "metadata", None)
    if isinstance(metadata, Mapping):
        for key in _SCORE_KEYS:
            score = metadata.get(key)
            if isinstance(score, (int, float)) and not isinstance(score, bool):
                entry["score"] = float(score)
                break
    entry["content"] = getattr(document, "page_content", None)
    if metadata:
        entry["metadata"] = metadata
    return entry


def data_source_of(retriever: Any) -> str:
    """``gen_ai.data_source.id`` of a retriever (see the module doc)."""
    name = getattr(retriever, "name", None)
    if isinstance(name, str) and name:
        return name
    store = getattr(retriever, "vectorstore", None)
    if store is not None:
        for attribute in _COLLECTION_ATTRIBUTES:
            collection = getattr(store, attribute, None)
            if isinstance(collection, str) and collection:
                return collection
        return type(store).__name__
    return type(retriever).__name__


def _top_k(retriever: Any) -> float | None:
    search_kwargs: Mapping[str, Any] | None = getattr(retriever, "search_kwargs", None)
    k = search_kwargs.get("k") if isinstance(search_kwargs, Mapping) else getattr(retriever, "k", None)
    if isinstance(k, int) and not isinstance(k, bool):
        return float(k)
    return None


def _start(hooks: Hooks, retriever: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalOperation | None:
    parent = current_context()
    inner: RetrievalOperation | None = parent.get(RETRIEVAL_KEY)  # type: ignore[assignment]
    if inner is not None and inner.instance is retriever and inner.span is trace.get_current_span(parent):
        return None  # super().invoke of a retriever whose own invoke we already trace
    source = data_source_of(retriever)
    metric_attributes = {semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_RETRIEVAL}
    attributes: dict[str, Any] = {**metric_attributes, semconv.GEN_AI_DATA_SOURCE_ID: source}
    top_k = _top_k(retriever)
    if top_k is not None:
        attributes[semconv.GEN_AI_REQUEST_TOP_K] = top_k
    span = hooks.tracer.start_span(
        semconv.RETRIEVAL_SPAN.render(source), context=parent, kind=SpanKind.CLIENT, attributes=attributes
    )
    operation = RetrievalOperation(hooks, retriever, span, metric_attributes, parent)
    if hooks.content.enabled and span.is_recording():
        query = args[0] if args else kwargs.get("input")
        operation.captured = {semconv.GEN_AI_RETRIEVAL_QUERY_TEXT: query if isinstance(query, str) else None}
    return operation


def _safe_start(hooks: Hooks, retriever: Any, args: Any, kwargs: Any) -> RetrievalOperation | None:
    try:
        return _start(hooks, retriever, args, kwargs)
    except Exception as exc:
        _telemetry.log_internal_error("langchain retrieval", exc)
        return None


def _on_result(operation: RetrievalOperation, documents: Any) -> None:
    operation.on_result(documents)


#: Wrapper for ``BaseRetriever.invoke`` (and subclasses' own).
invoke_wrapper = call_wrapper(_safe_start, _on_result)
#: Wrapper for ``BaseRetriever.ainvoke`` (and subclasses' own).
ainvoke_wrapper = acall_wrapper(_safe_start, _on_result)
