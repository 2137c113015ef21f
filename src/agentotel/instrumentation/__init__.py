"""Auto-instrumentation for agent stacks: one ``BaseInstrumentor`` per target library.

No module here imports its target library: each instrumentor patches a library
when the application imports it (at once if it already has), through
:mod:`._patching`, and checks that the library is installed from package
metadata, raising the ``DependencyConflictError`` that ``opentelemetry-instrument``
and ``agentotel.instrument()`` treat as "skip this one".
"""
