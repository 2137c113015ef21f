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
``agentotel.instrument()`` and ``import agentotel.auto`` switch it on (through
:mod:`agentotel.instrumentation._threads`, without this class), ``opentelemetry-instrument``
through this instrumentor (entry point ``threading``);
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

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentotel.instrumentation import _threads

__all__ = ["ThreadContextInstrumentor"]


class ThreadContextInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Carries the current context into ``Thread.start`` and ``ThreadPoolExecutor.submit`` (see the module doc)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """None: the standard library."""
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        _threads.install()

    def _uninstrument(self, **kwargs: Any) -> None:
        _threads.remove()
