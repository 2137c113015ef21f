"""The libraries and version ranges the LangGraph instrumentation supports.

Tested: langgraph 1.2, langchain-core 1.7.
"""

_instruments = ("langgraph >= 0.3, < 2", "langchain-core >= 0.3, < 2")
