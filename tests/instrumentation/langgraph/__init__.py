"""LangGraph instrumentation tests: real graphs, deterministic fake chat model (fakes.py)."""
