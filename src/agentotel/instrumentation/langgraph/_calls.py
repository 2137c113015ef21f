"""The wrapper shape LangChain/LangGraph call sites share: start an operation (never raising), run the call in it.

Each factory returns what the patch tables name (``hooks -> wrapper``). The wrapper it makes calls the
call site's own ``safe_start`` and :func:`~agentotel._spanctx.run_in` (or its async twin) directly, as a
hand-written wrapper would: sharing the shape costs no call per traced call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentotel._spanctx import OnResult, Operation, arun_in, run_in
from agentotel.instrumentation.langgraph._setup import Hooks

__all__ = ["Wrapper", "acall_wrapper", "call_wrapper"]

#: A ``wrapt`` wrapper: ``(wrapped, instance, args, kwargs) -> result``.
Wrapper = Callable[[Callable[..., Any], Any, Any, Any], Any]


def call_wrapper(
    safe_start: Callable[[Hooks, Any, Any, Any], Operation | None], on_result: OnResult = None
) -> Callable[[Hooks], Wrapper]:
    """The wrapper factory for a plain method.

    ``safe_start(hooks, instance, args, kwargs)`` starts the call's operation and never raises (``None``: the
    call runs untraced); the call runs in the operation, and ``on_result`` sees its result.
    """

    def make(hooks: Hooks) -> Wrapper:
        def call(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            operation = safe_start(hooks, instance, args, kwargs)
            if operation is None:
                return wrapped(*args, **kwargs)
            return run_in(operation, wrapped, args, kwargs, on_result)

        return call

    return make


def acall_wrapper(
    safe_start: Callable[[Hooks, Any, Any, Any], Operation | None], on_result: OnResult = None
) -> Callable[[Hooks], Wrapper]:
    """:func:`call_wrapper` for a coroutine method."""

    def make(hooks: Hooks) -> Wrapper:
        async def acall(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            operation = safe_start(hooks, instance, args, kwargs)
            if operation is None:
                return await wrapped(*args, **kwargs)
            return await arun_in(operation, wrapped, args, kwargs, on_result)

        return acall

    return make
