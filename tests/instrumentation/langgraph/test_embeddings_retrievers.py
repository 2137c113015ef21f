"""LangChain embeddings (embeddings {model}) and retrievers (retrieval {data source}): spans, metrics, content rules."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import InMemoryVectorStore
from opentelemetry.trace import SpanKind, StatusCode

import agentotel
from agentotel.testing import TelemetryCapture, capture_telemetry

DOCS = [
    Document(page_content="parcel 42 is farmland", id="p42", metadata={"score": 0.9, "source": "registry"}),
    Document(page_content="parcel 7 is a car park", id="p7"),
]


class HostedEmbeddings(Embeddings):
    """An integration as LangChain providers write them: both methods defined, the query one in terms of the other."""

    model: str = "text-embedding-3-small"
    calls: list[str]

    def __init__(self) -> None:
        self.calls = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append("documents")
        return [[float(len(text)), 1.0, 0.0] for text in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls.append("query")
        return self.embed_documents([text])[0]


class FailingEmbeddings(HostedEmbeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise ConnectionError("embedding service down")


class KeywordRetriever(BaseRetriever):
    """A retriever of the application's own (``BaseRetriever.invoke`` calls its ``_get_relevant_documents``)."""

    k: int = 1

    def _get_relevant_documents(self, query: str, *, run_manager: Any = None) -> list[Document]:
        return [doc for doc in DOCS if query in doc.page_content][: self.k]


class CachingRetriever(KeywordRetriever):
    """Overrides ``invoke`` and calls ``super().invoke``: still one span."""

    def invoke(self, input: str, config: Any = None, **kwargs: Any) -> list[Document]:
        return super().invoke(input.lower(), config, **kwargs)


def test_embed_query_and_documents_give_one_span_each(telemetry: TelemetryCapture) -> None:
    embeddings = HostedEmbeddings()
    assert embeddings.embed_query("farm") == [4.0, 1.0, 0.0]
    assert len(embeddings.embed_documents(["a", "bb"])) == 2
    assert embeddings.calls == ["query", "documents", "documents"]

    spans = telemetry.spans("embeddings text-embedding-3-small")
    assert len(spans) == 2  # embed_query's inner embed_documents adds none
    span = spans[0]
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "hosted",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.embeddings.dimension.count": 3,
    }
    [point] = telemetry.metric_points("gen_ai.client.operation.duration")
    assert point.count == 2
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "hosted",
        "gen_ai.request.model": "text-embedding-3-small",
    }


def test_async_defaults_run_the_sync_method_in_a_thread_under_one_span(telemetry: TelemetryCapture) -> None:
    embeddings = HostedEmbeddings()
    assert asyncio.run(embeddings.aembed_query("farm")) == [4.0, 1.0, 0.0]
    assert asyncio.run(embeddings.aembed_documents(["a"])) == [[1.0, 1.0, 0.0]]
    assert len(telemetry.spans("embeddings text-embedding-3-small")) == 2


def test_langchain_s_own_embeddings_and_providers(telemetry: TelemetryCapture) -> None:
    DeterministicFakeEmbedding(size=16).embed_query("x")
    [span] = telemetry.spans("embeddings")
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 16
    assert "gen_ai.request.model" not in span.attributes


def test_embedding_failure_is_recorded_and_re_raised(telemetry: TelemetryCapture) -> None:
    with pytest.raises(ConnectionError, match="embedding service down"):
        FailingEmbeddings().embed_query("farm")
    [span] = telemetry.spans("embeddings text-embedding-3-small")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ConnectionError"
    [point] = telemetry.metric_points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "ConnectionError"


def test_texts_are_never_recorded(telemetry: TelemetryCapture) -> None:
    HostedEmbeddings().embed_documents(["my secret text"])
    assert "secret" not in json.dumps([dict(s.attributes) for s in telemetry.spans()])


