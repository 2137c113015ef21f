"""What a graph run adds to its context and its root span: run attributes from its metadata, a cost tally, tags.

* ``config["metadata"]["session_id"]`` / ``["user_id"]`` (of the graph's own config, then
  of the call's, which wins) become ``session.id`` / ``user.id`` on every span of the run,
  and so do the metadata keys listed in ``langgraph_metadata_keys`` (under their own
  names), exactly as if the run were inside ``agentotel.attributes(...)``; a run inside
  such a block keeps the block's values where its metadata says nothing.
* The run's cost tally: its root span carries the cost of the chat calls inside.
* ``tags`` of a top-level run (the graph's and the call's) as ``langgraph.tags`` on its
  root span only; nested runs get the tags LangGraph passes down, which say nothing new.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.context import Context

from agentotel import _cost, semconv
from agentotel._attributes import run_context
from agentotel.instrumentation.langgraph._setup import Hooks

__all__ = ["enter_run"]


def _tags(configs: tuple[Any, ...]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for config in configs:
        for tag in (config.get("tags") if config else None) or ():
            if isinstance(tag, str):
                found[tag] = None
    return tuple(found)


def enter_run(
    hooks: Hooks, parent: Context, config: Any, graph: Any, top_level: bool
) -> tuple[Context, dict[str, Any]]:
    """The context the run starts in, and the attributes its root span adds."""
    configs = (getattr(graph, "config", None), config)
    ctx = _cost.open_tally(run_context(parent, configs, hooks.metadata_keys))
    attributes: dict[str, Any] = {}
    if top_level:
        tags = _tags(configs)
        if tags:
            attributes[semconv.LANGGRAPH_TAGS] = tags
    return ctx, attributes
