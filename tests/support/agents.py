"""How the tests build a ReAct agent: LangChain v1's ``create_agent``, the API LangGraph 1.x points users to.

``langgraph.prebuilt.create_react_agent`` is deprecated since LangGraph 1.0; the tests use it
only where ``langchain`` 1.x cannot be installed (the version matrix's LangGraph 0.x legs)
and in the one test that proves agents built that way still give the same spans.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

try:
    from langchain.agents import create_agent
except ImportError:  # LangGraph 0.x legs: langchain 1.x needs LangGraph 1.x
    create_agent = None

__all__ = ["HAVE_CREATE_AGENT", "MODEL_NODE", "build_agent", "build_react_agent"]

HAVE_CREATE_AGENT = create_agent is not None
#: The name of the node that calls the model: ``model`` (create_agent) or ``agent`` (create_react_agent).
MODEL_NODE = "model" if HAVE_CREATE_AGENT else "agent"


def build_react_agent(model: Any, tools: Sequence[Any], *, name: str) -> Any:
    """An agent built the deprecated way (``langgraph.prebuilt.create_react_agent``), its warning silenced."""
    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(model, tools, name=name)


def build_agent(model: Any, tools: Sequence[Any], *, name: str, **options: Any) -> Any:
    """An agent from ``langchain.agents.create_agent`` (``options`` go to it), else the deprecated way."""
    if create_agent is None:
        return build_react_agent(model, tools, name=name)
    return create_agent(model, tools, name=name, **options)