def test_vector_store_retriever_span_with_its_embeddings_inside(telemetry: TelemetryCapture) -> None:
    store = InMemoryVectorStore(HostedEmbeddings())
    store.add_documents(DOCS)
    telemetry.clear()
    retriever = store.as_retriever(search_kwargs={"k": 1})
    found = retriever.invoke("parcel 42")
    assert len(found) == 1

    assert telemetry.tree() == ("retrieval InMemoryVectorStore [CLIENT]\n  embeddings text-embedding-3-small [CLIENT]")
    span = telemetry.span("retrieval InMemoryVectorStore")
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "gen_ai.data_source.id": "InMemoryVectorStore",
        "gen_ai.request.top_k": 1.0,
        "agentotel.retrieval.documents.count": 1,
    }
    assert not span.events
    points = telemetry.metric_points("gen_ai.client.operation.duration", **{"gen_ai.operation.name": "retrieval"})
    assert [p.count for p in points] == [1]


def test_custom_retrievers_named_async_and_super_invoke(telemetry: TelemetryCapture) -> None:
    assert [d.id for d in KeywordRetriever(name="registry").invoke("parcel 42")] == ["p42"]
    assert asyncio.run(KeywordRetriever(k=2).ainvoke("parcel")) == DOCS
    assert [d.id for d in CachingRetriever().invoke("PARCEL 7")] == ["p7"]

    assert telemetry.span("retrieval registry").attributes["gen_ai.data_source.id"] == "registry"
    keyword = telemetry.span("retrieval KeywordRetriever")
    assert keyword.attributes["gen_ai.request.top_k"] == 2.0
    assert keyword.attributes["agentotel.retrieval.documents.count"] == 2
    assert len(telemetry.spans("retrieval CachingRetriever")) == 1


def test_query_and_documents_only_with_content_capture() -> None:
    with capture_telemetry(capture_message_content="SPAN_AND_EVENT") as telemetry:
        KeywordRetriever(k=2, name="registry").invoke("parcel")
    span = telemetry.span("retrieval registry")
    assert span.attributes["gen_ai.retrieval.query.text"] == "parcel"
    documents = json.loads(span.attributes["gen_ai.retrieval.documents"])
    assert documents == [
        {
            "id": "p42",
            "score": 0.9,
            "content": "parcel 42 is farmland",
            "metadata": {"score": 0.9, "source": "registry"},
        },
        {"id": "p7", "content": "parcel 7 is a car park"},
    ]
    [event] = span.events
    assert event.name == "langgraph.retrieval.content"


def test_retrieval_inside_a_tool_and_a_session(telemetry: TelemetryCapture) -> None:
    retriever = KeywordRetriever(name="registry")

    @agentotel.tool(name="search")
    def search(query: str) -> list[str | None]:
        return [doc.id for doc in retriever.invoke(query)]

    with agentotel.attributes(session_id="s-5"):
        assert search("parcel 7") == ["p7"]
    assert telemetry.tree() == "execute_tool search [INTERNAL]\n  retrieval registry [CLIENT]"
    assert telemetry.span("retrieval registry").attributes["session.id"] == "s-5"


def test_uninstrument_restores_every_class_and_the_subclass_hook() -> None:
    with capture_telemetry() as telemetry:
        patched = vars(HostedEmbeddings)["embed_query"]
        assert getattr(patched, "__wrapped__", None) is not None
        agentotel.uninstrument()
        assert not hasattr(vars(HostedEmbeddings)["embed_query"], "__wrapped__")
        assert "__init_subclass__" not in vars(Embeddings)
        assert not hasattr(vars(BaseRetriever)["invoke"], "__wrapped__")
        assert type(vars(BaseRetriever)["__init_subclass__"]) is classmethod  # LangChain's own, back

        class Later(HostedEmbeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [[0.0] for _ in texts]

        Later().embed_documents(["x"])
        KeywordRetriever().invoke("parcel")
        assert telemetry.spans() == []


def test_classes_defined_after_instrumenting_are_traced(telemetry: TelemetryCapture) -> None:
    class Defined(Embeddings):
        model_name = "late-model"

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[1.0] for _ in texts]

        def embed_query(self, text: str) -> list[float]:
            return [1.0]

    Defined().embed_query("x")
    assert telemetry.span("embeddings late-model").attributes["gen_ai.embeddings.dimension.count"] == 1
