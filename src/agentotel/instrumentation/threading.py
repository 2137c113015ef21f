"""Carry the current OpenTelemetry context into the threads an application starts itself.

A node or tool that runs a query through its own ``ThreadPoolExecutor``,
``threading.Thread``, ``asyncio.to_thread`` or ``loop.run_in_executor`` would
otherwise produce orphan root spans: a new thread starts with an empty context.
Instrumented, the context current where the work is handed over is current
where it runs:

* ``concurrent.futures.ThreadPoolExecutor.submit`` (and so ``map``,
  ``loop.run_in_executor`` and ``asyncio.to_thread``): the context at
  ``submit`` is attached around the function;
* ``threading.Thread.start`` (and ``Timer``, and subclasses that override
  ``run``): the context at ``start()`` is attached for the thread's whole body.

Nothing is emitted and nothing is wrapped when there is no context to carry;
``ThreadPoolExecutor`` is patched when the application imports
``concurrent.futures`` (this never imports it).
``agentotel.instrument()``, ``import agentotel.auto`` and
``opentelemetry-instrument`` (entry point ``threading``) switch it on;
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=threading`` (or
``instrument(disabled_instrumentations={"threading"})``) leaves threads alone.

Why not the contrib ``opentelemetry-instrumentation-threading``: each of its
releases requires exactly one ``opentelemetry-instrumentation`` release
(0.66b1 requires ``==0.66b1``), so adding it downgrades or conflicts with the
``opentelemetry-instrumentation`` an application already has; it also misses
threads whose class overrides ``run``. When it is installed and active, this
instrumentor stands aside, so a context is never attached twice.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry import context
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentotel._telemetry import log_internal_error
from agentotel.instrumentation._patching import PatchSet

__all__ = ["ThreadContextInstrumentor"]

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


class ThreadContextInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Carries the current context into ``Thread.start`` and ``ThreadPoolExecutor.submit`` (see the module doc)."""

    _patches: PatchSet | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """None: the standard library."""
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        if _contrib_active():
            return
        patches = PatchSet("threading")
        self._patches = patches
        for name, hook in (("start", _start_hook), (_THREAD_BODY, _body_hook)):
            try:
                patches.replace(threading.Thread, name, hook)
            except Exception as exc:  # one point we cannot patch must not stop the others
                log_internal_error(f"threading instrument {name}", exc)

        def on_executor(module: types.ModuleType) -> None:
            patches.replace(module.ThreadPoolExecutor, "submit", _submit_hook)

        patches.when_imported("concurrent.futures.thread", on_executor)

    def _uninstrument(self, **kwargs: Any) -> None:
        patches, self._patches = self._patches, None
        if patches is not None:
            patches.remove()
