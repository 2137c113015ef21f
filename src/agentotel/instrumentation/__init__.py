"""Auto-instrumentation for agent stacks: one ``BaseInstrumentor`` per target library.

Each module imports its target at the top, so that a missing library makes the
module fail to import and ``opentelemetry-instrument`` / ``agentotel.instrument()``
skip only that instrumentor.
"""
