"""Carry the current OpenTelemetry context into the threads an application starts itself (the patches).

``threading.Thread.start`` remembers the context current at ``start()`` and the
thread's whole body (``run()`` of any subclass included) runs in it;
``ThreadPoolExecutor.submit`` (and so ``map``, ``loop.run_in_executor`` and
``asyncio.to_thread``) runs the function in the context current at ``submit``,
patched when the application imports ``concurrent.futures`` (never imported
here). Nothing is wrapped when there is no context to carry. This module stays
light (no OpenTelemetry instrumentation machinery), so ``agentotel.instrument()``
installs it at start-up for nothing; :mod:`agentotel.instrumentation.threading`
is the same as an instrumentor, for ``opentelemetry-instrument``.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable
from typing import Any

from opentelemetry import context

from agentotel._telemetry import log_internal_error
from agentotel.instrumentation._patching import PatchSet

__all__ = ["install", "installed", "remove"]

_CONTEXT_ATTR = "_agentotel_context"
# The thread's whole body (run() of any subclass included); run() where an interpreter has no such method.
_THREAD_BODY = "_bootstrap_inner" if hasattr(threading.Thread, "_bootstrap_inner") else "run"


def _in_context(fn: Callable[..., Any], ctx: context.Context) -> Callable[..., Any]:
    def run_in_context(*args: Any, **kwargs: Any) -> Any:
        token = context.attach(ctx)
        try:
            return fn(*args, **kwargs)
        finally:
            context.detach(token)

    return run_in_context


def _submit_hook(original: Callable[..., Any]) -> Callable[..., Any]:
    def submit(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        ctx = context.get_current()
        if ctx:
            fn = _in_context(fn, ctx)
        return original(self, fn, *args, **kwargs)

    return submit


def _start_hook(original: Callable[..., Any]) -> Callable[..., Any]:
    def start(self: threading.Thread) -> None:
        ctx = context.get_current()
        if ctx:
            try:
                setattr(self, _CONTEXT_ATTR, ctx)
            except Exception as exc:  # a thread class that refuses attributes: it runs without the context
                log_internal_error("thread context", exc)
        original(self)

    return start


def _body_hook(original: Callable[..., Any]) -> Callable[..., Any]:
    def body(self: threading.Thread) -> Any:
        ctx = self.__dict__.pop(_CONTEXT_ATTR, None) if hasattr(self, "__dict__") else None
        if ctx is None:
            return original(self)
        token = context.attach(ctx)
        try:
            return original(self)
        finally:
            context.detach(token)

    return body


def _contrib_active() -> bool:
    module = sys.modules.get("opentelemetry.instrumentation.threading")
    instrumentor = getattr(module, "ThreadingInstrumentor", None)
    return bool(instrumentor is not None and instrumentor().is_instrumented_by_opentelemetry)


_lock = threading.Lock()
_patches: PatchSet | None = None


def installed() -> bool:
    """Whether the context is carried into threads now (by us)."""
    return _patches is not None


def install() -> None:
    """Carry the context into threads from now on; idempotent. Stands aside while the contrib
    ``opentelemetry-instrumentation-threading`` is active, so a context is never attached twice."""
    global _patches
    with _lock:
        if _patches is not None or _contrib_active():
            return
        patches = _patches = PatchSet("threading")
    for name, hook in (("start", _start_hook), (_THREAD_BODY, _body_hook)):
        try:
            patches.replace(threading.Thread, name, hook)
        except Exception as exc:  # one point we cannot patch must not stop the others
            log_internal_error(f"threading instrument {name}", exc)

    def on_executor(module: types.ModuleType) -> None:
        patches.replace(module.ThreadPoolExecutor, "submit", _submit_hook)

    patches.when_imported("concurrent.futures.thread", on_executor)


def remove() -> None:
    """Stop carrying the context into threads (the standard library's own functions are put back)."""
    global _patches
    with _lock:
        patches, _patches = _patches, None
    if patches is not None:
        patches.remove()
