"""Chat spans: ``chat {model}`` (CLIENT) around ``BaseChatModel.invoke/ainvoke/stream/astream``.

One span per call: ``batch``/``abatch`` call ``invoke``/``ainvoke`` once per input
(one span each); ``stream`` falling back to ``invoke`` (models without streaming)
and models that delegate to another chat model inside their call are detected
(our chat span is still the current span) and give no second span. When an
instrumentation of the provider's own SDK is active, the call is left to it (see
:mod:`._providers`).

Usage (``usage_metadata``), response model, finish reasons and response id are
read from the returned message, or from the chunks of a stream as they pass
(without keeping them, unless content capture is on).

Streaming behind ``invoke``: LangChain streams an ``invoke``/``ainvoke`` from the
provider when a streaming consumer listens (LangGraph's ``stream_mode="messages"``,
``astream_events``, the v3 event protocol) or the model has ``streaming=True``, and
hands each chunk to the call's run manager. :func:`generate_wrapper` watches the
run manager of the call for its first chunk: the span then says
``gen_ai.request.stream=true`` and records the time to the first chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from agentotel import _cost, _telemetry, semconv
from agentotel._spanctx import AsyncSpanIterator, SpanIterator, current_context, iterate_in
from agentotel.instrumentation.langgraph._calls import Wrapper, acall_wrapper, call_wrapper
from agentotel.instrumentation.langgraph._content import chat_input, chat_output, record_content
from agentotel.instrumentation.langgraph._control import LangGraphOperation
from agentotel.instrumentation.langgraph._providers import normalize_provider, provider_sdk_instrumented
from agentotel.instrumentation.langgraph._setup import Hooks

__all__ = [
    "ChatOperation",
    "CHAT_SPAN_KEY",
    "invoke_wrapper",
    "ainvoke_wrapper",
    "stream_wrapper",
    "astream_wrapper",
    "generate_wrapper",
    "agenerate_wrapper",
]

#: Context key holding the :class:`ChatOperation` we made current (to spot nested calls of the same operation).
CHAT_SPAN_KEY = otel_context.create_key("agentotel.langgraph.chat_span")
#: Run-manager methods LangChain calls with each chunk of a streamed generation (v1 and v2 protocols).
_CHUNK_CALLBACKS = ("on_llm_new_token", "on_stream_event")
#: Span event carrying prompts and completions in ``EVENT_ONLY`` / ``SPAN_AND_EVENT`` modes.
CHAT_CONTENT_EVENT = semconv.LANGGRAPH_CHAT_CONTENT_EVENT

_LANGCHAIN_RUN_ID_PREFIXES = ("run-", "lc_run-", "lc_")
_NOT_PARAMS = frozenset({"config", "stop"})


class ChatOperation(LangGraphOperation):
    """One chat call: span, duration, token usage, time to first chunk, optional content."""

    __slots__ = (
        "hooks",
        "_input_tokens",
        "_output_tokens",
        "_cache_read",
        "_cache_creation",
        "_reasoning",
        "_response_model",
        "_response_id",
        "_finish_reason",
        "_first_chunk",
        "_message",
        "captured",
    )
    context_key = CHAT_SPAN_KEY

    def __init__(self, hooks: Hooks, span: Any, metric_attributes: dict[str, Any], parent: Any) -> None:
        super().__init__(span, hooks.chat_duration, metric_attributes, parent)
        self.hooks = hooks
        self._input_tokens: int | None = None
        self._output_tokens: int | None = None
        self._cache_read: int | None = None
        self._cache_creation: int | None = None
        self._reasoning: int | None = None
        self._response_model: str | None = None
        self._response_id: str | None = None
        self._finish_reason: str | None = None
        self._first_chunk = True
        self._message: Any = None
        self.captured: dict[str, Any] | None = None

    # ------------------------------------------------------------- responses
    def on_message(self, message: Any) -> None:
        """Read usage and response metadata from the returned message."""
        try:
            self._absorb(message)
            if self.captured is not None:
                self._message = message
        except Exception as exc:
            _telemetry.log_internal_error("langgraph chat response", exc)

    def first_chunk(self, streamed_behind_invoke: bool = False) -> None:
        """The first chunk arrived: time to first chunk (once); a streamed ``invoke`` is marked as streaming."""
        if not self._first_chunk:
            return
        self._first_chunk = False
        elapsed = self.elapsed
        if self.span.is_recording():
            if streamed_behind_invoke:
                self.span.set_attribute(semconv.GEN_AI_REQUEST_STREAM, True)
            self.span.set_attribute(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, elapsed)
        self.hooks.time_to_first_chunk.record(elapsed, self.metric_attributes)

    def on_chunk(self, chunk: Any) -> None:
        """Called for each streamed chunk: time to first chunk, usage and metadata as they arrive."""
        try:
            if self._first_chunk:
                self.first_chunk()
            self._absorb(chunk)
            if self.captured is not None:
                self._message = chunk if self._message is None else self._message + chunk
        except Exception as exc:
            _telemetry.log_internal_error("langgraph chat chunk", exc)

    def _absorb(self, message: Any) -> None:
        usage = getattr(message, "usage_metadata", None)
        if usage:
            self._input_tokens = _add(self._input_tokens, usage.get("input_tokens"))
            self._output_tokens = _add(self._output_tokens, usage.get("output_tokens"))
            details = usage.get("input_token_details")
            if details:
                self._cache_read = _add(self._cache_read, details.get("cache_read"))
                self._cache_creation = _add(self._cache_creation, details.get("cache_creation"))
            details = usage.get("output_token_details")
            if details:
                self._reasoning = _add(self._reasoning, details.get("reasoning"))
        metadata = getattr(message, "response_metadata", None)
        if metadata:
            model = metadata.get("model_name") or metadata.get("model") or metadata.get("model_id")
            if model:
                self._response_model = str(model)
            reason = metadata.get("finish_reason") or metadata.get("stop_reason") or metadata.get("done_reason")
            if reason:
                self._finish_reason = str(reason)
        message_id = getattr(message, "id", None)
        if message_id and self._response_id is None and not message_id.startswith(_LANGCHAIN_RUN_ID_PREFIXES):
            self._response_id = message_id

    # ------------------------------------------------------------------- end
    def _end(self, metric_attributes: Any) -> None:
        hooks = self.hooks
        span = self.span
        if self._response_model is not None:
            metric_attributes = {**metric_attributes, semconv.GEN_AI_RESPONSE_MODEL: self._response_model}
        if span.is_recording():
            attributes: dict[str, Any] = {}
            if self._response_model is not None:
                attributes[semconv.GEN_AI_RESPONSE_MODEL] = self._response_model
            if self._response_id is not None:
                attributes[semconv.GEN_AI_RESPONSE_ID] = self._response_id
            if self._finish_reason is not None:
                attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = (self._finish_reason,)
            for key, value in (
                (semconv.GEN_AI_USAGE_INPUT_TOKENS, self._input_tokens),
                (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, self._output_tokens),
                (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, self._cache_read),
                (semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, self._cache_creation),
                (semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, self._reasoning),
            ):
                if value is not None:
                    attributes[key] = value
            span.set_attributes(attributes)
            if self.captured is not None:
                if self._message is not None:
                    self.captured[semconv.GEN_AI_OUTPUT_MESSAGES] = chat_output(self._message, self._finish_reason)
                record_content(span, hooks.content, self.captured, hooks.max_content_length, CHAT_CONTENT_EVENT)
        _cost.record_call(span, self.context, hooks.cost, metric_attributes, self._response_model, self._usage())
        if self._input_tokens is not None:
            hooks.token_usage.record(self._input_tokens, {**metric_attributes, semconv.GEN_AI_TOKEN_TYPE: "input"})
        if self._output_tokens is not None:
            hooks.token_usage.record(self._output_tokens, {**metric_attributes, semconv.GEN_AI_TOKEN_TYPE: "output"})
        super()._end(metric_attributes)

    def _usage(self) -> dict[str, int | None]:
        return {
            "input": self._input_tokens,
            "output": self._output_tokens,
            "cache_read": self._cache_read,
            "cache_creation": self._cache_creation,
        }


def _add(total: int | None, value: Any) -> int | None:
    if not isinstance(value, int):
        return total
    return value if total is None else total + value


def _start_chat(
    hooks: Hooks, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], stream: bool
) -> ChatOperation | None:
    parent = current_context()
    current: ChatOperation | None = parent.get(CHAT_SPAN_KEY)  # type: ignore[assignment]
    if current is not None and current.span is trace.get_current_span(parent):
        return None  # inside our own chat span: the same call, seen again one level down
    params_kwargs = {k: v for k, v in kwargs.items() if k not in _NOT_PARAMS} if kwargs else {}
    params: dict[str, Any]
    try:
        params = model._get_ls_params(stop=kwargs.get("stop"), **params_kwargs)
    except Exception:
        params = {}
    raw_provider = params.get("ls_provider") or getattr(model, "_llm_type", None) or type(model).__name__
    provider = normalize_provider(str(raw_provider))
    if provider_sdk_instrumented(provider):
        return None
    request_model = params.get("ls_model_name")
    metric_attributes: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_CHAT,
        semconv.GEN_AI_PROVIDER_NAME: provider,
    }
    if request_model:
        metric_attributes[semconv.GEN_AI_REQUEST_MODEL] = request_model
    attributes = dict(metric_attributes)
    attributes[semconv.GEN_AI_REQUEST_STREAM] = stream
    temperature = params.get("ls_temperature")
    if isinstance(temperature, (int, float)):
        attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] = float(temperature)
    max_tokens = params.get("ls_max_tokens")
    if isinstance(max_tokens, int):
        attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    span = hooks.tracer.start_span(
        semconv.CHAT_SPAN.render(request_model) if request_model else semconv.GEN_AI_OPERATION_CHAT,
        context=parent,
        kind=SpanKind.CLIENT,
        attributes=attributes,
    )
    operation = ChatOperation(hooks, span, metric_attributes, parent)
    if hooks.content.enabled and span.is_recording():
        prompt = args[0] if args else kwargs.get("input")
        system, messages = chat_input(model._convert_input(prompt).to_messages())
        operation.captured = {semconv.GEN_AI_INPUT_MESSAGES: messages}
        if system:
            operation.captured[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = system
    return operation


def _safe_start(hooks: Hooks, model: Any, args: Any, kwargs: Any, stream: bool = False) -> ChatOperation | None:
    try:
        return _start_chat(hooks, model, args, kwargs, stream)
    except Exception as exc:
        _telemetry.log_internal_error("langgraph chat", exc)
        return None


#: Wrapper for ``BaseChatModel.invoke``.
invoke_wrapper = call_wrapper(_safe_start, ChatOperation.on_message)
#: Wrapper for ``BaseChatModel.ainvoke``.
ainvoke_wrapper = acall_wrapper(_safe_start, ChatOperation.on_message)


def _stream_wrapper(proxy: type[SpanIterator] | type[AsyncSpanIterator]) -> Callable[[Hooks], Wrapper]:
    """Wrapper factory for ``stream`` / ``astream`` (``proxy``: the iterator proxy); the span covers the iteration."""

    def make(hooks: Hooks) -> Wrapper:
        def stream(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            operation = _safe_start(hooks, instance, args, kwargs, stream=True)
            if operation is None:
                return wrapped(*args, **kwargs)
            return iterate_in(operation, wrapped, args, kwargs, proxy, operation.on_chunk)

        return stream

    return make


#: Wrapper for ``BaseChatModel.stream``: the span covers the whole iteration.
stream_wrapper = _stream_wrapper(SpanIterator)
#: Wrapper for ``BaseChatModel.astream``: the span covers the whole iteration.
astream_wrapper = _stream_wrapper(AsyncSpanIterator)


class _FirstChunkWatch:
    """Stands in for a run manager's chunk callbacks until the first chunk, then steps aside."""

    __slots__ = ("run_manager", "operation", "original")

    def __init__(self, run_manager: Any, operation: ChatOperation, original: Callable[..., Any]) -> None:
        self.run_manager = run_manager
        self.operation = operation
        self.original = original

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run_manager = self.run_manager
        for name in _CHUNK_CALLBACKS:  # later chunks go straight to LangChain
            run_manager.__dict__.pop(name, None)
        try:
            self.operation.first_chunk(streamed_behind_invoke=True)
        except Exception as exc:
            _telemetry.log_internal_error("langgraph chat first chunk", exc)
        return self.original(*args, **kwargs)  # for async run managers, the coroutine the caller awaits


