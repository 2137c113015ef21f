"""Who serves a chat model: ``gen_ai.provider.name``, and whether a provider-SDK instrumentation owns the call.

The provider comes from the model's LangSmith parameters (``ls_provider``, which
every LangChain integration sets) or, failing that, from ``_llm_type``; known
values are mapped to the GenAI ``gen_ai.provider.name`` enum (``openai``,
``anthropic``, ``aws.bedrock``, ``gcp.vertex_ai`` ...), others are kept as they are.

Double chat spans: when an OpenTelemetry instrumentation of the provider's own
SDK (for example ``opentelemetry-instrumentation-openai-v2``) is active, it sees
the wire-level request and response and emits the ``chat`` span for the call.
We then emit no chat span of our own for models of that provider (the node and
tool spans are unaffected), so one model call is one chat span.
"""

from __future__ import annotations

import functools
import sys
from typing import Final

__all__ = ["normalize_provider", "provider_sdk_instrumented", "PROVIDER_SDK_INSTRUMENTORS"]

_PROVIDERS: Final[dict[str, str]] = {
    "openai": "openai",
    "openai_chat": "openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure_openai_chat": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "azure_ai_inference": "azure.ai.inference",
    "anthropic": "anthropic",
    "anthropic_chat": "anthropic",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "amazon_bedrock_chat": "aws.bedrock",
    "amazon_bedrock_converse_chat": "aws.bedrock",
    "aws": "aws.bedrock",
    "google_vertexai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "google_anthropic_vertex": "gcp.vertex_ai",
    "google_genai": "gcp.gemini",
    "google_gemini": "gcp.gemini",
    "gemini": "gcp.gemini",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "mistral_ai": "mistral_ai",
    "mistralai_chat": "mistral_ai",
    "groq": "groq",
    "groq_chat": "groq",
    "deepseek": "deepseek",
    "deepseek_chat": "deepseek",
    "xai": "x_ai",
    "x_ai": "x_ai",
    "xai_chat": "x_ai",
    "perplexity": "perplexity",
    "perplexitychat": "perplexity",
    "watsonx": "ibm.watsonx.ai",
    "ibm": "ibm.watsonx.ai",
    "ibm_watsonx": "ibm.watsonx.ai",
    "watsonx_chat": "ibm.watsonx.ai",
}

#: Provider -> ``"module:Class"`` of OpenTelemetry instrumentors of that provider's SDK.
PROVIDER_SDK_INSTRUMENTORS: dict[str, tuple[str, ...]] = {
    "openai": (
        "opentelemetry.instrumentation.openai_v2:OpenAIInstrumentor",
        "opentelemetry.instrumentation.openai:OpenAIInstrumentor",
    ),
    "azure.ai.openai": (
        "opentelemetry.instrumentation.openai_v2:OpenAIInstrumentor",
        "opentelemetry.instrumentation.openai:OpenAIInstrumentor",
    ),
    "anthropic": ("opentelemetry.instrumentation.anthropic:AnthropicInstrumentor",),
    "aws.bedrock": (
        "opentelemetry.instrumentation.botocore:BotocoreInstrumentor",
        "opentelemetry.instrumentation.bedrock:BedrockInstrumentor",
    ),
    "gcp.vertex_ai": (
        "opentelemetry.instrumentation.vertexai:VertexAIInstrumentor",
        "opentelemetry.instrumentation.google_genai:GoogleGenAiSdkInstrumentor",
    ),
    "gcp.gemini": ("opentelemetry.instrumentation.google_genai:GoogleGenAiSdkInstrumentor",),
    "gcp.gen_ai": ("opentelemetry.instrumentation.google_genai:GoogleGenAiSdkInstrumentor",),
    "cohere": ("opentelemetry.instrumentation.cohere:CohereInstrumentor",),
    "mistral_ai": ("opentelemetry.instrumentation.mistralai:MistralAiInstrumentor",),
    "groq": ("opentelemetry.instrumentation.groq:GroqInstrumentor",),
}


@functools.lru_cache(maxsize=256)
def normalize_provider(raw: str) -> str:
    """Map an ``ls_provider`` / ``_llm_type`` value to the ``gen_ai.provider.name`` enum, else return it."""
    key = raw.strip().lower().replace("-", "_").replace(" ", "_")
    return _PROVIDERS.get(key, raw)


def provider_sdk_instrumented(provider: str) -> bool:
    """True when an instrumentor of ``provider``'s own SDK is active in this process.

    Looks only at modules already imported (never imports one) and at the
    ``BaseInstrumentor`` singleton's state, so it costs a few dict lookups.
    """
    for target in PROVIDER_SDK_INSTRUMENTORS.get(provider, ()):
        module_name, _, class_name = target.partition(":")
        module = sys.modules.get(module_name)
        if module is None:
            continue
        instance = getattr(getattr(module, class_name, None), "_instance", None)
        if instance is not None and getattr(instance, "is_instrumented_by_opentelemetry", False):
            return True
    return False
