"""The libraries and version ranges the LangGraph instrumentation supports.

``.ci/matrix`` runs the tests against the lowest (langgraph 0.3.1 — 0.3.0 was withdrawn — with
langchain-core 0.3.23), a middle (0.6 / 0.3) and the newest versions. langchain-core starts at
0.3.23 because every langgraph 0.3+ needs langgraph-prebuilt, which excludes langchain-core
0.3.0-0.3.22.
"""

_instruments = ("langgraph >= 0.3, < 2", "langchain-core >= 0.3.23, < 2")
