"""Where the LangGraph instrumentation hooks in, and how it tolerates versions that moved a hook point.

Each :class:`PatchPoint` names the modules that define it (newest layout first), an
optional class and a function, and the wrapper factory (``"module:function"`` in this
package, imported only when a module of the point is imported, since the wrappers
import LangGraph themselves). A point is patched in the module that holds it
(its class, or for a module function the module whose callers look it up) when
the application imports that module, so importing LangChain alone never
imports LangGraph. A point that is neither patched nor found when the last of its
modules is imported is reported once (a warning naming it) and skipped; the other
points keep working.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentotel._telemetry import log_internal_error
from agentotel.instrumentation._patching import PatchSet
from agentotel.instrumentation.langgraph._families import FAMILIES, patch_family
from agentotel.instrumentation.langgraph._setup import Hooks

__all__ = ["PatchPoint", "PATCH_POINTS", "apply"]

_logger = logging.getLogger("agentotel")


@dataclass(frozen=True)
class PatchPoint:
    """A function to wrap: ``{module}.{owner}.{attribute}`` (``owner`` empty for module functions)."""

    modules: tuple[str, ...]
    owner: str
    attribute: str
    #: ``"module:factory"`` in ``agentotel.instrumentation.langgraph``; ``factory(hooks)`` is the wrapt wrapper.
    wrapper: str
    #: Replace with a plain function instead of a wrapt proxy (for callers that inspect the
    #: attribute's type, such as ``ExitStack.push``, which takes any proxy for a context manager).
    plain: bool = False

    @property
    def label(self) -> str:
        """``module.Owner.attribute`` for messages."""
        owner = f"{self.owner}." if self.owner else ""
        return f"{self.modules[0]}.{owner}{self.attribute}"

    def holder_in(self, module: types.ModuleType) -> Any | None:
        """The class or module of ``module`` holding ``attribute``, without importing anything."""
        holder: Any = module
        if self.owner:
            holder = vars(module).get(self.owner)
            if not isinstance(holder, type):
                return None
        elif self.attribute not in vars(module):
            return None  # a module function is patched in the module whose callers look it up
        return holder if callable(getattr(holder, self.attribute, None)) else None

    def make_wrapper(self, hooks: Hooks) -> Callable[..., Any]:
        """Import the wrapper's module (LangGraph is being imported by now) and build the wrapper."""
        module_name, _, factory = self.wrapper.partition(":")
        module = importlib.import_module(f"{__package__}.{module_name}")
        return getattr(module, factory)(hooks)  # type: ignore[no-any-return]


_PREGEL = ("langgraph.pregel.main", "langgraph.pregel")
_RUNNER = ("langgraph.pregel._runner", "langgraph.pregel.runner")
_LOOP = ("langgraph.pregel._loop", "langgraph.pregel.loop")
_TOOLS = ("langchain_core.tools.base",)
_CHAT = ("langchain_core.language_models.chat_models",)

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(_PREGEL, "Pregel", "invoke", "_runs:invoke_wrapper"),
    PatchPoint(_PREGEL, "Pregel", "ainvoke", "_runs:ainvoke_wrapper"),
    PatchPoint(_PREGEL, "Pregel", "stream", "_runs:stream_wrapper"),
    PatchPoint(_PREGEL, "Pregel", "astream", "_runs:astream_wrapper"),
    PatchPoint(_LOOP, "PregelLoop", "_suppress_interrupt", "_runs:loop_exit_wrapper", plain=True),
    PatchPoint(_RUNNER, "", "run_with_retry", "_nodes:run_with_retry_wrapper"),
    PatchPoint(_RUNNER, "", "arun_with_retry", "_nodes:arun_with_retry_wrapper"),
    PatchPoint(_TOOLS, "BaseTool", "run", "_tools:run_wrapper"),
    PatchPoint(_TOOLS, "BaseTool", "arun", "_tools:arun_wrapper"),
    PatchPoint(_CHAT, "BaseChatModel", "invoke", "_chat:invoke_wrapper"),
    PatchPoint(_CHAT, "BaseChatModel", "ainvoke", "_chat:ainvoke_wrapper"),
    PatchPoint(_CHAT, "BaseChatModel", "stream", "_chat:stream_wrapper"),
    PatchPoint(_CHAT, "BaseChatModel", "astream", "_chat:astream_wrapper"),
    PatchPoint(_CHAT, "BaseChatModel", "_generate_with_cache", "_chat:generate_wrapper"),
    PatchPoint(_CHAT, "BaseChatModel", "_agenerate_with_cache", "_chat:agenerate_wrapper"),
)

_reported_missing: set[str] = set()
_reported_lock = threading.Lock()


def apply(hooks: Hooks, points: tuple[PatchPoint, ...] = PATCH_POINTS) -> PatchSet:
    """Patch every point whose module is imported, and each of the others when its module is imported.

    Returns the :class:`PatchSet`; its ``remove()`` cancels what is pending and restores the rest.
    """
    patches = PatchSet("langgraph")
    done: set[PatchPoint] = set()  # points patched by this set (any of their modules)
    by_module: dict[str, list[PatchPoint]] = {}
    for point in points:
        for module_name in point.modules:
            by_module.setdefault(module_name, []).append(point)

    def on_import(module: types.ModuleType) -> None:
        for point in by_module.get(module.__name__, ()):
            _patch_point(patches, hooks, point, module, done)

    for module_name in by_module:
        patches.when_imported(module_name, on_import)
    for family in FAMILIES:  # methods that subclasses define themselves (embeddings, retrievers)
        patches.when_imported(family.module, functools.partial(patch_family, patches, hooks, family))
    return patches


def _patch_point(
    patches: PatchSet, hooks: Hooks, point: PatchPoint, module: types.ModuleType, done: set[PatchPoint]
) -> None:
    holder = point.holder_in(module)
    if holder is None:
        if module.__name__ == point.modules[-1] and point not in done:
            _report_missing(point)
        return
    try:
        if patches.patched(holder, point.attribute):
            return
        patch = patches.wrap(holder, point.attribute, point.make_wrapper(hooks), plain=point.plain)
    except Exception as exc:  # one broken point must not leave the others unrecorded
        log_internal_error(f"patch {point.label}", exc)
        return
    if patch is not None:
        done.add(point)


def _report_missing(point: PatchPoint) -> None:
    with _reported_lock:
        if point.label in _reported_missing:
            return
        _reported_missing.add(point.label)
    _logger.warning(
        "agentotel: %s not found in the installed LangGraph/LangChain versions; "
        "its spans are skipped, the rest of the LangGraph instrumentation works.",
        point.label,
    )
