"""The library versions :class:`DuckDBInstrumentor` instruments."""

_instruments = ("duckdb >= 1.1, < 3",)
_supports_metrics = True
