"""Where the LangGraph instrumentation hooks in, and how it tolerates versions that moved a hook point.

Each :class:`PatchPoint` names candidate modules (newest layout first), an
optional class and a function. A point that cannot be found in the installed
versions is reported once (a warning naming it) and skipped; the other points
keep working.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

from agentotel._telemetry import log_internal_error
from agentotel.instrumentation.langgraph import _chat, _nodes, _runs, _tools
from agentotel.instrumentation.langgraph._setup import Hooks

__all__ = ["PatchPoint", "PATCH_POINTS", "apply", "remove"]

_logger = logging.getLogger("agentotel")


@dataclass(frozen=True)
class PatchPoint:
    """A function to wrap: ``{module}.{owner}.{attribute}`` (``owner`` empty for module functions)."""

    modules: tuple[str, ...]
    owner: str
    attribute: str
    wrapper: Callable[[Hooks], Callable[..., Any]]
    #: Replace with a plain function instead of a wrapt proxy (for callers that inspect the
    #: attribute's type, such as ``ExitStack.push``, which takes any proxy for a context manager).
    plain: bool = False

    @property
    def label(self) -> str:
        """``module.Owner.attribute`` for messages."""
        owner = f"{self.owner}." if self.owner else ""
        return f"{self.modules[0]}.{owner}{self.attribute}"

    def resolve(self) -> Any | None:
        """The object holding ``attribute`` (class or module), or ``None`` when not found."""
        for module_name in self.modules:
            try:
                holder: Any = importlib.import_module(module_name)
            except ImportError:
                continue
            if self.owner:
                holder = getattr(holder, self.owner, None)
            if holder is not None and callable(getattr(holder, self.attribute, None)):
                return holder
        return None


_PREGEL = ("langgraph.pregel.main", "langgraph.pregel")
_RUNNER = ("langgraph.pregel._runner", "langgraph.pregel.runner")
_LOOP = ("langgraph.pregel._loop", "langgraph.pregel.loop")
_TOOLS = ("langchain_core.tools.base", "langchain_core.tools")
_CHAT = ("langchain_core.language_models.chat_models", "langchain_core.language_models")

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(_PREGEL, "Pregel", "invoke", _runs.invoke_wrapper),
    PatchPoint(_PREGEL, "Pregel", "ainvoke", _runs.ainvoke_wrapper),
    PatchPoint(_PREGEL, "Pregel", "stream", _runs.stream_wrapper),
    PatchPoint(_PREGEL, "Pregel", "astream", _runs.astream_wrapper),
    PatchPoint(_LOOP, "PregelLoop", "_suppress_interrupt", _runs.loop_exit_wrapper, plain=True),
    PatchPoint(_RUNNER, "", "run_with_retry", _nodes.run_with_retry_wrapper),
    PatchPoint(_RUNNER, "", "arun_with_retry", _nodes.arun_with_retry_wrapper),
    PatchPoint(_TOOLS, "BaseTool", "run", _tools.run_wrapper),
    PatchPoint(_TOOLS, "BaseTool", "arun", _tools.arun_wrapper),
    PatchPoint(_CHAT, "BaseChatModel", "invoke", _chat.invoke_wrapper),
    PatchPoint(_CHAT, "BaseChatModel", "ainvoke", _chat.ainvoke_wrapper),
    PatchPoint(_CHAT, "BaseChatModel", "stream", _chat.stream_wrapper),
    PatchPoint(_CHAT, "BaseChatModel", "astream", _chat.astream_wrapper),
)

_reported_missing: set[str] = set()


def apply(hooks: Hooks, points: tuple[PatchPoint, ...] = PATCH_POINTS) -> list[tuple[Any, str]]:
    """Wrap every point that exists; return ``(holder, attribute)`` pairs for :func:`remove`."""
    applied: list[tuple[Any, str]] = []
    for point in points:
        holder = point.resolve()
        if holder is None:
            if point.label not in _reported_missing:
                _reported_missing.add(point.label)
                _logger.warning(
                    "agentotel: %s not found in the installed LangGraph/LangChain versions; "
                    "its spans are skipped, the rest of the LangGraph instrumentation works.",
                    point.label,
                )
            continue
        try:
            if point.plain:
                _replace_method(holder, point.attribute, point.wrapper(hooks))
            else:
                wrapt.wrap_function_wrapper(holder, point.attribute, point.wrapper(hooks))
        except Exception as exc:  # one broken point must not leave the others unrecorded
            log_internal_error(f"patch {point.label}", exc)
            continue
        applied.append((holder, point.attribute))
    return applied


def _replace_method(holder: Any, attribute: str, wrapper: Callable[..., Any]) -> None:
    original = getattr(holder, attribute)

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return wrapper(original.__get__(self, type(self)), self, args, kwargs)

    method.__wrapped__ = original  # type: ignore[attr-defined]
    method._agentotel_patch = True  # type: ignore[attr-defined]
    setattr(holder, attribute, method)


def remove(applied: list[tuple[Any, str]]) -> None:
    """Restore every wrapped function."""
    for holder, attribute in reversed(applied):
        current = holder.__dict__.get(attribute) if hasattr(holder, "__dict__") else None
        if getattr(current, "_agentotel_patch", False):
            setattr(holder, attribute, current.__wrapped__)
        else:
            unwrap(holder, attribute)
