"""Opt-in content capture: LangChain messages in the GenAI JSON shape, capped without breaking JSON.

Only called when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (or
``capture_message_content=``) asks for content; nothing here runs otherwise.
Messages follow the GenAI conventions' shape: ``{"role": ..., "parts": [...]}``
with ``text``, ``tool_call`` and ``tool_call_response`` parts; system messages
go to ``gen_ai.system_instructions``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.trace import Span

from agentotel._config import ContentCapture
from agentotel._jsoncap import capped_json

__all__ = ["capped_json", "message_parts", "chat_input", "chat_output", "record_content"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[dict[str, Any]] = []
    for block in content or ():
        if isinstance(block, str):
            parts.append({"type": "text", "content": block})
        elif isinstance(block, Mapping):
            fields: Mapping[str, Any] = block  # pyright: ignore[reportUnknownVariableType]
            kind = fields.get("type", "unknown")
            if kind == "text":
                parts.append({"type": "text", "content": fields.get("text", "")})
            else:
                parts.append({"type": kind, "content": {k: v for k, v in fields.items() if k != "type"}})
    return parts


def message_parts(message: Any) -> dict[str, Any]:
    """One LangChain message as ``{"role", "parts"}`` (tool calls and tool results included)."""
    kind = getattr(message, "type", "")
    role = _ROLES.get(kind, kind or "user")
    if kind == "tool":
        return {
            "role": role,
            "parts": [
                {
                    "type": "tool_call_response",
                    "id": getattr(message, "tool_call_id", None),
                    "response": getattr(message, "content", None),
                }
            ],
        }
    parts = _content_parts(getattr(message, "content", None))
    for call in getattr(message, "tool_calls", None) or ():
        parts.append(
            {"type": "tool_call", "id": call.get("id"), "name": call.get("name"), "arguments": call.get("args")}
        )
    return {"role": role, "parts": parts}


def chat_input(messages: Iterable[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system instructions, input messages)`` for a chat call's prompt."""
    system: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for message in messages:
        if getattr(message, "type", "") == "system":
            system.extend(_content_parts(getattr(message, "content", None)))
        else:
            others.append(message_parts(message))
    return system, others


def chat_output(message: Any, finish_reason: str | None) -> list[dict[str, Any]]:
    """The completion as the ``gen_ai.output.messages`` list."""
    entry = message_parts(message)
    entry["role"] = "assistant"
    if finish_reason:
        entry["finish_reason"] = finish_reason
    return [entry]


def record_content(
    span: Span, capture: ContentCapture, values: Mapping[str, Any], max_length: int, event_name: str
) -> None:
    """Put captured ``values`` (attribute key -> JSON-able value) on the span and/or a span event."""
    if not values or not span.is_recording():
        return
    attributes = {key: capped_json(value, max_length) for key, value in values.items() if value is not None}
    if capture.on_span:
        span.set_attributes(attributes)
    if capture.on_event:
        span.add_event(event_name, attributes)