def _watch_first_chunk(model: Any, kwargs: dict[str, Any]) -> None:
    run_manager = kwargs.get("run_manager")
    if run_manager is None or not (run_manager.handlers or getattr(model, "streaming", None) is True):
        return  # nobody listens for chunks: LangChain will not stream this call
    operation: ChatOperation | None = current_context().get(CHAT_SPAN_KEY)  # type: ignore[assignment]
    if operation is None or not operation._first_chunk or operation.done:  # pyright: ignore[reportPrivateUsage]
        return
    try:
        for name in _CHUNK_CALLBACKS:
            original = getattr(run_manager, name, None)
            if original is not None:
                setattr(run_manager, name, _FirstChunkWatch(run_manager, operation, original))
    except Exception as exc:
        _telemetry.log_internal_error("langgraph chat stream watch", exc)


def generate_wrapper(hooks: Hooks) -> Wrapper:
    """Wrapper for ``BaseChatModel._generate_with_cache``: notices an ``invoke`` that streams."""

    def generate_with_cache(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        _watch_first_chunk(instance, kwargs)
        return wrapped(*args, **kwargs)

    return generate_with_cache


def agenerate_wrapper(hooks: Hooks) -> Wrapper:
    """Wrapper for ``BaseChatModel._agenerate_with_cache``: notices an ``ainvoke`` that streams."""

    def agenerate_with_cache(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        _watch_first_chunk(instance, kwargs)
        return wrapped(*args, **kwargs)

    return agenerate_with_cache
