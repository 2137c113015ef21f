"""A deterministic chat model and tools for LangGraph tests: tool calls, usage metadata, streaming.

``ToolCallingChatModel`` answers from the conversation alone (no shared state,
so concurrent runs cannot interfere): while the last message is not a tool
result and ``tool_name`` is set, it asks for that tool; after a tool result it
answers with ``answer``. Every response carries ``usage_metadata``, a response
model name and a finish reason, and streams word by word with the usage on the
last chunk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool

__all__ = ["ToolCallingChatModel", "lookup_parcel", "FailingChatModel"]


class ToolCallingChatModel(GenericFakeChatModel):
    """Deterministic fake chat model with ``bind_tools`` and ``usage_metadata``."""

    messages: Iterator[Any] = iter(())  # required by GenericFakeChatModel, unused here
    model: str = "fake-gpt"
    provider: str = "openai"
    tool_name: str | None = "lookup_parcel"
    tool_args: dict[str, Any] = {"parcel": 42}
    answer: str = "Parcel 42 is farmland."
    input_tokens: int = 11
    output_tokens: int = 7

    @property
    def _llm_type(self) -> str:
        return "fake-tool-calling-chat"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        return {
            "ls_provider": self.provider,
            "ls_model_name": kwargs.get("model", self.model),
            "ls_model_type": "chat",
            "ls_temperature": 0.0,
        }

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        names = [getattr(t, "name", None) or getattr(t, "__name__", str(t)) for t in tools]
        return self.bind(tools=names, **kwargs)

    def _respond(self, messages: list[BaseMessage]) -> AIMessage:
        usage = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "input_token_details": {"cache_read": 3},
        }
        metadata = {"model_name": f"{self.model}-2026-01-01"}
        turn = len(messages)
        if self.tool_name and not isinstance(messages[-1], ToolMessage):
            return AIMessage(
                content="",
                tool_calls=[
                    {"name": self.tool_name, "args": dict(self.tool_args), "id": f"call_{turn}", "type": "tool_call"}
                ],
                usage_metadata=usage,
                response_metadata={**metadata, "finish_reason": "tool_calls"},
                id=f"chatcmpl-{turn}",
            )
        return AIMessage(
            content=self.answer,
            usage_metadata=usage,
            response_metadata={**metadata, "finish_reason": "stop"},
            id=f"chatcmpl-{turn}",
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._respond(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._respond(messages)
        words = message.content.split(" ") if message.content else []
        for word in words[:-1]:
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " ", id=message.id))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content=words[-1] if words else "",
                id=message.id,
                tool_call_chunks=[
                    {"name": c["name"], "args": str(c["args"]).replace("'", '"'), "id": c["id"], "index": i}
                    for i, c in enumerate(message.tool_calls)
                ],
                usage_metadata=message.usage_metadata,
                response_metadata=message.response_metadata,
            )
        )


class FailingChatModel(ToolCallingChatModel):
    """Raises ``RuntimeError("model down")`` on every call."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise RuntimeError("model down")

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise RuntimeError("model down")
        yield  # pragma: no cover


@tool
def lookup_parcel(parcel: int) -> str:
    """Look up the land use of a parcel."""
    return f"parcel {parcel}: farmland"
