"""OpenTelemetry instrumentation for LangGraph agents and workflows (and the LangChain models and tools they call).

Usage::

    from agentotel.instrumentation.langgraph import LangGraphInstrumentor

    LangGraphInstrumentor().instrument(tracer_provider=..., meter_provider=...)
    graph.invoke({"messages": [("user", "What is the land use of parcel 42?")]},
                 {"configurable": {"thread_id": "t-1"}})

``agentotel.instrument()``, ``import agentotel.auto`` and ``opentelemetry-instrument``
(entry point ``langgraph``) do the same. Requires ``langgraph`` and
``langchain-core`` only (not ``langchain``); see :mod:`.package` for the
supported versions. A hook point missing in some version is reported once and
skipped; the rest keeps working.

What one run gives (one trace; every span below nests under the one above it,
in threads and in asyncio):

* ``invoke_workflow {graph}`` (or ``invoke_agent {agent}`` for graphs with a
  ``ToolNode``: ``create_react_agent``, ``create_agent``, hand-made ReAct loops),
  INTERNAL, one per ``invoke``/``ainvoke``/``stream``/``astream`` (``batch`` and
  ``abatch``: one per input). Attributes ``gen_ai.operation.name``,
  ``gen_ai.workflow.name`` / ``gen_ai.agent.name``, ``gen_ai.conversation.id``
  (the ``thread_id``). A subgraph gives a nested span of the same kind.
* ``{node}``, INTERNAL, one per node execution (``Send`` fan-out branches are
  siblings): ``langgraph.node``, ``langgraph.step``, ``langgraph.checkpoint_ns``.
  Routing functions, ``__start__`` and LangChain plumbing get no span.
* ``execute_tool {tool}``, INTERNAL, per tool execution (``ToolNode`` or direct
  ``tool.invoke``/``run``): ``gen_ai.tool.name``, ``gen_ai.tool.call.id``,
  ``gen_ai.tool.type``.
* ``chat {model}``, CLIENT, per chat model call (``invoke``, ``ainvoke``,
  ``stream``, ``astream``, and per input of ``batch``): ``gen_ai.provider.name``,
  ``gen_ai.request.model``, ``gen_ai.response.model``, token usage,
  ``gen_ai.response.finish_reasons``, ``gen_ai.request.stream``,
  ``gen_ai.response.time_to_first_chunk``. When the provider SDK's own
  OpenTelemetry instrumentation is active, the chat span is left to it.

Metrics: ``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``
(only when the model reports counts), ``gen_ai.client.operation.time_to_first_chunk``,
``gen_ai.invoke_agent.duration``, ``gen_ai.invoke_workflow.duration``,
``gen_ai.execute_tool.duration``; durations are recorded for failures too, with
``error.type``.

Control flow and errors: ``GraphInterrupt``, ``ParentCommand`` and other
bubble-up signals are not errors; an interrupt adds a ``langgraph.interrupt``
event, and the run that resumes it (same ``thread_id``, ``Command(resume=...)``)
links to the interrupted run's root span. A node that raises marks its span and
the run's span ERROR (exception event, ``error.type``); the exception reaches
the caller unchanged. A stream the caller stops early (``break``, ``close()``,
``aclose()``, garbage collection) ends with status UNSET and
``langgraph.stream.abandoned=true``.

Content: no prompts, completions, tool arguments or results, and never graph
state, unless ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true``
/ ``SPAN_ONLY`` (span attributes), ``EVENT_ONLY`` (a span event) or
``SPAN_AND_EVENT``; each value is JSON capped at ``AGENTOTEL_MAX_ATTRIBUTE_LENGTH``
characters and stays valid JSON.

Nothing is imported on the application's behalf: each hook point is patched
when the application imports the module that defines it (at once when it
already has). ``uninstrument()`` restores every wrapped function and cancels the
pending ones; graphs compiled before then emit nothing afterwards.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentotel.instrumentation._patching import PatchSet, require_installed
from agentotel.instrumentation.langgraph import _patches
from agentotel.instrumentation.langgraph._resume import INTERRUPTED_RUNS
from agentotel.instrumentation.langgraph._setup import Hooks, make_hooks
from agentotel.instrumentation.langgraph.package import _instruments  # pyright: ignore[reportPrivateUsage]

__all__ = ["LangGraphInstrumentor"]


class LangGraphInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instrument LangGraph graph runs, nodes, LangChain tools and chat models (see the module doc).

    Each hook point is patched when the application imports the module defining it
    (at once if it already has); instrumenting never imports LangGraph or LangChain.
    """

    _patches: PatchSet | None = None
    _hooks: Hooks | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The instrumented libraries and their supported versions."""
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        require_installed(_instruments)
        hooks = self._hooks = make_hooks(kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        self._patches = _patches.apply(hooks)

    def _uninstrument(self, **kwargs: Any) -> None:
        patches, self._patches = self._patches, None
        if patches is not None:
            patches.remove()
        if self._hooks is not None:
            self._hooks.close()
            self._hooks = None
        INTERRUPTED_RUNS.clear()
